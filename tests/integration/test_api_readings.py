"""Readings through the API against a real InfluxDB: latest, raw history, downsampling, range
rules, zones, and InfluxQL metacharacters in every path and query parameter (4xx or harmless,
never a 5xx, never another series' data)."""

from __future__ import annotations

from urllib.parse import quote

import pytest

import api.readings
from streetwatch.lineproto import SeriesTags, drain_line, lamp_line, rain_line
from streetwatch.registry.store import upsert_devices
from streetwatch.schemas import DrainReading, LampReading, RainReading

from api_world import T0_MS

MIN_MS = 60_000
OTHER_POWER_W = 777.0  # only L2 (zone south) ever reports this: seeing it means a leak
READINGS = "/api/v1/devices/{}/readings"


@pytest.fixture
def town(api):
    """L1 (north) and L2 (south) lamps, drain D1 and gauge R1 (north), a reading a minute for
    the hour before T0, and the clock at T0."""
    upsert_devices(api.res.engine,
                   [{"id": "L1", "gateway": "gw1", "zone": "north", "road": "Main"},
                    {"id": "L2", "gateway": "gw2", "zone": "south"}],
                   [{"id": "D1", "gateway": "gw1", "zone": "north"}],
                   [{"id": "R1", "gateway": "gw1", "zone": "north"}])
    lines = []
    for minute in range(60):
        ts = T0_MS - (60 - minute) * MIN_MS  # T0-60min .. T0-1min
        lines.append(lamp_line("L1", SeriesTags("gw1", "north", "Main"), LampReading(
            ts=ts, on=minute % 2 == 0, dim=minute, power_w=float(minute), voltage_v=230.0)))
        lines.append(lamp_line("L2", SeriesTags("gw2", "south"), LampReading(
            ts=ts, on=True, dim=100, power_w=OTHER_POWER_W)))
        lines.append(drain_line("D1", SeriesTags("gw1", "north"), DrainReading(
            ts=ts, level_cm=10.0 + minute, battery_v=3.6, cover_open=minute == 59)))
        lines.append(rain_line("R1", SeriesTags("gw1", "north"), RainReading(ts=ts, rain_mm=0.5)))
    api.res.influx.write_lines(lines)
    api.clock.now_ms = T0_MS
    return api


def test_latest_reading_is_the_newest_of_that_device(town):
    answer = town.get(READINGS.format("L1") + "/latest", who="viewer")

    assert answer.status_code == 200, answer.text
    assert answer.json() == {"time": "2026-11-22T23:59:00.000Z", "on": False, "dim": 59.0,
                             "power_w": 59.0, "voltage_v": 230.0, "fault": ""}
    drain = town.get(READINGS.format("D1") + "/latest", who="viewer").json()
    assert drain == {"time": "2026-11-22T23:59:00.000Z", "level_cm": 69.0, "battery_v": 3.6,
                     "rssi_dbm": None, "cover_open": True}


def test_latest_reading_of_a_device_silent_for_longer_than_the_recent_window(town):
    """The latest reading is looked for in the last day first (one shard), then in all time: a
    lamp silent for a week still shows its last word, and the clock moving on past the recent
    window changes nothing about which reading is the newest."""
    week_ago = T0_MS - 7 * api.readings.RECENT_MS
    town.res.influx.write_lines([lamp_line("L3", SeriesTags("gw1", "north"), LampReading(
        ts=ts, on=True, dim=dim)) for ts, dim in ((week_ago - MIN_MS, 10), (week_ago, 20))])
    upsert_devices(town.res.engine, [{"id": "L3", "gateway": "gw1", "zone": "north"}], [], [])

    silent = town.get(READINGS.format("L3") + "/latest", who="viewer").json()
    town.clock.now_ms = T0_MS + 3 * api.readings.RECENT_MS
    later = town.get(READINGS.format("L1") + "/latest", who="viewer").json()

    assert (silent["time"], silent["dim"]) == ("2026-11-16T00:00:00.000Z", 20.0)
    assert (later["time"], later["dim"]) == ("2026-11-22T23:59:00.000Z", 59.0)


