"""`/api/v1/lighting-rate` against a real InfluxDB: `lighting_rate` points are written straight into
the test database, as the rule engine writes them.

The town runs in Asia/Shanghai (UTC+8, no DST). Zones Z01 and `north` keep a fixed 18:00-06:00
schedule and Z02 19:00-05:00, grace 0, so every night is known to the minute; the town (`_city`)
follows civil dusk and dawn.
"""

from __future__ import annotations

import csv
import io
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from typer.testing import CliRunner

from streetwatch.cli import app
from streetwatch.settings import RULES_USER

from api_world import ZONE_CREW, api_world

SHANGHAI = ZoneInfo("Asia/Shanghai")
MIN_MS = 60_000
TOWN = {"town_timezone": "Asia/Shanghai", "lights_on_grace_s": 0, "rules_every_s": 60,
        "lighting_target": 0.99, "zone_targets": {"Z02": 0.95},
        "zone_schedules": {"Z01": "18:00-06:00", "Z02": "19:00-05:00", "north": "18:00-06:00"}}
NOW = "/api/v1/lighting-rate"


def local_ms(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=SHANGHAI).timestamp() * 1000)


def points(zone: str, start: str, minutes: int, lit: int, expected: int = 100,
           target: float | None = 0.99, stale: int = 0) -> list[str]:
    """`minutes` one-minute points of `zone` from local `start`: `lit` of `expected` lamps."""
    first = local_ms(start)
    stored_target = "" if target is None else f",target={target}"
    return [f"lighting_rate,zone={zone} rate={lit / expected if expected else 1.0},lit={lit}i,"
            f"expected={expected}i,stale={stale}i{stored_target} {first + i * MIN_MS}"
            for i in range(minutes)]


@pytest.fixture
def town(settings_for):
    """The API over the town above."""
    with api_world(settings_for(RULES_USER, **TOWN)) as world:
        yield world


def write(world, lines: list[str]) -> None:
    world.res.influx.write_lines(lines)


# Now -------------------------------------------------------------------------------------------

def test_now_per_zone_and_town_at_night(town):
    town.clock.now_ms = local_ms("2026-11-23 22:00")
    write(town, points("Z01", "2026-11-23 21:00", 60, 99)  # last at 21:59: current, meets 0.99
          + points("Z02", "2026-11-23 19:00", 60, 90, target=None)  # silent since 19:59
          + points("north", "2026-11-23 21:30", 30, 80, stale=20)
          + points("_city", "2026-11-23 21:00", 60, 269, 300))
    answer = town.get(NOW, who="viewer")
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["at"] == "2026-11-23T14:00:00.000Z"
    by_zone = {row["zone"]: row for row in body["zones"]}
    assert list(by_zone) == ["Z01", "Z02", "north"]
    z01 = by_zone["Z01"]
    assert z01 | {"note": None} == {
        "zone": "Z01", "status": "current", "phase": "night", "rate": 0.99, "lit": 99,
        "expected": 100, "stale": 0, "target": 0.99, "meets_target": True,
        "ts": "2026-11-23T13:59:00.000Z", "last_sample_ts": "2026-11-23T13:59:00.000Z",
        "note": None}
    z02 = by_zone["Z02"]
    assert (z02["status"], z02["phase"], z02["rate"], z02["lit"]) == (
        "no_recent_sample", "night", None, None)
    assert z02["last_sample_ts"] == "2026-11-23T11:59:00.000Z"
    assert "may not be running" in z02["note"]
    assert (by_zone["north"]["meets_target"], by_zone["north"]["stale"]) == (False, 20)
    assert body["town"]["zone"] == "_city"
    assert (body["town"]["lit"], body["town"]["expected"]) == (269, 300)
    assert "_city" not in by_zone


