"""The registry against real databases: a SQLite file and the PostgreSQL server at 127.0.0.1:5432.

Each PostgreSQL test gets its own schema (`sql_url` in conftest.py) and drops it afterwards, so
parallel runs and other suites never see each other's tables.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import typer
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, func, inspect, select, text
from typer.testing import CliRunner

from streetwatch.errors import ConfigError
from streetwatch.registry import migrate, store
from streetwatch.registry.cli import db_app, devices_app
from streetwatch.registry.csv_import import COLUMNS, import_devices_csv
from streetwatch.registry.models import Base, Drain, Lamp, RainGauge
from streetwatch.registry.store import (
    DeviceInfo,
    LampRecord,
    load_device_index,
    load_drains,
    load_lamps,
    make_engine,
    upsert_devices,
)

HEADER = ",".join(COLUMNS[:12])  # device columns; the lamp service columns are optional
HEAD = migrate.head_revision()
GOOD_CSV = f"""{HEADER}
lamp,L1,gw1,north,Main St,1,C1,52.37,4.89,,,
lamp,L2,gw1,north,Main St,2,C1,52.38,4.89,,,
lamp,L3,gw2,south,,,,,,,,
drain,D1,gw3,north,,,,,,120,100,D2
drain,D2,gw3,north,,,,52.1,4.7,150,,
rain,R1,gw3,south,,,,52.0,4.9,,,
"""


# Databases ----------------------------------------------------------------------------------------
@pytest.fixture
def engine(sql_url: str) -> Iterator[Engine]:
    """An engine on a migrated, empty registry."""
    migrate.upgrade(sql_url)
    engine = make_engine(sql_url)
    yield engine
    engine.dispose()


def write_csv(tmp_path: Path, content: str, name: str = "devices.csv") -> Path:
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    return path


def table_counts(engine: Engine) -> tuple[int, int, int]:
    with engine.connect() as conn:
        return tuple(  # type: ignore[return-value]
            conn.execute(select(func.count()).select_from(model)).scalar_one()
            for model in (Lamp, Drain, RainGauge)
        )


# Migrations ---------------------------------------------------------------------------------------
def test_upgrade_from_empty_creates_the_tables(sql_url: str) -> None:
    assert migrate.current_revision(sql_url) is None

    assert migrate.upgrade(sql_url) == migrate.head_revision() == "0009"

    assert migrate.current_revision(sql_url) == "0009"
    engine = make_engine(sql_url)
    try:
        tables = set(inspect(engine).get_table_names())
    finally:
        engine.dispose()
    assert {"lamps", "drains", "rain_gauges", "alerts", "alert_history", "alert_outbox", "api_keys",
            "citizen_reports",
            "alembic_version"} <= tables


def test_upgrade_twice_is_a_no_op(sql_url: str) -> None:
    migrate.upgrade(sql_url)
    engine = make_engine(sql_url)
    try:
        upsert_devices(engine, [{"id": "L1", "gateway": "g", "zone": "z"}], [], [])
        migrate.upgrade(sql_url)
        assert migrate.current_revision(sql_url) == HEAD
        assert table_counts(engine) == (1, 0, 0)
    finally:
        engine.dispose()


def test_an_unknown_database_revision_is_a_config_error(sql_url: str) -> None:
    migrate.upgrade(sql_url)
    engine = make_engine(sql_url)
    try:
        with engine.begin() as conn:
            conn.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    finally:
        engine.dispose()

    with pytest.raises(ConfigError, match="from revision 9999 to head"):
        migrate.upgrade(sql_url)


def test_migration_matches_the_models(engine: Engine) -> None:
    with engine.connect() as conn:
        differences = compare_metadata(MigrationContext.configure(conn), Base.metadata)

    assert differences == []


def test_upgrade_from_0001_keeps_lamps_and_puts_them_in_service(sql_url: str) -> None:
    migrate.upgrade(sql_url, "0001")
    engine = make_engine(sql_url)
    try:
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO lamps (id, gateway, zone, road, position_on_road) "
                              "VALUES ('L2', 'gw1', 'north', 'Main St', 2), "
                              "('L1', 'gw1', 'north', NULL, NULL)"))

        assert migrate.upgrade(sql_url) == HEAD

        assert load_lamps(engine) == [
            LampRecord("L1", "gw1", "north", None, None, None, None, None, True, None, None),
            LampRecord("L2", "gw1", "north", "Main St", 2, None, None, None, True, None, None),
        ]
    finally:
        engine.dispose()


def test_downgrade_to_0001_and_upgrade_again(sql_url: str) -> None:
    migrate.upgrade(sql_url)
    engine = make_engine(sql_url)
    try:
        upsert_devices(engine, [{"id": "L1", "gateway": "g", "zone": "z", "in_service": False}],
                       [], [])

        command.downgrade(migrate.alembic_config(sql_url), "0001")
        assert "alerts" not in inspect(engine).get_table_names()
        migrate.upgrade(sql_url)

        assert [lamp.in_service for lamp in load_lamps(engine)] == [True]
    finally:
        engine.dispose()


def test_upgrade_from_0002_keeps_drains_without_a_band_and_downgrades(sql_url: str) -> None:
    migrate.upgrade(sql_url, "0002")
    engine = make_engine(sql_url)
    try:
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO drains (id, gateway, zone, depth_cm, overflow_cm) "
                              "VALUES ('D1', 'gw1', 'north', 120, 100)"))
        assert migrate.upgrade(sql_url) == HEAD
        with engine.connect() as conn:
            row = conn.execute(text("SELECT depth_cm, pipe_diameter_cm, normal_low_cm, "
                                    "normal_high_cm FROM drains")).one()
        assert tuple(row) == (120.0, None, None, None)
        command.downgrade(migrate.alembic_config(sql_url), "0002")
        assert "normal_low_cm" not in {c["name"] for c in inspect(engine).get_columns("drains")}
    finally:
        engine.dispose()


def test_sqlite_engine_has_foreign_keys_and_wal(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'new' / 'folder' / 'x.db'}")
    try:
        with engine.connect() as conn:
            assert conn.execute(text("PRAGMA foreign_keys")).scalar_one() == 1
            assert conn.execute(text("PRAGMA journal_mode")).scalar_one() == "wal"
    finally:
        engine.dispose()
    assert (tmp_path / "new" / "folder" / "x.db").is_file()


# Store --------------------------------------------------------------------------------------------
def test_import_then_load_device_index(engine: Engine, tmp_path: Path) -> None:
    report = import_devices_csv(engine, write_csv(tmp_path, GOOD_CSV))

    assert report.ok and report.counts is not None
    assert (report.counts.lamps, report.counts.drains, report.counts.gauges) == (3, 2, 1)
    index = load_device_index(engine)
    assert index == {
        ("lamp", "L1"): DeviceInfo("lamp", "L1", "gw1", "north", "Main St"),
        ("lamp", "L2"): DeviceInfo("lamp", "L2", "gw1", "north", "Main St"),
        ("lamp", "L3"): DeviceInfo("lamp", "L3", "gw2", "south", None),
        ("drain", "D1"): DeviceInfo("drain", "D1", "gw3", "north", None),
        ("drain", "D2"): DeviceInfo("drain", "D2", "gw3", "north", None),
        ("rain", "R1"): DeviceInfo("rain", "R1", "gw3", "south", None),
    }


def test_imported_columns_are_stored(engine: Engine, tmp_path: Path) -> None:
    import_devices_csv(engine, write_csv(tmp_path, GOOD_CSV))

    with engine.connect() as conn:
        lamp = conn.execute(select(Lamp.__table__).where(Lamp.id == "L2")).one()._asdict()
        drain = conn.execute(select(Drain.__table__).where(Drain.id == "D1")).one()._asdict()
    assert lamp == {"id": "L2", "gateway": "gw1", "zone": "north", "road": "Main St",
                    "position_on_road": 2, "cabinet": "C1", "lat": 52.38, "lon": 4.89,
                    "in_service": True, "out_of_service_from": None,
                    "out_of_service_until": None, "out_of_service_reason": None}
    assert drain == {"id": "D1", "gateway": "gw3", "zone": "north", "depth_cm": 120.0,
                     "overflow_cm": 100.0, "downstream_id": "D2", "lat": None, "lon": None,
                     "pipe_diameter_cm": None, "normal_low_cm": None, "normal_high_cm": None,
                     "in_service": True, "out_of_service_from": None,
                     "out_of_service_until": None, "out_of_service_reason": None}


def test_reimport_updates_instead_of_duplicating(engine: Engine, tmp_path: Path) -> None:
    import_devices_csv(engine, write_csv(tmp_path, GOOD_CSV))
    moved = GOOD_CSV.replace("lamp,L3,gw2,south,,,,", "lamp,L3,gw9,east,Side Rd,7,C2,") + (
        "rain,R2,gw3,south,,,,,,,,\n"
    )

    report = import_devices_csv(engine, write_csv(tmp_path, moved, "moved.csv"))

    assert report.counts is not None
    assert (report.counts.inserted, report.counts.updated) == (1, 6)
    assert table_counts(engine) == (3, 2, 2)
    index = load_device_index(engine)
    assert index[("lamp", "L3")] == DeviceInfo("lamp", "L3", "gw9", "east", "Side Rd")


def test_a_bad_file_imports_nothing(engine: Engine, tmp_path: Path) -> None:
    import_devices_csv(engine, write_csv(tmp_path, GOOD_CSV))
    bad = f"{HEADER}\nlamp,L1,gw7,west,,,,,,,,\nlamp,L9,gw1,north,,,,95,4,,,\nrain,R5,g,z,,,,,,,,\n"

    report = import_devices_csv(engine, write_csv(tmp_path, bad, "bad.csv"))

    assert not report.ok and report.counts is None
    assert [str(e) for e in report.errors] == ["line 3: lat 95 must be between -90 and 90"]
    assert table_counts(engine) == (3, 2, 1)
    assert load_device_index(engine)[("lamp", "L1")].gateway == "gw1"


def test_upsert_in_many_chunks_and_last_duplicate_wins(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(store, "UPSERT_CHUNK_ROWS", 7)
    lamps = [{"id": f"L{n}", "gateway": "g", "zone": "z", "position_on_road": n}
             for n in range(50)]
    lamps.append({"id": "L3", "gateway": "g2", "zone": "z2"})

    counts = upsert_devices(engine, lamps, [], [])

    assert (counts.lamps, counts.inserted, counts.updated) == (50, 50, 0)
    assert load_device_index(engine)[("lamp", "L3")] == DeviceInfo("lamp", "L3", "g2", "z2", None)
    assert table_counts(engine) == (50, 0, 0)


def test_upsert_rejects_unknown_columns(engine: Engine) -> None:
    with pytest.raises(ValueError, match="unknown lamps columns: \\['colour'\\]"):
        upsert_devices(engine, [{"id": "L1", "gateway": "g", "zone": "z", "colour": "red"}], [], [])


def test_unicode_road_names_survive_the_round_trip(engine: Engine, tmp_path: Path) -> None:
    content = f'{HEADER}\nlamp,L1,gw1,north,"Rue de l\'Église, ""nord""",1,,,,,,\n'

    report = import_devices_csv(engine, write_csv(tmp_path, content))

    assert report.ok, report.errors
    assert load_device_index(engine)[("lamp", "L1")].road == "Rue de l'Église, \"nord\""


