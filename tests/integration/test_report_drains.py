"""`streetwatch report drains` and `report dredging` against a real influxd and a SQLite registry.

Town time Asia/Shanghai (UTC+8); readings written as the ingester writes them
(streetwatch.lineproto).
Expected numbers, by hand:

`report drains --from 2026-12-07 00:00 --to 2026-12-08 00:00` (local), readings every 10 min:
- D1 (Z1, configured band 10-20 cm): 15 cm, except 25 cm from 08:00 to 09:50 (12 readings of
  10 min each) -> 120 minutes above. Alerts: blockage 09:00, cover_open 10:00 (a low_battery
  raised the day before is outside the window).
- D2 (Z1, no configured band): 14 days of history at 20 cm (the wet 2026-12-06 at 60 cm, left
  out), so its learned band is 18-22 cm; in the window 20 cm, except 35 cm from 12:00 to 12:50
  -> 60 minutes above.
- Z1's gauge G1: 5 mm at 2026-12-06 20:00 (wet until 12-07 08:00: 480 min of the window, and read
  only because the rain is read from before --from) and 5 mm at 12-07 18:00 (wet to midnight: 360
  min) -> 840 minutes wet. Z2 has no gauge; D3 (Z2) has no readings.

`report dredging --at 2026-12-29 09:00 --weeks 4` (the weeks are 12-01 .. 12-28), hourly readings
with a daily cycle (+10 cm at 07-08 and 19-20 h):
- DC (Z2): 20 cm in the first week, +2 cm each week -> creep 2 cm/week, rise 6, overflow 52 -> 50 %
  used, 13 weeks to go.
- DS (Z1): 20 cm, but 80 cm on three storm days of week 3 (rain on G1): wet, left out -> flat.
- DN (Z1): no readings -> flagged, last.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from typer.testing import CliRunner

from streetwatch.alerts.model import Condition
from streetwatch.alerts.store import AlertStore
from streetwatch.cli import app
from streetwatch.influx import InfluxClient
from streetwatch.lineproto import SeriesTags, drain_line, rain_line
from streetwatch.registry.migrate import upgrade
from streetwatch.registry.store import make_engine, upsert_devices
from streetwatch.schemas import DrainReading, RainReading

SHANGHAI = ZoneInfo("Asia/Shanghai")
MIN_MS = 60_000
HOUR_MS = 60 * MIN_MS
DAY_MS = 24 * HOUR_MS

DRAINS_CSV = (
    "drain,zone,readings,max_level_cm,minutes_above_band,minutes_wet,alerts,alert_kinds,band\n"
    "D1,Z1,144,25.00,120.0,840.0,2,blockage;cover_open,configured\n"
    "D2,Z1,144,35.00,60.0,840.0,0,,learned\n"
    "D3,Z2,0,,0.0,0.0,0,,none\n"
)
DREDGING_CSV = (
    "rank,drain,zone,creep_cm_per_week,rise_cm,latest_baseline_cm,overflow_cm,capacity_used_pct,"
    "weeks_to_overflow,weekly_baseline_cm,dry_days,flag\n"
    "1,DC,Z2,2.00,6.00,26.00,52.00,50.0,13.0,20.00;22.00;24.00;26.00,7;7;7;7,\n"
    "2,DS,Z1,0.00,0.00,20.00,60.00,33.3,,20.00;20.00;20.00;20.00,7;7;4;7,\n"
    "3,DN,Z1,,,,60.00,,,;;;,0;0;0;0,no_readings\n"
)
DRAINS_ARGS = ["report", "drains", "--from", "2026-12-06T16:00:00Z", "--to", "2026-12-07T16:00:00Z"]
DREDGING_ARGS = ["report", "dredging", "--at", "2026-12-29T09:00:00+08:00", "--weeks", "4"]


def local_ms(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=SHANGHAI).timestamp() * 1000)


def level(drain: str, zone: str, ts_ms: int, level_cm: float) -> str:
    return drain_line(drain, SeriesTags("gw1", zone), DrainReading(ts=ts_ms, level_cm=level_cm,
                                                                  battery_v=3.6))


def rain(gauge: str, zone: str, local: str, rain_mm: float) -> str:
    reading = RainReading(ts=local_ms(local), rain_mm=rain_mm)
    return rain_line(gauge, SeriesTags("gw1", zone), reading)


@pytest.fixture
def report_env(influxd, influx_db, monkeypatch, tmp_path):
    """Settings through the environment, a migrated SQLite registry; returns (sql url, influx)."""
    monkeypatch.chdir(tmp_path)  # no ./streetwatch.toml
    monkeypatch.delenv("STREETWATCH_CONFIG", raising=False)
    sql_url = f"sqlite:///{tmp_path / 'registry.db'}"
    values = {"INFLUX_URL": influxd.url, "INFLUX_DB": influx_db, "DATABASE_URL": sql_url,
              "TOWN_TIMEZONE": "Asia/Shanghai", "BASELINE_WINDOW_DAYS": "14"}
    for name, value in values.items():
        monkeypatch.setenv(f"STREETWATCH_{name}", value)
    upgrade(sql_url)
    with InfluxClient(influxd.url, influx_db) as influx:
        yield sql_url, influx


def register(sql_url: str, drains: list[dict], gauges: list[dict]) -> None:
    engine = make_engine(sql_url)
    upsert_devices(engine, [], [{"gateway": "gw1", **d} for d in drains],
                   [{"gateway": "gw1", **g} for g in gauges])
    engine.dispose()


def raise_alerts(sql_url: str, *alerts: tuple[str, str, str]) -> None:
    engine = make_engine(sql_url)
    store = AlertStore(engine)
    for kind, subject, local in alerts:
        at_ms = local_ms(local)
        condition = Condition(kind, subject, "Z1", (subject.split(":")[1],), "test")  # type: ignore[arg-type]
        store.raise_alert(condition, at_ms, "yellow", at_ms + DAY_MS)
    engine.dispose()


def every_10_min(drain: str, zone: str, start: str, days: int, level_at) -> list[str]:
    first = local_ms(start)
    return [level(drain, zone, first + i * 10 * MIN_MS, level_at(first + i * 10 * MIN_MS))
            for i in range(days * 144)]


@pytest.fixture
def day_of_drains(report_env):
    sql_url, influx = report_env
    register(sql_url, [{"id": "D1", "zone": "Z1", "depth_cm": 100, "normal_low_cm": 10,
                        "normal_high_cm": 20},
                       {"id": "D2", "zone": "Z1", "depth_cm": 100},
                       {"id": "D3", "zone": "Z2", "depth_cm": 100}],
             [{"id": "G1", "zone": "Z1"}])
    raise_alerts(sql_url, ("blockage", "drain:D1", "2026-12-07 09:00"),
                 ("cover_open", "drain:D1", "2026-12-07 10:00"),
                 ("low_battery", "drain:D2", "2026-12-06 09:00"),
                 ("lamp_out", "lamp:L1", "2026-12-07 09:00"))
    in_window = (local_ms("2026-12-07 00:00"), local_ms("2026-12-08 00:00"))
    storm_day = (local_ms("2026-12-06 00:00"), in_window[0])

    def d1(ts: int) -> float:
        return 25.0 if local_ms("2026-12-07 08:00") <= ts < local_ms("2026-12-07 10:00") else 15.0

    def d2(ts: int) -> float:
        if storm_day[0] <= ts < storm_day[1]:
            return 60.0
        return 35.0 if local_ms("2026-12-07 12:00") <= ts < local_ms("2026-12-07 13:00") else 20.0

    influx.write_lines(
        every_10_min("D1", "Z1", "2026-12-07 00:00", 1, d1)
        + every_10_min("D2", "Z1", "2026-11-23 00:00", 15, d2)
        + [level("D2", "Z1", in_window[1], 99.0)]  # at --to: outside the window
        + [rain("G1", "Z1", "2026-12-06 20:00", 5.0), rain("G1", "Z1", "2026-12-07 18:00", 5.0)])
    return report_env


def test_drains_csv_from_influxdb_and_the_registry(day_of_drains, tmp_path):
    output = tmp_path / "drains.csv"
    result = CliRunner().invoke(app, [*DRAINS_ARGS, "--out", str(output)])
    assert result.exit_code == 0, result.output
    assert output.read_text(encoding="utf-8") == DRAINS_CSV


def test_drains_csv_goes_to_stdout_without_out(day_of_drains):
    result = CliRunner().invoke(app, DRAINS_ARGS)
    assert result.exit_code == 0, result.output
    assert result.stdout == DRAINS_CSV


@pytest.fixture
def four_weeks(report_env):
    sql_url, influx = report_env
    register(sql_url, [{"id": "DC", "zone": "Z2", "depth_cm": 60, "overflow_cm": 52},
                       {"id": "DS", "zone": "Z1", "depth_cm": 60},
                       {"id": "DN", "zone": "Z1", "depth_cm": 60}],
             [{"id": "G1", "zone": "Z1"}])
    first = local_ms("2026-12-01 00:00")
    storm_days = (15, 16, 17)  # days of December 2026 (week 3: 12-15 .. 12-21)
    lines = [rain("G1", "Z1", f"2026-12-{day} 12:00", 5.0) for day in storm_days]
    for day in range(28):
        for hour in range(24):
            ts = first + day * DAY_MS + hour * HOUR_MS
            cycle = 10.0 if hour in (7, 8, 19, 20) else 0.0
            lines.append(level("DC", "Z2", ts, 20.0 + 2 * (day // 7) + cycle))
            lines.append(level("DS", "Z1", ts, (80.0 if day + 1 in storm_days else 20.0) + cycle))
    influx.write_lines(lines)
    return report_env


def test_dredging_list_from_influxdb_and_the_registry(four_weeks, tmp_path):
    output = tmp_path / "dredging.csv"
    result = CliRunner().invoke(app, [*DREDGING_ARGS, "--out", str(output)])
    assert result.exit_code == 0, result.output
    assert output.read_text(encoding="utf-8") == DREDGING_CSV


def test_to_before_from_is_a_usage_error(report_env):
    result = CliRunner().invoke(app, ["report", "drains", "--from", "2026-12-07T16:00:00Z",
                                      "--to", "2026-12-06T16:00:00Z"])
    assert result.exit_code == 2
    assert "--to must be after --from" in result.output


def test_an_unmigrated_registry_is_one_clear_line(report_env, monkeypatch, tmp_path):
    monkeypatch.setenv("STREETWATCH_DATABASE_URL", f"sqlite:///{tmp_path / 'empty.db'}")
    result = CliRunner().invoke(app, DREDGING_ARGS)
    assert result.exit_code == 1
    assert "error: database" in result.stderr and "no such table" in result.stderr