def test_now_reads_the_week_once_a_tick_and_the_last_ticks_each_time(town):
    """LastPoints: within a tick only the last two ticks are read (at most every 5 s), laid over
    the week's read; a new point shows within 5 s, and a tick later the week is read again."""
    queries: list[str] = []
    influx = town.res.influx
    rows = influx.rows
    influx.rows = lambda q: queries.append(q) or rows(q)  # count the queries sent to influxd
    town.clock.now_ms = local_ms("2026-11-23 22:00")
    write(town, points("Z01", "2026-11-23 21:00", 60, 99) + points("Z02", "2026-11-23 19:00",
                                                                   60, 90))
    first = town.get(NOW, who="viewer").json()
    town.clock.now_ms += 2_000
    assert town.get(NOW, who="viewer").json() == {**first, "at": "2026-11-23T14:00:02.000Z"}
    town.clock.now_ms += 28_000
    write(town, points("Z02", "2026-11-23 22:00", 1, 95))  # Z02 speaks again
    second = town.get(NOW, who="viewer").json()
    town.clock.now_ms += 60_000
    third = town.get(NOW, who="viewer").json()

    assert [z["status"] for z in first["zones"]] == ["current", "no_recent_sample"]
    assert [(z["status"], z["lit"]) for z in second["zones"]] == [("current", 99),
                                                                  ("current", 95)]
    assert [z["status"] for z in third["zones"]] == ["no_recent_sample", "current"]
    starts = [int(q.split("time >= ")[1].split("ms")[0]) for q in queries]
    at = local_ms("2026-11-23 22:00")
    # the second request (2 s later) sent nothing
    assert starts == [at - 7 * 86_400_000, at - 2 * MIN_MS, at + 90_000 - 7 * 86_400_000]


def test_now_by_day_says_there_is_no_rate(town):
    town.clock.now_ms = local_ms("2026-11-24 12:00")
    write(town, points("Z01", "2026-11-24 05:00", 60, 100))  # the night's last hour
    zone = town.get(NOW, who="viewer").json()["zones"][0]
    assert (zone["zone"], zone["status"], zone["phase"]) == ("Z01", "no_recent_sample", "day")
    assert zone["rate"] is None and zone["meets_target"] is None
    assert zone["note"].startswith("day:")
    assert zone["last_sample_ts"] == "2026-11-23T21:59:00.000Z"


def test_a_zone_bound_key_sees_its_zones_and_not_the_town(town):
    town.clock.now_ms = local_ms("2026-11-23 22:00")
    write(town, points("Z01", "2026-11-23 21:55", 5, 100)
          + points("north", "2026-11-23 21:55", 5, 97)
          + points("_city", "2026-11-23 21:55", 5, 197, 200))
    body = town.get(NOW, who=ZONE_CREW).json()
    assert [row["zone"] for row in body["zones"]] == ["north"]
    assert body["town"] is None
    for path in ("/series", "/nightly"):
        for zone in ("Z01", "_city"):
            answer = town.get(f"{NOW}{path}", who=ZONE_CREW,
                              params={"zone": zone, "from": "2026-11-23T00:00:00Z",
                                      "to": "2026-11-24T00:00:00Z"})
            assert answer.status_code == 404, (path, zone, answer.text)
    monthly = town.get(f"{NOW}/monthly", who=ZONE_CREW, params={"month": "2026-11"}).json()
    assert [row["zone"] for row in monthly["zones"]] == ["north"]


def test_no_key_is_401(town):
    assert town.get(NOW, who=None).status_code == 401


# Series ----------------------------------------------------------------------------------------

def test_series_of_stored_points_and_of_buckets(town):
    write(town, points("Z01", "2026-11-23 18:00", 30, 100)
          + points("Z01", "2026-11-23 18:30", 30, 90)
          + points("Z02", "2026-11-23 19:00", 60, 50))
    span = {"zone": "Z01", "from": "2026-11-23T18:00:00+08:00",
            "to": str(local_ms("2026-11-23 19:00"))}
    raw = town.get(f"{NOW}/series", who="viewer", params=span)
    assert raw.status_code == 200, raw.text
    body = raw.json()
    assert (body["zone"], body["from"], body["to"], body["every"]) == (
        "Z01", "2026-11-23T10:00:00.000Z", "2026-11-23T11:00:00.000Z", None)
    assert len(body["points"]) == 60
    assert body["points"][0] == {"ts": "2026-11-23T10:00:00.000Z", "rate": 1.0, "min_rate": 1.0,
                                 "samples": 1, "lit": 100, "expected": 100, "stale": 0,
                                 "target": 0.99}
    buckets = town.get(f"{NOW}/series", who="viewer", params=span | {"every": "20m"}).json()
    assert [(p["ts"], p["samples"]) for p in buckets["points"]] == [
        ("2026-11-23T10:00:00.000Z", 20), ("2026-11-23T10:20:00.000Z", 20),
        ("2026-11-23T10:40:00.000Z", 20)]
    middle = buckets["points"][1]
    assert middle["rate"] == pytest.approx((10 * 1.0 + 10 * 0.9) / 20)
    assert (middle["min_rate"], middle["lit"]) == (0.9, None)
    table = town.get(f"{NOW}/series", who="viewer", params=span | {"every": "1h", "format": "csv"})
    assert table.headers["content-type"].startswith("text/csv")
    row = list(csv.reader(io.StringIO(table.text)))[1]
    assert row[:2] + row[3:5] == ["Z01", "2026-11-23T10:00:00.000Z", "0.9", "60"]
    assert float(row[2]) == pytest.approx(0.95)