def test_import_lamp_service_columns_then_load_lamps(engine: Engine, tmp_path: Path) -> None:
    content = ("kind,id,gateway,zone,road,position,in_service,out_of_service_from,"
               "out_of_service_until\n"
               "lamp,L3,gw1,north,Main St,3,no,,\n"
               "lamp,L1,gw1,north,Main St,1,,2026-03-01T09:00:00+01:00,2026-03-02T17:00:00.5Z\n"
               "lamp,L2,gw1,north,Main St,2,yes,,2026-03-01T00:00:00Z\n")

    report = import_devices_csv(engine, write_csv(tmp_path, content))

    assert report.ok, report.errors
    march_1_8h, march_2_17h = 1_772_352_000_000, 1_772_470_800_500
    assert load_lamps(engine) == [
        LampRecord("L1", "gw1", "north", "Main St", 1, None, None, None, True, march_1_8h,
                   march_2_17h),
        LampRecord("L2", "gw1", "north", "Main St", 2, None, None, None, True, None,
                   1_772_323_200_000),
        LampRecord("L3", "gw1", "north", "Main St", 3, None, None, None, False, None, None),
    ]


def test_reimport_without_service_columns_puts_a_lamp_back_in_service(
    engine: Engine, tmp_path: Path
) -> None:
    import_devices_csv(engine, write_csv(tmp_path, "kind,id,gateway,zone,in_service,"
                                                   "out_of_service_from\n"
                                                   "lamp,L1,g,z,false,2026-03-01T00:00:00Z\n"))

    import_devices_csv(engine, write_csv(tmp_path, "kind,id,gateway,zone\nlamp,L1,g,z\n", "b.csv"))

    assert load_lamps(engine) == [LampRecord("L1", "g", "z", None, None, None, None, None, True,
                                             None, None)]