def test_latest_reading_ahead_of_the_clock_is_the_newest(town):
    """No upper time bound: a gateway whose clock runs ahead still shows its newest reading."""
    town.res.influx.write_lines([lamp_line("L1", SeriesTags("gw1", "north", "Main"), LampReading(
        ts=T0_MS + 5 * MIN_MS, on=True, dim=77))])

    answer = town.get(READINGS.format("L1") + "/latest", who="viewer").json()

    assert (answer["time"], answer["dim"]) == ("2026-11-23T00:05:00.000Z", 77.0)


def test_latest_of_a_device_that_never_reported_is_404(town):
    upsert_devices(town.res.engine, [{"id": "L9", "gateway": "gw1", "zone": "north"}], [], [])

    answer = town.get(READINGS.format("L9") + "/latest", who="viewer")

    assert answer.status_code == 404
    assert "no readings" in answer.json()["detail"]


def test_history_defaults_to_the_last_24_hours_oldest_first(town):
    answer = town.get(READINGS.format("L1"), who="viewer")

    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert (body["from"], body["to"]) == ("2026-11-22T00:00:00.000Z", "2026-11-23T00:00:00.000Z")
    assert [p["dim"] for p in body["items"]] == [float(m) for m in range(60)]
    assert body["next_from"] is None and body["kind"] == "lamp"


def test_history_range_by_rfc3339_and_epoch_ms_end_excluded(town):
    start, end = T0_MS - 10 * MIN_MS, T0_MS - 5 * MIN_MS

    by_ms = town.get(READINGS.format("D1"), params={"from": start, "to": end}).json()
    by_text = town.get(READINGS.format("D1"), params={
        "from": "2026-11-23T00:50:00+01:00", "to": "2026-11-22T23:55:00Z"}).json()

    assert [p["level_cm"] for p in by_ms["items"]] == [60.0, 61.0, 62.0, 63.0, 64.0]
    assert by_text["items"] == by_ms["items"]


def test_downsampled_means_numbers_sums_rain_and_keeps_the_last_boolean(town):
    params = {"from": T0_MS - 60 * MIN_MS, "to": T0_MS, "every": "30m"}

    lamp = town.get(READINGS.format("L1"), params=params).json()
    rain = town.get(READINGS.format("R1"), params=params).json()

    assert lamp["every"] == "30m"
    assert lamp["items"] == [
        {"time": "2026-11-22T23:00:00.000Z", "on": False, "dim": 14.5, "power_w": 14.5,
         "voltage_v": 230.0, "fault": "", "readings": 30},
        {"time": "2026-11-22T23:30:00.000Z", "on": False, "dim": 44.5, "power_w": 44.5,
         "voltage_v": 230.0, "fault": "", "readings": 30}]
    assert [(p["rain_mm"], p["readings"]) for p in rain["items"]] == [(15.0, 30), (15.0, 30)]


def test_raw_history_stops_at_the_point_limit_with_where_to_go_on(town, monkeypatch):
    monkeypatch.setattr(api.readings, "MAX_POINTS", 3)

    body = town.get(READINGS.format("L1")).json()
    rest = town.get(READINGS.format("L1"), params={"from": body["next_from"]}).json()

    assert [p["dim"] for p in body["items"]] == [0.0, 1.0, 2.0]
    assert body["next_from"] == "2026-11-22T23:03:00.000Z"
    assert [p["dim"] for p in rest["items"]] == [3.0, 4.0, 5.0]


