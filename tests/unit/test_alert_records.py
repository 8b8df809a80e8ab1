"""Pure parts of the alert store: records, webhook redaction, SQL timestamps, CLI durations."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy.dialects import sqlite

from streetwatch.alerts.cli import _span
from streetwatch.alerts.model import AlertEvent, Condition, Place, rfc3339_ms
from streetwatch.alerts.records import Delivery, StoredAlert, redact_webhook
from streetwatch.registry.timestamps import UtcDateTime, datetime_from_ms, ms_from_datetime
from streetwatch.schemas import MAX_TS_MS

T0 = 1_772_352_000_000  # 2026-03-01T08:00:00Z


def stored(**changes: object) -> StoredAlert:
    values: dict[str, object] = {
        "id": 7, "kind": "blind_spot", "subject": "road:Main St:3", "zone": "north",
        "severity": "red", "state": "acknowledged", "devices": ("L3", "L4"),
        "message": "L3, L4 dark", "place": Place("Main St", 3, 52.1, 4.2), "raised_at_ms": T0,
        "last_seen_at_ms": T0 + 60_000, "seen_count": 2, "deadline_ms": T0 + 86_400_000,
        "overdue": False, "acknowledged_at_ms": T0 + 1, "acknowledged_by": "crew-north",
    }
    values.update(changes)
    return StoredAlert(**values)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("https://hooks.slack.com/services/T000/B000/XXXX", "https://hooks.slack.com/***"),
        ("https://user:pw@hooks.example:8443/x?token=1", "https://hooks.example:8443/***"),
        ("https://hooks.example/?token=1", "https://hooks.example/***"),
        ("https://token@hooks.example", "https://hooks.example/***"),
        ("https://hooks.example", "https://hooks.example"),
        ("https://hooks.example/", "https://hooks.example"),
        ("http://127.0.0.1:9000/hook", "http://127.0.0.1:9000/***"),
        ("not a url", "***"),
        ("http://[::1", "***"),
        ("http://h.example:99999/x", "***"),
    ],
)
def test_redact_webhook(url: str, shown: str) -> None:
    assert redact_webhook(url) == shown


def test_a_delivery_never_shows_its_target_in_repr() -> None:
    delivery = Delivery(1, "https://hooks.example/t/s3cret", "{}", 0, T0)

    assert "s3cret" not in repr(delivery)
    assert delivery.target_display == "https://hooks.example/***"


def test_stored_alert_event_condition_and_json() -> None:
    alert = stored()

    assert alert.is_open
    assert alert.condition == Condition("blind_spot", "road:Main St:3", "north", ("L3", "L4"),
                                        "L3, L4 dark", Place("Main St", 3, 52.1, 4.2))
    assert alert.event("resolved", T0 + 5, "fixed") == AlertEvent(
        "resolved", T0 + 5, 7, "blind_spot", "red", "north", "road:Main St:3", ("L3", "L4"),
        T0 + 86_400_000, "fixed")
    assert alert.event("overdue", T0 + 5).message == "L3, L4 dark"
    shown = alert.as_json()
    assert json.loads(json.dumps(shown)) == shown
    assert (shown["raised_at"], shown["acknowledged_at"], shown["resolved_at"]) == (
        "2026-03-01T08:00:00.000Z", "2026-03-01T08:00:00.001Z", None)
    assert shown["place"] == {"road": "Main St", "position": 3, "lat": 52.1, "lon": 4.2}
    assert not stored(resolved_at_ms=T0 + 9, state="resolved").is_open


# Timestamps ---------------------------------------------------------------------------------------
@given(st.integers(min_value=-62_135_596_800_000, max_value=MAX_TS_MS))
def test_epoch_ms_round_trip_through_datetime(ts_ms: int) -> None:
    moment = datetime_from_ms(ts_ms)

    assert moment is not None and moment.tzinfo is UTC
    assert ms_from_datetime(moment) == ts_ms


def test_none_stays_none_and_other_zones_convert() -> None:
    plus_one = datetime(2026, 3, 1, 9, 0, tzinfo=timezone(timedelta(hours=1)))

    assert datetime_from_ms(None) is None and ms_from_datetime(None) is None
    assert ms_from_datetime(plus_one) == T0


def test_utc_datetime_refuses_naive_and_returns_aware_utc() -> None:
    column = UtcDateTime()
    dialect = sqlite.dialect()
    plus_one = datetime(2026, 3, 1, 9, 0, tzinfo=timezone(timedelta(hours=1)))

    with pytest.raises(ValueError, match="naive"):
        column.process_bind_param(datetime(2026, 3, 1, 8, 0), dialect)
    assert column.process_bind_param(plus_one, dialect) == datetime(2026, 3, 1, 8, tzinfo=UTC)
    assert column.process_result_value(datetime(2026, 3, 1, 8, 0), dialect) == datetime(
        2026, 3, 1, 8, tzinfo=UTC)
    assert column.process_result_value(plus_one, dialect).tzinfo is UTC


# CLI durations ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("ms", "text"),
    [(-5, "0s"), (0, "0s"), (59_999, "59s"), (60_000, "1m"), (3_599_999, "59m"),
     (3_600_000, "1h00m"), (3_900_000, "1h05m"), (86_399_999, "23h59m"), (86_400_000, "1d00h"),
     (3 * 86_400_000 + 4 * 3_600_000, "3d04h")],
)
def test_span(ms: int, text: str) -> None:
    assert _span(ms) == text


@given(st.integers(min_value=-62_135_596_800_000, max_value=253_402_300_799_999))
def test_rfc3339_ms_is_the_calendar_time_of_any_year_1_to_9999(ts_ms):
    moment = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=ts_ms)
    assert rfc3339_ms(ts_ms) == moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ts_ms % 1000:03d}Z"
