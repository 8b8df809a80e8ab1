"""Devices in the registry for the API: list (keyset pages), find, create, update, take out of
service, and the open alerts about one device. SQL lives here, never in the routes.

A device is a lamp, a drain sensor or a rain gauge; each kind has its own table and the registry
keys devices by (kind, id), so a list pages on (kind, id): lamps, then drains, then gauges, each
by id, every page one indexed range scan per kind ((zone|gateway|road|cabinet, id) indexes).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Literal, get_args

from sqlalchemy import (
    ColumnElement,
    Connection,
    Engine,
    Result,
    Table,
    and_,
    bindparam,
    false,
    literal_column,
    or_,
    select,
    true,
    union_all,
)
from sqlalchemy.exc import IntegrityError

from streetwatch.alerts.model import drain_subject, lamp_subject, rfc3339_ms
from streetwatch.alerts.records import StoredAlert, alert_from_row
from streetwatch.logs import log_event
from streetwatch.registry.models import Alert, Drain, Lamp, RainGauge
from streetwatch.registry.store import bump_registry_revision
from streetwatch.registry.timestamps import datetime_from_ms, ms_from_datetime

DeviceKind = Literal["lamp", "drain", "rain"]
KINDS: tuple[DeviceKind, ...] = get_args(DeviceKind)  # the order of a device list
DeviceState = Literal["in_service", "out_of_service", "retired"]
STATES: tuple[DeviceState, ...] = get_args(DeviceState)
TABLES: dict[str, Table] = {"lamp": Lamp.__table__, "drain": Drain.__table__,  # type: ignore[dict-item]
                            "rain": RainGauge.__table__}
# API (CSV) names of the columns whose model names differ.
_MODEL_NAMES = {"position": "position_on_road", "downstream": "downstream_id"}
_API_NAMES = {model: api for api, model in _MODEL_NAMES.items()}
_LAMP_ONLY = ("road", "cabinet")
_ALERTS = Alert.__table__
_log = logging.getLogger(__name__)


class DeviceConflict(Exception):
    """The device cannot be written as asked (an id taken, already retired): HTTP 409."""


@dataclass(frozen=True, slots=True)
class DeviceQuery:
    """Filters of a device list; `zones` None means every zone, an empty set means none."""

    kind: DeviceKind | None = None
    zones: frozenset[str] | None = None
    gateway: str | None = None
    road: str | None = None
    cabinet: str | None = None
    state: DeviceState | None = None


def device_state(in_service: bool, from_ms: int | None, until_ms: int | None,
                 now_ms: int) -> DeviceState:
    """`retired` when taken out for good (in_service false); `out_of_service` inside a planned
    works window [from, until) (an open end reaches forever); else `in_service`."""
    if not in_service:
        return "retired"
    if from_ms is None and until_ms is None:
        return "in_service"
    started = from_ms is None or from_ms <= now_ms
    running = until_ms is None or now_ms < until_ms
    return "out_of_service" if started and running else "in_service"


def device_records(kind: str, result: Result[Any], now_ms: int) -> list[dict[str, Any]]:
    """Registry rows as the API's devices: CSV column names, times as RFC 3339, their state.
    The names are looked up once per result, not per row (a page of 100 paid a tenth of its
    time for them)."""
    names = [_API_NAMES.get(name, name) for name in result.keys()]
    return [_device_record(kind, dict(zip(names, row, strict=True)), now_ms)
            for row in result.all()]  # one fetchall: iterating fetched row by row


def _device_record(kind: str, values: dict[str, Any], now_ms: int) -> dict[str, Any]:
    start = ms_from_datetime(values["out_of_service_from"])
    end = ms_from_datetime(values["out_of_service_until"])
    values.update(kind=kind, state=device_state(values["in_service"], start, end, now_ms),
                  out_of_service_from=None if start is None else rfc3339_ms(start),
                  out_of_service_until=None if end is None else rfc3339_ms(end))
    return values


def model_values(api_values: dict[str, Any]) -> dict[str, Any]:
    """API (CSV) column names -> model column names."""
    return {_MODEL_NAMES.get(name, name): value for name, value in api_values.items()}


# Reading -----------------------------------------------------------------------------------------
def list_devices(engine: Engine, query: DeviceQuery, after: tuple[str, str] | None, limit: int,
                 now_ms: int) -> list[dict[str, Any]]:
    """Up to `limit` devices after (kind, id) `after` in list order (lamps, drains, gauges; each
    by id), filtered by `query`."""
    found: list[dict[str, Any]] = []
    kinds = _kinds_after(query, None if after is None else after[0])
    with engine.connect() as conn:
        for kind in kinds:
            table = TABLES[kind]
            where = _filters(table, kind, query, now_ms)
            if after is not None and kind == after[0]:
                where.append(table.c.id > after[1])
            found += device_records(kind, conn.execute(select(table).where(*where)
                                                       .order_by(table.c.id)
                                                       .limit(limit - len(found))), now_ms)
            if len(found) >= limit:
                break
    return found


def _kinds_after(query: DeviceQuery, after_kind: str | None) -> list[DeviceKind]:
    """The kinds a page may still hold: the query's, from the cursor's kind on; road and cabinet
    belong to lamps only."""
    kinds = [k for k in KINDS if query.kind in (None, k)]
    if query.road is not None or query.cabinet is not None:
        kinds = [k for k in kinds if k == "lamp"]
    if after_kind is not None:
        kinds = kinds[kinds.index(after_kind):] if after_kind in kinds else []
    return kinds


def _filters(table: Table, kind: str, query: DeviceQuery,
             now_ms: int) -> list[ColumnElement[bool]]:
    where: list[ColumnElement[bool]] = []
    if query.zones is not None:
        where.append(table.c.zone.in_(sorted(query.zones)) if query.zones else false())
    if query.gateway is not None:
        where.append(table.c.gateway == query.gateway)
    for name in _LAMP_ONLY:
        value = getattr(query, name)
        if value is not None and kind == "lamp":
            where.append(table.c[name] == value)
    if query.state is not None:
        where.append(_state_is(table, query.state, now_ms))
    return where


def _state_is(table: Table, state: DeviceState, now_ms: int) -> ColumnElement[bool]:
    """SQL for `device_state(...) == state` at `now_ms`."""
    now = datetime_from_ms(now_ms)
    start, end = table.c.out_of_service_from, table.c.out_of_service_until
    in_window = and_(or_(start.isnot(None), end.isnot(None)),
                     or_(start.is_(None), start <= now), or_(end.is_(None), end > now))
    if state == "retired":
        return table.c.in_service == false()
    if state == "out_of_service":
        return and_(table.c.in_service == true(), in_window)
    return and_(table.c.in_service == true(), ~in_window)


def find_devices(engine: Engine, device_id: str, kind: DeviceKind | None,
                 now_ms: int) -> list[dict[str, Any]]:
    """The devices with `device_id` (one per kind at most; only `kind` when given)."""
    with engine.connect() as conn:
        return _find(conn, device_id, kind, now_ms)


def device_zones(engine: Engine, device_id: str,
                 kind: DeviceKind | None) -> list[tuple[DeviceKind, str]]:
    """(kind, zone) of each device with `device_id` (only `kind` when given), in list order:
    one statement, built once, for routes that need no more of the device (its readings)."""
    with engine.connect() as conn:
        found = conn.execute(_ZONES_OF[kind], {"id": device_id}).all()
    return sorted(((row.kind, row.zone) for row in found), key=lambda kz: KINDS.index(kz[0]))


_ZONES_OF = {each: select(literal_column(f"'{each}'").label("kind"), TABLES[each].c.zone)
             .where(TABLES[each].c.id == bindparam("id")) for each in KINDS}
_ZONES_OF[None] = union_all(*_ZONES_OF.values())  # type: ignore[index, arg-type]


def _find(conn: Connection, device_id: str, kind: DeviceKind | None,
          now_ms: int) -> list[dict[str, Any]]:
    found = []
    for each in KINDS if kind is None else (kind,):
        table = TABLES[each]
        found += device_records(each, conn.execute(select(table)
                                                   .where(table.c.id == device_id)), now_ms)
    return found


def open_alerts_about(engine: Engine, kind: str, device_id: str, zone: str) -> list[StoredAlert]:
    """Open alerts whose subject is this device (`lamp:<id>`, `drain:<id>`) or whose devices
    list holds it (a blind spot, a cabinet), oldest first: the device's zone's open alerts
    (a partial index) and its own subject's, never a scan of resolved ones."""
    subjects = {"lamp": [lamp_subject(device_id)], "drain": [drain_subject(device_id)]}
    is_open = _ALERTS.c.resolved_at.is_(None)
    queries = [select(_ALERTS).where(is_open, _ALERTS.c.zone == zone)]
    if kind in subjects:
        queries.append(select(_ALERTS).where(is_open, _ALERTS.c.subject.in_(subjects[kind])))
    by_id: dict[int, StoredAlert] = {}
    with engine.connect() as conn:
        for query in queries:
            for row in conn.execute(query):
                alert = alert_from_row(row)
                if alert.subject in subjects.get(kind, ()) or device_id in alert.devices:
                    by_id[alert.id] = alert
    return [by_id[i] for i in sorted(by_id)]


