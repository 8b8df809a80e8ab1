"""Wire schemas and topic parsing: table-driven and property-based, no I/O."""

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from streetwatch.schemas import BATCH_ITEM, LampReading, parse_timestamp_ms
from streetwatch.topics import (
    AlertTopic,
    BatchTopic,
    ReadingTopic,
    StatusTopic,
    TopicError,
    parse_topic,
    reading_topic,
)


@pytest.mark.parametrize(
    ("text", "expected_ms"),
    [
        ("1970-01-01T00:00:00Z", 0),
        ("2023-11-14T22:13:20Z", 1_700_000_000_000),
        ("2023-11-14T22:13:20.123Z", 1_700_000_000_123),
        ("2023-11-15T06:13:20+08:00", 1_700_000_000_000),
        ("2023-11-14T16:43:20-05:30", 1_700_000_000_000),
        ("2023-11-14t22:13:20.123456789z", 1_700_000_000_123),  # s.5.6: t, z, any fraction
        ("1969-12-31T23:59:59.999Z", -1),  # parsed; the schema's bound makes it out_of_range
        (1_700_000_000_000, 1_700_000_000_000),
    ],
)
def test_timestamps_rfc3339_with_zone_or_epoch_ms(text, expected_ms):
    assert parse_timestamp_ms(text) == expected_ms


@pytest.mark.parametrize(
    "bad",
    [
        "2023-11-14T22:13:20", "2023-11-14", "yesterday", True, 1.7e12, None, "x" * 100,
        # ISO 8601 forms that are not RFC 3339 (Python's fromisoformat takes every one of them)
        "2023-W46-2T22:13:20Z", "20231114T221320Z", "2023-11-14T22:13:20,123Z",
        "2023-11-14T22:13:20+00:00:00", "2023-11-14T22Z", "2023-11-14 22:13:20Z",
        "2023-11-14T22:13Z", "+2023-11-14T22:13:20Z",
        # impossible fields, non-ASCII digits, offsets out of range
        "2023-02-30T22:13:20Z", "2023-11-14T24:00:00Z", "2023-11-14T22:13:60Z",
        "2023-11-14T22:13:20+24:00", "2023-11-14T22:13:20+05:60", "\u0662023-11-14T22:13:20Z",
    ],
)
def test_timestamps_rejected(bad):
    with pytest.raises(ValueError):
        parse_timestamp_ms(bad)


def test_unknown_fields_are_ignored_not_rejected():
    reading = LampReading.model_validate_json(b'{"ts": 1, "on": true, "firmware": "2.1"}')
    assert not hasattr(reading, "firmware")


def test_batch_item_discriminates_on_kind():
    item = BATCH_ITEM.validate_python({"kind": "drain", "id": "D1", "ts": 5, "level_cm": 2})
    assert (item.kind, item.id, item.level_cm) == ("drain", "D1", 2.0)
    with pytest.raises(ValidationError):
        BATCH_ITEM.validate_python({"kind": "drain", "id": "bad id", "ts": 5, "level_cm": 2})


@pytest.mark.parametrize(
    ("topic", "expected"),
    [
        ("streetwatch/gw1/lamp/L1", ReadingTopic("gw1", "lamp", "L1")),
        ("streetwatch/gw-2.a/drain/D_9", ReadingTopic("gw-2.a", "drain", "D_9")),
        ("streetwatch/gw1/rain/G1", ReadingTopic("gw1", "rain", "G1")),
        ("streetwatch/gw1/batch", BatchTopic("gw1")),
        ("streetwatch/gw1/status", StatusTopic("gw1")),
        ("streetwatch/alerts/Z01/red", AlertTopic("Z01", "red")),
    ],
)
def test_parse_topic(topic, expected):
    assert parse_topic(topic) == expected


@pytest.mark.parametrize(
    "topic",
    [
        "streetwatch",
        "streetwatch/gw1",
        "other/gw1/lamp/L1",
        "streetwatch/gw1/lamp",
        "streetwatch/gw1/heater/H1",
        "streetwatch/gw 1/lamp/L1",
        "streetwatch/gw1/lamp/L1/x",
        "streetwatch/gw1/lamp/" + "L" * 65,
        "streetwatch//lamp/L1",
        "streetwatch/alerts/Z01",
    ],
)
def test_parse_topic_rejects(topic):
    with pytest.raises(TopicError):
        parse_topic(topic)


ids = st.from_regex(r"\A[A-Za-z0-9_.-]{1,64}\Z")


@given(gateway=ids.filter(lambda g: g != "alerts"), kind=st.sampled_from(["lamp", "drain", "rain"]),
       device=ids)
def test_topic_round_trip(gateway, kind, device):
    assert parse_topic(reading_topic(gateway, kind, device)) == ReadingTopic(gateway, kind, device)


@given(st.text(max_size=200))
def test_parse_topic_never_raises_anything_but_topic_error(topic):
    with contextlib.suppress(TopicError):
        parse_topic(topic)