@pytest.mark.parametrize(("params", "reason"), [
    ({"every": "0m"}, "every"), ({"every": "5x"}, "every"), ({"every": "32d"}, "at most 31d"),
    ({"every": "1s", "from": 0, "to": 86_400_000}, "buckets"),
    ({"from": T0_MS, "to": T0_MS}, "earlier"), ({"from": 0, "to": 400 * 86_400_000}, "366"),
    ({"from": "yesterday"}, "RFC 3339"), ({"from": "2026-11-22T10:00:00"}, "RFC 3339"),
    ({"to": "99999999999999"}, "2100"), ({"from": "-5"}, "RFC 3339"),
])
def test_bad_ranges_are_422_with_a_reason(town, params, reason):
    answer = town.get(READINGS.format("L1"), params=params)

    assert answer.status_code == 422, answer.text
    assert reason in str(answer.json()["detail"])


def test_zone_bound_crew_reads_its_zone_only(town):
    assert town.get(READINGS.format("L1"), who="crew@north").status_code == 200
    for path in (READINGS.format("L2"), READINGS.format("L2") + "/latest"):
        answer = town.get(path, who="crew@north")
        assert answer.status_code == 404
        assert answer.json() == {"detail": "no device 'L2'"}  # as if it did not exist


def test_an_id_two_kinds_share_needs_kind_unless_the_key_sees_one(api_on):
    """On each SQL backend: the lamp and the drain named X1 (one statement finds both)."""
    upsert_devices(api_on.res.engine, [{"id": "X1", "gateway": "gw1", "zone": "south"}],
                   [{"id": "X1", "gateway": "gw1", "zone": "north"}], [])
    api_on.res.influx.write_lines([
        lamp_line("X1", SeriesTags("gw1", "south"), LampReading(ts=T0_MS - MIN_MS, on=True)),
        drain_line("X1", SeriesTags("gw1", "north"), DrainReading(ts=T0_MS - MIN_MS,
                                                                  level_cm=12.5))])
    latest = READINGS.format("X1") + "/latest"

    both = api_on.get(latest, who="viewer")
    assert both.status_code == 409
    assert both.json() == {"detail": "'X1' names a lamp and a drain; add ?kind= to choose"}
    assert api_on.get(latest, params={"kind": "lamp"}).json()["on"] is True
    assert api_on.get(latest, params={"kind": "drain"}).json()["level_cm"] == 12.5
    assert api_on.get(latest, who="crew@north").json()["level_cm"] == 12.5  # sees the drain
    history = api_on.get(READINGS.format("X1"), params={"kind": "drain"}).json()
    assert history["kind"] == "drain" and len(history["items"]) == 1
    assert api_on.get(latest, params={"kind": "rain"}).status_code == 404


def test_readings_need_a_key(town):
    assert town.get(READINGS.format("L1"), who=None).status_code == 401


HOSTILE = [
    "L1' OR 'a'='a", "L1\"", "L1;DROP DATABASE x", "L1' ; SELECT * FROM lamp --", "/.*/",
    "L1/../L2", "L2'", "' OR lamp =~ /.*/ --", "L1\\'", "L1%00", "\u2028L1", "L1\n", "x" * 5000,
    "SELECT * FROM \"lamp\"", "L1 AND time > 0", "1e400", "NaN", "-1", "９９",
]


@pytest.mark.parametrize("value", HOSTILE)
def test_influxql_metacharacters_are_refused_or_harmless(town, value):
    """As the crew of zone north, which must never see L2 (south), whatever the text does."""
    segment = quote(value, safe="")
    paths = [READINGS.format(segment), READINGS.format(segment) + "/latest",
             f"/api/v1/devices/{segment}"]
    answers = [town.get(path, who="crew@north") for path in paths]
    for name in ("from", "to", "every", "kind"):
        for path in (READINGS.format("L1"), READINGS.format("L1") + "/latest"):
            answers.append(town.get(path, who="crew@north", params={name: value}))

    for answer in answers:
        assert answer.status_code < 500, (answer.request.url, answer.text)
        assert str(OTHER_POWER_W) not in answer.text and "south" not in answer.text
        if answer.status_code == 200:
            assert answer.json().get("device", "L1") == "L1"