# Writing -----------------------------------------------------------------------------------------
def create_device(engine: Engine, kind: DeviceKind, values: dict[str, Any], actor: str,
                  now_ms: int) -> dict[str, Any]:
    """Insert a new device (model column values); DeviceConflict when its id is taken by a
    device of any kind (the API keeps ids unambiguous)."""
    table = TABLES[kind]
    try:
        with engine.begin() as conn:
            taken = _find(conn, values["id"], None, now_ms)
            if taken:
                raise DeviceConflict(f"id {values['id']!r} is taken by a {taken[0]['kind']}")
            conn.execute(table.insert().values(values))
            bump_registry_revision(conn)
            created = _find(conn, values["id"], kind, now_ms)[0]
    except IntegrityError:  # a concurrent create of the same id won
        raise DeviceConflict(f"id {values['id']!r} is taken by a {kind}") from None
    log_event(_log, "api.device_created", kind=kind, id=values["id"], zone=values["zone"],
              actor=actor)
    return created


def update_device(engine: Engine, kind: DeviceKind, device_id: str, values: dict[str, Any],
                  actor: str, now_ms: int) -> dict[str, Any] | None:
    """Write `values` (model columns) over the device; None when it no longer exists."""
    table = TABLES[kind]
    with engine.begin() as conn:
        done = conn.execute(table.update().where(table.c.id == device_id).values(values)).rowcount
        if done:
            bump_registry_revision(conn)
        found = _find(conn, device_id, kind, now_ms) if done else []
    if not found:
        return None
    log_event(_log, "api.device_updated", kind=kind, id=device_id, columns=sorted(values),
              actor=actor)
    return found[0]