def test_a_bad_service_value_imports_nothing(engine: Engine, tmp_path: Path) -> None:
    content = ("kind,id,gateway,zone,in_service,out_of_service_until\n"
               "lamp,L1,g,z,true,\nlamp,L2,g,z,perhaps,\nlamp,L3,g,z,,2026-03-01\n")

    report = import_devices_csv(engine, write_csv(tmp_path, content))

    assert [str(e) for e in report.errors] == [
        "line 3: in_service 'perhaps' must be true or false (or 1/0, yes/no)",
        "line 4: out_of_service_until '2026-03-01' must be an RFC 3339 date-time with a zone, "
        "like 2026-03-01T08:00:00Z or 2026-03-01T09:00:00+01:00",
    ]
    assert load_lamps(engine) == []


# CLI ----------------------------------------------------------------------------------------------
@pytest.fixture
def cli() -> typer.Typer:
    """The two sub-apps mounted the way `streetwatch` mounts them."""
    app = typer.Typer()
    app.add_typer(db_app, name="db")
    app.add_typer(devices_app, name="devices")
    return app


# `db upgrade` also sets InfluxDB retention (tests/integration/test_influx_retention.py): here it
# must not reach a local influxd a developer may be running on the default port.
NO_INFLUX = {"STREETWATCH_INFLUX_MANAGE_RETENTION": "false"}