@pytest.mark.parametrize(("params", "reason"), [
    ({"from": "2026-01-01T00:00:00Z", "to": "2026-12-01T00:00:00Z"}, "10000 points"),
    ({"from": "2026-01-01T00:00:00Z", "to": "2027-01-01T00:00:00Z", "every": "1m"},
     "10000 points"),
    ({"from": "2026-11-24T00:00:00Z", "to": "2026-11-23T00:00:00Z"}, "after from"),
    ({"from": "2026-11-23", "to": "2026-11-24T00:00:00Z"}, "RFC 3339"),
    ({"from": "2026-11-23T00:00:00", "to": "2026-11-24T00:00:00Z"}, "RFC 3339"),
    ({"from": "0", "to": "99999999999999"}, "2100"),
    ({"from": "-5", "to": "10"}, "RFC 3339"),
    ({"from": "NaN", "to": "inf"}, "RFC 3339"),
    ({"from": "1' OR 1=1 --", "to": "10"}, "RFC 3339"),
    ({"from": "0", "to": "86400000", "every": "9999999d"}, "366d"),
])
def test_series_refuses_bad_ranges_with_a_reason(town, params, reason):
    answer = town.get(f"{NOW}/series", who="viewer", params={"zone": "Z01"} | params)
    assert answer.status_code == 422, answer.text
    assert reason in answer.json()["detail"]


@pytest.mark.parametrize("params", [
    {"zone": "Z01' OR '1'='1"}, {"zone": 'Z01"; DROP MEASUREMENT lighting_rate'},
    {"zone": "x" * 65}, {"zone": "Z\u00e9"}, {"zone": "Z01", "every": "5 m"},
    {"zone": "Z01", "every": "0m"}, {"zone": "Z01", "every": "1w"}, {"zone": "Z01", "every": "-1h"},
])
def test_hostile_parameters_are_refused(town, params):
    span = {"from": "2026-11-23T00:00:00Z", "to": "2026-11-24T00:00:00Z"}
    answer = town.get(f"{NOW}/series", who="viewer", params=span | params)
    assert answer.status_code == 422, answer.text


# Nights and months -----------------------------------------------------------------------------

def month_of_points() -> list[str]:
    """January 2025 as in tests/integration/test_report_lighting.py: Z01 at 1.0 but for one worse
    night, Z02 on two nights with a target of its own, the town one hour."""
    lines = points("Z01", "2024-12-31 18:00", 720, 50)
    for day in range(1, 32):
        start = f"2025-01-{day:02d} 18:00"
        if day == 10:
            lines += points("Z01", start, 600, 100) + points("Z01", "2025-01-11 04:00", 120, 90)
        else:
            lines += points("Z01", start, 720, 100)
    lines += points("Z02", "2025-01-05 19:00", 600, 96, target=0.95)
    lines += points("Z02", "2025-01-06 19:00", 300, 96, target=None)  # meets Z02's own 0.95
    lines += points("north", "2025-01-20 18:00", 60, 99)
    lines += points("_city", "2025-01-15 00:00", 60, 97)
    return lines


