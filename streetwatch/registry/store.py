"""Registry access: build an engine, load the device index, upsert devices in chunks.

Plain Core statements (no ORM sessions) keep the index load and bulk upserts fast: 200k devices
load in one query per table.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from sqlalchemy import Engine, Table, create_engine, event, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import URL, Connection, make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError

from streetwatch.errors import ConfigError
from streetwatch.logs import log_event
from streetwatch.registry.models import Drain, Lamp, RainGauge, RegistryRevision
from streetwatch.registry.timestamps import ms_from_datetime
from streetwatch.town import DrainSite, GaugeSite

DeviceKind = Literal["lamp", "drain", "rain"]
UPSERT_CHUNK_ROWS = 5_000
# A device's service state, one group: rows that carry none of these columns (the CSV of drains
# and gauges cannot) keep the stored state on update instead of being put back in service.
SERVICE_COLUMNS = frozenset({"in_service", "out_of_service_from", "out_of_service_until",
                             "out_of_service_reason"})

_log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class DeviceInfo:
    """What the ingester needs to tag and authorise a reading: gateway, zone and road."""

    kind: DeviceKind
    device_id: str
    gateway: str
    zone: str
    road: str | None = None


@dataclass(frozen=True, slots=True)
class LampRecord:
    """A lamp as the rule engine sees it: where it is, and whether it should light at all.

    The out-of-service window is [from, until) in epoch ms; either end may be open (None).
    """

    id: str
    gateway: str
    zone: str
    road: str | None
    position_on_road: int | None
    cabinet: str | None
    lat: float | None
    lon: float | None
    in_service: bool
    out_of_service_from_ms: int | None
    out_of_service_until_ms: int | None


@dataclass(frozen=True)
class UpsertCounts:
    """Rows written per kind; `inserted` were new ids, `updated` overwrote existing ids."""

    lamps: int = 0
    drains: int = 0
    gauges: int = 0
    inserted: int = 0
    updated: int = 0

    @property
    def total(self) -> int:
        return self.lamps + self.drains + self.gauges


# Engine ------------------------------------------------------------------------------------------
def parse_sql_url(sql_url: str) -> URL:
    """Parse a SQLAlchemy URL; plain `postgresql://` means psycopg 3 (the driver we install)."""
    try:
        url = make_url(sql_url)
    except ArgumentError as exc:
        raise ConfigError(f"database URL is not a valid SQLAlchemy URL: {exc}") from None
    if url.drivername in ("postgresql", "postgres"):
        url = url.set(drivername="postgresql+psycopg")
    return url


def make_engine(sql_url: str) -> Engine:
    """Engine for `sql_url`; SQLite gets its folder created, foreign keys on and WAL journaling."""
    url = parse_sql_url(sql_url)
    if url.get_backend_name() != "sqlite":
        return _create(url, pool_pre_ping=True)
    _ensure_sqlite_folder(url)
    engine = _create(url)
    event.listen(engine, "connect", _configure_sqlite_connection)
    return engine


def _create(url: URL, **options: Any) -> Engine:
    try:
        return create_engine(url, **options)
    except (ArgumentError, NoSuchModuleError) as exc:
        raise ConfigError(f"cannot use database URL {url!r}: {exc}") from None


def _ensure_sqlite_folder(url: URL) -> None:
    database = url.database or ""
    if database in ("", ":memory:") or database.startswith("file:"):
        return
    Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)


def _configure_sqlite_connection(dbapi_connection: Any, _record: Any) -> None:
    """Per connection: enforce foreign keys; WAL lets readers (API, rules) run during writes."""
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
    finally:
        cursor.close()


# Reading ------------------------------------------------------------------------------------------
def load_device_index(engine: Engine) -> dict[tuple[str, str], DeviceInfo]:
    """Every registered device keyed by (kind, device_id): one column-only query per table."""
    with engine.connect() as conn:
        lamps = conn.execute(select(Lamp.id, Lamp.gateway, Lamp.zone, Lamp.road)).all()
        drains = conn.execute(select(Drain.id, Drain.gateway, Drain.zone)).all()
        gauges = conn.execute(select(RainGauge.id, RainGauge.gateway, RainGauge.zone)).all()
    index = {("lamp", i): DeviceInfo("lamp", i, g, z, r) for i, g, z, r in lamps}
    index.update({("drain", i): DeviceInfo("drain", i, g, z) for i, g, z in drains})
    index.update({("rain", i): DeviceInfo("rain", i, g, z) for i, g, z in gauges})
    return index


def load_lamps(engine: Engine) -> list[LampRecord]:
    """Every registered lamp, sorted by id, in one query (the rule engine's lamp list)."""
    return list(iter_lamps(engine))


def iter_lamps(engine: Engine, chunk_rows: int = 10_000) -> Iterator[LampRecord]:
    """`load_lamps` as a stream (rows fetched `chunk_rows` at a time): a million-lamp town is
    read without a million records in memory at once."""
    columns = (Lamp.id, Lamp.gateway, Lamp.zone, Lamp.road, Lamp.position_on_road, Lamp.cabinet,
               Lamp.lat, Lamp.lon, Lamp.in_service, Lamp.out_of_service_from,
               Lamp.out_of_service_until)
    with engine.connect() as conn:
        result = conn.execution_options(yield_per=chunk_rows).execute(
            select(*columns).order_by(Lamp.id))
        for row in result:
            yield LampRecord(*row[:9], ms_from_datetime(row[9]), ms_from_datetime(row[10]))


def load_drains(engine: Engine, in_service_only: bool = False) -> list[DrainSite]:
    """Every registered drain, sorted by id; only those not retired for good with
    `in_service_only` (the rule engine's drain network: a retired sensor is not silent)."""
    columns = (Drain.id, Drain.gateway, Drain.zone, Drain.depth_cm, Drain.overflow_cm,
               Drain.downstream_id, Drain.pipe_diameter_cm, Drain.normal_low_cm,
               Drain.normal_high_cm, Drain.lat, Drain.lon)
    query = select(*columns).order_by(Drain.id)
    if in_service_only:
        query = query.where(Drain.in_service)
    with engine.connect() as conn:
        return [DrainSite(*row) for row in conn.execute(query)]


def load_gauges(engine: Engine, in_service_only: bool = False) -> list[GaugeSite]:
    """Every registered rain gauge, sorted by id (not retired for good: `in_service_only`)."""
    columns = (RainGauge.id, RainGauge.gateway, RainGauge.zone, RainGauge.lat, RainGauge.lon)
    query = select(*columns).order_by(RainGauge.id)
    if in_service_only:
        query = query.where(RainGauge.in_service)
    with engine.connect() as conn:
        return [GaugeSite(*row) for row in conn.execute(query)]


# Writing ------------------------------------------------------------------------------------------
def upsert_devices(
    engine: Engine,
    lamps: Sequence[dict[str, Any]],
    drains: Sequence[dict[str, Any]],
    gauges: Sequence[dict[str, Any]],
) -> UpsertCounts:
    """Insert or update devices by id, all in one transaction (all or nothing), in chunks.

    Each dict holds column values of its model (`id`, `gateway`, `zone`, ...); a column missing
    from a dict is written as its default (`in_service`: true), or NULL when it has none; except
    that an update keeps the stored service state (SERVICE_COLUMNS) when no dict carries any of
    its columns. When one id appears twice in a list, the last one wins.
    """
    tables: list[tuple[Table, Sequence[dict[str, Any]]]] = [
        (Lamp.__table__, lamps),  # type: ignore[list-item]
        (Drain.__table__, drains),  # type: ignore[list-item]
        (RainGauge.__table__, gauges),  # type: ignore[list-item]
    ]
    written: list[int] = []
    inserted = 0
    with engine.begin() as conn:
        for table, rows in tables:
            before = _count(conn, table)
            written.append(_upsert_table(conn, table, rows))
            inserted += _count(conn, table) - before
        if any(written):
            bump_registry_revision(conn)
    counts = UpsertCounts(*written, inserted=inserted, updated=sum(written) - inserted)
    log_event(_log, "registry.upsert", lamps=counts.lamps, drains=counts.drains,
              gauges=counts.gauges, inserted=counts.inserted, updated=counts.updated)
    return counts


def bump_registry_revision(conn: Connection) -> None:
    """Add one to the registry's revision, in the transaction that wrote a device table: the
    live rule runner takes the change when it sees the number move (registry_revision)."""
    conn.execute(update(RegistryRevision.__table__).where(RegistryRevision.id == 1)
                 .values(revision=RegistryRevision.revision + 1))


def registry_revision(engine: Engine) -> int:
    """The registry's revision: moves with every write of the device tables."""
    with engine.connect() as conn:
        return conn.execute(select(RegistryRevision.revision)
                            .where(RegistryRevision.id == 1)).scalar_one()


def _count(conn: Connection, table: Table) -> int:
    return conn.execute(select(func.count()).select_from(table)).scalar_one()


def _upsert_table(conn: Connection, table: Table, rows: Sequence[dict[str, Any]]) -> int:
    """Upsert `rows` into `table` with the dialect's INSERT ... ON CONFLICT DO UPDATE."""
    complete = _complete_rows(table, rows)
    if not complete:
        return 0
    given = {key for row in rows for key in row}
    kept = SERVICE_COLUMNS if not given & SERVICE_COLUMNS else frozenset()
    statement = _upsert_statement(conn, table, kept)
    for chunk in _chunks(complete, UPSERT_CHUNK_ROWS):
        conn.execute(statement, chunk)
    return len(complete)


def _complete_rows(table: Table, rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows with every column present (its default, else None, when absent), deduplicated by id
    (last wins).

    Deduplication matters: PostgreSQL refuses to update one row twice in one statement.
    """
    unknown = {key for row in rows for key in row} - set(table.columns.keys())
    if unknown:
        raise ValueError(f"unknown {table.name} columns: {sorted(unknown)}")
    defaults = _scalar_defaults(table)
    by_id = {row["id"]: {**defaults, **row} for row in rows}
    return list(by_id.values())


def _scalar_defaults(table: Table) -> dict[str, Any]:
    """Each column's Python-side scalar default, None for columns without one."""
    return {column.name: column.default.arg if column.default is not None
            and column.default.is_scalar else None for column in table.columns}


def _upsert_statement(conn: Connection, table: Table, kept: frozenset[str]) -> Any:
    """INSERT ... ON CONFLICT (id) DO UPDATE of every column but the id and the `kept` ones."""
    dialect = conn.dialect.name
    if dialect == "postgresql":
        insert = postgresql.insert(table)
    elif dialect == "sqlite":
        insert = sqlite.insert(table)
    else:
        raise ConfigError(f"the registry supports SQLite and PostgreSQL, not {dialect}")
    updates = {name: insert.excluded[name] for name in table.columns.keys()
               if name != "id" and name not in kept}
    return insert.on_conflict_do_update(index_elements=["id"], set_=updates)


def _chunks(rows: list[dict[str, Any]], size: int) -> Iterator[list[dict[str, Any]]]:
    for start in range(0, len(rows), size):
        yield rows[start : start + size]


__all__ = [
    "DeviceInfo",
    "DeviceKind",
    "LampRecord",
    "UpsertCounts",
    "load_device_index",
    "iter_lamps",
    "load_lamps",
    "make_engine",
    "parse_sql_url",
    "upsert_devices",
]