def test_cli_end_to_end(
    cli: typer.Typer, sql_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # no stray streetwatch.toml from the working directory
    runner = CliRunner(env={"STREETWATCH_DATABASE_URL": sql_url, "STREETWATCH_CONFIG": None,
                               **NO_INFLUX})
    good = write_csv(tmp_path, GOOD_CSV)
    bad = write_csv(tmp_path, f"{HEADER}\nlamp,L 1,gw1,z,,,,,,,,\nlamp,L2,gw1,z,,,,,,,,\n"
                              f"drain,D1,g,z,,,,,,5,9,\n", "bad.csv")

    first = runner.invoke(cli, ["devices", "import", str(good)])
    again = runner.invoke(cli, ["devices", "import", str(good)])
    failed = runner.invoke(cli, ["devices", "import", str(bad)])
    upgrade = runner.invoke(cli, ["db", "upgrade"])
    current = runner.invoke(cli, ["db", "current"])

    assert first.exit_code == 0, first.output
    assert "imported 3 lamps, 2 drains, 1 rain gauges" in first.stdout
    assert "(6 new, 0 updated)" in first.stdout
    assert "(0 new, 6 updated)" in again.stdout
    assert failed.exit_code == 1
    assert failed.stderr.splitlines() == [
        "line 2: id 'L 1' must be 1-64 characters from A-Z a-z 0-9 _ . -",
        "line 4: overflow_cm (9) must not exceed depth_cm (5)",
        f"2 error(s) in {bad}; nothing was imported. Fix the file and run the import again.",
    ]
    assert upgrade.exit_code == 0 and f"already at revision {HEAD}" in upgrade.stdout
    assert f"revision {HEAD}, head {HEAD}" in current.stdout
    engine = make_engine(sql_url)
    try:
        assert table_counts(engine) == (3, 2, 1)
    finally:
        engine.dispose()


def test_cli_db_upgrade_on_an_empty_database(
    cli: typer.Typer, sql_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    runner = CliRunner(env={"STREETWATCH_DATABASE_URL": sql_url, "STREETWATCH_CONFIG": None,
                               **NO_INFLUX})

    result = runner.invoke(cli, ["db", "upgrade"])

    assert result.exit_code == 0, result.output
    assert f"upgraded from empty to revision {HEAD}" in result.stdout
    assert migrate.current_revision(sql_url) == HEAD


def test_cli_reports_a_missing_file_and_an_unreachable_database(
    cli: typer.Typer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    sqlite = CliRunner(env={"STREETWATCH_DATABASE_URL": f"sqlite:///{tmp_path / 'r.db'}"})
    unreachable = CliRunner(
        env={"STREETWATCH_DATABASE_URL": "postgresql://u:s3cret@127.0.0.1:1/x", **NO_INFLUX}
    )

    missing = sqlite.invoke(cli, ["devices", "import", str(tmp_path / "nope.csv")])
    down = unreachable.invoke(cli, ["db", "upgrade"])

    assert missing.exit_code == 1
    assert "cannot read devices file" in missing.stderr
    assert down.exit_code == 1
    assert "postgresql://u:***@127.0.0.1:1/x" in down.stderr
    assert "s3cret" not in down.output


def test_cli_reports_a_file_that_is_not_utf8(
    cli: typer.Typer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    runner = CliRunner(env={"STREETWATCH_DATABASE_URL": f"sqlite:///{tmp_path / 'r.db'}"})
    latin1 = tmp_path / "latin1.csv"
    latin1.write_bytes(f"{HEADER}\nlamp,L1,g,z,Stra\xdfe,,,,,,,\n".encode("latin-1"))

    result = runner.invoke(cli, ["devices", "import", str(latin1)])

    assert result.exit_code == 1
    assert "is not UTF-8 text (line 2" in result.stderr


def test_the_rules_network_leaves_out_drains_and_gauges_retired_for_good(engine: Engine) -> None:
    """A retired drain sensor is not silent: the rule engine's network (rules.sources.network_of)
    holds only what is in service; the registry still lists everything for reports."""
    from rules.sources import network_of

    upsert_devices(engine, [], [
        {"id": "D1", "gateway": "gw1", "zone": "north", "downstream_id": "D2"},
        {"id": "D2", "gateway": "gw1", "zone": "north", "in_service": False}], [
        {"id": "R1", "gateway": "gw1", "zone": "north", "in_service": False},
        {"id": "R2", "gateway": "gw1", "zone": "north"}])

    network = network_of(engine)

    assert [d.id for d in network.drains] == ["D1"] and [g.id for g in network.gauges] == ["R2"]
    assert [d.id for d in load_drains(engine)] == ["D1", "D2"]


def test_every_write_of_the_device_tables_moves_the_registry_revision(engine):
    """The live rule runner rebuilds when the revision moves: an upsert, the API's create,
    update and retire each move it once; a write of nothing, or of a device that is not there,
    leaves it."""
    from api.devices import create_device, take_out_of_service, update_device

    seen = [store.registry_revision(engine)]
    store.upsert_devices(engine, [{"id": "L1", "gateway": "gw1", "zone": "north"}], [], [])
    seen.append(store.registry_revision(engine))
    store.upsert_devices(engine, [], [], [])
    seen.append(store.registry_revision(engine))
    create_device(engine, "drain", {"id": "D1", "gateway": "gw1", "zone": "north"}, "admin", 0)
    seen.append(store.registry_revision(engine))
    update_device(engine, "lamp", "L1", {"zone": "south"}, "admin", 0)
    seen.append(store.registry_revision(engine))
    assert update_device(engine, "lamp", "L9", {"zone": "south"}, "admin", 0) is None
    seen.append(store.registry_revision(engine))
    take_out_of_service(engine, "lamp", "L1", (0, 1000), "works", "manager", 0)
    seen.append(store.registry_revision(engine))
    assert seen == [0, 1, 1, 2, 3, 3, 4]


def test_the_runner_takes_service_changes_in_place_and_anything_else_as_structural(engine):
    """RuleRunner._service_changes: the lamps whose service state alone moved, or None (a
    rebuild) when a lamp is added or moved, or the drains change."""
    from rules.config import RuleConfig
    from rules.engine import RuleEngine
    from rules.lifecycle import MemorySink
    from rules.runner import RuleRunner, RunnerConfig
    from rules.sources import SqlRegistry, fleet_of
    from streetwatch.registry.timestamps import datetime_from_ms
    from streetwatch.settings import MqttEndpoint

    from rule_drive import FixedNights

    lamps = [{"id": f"L{n}", "gateway": "gw1", "zone": "north", "road": "Main",
              "position_on_road": n} for n in (1, 2, 3)]
    store.upsert_devices(engine, lamps, [{"id": "D1", "gateway": "gw1", "zone": "north"}], [])
    registry = SqlRegistry(engine)
    runner = RuleRunner(None, RunnerConfig(MqttEndpoint("127.0.0.1", 1, None, None), "rules"),  # type: ignore[arg-type]
                        None, None, dict, registry=registry)  # type: ignore[arg-type]

    def built() -> None:
        runner.network = registry.network()
        runner.core = RuleEngine(fleet_of(registry.lamps()), RuleConfig(), FixedNights(),
                                 MemorySink(), 0, runner.network)

    built()
    assert runner._service_changes() == []
    store.upsert_devices(engine, [{**lamps[1], "in_service": False},
                                  {**lamps[2], "out_of_service_from": datetime_from_ms(1000)}], [], [])
    assert [(s.id, s.in_service, s.works_from_ms) for s in runner._service_changes()] == [
        ("L2", False, None), ("L3", True, 1000)]
    built()
    for change in ([{**lamps[0], "zone": "south"}], [], [{**lamps[0], "id": "L4"}]):
        store.upsert_devices(engine, change, [] if change else [
            {"id": "D2", "gateway": "gw1", "zone": "north"}], [])
        assert runner._service_changes() is None, change
        built()