def test_nightly_values_are_the_reports(town):
    write(town, month_of_points())
    params = {"zone": "Z01", "from": "2025-01-09T12:00:00+08:00", "to": "2025-01-11T12:00:00+08:00"}
    answer = town.get(f"{NOW}/nightly", who="viewer", params=params)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert (body["zone"], body["target"]) == ("Z01", 0.99)
    assert body["nights"] == [
        {"night": "2025-01-09", "start": "2025-01-09T10:00:00.000Z",
         "end": "2025-01-09T22:00:00.000Z", "covered_minutes": 720.0, "mean_rate": 1.0,
         "minutes_below_target": 0.0},
        {"night": "2025-01-10", "start": "2025-01-10T10:00:00.000Z",
         "end": "2025-01-10T22:00:00.000Z", "covered_minutes": 720.0,
         "mean_rate": pytest.approx((600 + 108) / 720), "minutes_below_target": 120.0},
    ]
    z02 = town.get(f"{NOW}/nightly", who="viewer", params=params | {
        "zone": "Z02", "from": "2025-01-06T00:00:00+08:00", "to": "2025-01-07T00:00:00+08:00"})
    night = z02.json()["nights"][0]
    assert (z02.json()["target"], night["covered_minutes"], night["mean_rate"]) == (
        0.95, 300.0, 0.96)
    assert night["minutes_below_target"] == 0.0
    table = town.client.get(f"{NOW}/nightly", params=params,
                            headers={"Accept": "text/csv"} | town.headers("viewer"))
    assert table.text.splitlines()[0] == ("zone,night,start,end,covered_minutes,mean_rate,"
                                          "minutes_below_target")
    assert len(table.text.splitlines()) == 3


def test_nightly_range_is_bounded(town):
    params = {"zone": "Z01", "from": "2025-01-01T00:00:00Z", "to": "2025-06-01T00:00:00Z"}
    answer = town.get(f"{NOW}/nightly", who="viewer", params=params)
    assert answer.status_code == 422 and "93 days" in answer.json()["detail"]


def test_monthly_csv_is_the_report_commands(town, monkeypatch, tmp_path):
    write(town, month_of_points())
    settings = town.res.settings
    monkeypatch.chdir(tmp_path)  # no ./streetwatch.toml
    monkeypatch.delenv("STREETWATCH_CONFIG", raising=False)
    env = {"INFLUX_URL": settings.influx_url, "INFLUX_DB": settings.influx_db,
           "TOWN_TIMEZONE": "Asia/Shanghai", "LIGHTS_ON_GRACE_S": "0", "RULES_EVERY_S": "60",
           "LIGHTING_TARGET": "0.99", "ZONE_TARGETS": '{"Z02": 0.95}',
           "ZONE_SCHEDULES": '{"Z01": "18:00-06:00", "Z02": "19:00-05:00", "north": "18:00-06:00"}'}
    for name, value in env.items():
        monkeypatch.setenv(f"STREETWATCH_{name}", value)
    command = CliRunner().invoke(app, ["report", "lighting", "--month", "2025-01"])
    assert command.exit_code == 0, command.output
    assert command.stdout.count("\n") == 5  # header, Z01, Z02, north, _city

    by_param = town.get(f"{NOW}/monthly", who="viewer",
                        params={"month": "2025-01", "format": "csv"})
    assert by_param.status_code == 200, by_param.text
    assert by_param.headers["content-type"].startswith("text/csv")
    assert by_param.text == command.stdout
    by_accept = town.client.get(f"{NOW}/monthly", params={"month": "2025-01"},
                                headers={"Accept": "text/csv"} | town.headers("viewer"))
    assert by_accept.text == command.stdout


def test_monthly_json_rows(town):
    write(town, month_of_points())
    answer = town.get(f"{NOW}/monthly", who="viewer", params={"month": "2025-01"})
    assert answer.status_code == 200, answer.text
    rows = {row["zone"]: row for row in answer.json()["zones"]}
    assert list(rows) == ["Z01", "Z02", "north", "_city"]
    assert rows["Z01"] == {"zone": "Z01", "nights": 31, "mean_rate": pytest.approx(22308 / 22320),
                           "worst_night": "2025-01-10",
                           "worst_night_rate": pytest.approx(708 / 720),
                           "minutes_below_target": 120.0}
    assert (rows["Z02"]["mean_rate"], rows["Z02"]["minutes_below_target"]) == (0.96, 0.0)
    empty = town.get(f"{NOW}/monthly", who="viewer", params={"month": "2023-06"}).json()
    assert empty == {"month": "2023-06", "zones": []}


@pytest.mark.parametrize("month", ["2025-1", "2025-13", "January", "9999-12", "1969-12", ""])
def test_bad_month_is_422(town, month):
    assert town.get(f"{NOW}/monthly", who="viewer", params={"month": month}).status_code == 422

