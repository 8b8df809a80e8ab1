"""Retention policies and hourly continuous queries against a real influxd (`db upgrade`)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from streetwatch.influx import InfluxClient
from streetwatch.influx_retention import (
    HOURLY_AGGREGATES,
    RetentionPlan,
    apply_retention,
    backfill_statement,
)
from streetwatch.lineproto import SeriesTags, drain_line, lamp_line, lighting_rate_line, rain_line
from streetwatch.registry.cli import db_app
from streetwatch.schemas import DrainReading, LampReading, RainReading
from streetwatch.services.process import free_port

HOUR_MS = 3_600_000
# A whole hour a day ago: within the raw policy's 400 days (InfluxDB drops older writes).
T0 = (int(time.time() * 1000) // HOUR_MS - 24) * HOUR_MS
PLAN = RetentionPlan("", 400, 3650)


@pytest.fixture
def influx(influxd, influx_db):
    with InfluxClient(influxd.url, influx_db) as client:
        yield client


def plan_for(influx: InfluxClient) -> RetentionPlan:
    return RetentionPlan(influx.database, PLAN.raw_days, PLAN.hourly_days)


def policies(influx: InfluxClient) -> dict[str, tuple[str, str, bool]]:
    rows = influx.rows(f'SHOW RETENTION POLICIES ON "{influx.database}"')
    return {r["name"]: (r["duration"], r["shardGroupDuration"], r["default"]) for r in rows}


def cq_texts(influx: InfluxClient) -> dict[str, str]:
    series = influx.query("SHOW CONTINUOUS QUERIES")[0].get("series", [])
    mine = [s for s in series if s["name"] == influx.database]
    return {name: query for s in mine for name, query in s.get("values", [])}


def test_applied_twice_the_second_run_changes_nothing(influx):
    first = apply_retention(influx, plan_for(influx))
    second = apply_retention(influx, plan_for(influx))

    assert first == ["retention policy autogen: 400d", "retention policy hourly: created, 3650d",
                     "created continuous query lamp_hourly", "created continuous query drain_hourly",
                     "created continuous query rain_hourly",
                     "created continuous query lighting_rate_hourly"]
    assert second == []
    assert policies(influx) == {"autogen": ("9600h0m0s", "168h0m0s", True),
                                "hourly": ("87600h0m0s", "8736h0m0s", False)}
    db = influx.database
    texts = cq_texts(influx)
    assert set(texts) == {f"{m}_hourly" for m in HOURLY_AGGREGATES}
    for measurement, query in ((m, texts[f"{m}_hourly"]) for m in HOURLY_AGGREGATES):
        assert "RESAMPLE EVERY 1h FOR 3h" in query
        assert f"INTO {db}.hourly.{measurement} FROM {db}.autogen.{measurement}" in query
        assert query.endswith("GROUP BY time(1h), * END")


def test_points_written_before_stay_where_queries_look(influx):
    """The default policy is altered, not replaced: earlier points and later writes are read by
    queries that name no policy (all of Streetwatch's)."""
    influx.write_lines([f"lamp,lamp=L1,zone=Z1 on=true {T0}"])
    apply_retention(influx, plan_for(influx))
    influx.write_lines([f"lamp,lamp=L1,zone=Z1 on=false {T0 + HOUR_MS}"])

    assert influx.scalar('SELECT count("on") FROM lamp') == 2


def test_a_changed_definition_replaces_the_old_one(influx):
    db = influx.database
    influx.query(f'CREATE CONTINUOUS QUERY "rain_hourly" ON "{db}" BEGIN SELECT max("rain_mm") '
                 f'INTO "{db}"."autogen"."rain_max" FROM "rain" GROUP BY time(1h) END', write=True)

    changes = apply_retention(influx, plan_for(influx))

    assert "replaced continuous query rain_hourly" in changes
    assert "sum(rain_mm) AS rain_mm" in cq_texts(influx)["rain_hourly"]


def test_changed_settings_alter_the_durations(influx):
    apply_retention(influx, plan_for(influx))

    changes = apply_retention(influx, RetentionPlan(influx.database, 0, 30))

    assert changes == ["retention policy autogen: INF", "retention policy hourly: 30d"]
    assert policies(influx) == {"autogen": ("0s", "168h0m0s", True),
                                "hourly": ("720h0m0s", "24h0m0s", False)}


def lamp(lamp_id: str, ts: int, power_w: float, dim: int, on: bool = True) -> str:
    tags = SeriesTags("gw1", "Z1", "R1")
    return lamp_line(lamp_id, tags, LampReading(ts=ts, on=on, dim=dim, power_w=power_w,
                                                voltage_v=230.0))


def test_the_cq_query_run_by_hand_writes_hourly_means(influx):
    """What each CQ computes, checked on exact numbers: the backfill statement is the CQ's query
    with a time range, so running it is running the CQ over that range."""
    apply_retention(influx, plan_for(influx))
    influx.write_lines([
        lamp("L1", T0 + 60_000, 40.0, 50), lamp("L1", T0 + 1_800_000, 60.0, 100),
        lamp("L1", T0 + HOUR_MS + 60_000, 10.0, 20, on=False),
        lamp("L2", T0 + 60_000, 100.0, 100),
        drain_line("D1", SeriesTags("gw1", "Z1"),
                   DrainReading(ts=T0 + 600_000, level_cm=20.0, battery_v=3.6, rssi_dbm=-80)),
        drain_line("D1", SeriesTags("gw1", "Z1"),
                   DrainReading(ts=T0 + 1_200_000, level_cm=50.0, battery_v=3.4, rssi_dbm=-90)),
        rain_line("G1", SeriesTags("gw1", "Z1"), RainReading(ts=T0 + 600_000, rain_mm=1.5)),
        rain_line("G1", SeriesTags("gw1", "Z1"), RainReading(ts=T0 + 1_200_000, rain_mm=2.0)),
        lighting_rate_line("Z1", T0 + 60_000, 99, 100, 1, 0.99),
        lighting_rate_line("Z1", T0 + 120_000, 97, 100, 3, 0.99),
        lamp("L1", T0 + 2 * HOUR_MS, 999.0, 0),  # outside the range: not in any mean
    ])
    for measurement in HOURLY_AGGREGATES:
        influx.query(backfill_statement(influx.database, "autogen", measurement,
                                        T0, T0 + 2 * HOUR_MS), write=True)

    hourly = f'"{influx.database}"."hourly"'
    lamps = influx.rows(f"SELECT * FROM {hourly}.lamp ORDER BY time")
    assert sorted((r["time"], r["lamp"], r["zone"], r["road"], r["power_w"], r["dim"],
                   r["readings"]) for r in lamps) == [
        (T0, "L1", "Z1", "R1", 50.0, 75.0, 2), (T0, "L2", "Z1", "R1", 100.0, 100.0, 1),
        (T0 + HOUR_MS, "L1", "Z1", "R1", 10.0, 20.0, 1)]
    drain = influx.rows(f"SELECT * FROM {hourly}.drain")
    assert [(r["time"], r["sensor"], r["level_cm"], r["level_cm_max"], r["battery_v"],
             r["rssi_dbm"], r["readings"]) for r in drain] == [
        (T0, "D1", 35.0, 50.0, pytest.approx(3.5), -85.0, 2)]
    rain = influx.rows(f"SELECT * FROM {hourly}.rain")
    assert [(r["time"], r["gauge"], r["rain_mm"], r["readings"]) for r in rain] == [
        (T0, "G1", 3.5, 2)]
    rate = influx.rows(f"SELECT * FROM {hourly}.lighting_rate")
    assert [(r["time"], r["zone"], r["rate"], r["lit"], r["stale"]) for r in rate] == [
        (T0, "Z1", pytest.approx(0.98), 98.0, 2.0)]


# The command --------------------------------------------------------------------------------------
def run_upgrade(tmp_path: Path, influx_url: str, database: str, **env: str):
    runner = CliRunner(env={"STREETWATCH_DATABASE_URL": f"sqlite:///{tmp_path / 'r.db'}",
                            "STREETWATCH_INFLUX_URL": influx_url, "STREETWATCH_INFLUX_DB": database,
                            "STREETWATCH_CONFIG": None, **env})
    return runner.invoke(db_app, ["upgrade"])


def test_db_upgrade_creates_them_once(influxd, influx_db, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    first = run_upgrade(tmp_path, influxd.url, influx_db)
    second = run_upgrade(tmp_path, influxd.url, influx_db)
    shorter = run_upgrade(tmp_path, influxd.url, influx_db,
                          STREETWATCH_INFLUX_RAW_RETENTION_DAYS="90")

    assert first.exit_code == 0, first.output
    assert first.stdout.splitlines()[1] == (
        f"influxdb {influxd.url} database {influx_db}: retention policy autogen: 400d; "
        "retention policy hourly: created, 3650d; created continuous query lamp_hourly; "
        "created continuous query drain_hourly; created continuous query rain_hourly; "
        "created continuous query lighting_rate_hourly (raw 400d, hourly 3650d)")
    assert second.stdout.splitlines()[1].endswith(
        ": retention and continuous queries up to date (raw 400d, hourly 3650d)")
    assert shorter.exit_code == 0 and "retention policy autogen: 90d" in shorter.stdout


def test_db_upgrade_fails_when_an_external_influxdb_is_unreachable(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = run_upgrade(tmp_path, f"http://127.0.0.1:{free_port()}", "sw")

    assert result.exit_code == 1
    assert "upgraded from empty to revision" in result.stdout  # SQL first, and it stays done
    assert "unreachable" in result.stderr and "run `streetwatch db upgrade` again" in result.stderr


def test_db_upgrade_skips_a_local_influxd_that_is_not_running(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    runner = CliRunner(env={"STREETWATCH_DATABASE_URL": f"sqlite:///{tmp_path / 'r.db'}",
                            "STREETWATCH_INFLUX_URL": None, "STREETWATCH_CONFIG": None,
                            "STREETWATCH_LOCAL_INFLUX_PORT": str(free_port())})
    result = runner.invoke(db_app, ["upgrade"])

    assert result.exit_code == 0, result.output
    assert "skipped, the local influxd is not running" in result.stdout


def test_db_upgrade_leaves_influxdb_alone_when_told(influxd, influx_db, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = run_upgrade(tmp_path, influxd.url, influx_db,
                         STREETWATCH_INFLUX_MANAGE_RETENTION="false")

    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[1].endswith(
        ": retention left alone (influx_manage_retention is false)")
    with InfluxClient(influxd.url, influx_db) as influx:
        assert policies(influx) == {"autogen": ("0s", "168h0m0s", True)}