def take_out_of_service(engine: Engine, kind: DeviceKind, device_id: str,
                        window: tuple[int | None, int | None] | None, reason: str, actor: str,
                        now_ms: int) -> dict[str, Any] | None:
    """Retire the device for good (`window` None) or for planned works [from, until); None when
    it does not exist; DeviceConflict when it is retired already (for good)."""
    table = TABLES[kind]
    if window is None:
        values = {"in_service": False, "out_of_service_from": None,
                  "out_of_service_until": None}
    else:
        values = {"in_service": True,
                  "out_of_service_from": None if window[0] is None else datetime_from_ms(window[0]),
                  "out_of_service_until": None if window[1] is None else datetime_from_ms(window[1])}
    with engine.begin() as conn:
        done = conn.execute(table.update().where(table.c.id == device_id,
                                                 table.c.in_service == true())
                            .values(out_of_service_reason=reason, **values)).rowcount
        if done:
            bump_registry_revision(conn)
        found = _find(conn, device_id, kind, now_ms)
    if not found:
        return None
    if not done:
        raise DeviceConflict(f"{kind} {device_id!r} is retired already; PATCH in_service true "
                             f"to bring it back first")
    log_event(_log, "api.device_out_of_service", kind=kind, id=device_id, actor=actor,
              for_good=window is None)
    return found[0]
