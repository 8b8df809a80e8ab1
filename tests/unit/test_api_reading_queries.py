"""The readings query builder: `every`, times and ranges parsed strictly; InfluxQL from constants,
a quoted id and integers only (exact strings)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from api.query_params import QueryError
from api.readings import (
    MAX_POINTS,
    ReadingRange,
    downsampled_query,
    history_query,
    latest_query,
    parse_every,
    parse_time,
    reading_range,
)

NOW_MS = 1_795_392_000_000  # 2026-11-23T00:00:00Z
DAY_MS = 86_400_000


@pytest.mark.parametrize(("text", "seconds"), [("1s", 1), ("30s", 30), ("5m", 300), ("1h", 3600),
                                               ("31d", 31 * 86400), ("1440m", 86400)])
def test_every(text, seconds):
    assert parse_every(text) == seconds


@pytest.mark.parametrize("text", ["", "5", "m", "0m", "05m", "5M", "5 m", "5min", "1w", "-5m",
                                  "1.5h", "32d", "9999999s", "5m;", "5m)", "５m"])
def test_every_refused(text):
    with pytest.raises(QueryError):
        parse_every(text)


@pytest.mark.parametrize(("text", "ms"), [("0", 0), (str(NOW_MS), NOW_MS),
                                          ("2026-11-23T01:00:00+01:00", NOW_MS),
                                          ("2026-11-23T00:00:00.5Z", NOW_MS + 500)])
def test_time(text, ms):
    assert parse_time(text, "from") == ms


@pytest.mark.parametrize("text", ["-1", "1e12", "now", "2026-11-23", "2026-11-23T00:00:00",
                                  "4102444800000", "9999999999999999", "2100-01-01T00:00:00Z",
                                  "1969-12-31T23:59:59Z", " 0", "0 "])
def test_time_refused(text):
    with pytest.raises(QueryError, match="from"):
        parse_time(text, "from")


def test_range_defaults_to_the_24_hours_before_now():
    assert reading_range(None, None, None, NOW_MS) == ReadingRange(NOW_MS - DAY_MS, NOW_MS)


def test_range_rules():
    assert reading_range("0", str(DAY_MS), "1m", NOW_MS) == ReadingRange(0, DAY_MS, 60)
    with pytest.raises(QueryError, match="earlier"):
        reading_range(str(DAY_MS), str(DAY_MS), None, NOW_MS)
    with pytest.raises(QueryError, match="366"):
        reading_range("0", str(367 * DAY_MS), None, NOW_MS)
    with pytest.raises(QueryError, match="buckets"):
        reading_range("0", str(DAY_MS), "1s", NOW_MS)
    assert reading_range("0", str(MAX_POINTS * 1000), "1s", NOW_MS).every_s == 1


def test_exact_queries():
    span = ReadingRange(1000, 2000, 300)
    assert latest_query("lamp", "L1") == (
        'SELECT "on", "dim", "power_w", "voltage_v", "fault" FROM "lamp" WHERE "lamp" = \'L1\' '
        "ORDER BY time DESC LIMIT 1")
    assert latest_query("lamp", "L1", 5000) == (
        'SELECT "on", "dim", "power_w", "voltage_v", "fault" FROM "lamp" WHERE "lamp" = \'L1\' '
        "AND time >= 5000ms ORDER BY time DESC LIMIT 1")
    assert history_query("drain", "D1", span) == (
        'SELECT "level_cm", "battery_v", "rssi_dbm", "cover_open" FROM "drain" WHERE "sensor" = '
        "'D1' AND time >= 1000ms AND time < 2000ms ORDER BY time ASC LIMIT 10001")
    assert downsampled_query("rain", "R1", span) == (
        'SELECT sum("rain_mm") AS "rain_mm", count("rain_mm") AS "readings" FROM "rain" WHERE '
        "\"gauge\" = 'R1' AND time >= 1000ms AND time < 2000ms GROUP BY time(300s) fill(none)")


@given(st.text(max_size=80))
def test_any_id_stays_inside_its_string_literal(device_id):
    """Even text the id rule would refuse cannot end the literal: quotes and backslashes are
    escaped, so the statement's shape after the literal never changes."""
    query = latest_query("lamp", device_id)
    literal = query.removeprefix('SELECT "on", "dim", "power_w", "voltage_v", "fault" FROM '
                                 '"lamp" WHERE "lamp" = ').removesuffix(
        " ORDER BY time DESC LIMIT 1")
    assert literal.startswith("'") and literal.endswith("'")
    body = literal[1:-1]
    assert body.replace("\\\\", "").replace("\\'", "").count("'") == 0
