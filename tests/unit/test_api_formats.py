"""api.pagination cursors, api.formats CSV cells and api.alerts' stored times, without a
server."""

from __future__ import annotations

import tracemalloc
from datetime import UTC, datetime, timedelta, timezone

import pytest
from fastapi import HTTPException
from hypothesis import given
from hypothesis import strategies as st

from api.alerts import _ALERT_COLUMNS, _alert_bytes, stored_time_text
from api.pagination import decode_cursor, encode_cursor, next_cursor
from streetwatch.alerts.model import rfc3339_ms
from streetwatch.registry.timestamps import ms_from_datetime
from streetwatch.safe_csv import csv_cell


@given(st.one_of(st.integers(), st.text(max_size=64)))
def test_a_cursor_round_trips(after):
    assert decode_cursor(encode_cursor(after), type(after)) == after


@pytest.mark.parametrize("cursor", ["", "!!!", "e30", encode_cursor("L1")])
def test_a_damaged_or_foreign_cursor_is_a_400(cursor):
    with pytest.raises(HTTPException) as raised:
        decode_cursor(cursor, int)
    assert raised.value.status_code == 400


def test_the_next_cursor_appears_only_when_a_row_is_left():
    assert next_cursor([1, 2, 3], 3) is None
    assert decode_cursor(next_cursor([1, 2, 3, 4], 3), int) == 3


@pytest.mark.parametrize(("value", "cell"), [
    (None, ""), (True, "true"), (3, "3"), (0.5, "0.5"), ("plain", "plain"),
    ('=HYPERLINK("x")', '\'=HYPERLINK("x")'), ("+1", "'+1"), ("-1", "'-1"), ("@SUM", "'@SUM"),
])
def test_csv_cells_defuse_formulas(value, cell):
    assert csv_cell(value) == cell


@given(st.datetimes(min_value=datetime(1970, 1, 1), max_value=datetime(2200, 1, 1)),
       st.integers(-14 * 60, 14 * 60))
def test_alert_times_read_back_are_written_as_rfc3339_ms_writes_them(moment, offset_min):
    """api.alerts' pages write a stored time with datetime's isoformat: the same text as the
    epoch-ms route, for SQLite's naive UTC and for PostgreSQL's aware times in any zone."""
    moment = moment.replace(microsecond=moment.microsecond // 1000 * 1000)  # stored whole ms
    expected = rfc3339_ms(ms_from_datetime(moment.replace(tzinfo=UTC)))
    aware = moment.replace(tzinfo=UTC).astimezone(timezone(timedelta(minutes=offset_min)))
    assert stored_time_text(moment) == stored_time_text(aware) == expected
    assert stored_time_text(None) is None


def test_an_alert_kept_for_lists_costs_its_json_not_a_serializer_buffer():
    """The alert list keeps thousands of alerts' JSON (api.alerts.ALERTS_KEPT): each must cost
    about its length, not orjson's 4 KB working buffer (which a bare orjson.dumps keeps)."""
    moment = datetime(2026, 11, 23, 18, 0, 0, 123000)
    values = {"id": 1, "kind": "lamp_out", "severity": "yellow", "state": "raised",
              "zone": "north", "subject": "lamp:L1", "devices": '["L1"]', "message": "L1 dark",
              "road": "Main St", "position_on_road": 3, "lat": 52.1, "lon": 4.3,
              "raised_at": moment, "last_seen_at": moment, "seen_count": 1,
              "deadline": moment, "overdue": False}
    rows = [tuple({**values, "id": n}.get(name) for name in _ALERT_COLUMNS) for n in range(500)]
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        kept = [_alert_bytes.__wrapped__(row) for row in rows]
        per_alert = (tracemalloc.get_traced_memory()[0] - before) / len(kept)
    finally:
        tracemalloc.stop()
    assert 300 < len(kept[0]) < 800
    assert per_alert < 2 * len(kept[0]), per_alert
