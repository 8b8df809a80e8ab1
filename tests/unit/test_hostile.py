"""The hostile generator (simulators/hostile.py) and `process_message` against its labels, no I/O.

The labels come from the wire contract, so where `process_message` disagrees with one, one of
them is wrong: the per-case test names the case, shows both and leaves the decision to a reader
of docs/wire-contract.md.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime

import pytest

from simulators import hostile
from simulators.hostile import (
    MAX_TS_MS,
    HostileMessage,
    Rejected,
    Stored,
    Tally,
    hostile_messages,
    poison,
    valid_lamps,
)
from streetwatch.registry.store import DeviceInfo
from streetwatch.schemas import parse_timestamp_ms
from streetwatch.validation import REJECT_REASONS, process_message

SEED = 1313
COUNT = 5_000
NOW_MS = 1_795_456_800_000  # process_message takes the clock as an argument: no real time here
DEVICE_TAG = {"lamp": "lamp", "drain": "sensor", "rain": "gauge", "gateway_status": "gateway"}
# Reasons a message can earn from its content alone (the others come from storage or load).
CONTENT_REASONS = set(REJECT_REASONS) - {"storage_rejected", "internal_error", "overload_qos0"}
READING_CASES = [f"reading:{v.name}" for v in hostile.VARIANTS if v.where != "item"]
ITEM_CASES = [f"item:{v.name}" for v in hostile.VARIANTS if v.where != "single"]
MESSAGE_CASES = [
    "reading:exactly_64k", "reading:over_64k", "reading:bad_encoding", "reading:bad_json",
    "reading:deep_nesting", "reading:not_an_object", "topic:bad_topic", "status:valid",
    "status:invalid", "alert:ignored", "batch:mixed", "batch:all_valid", "batch:exactly_1mib",
    "batch:over_1mib", "batch:not_a_nonempty_array", "batch:bad_encoding", "batch:bad_json",
]
DEVICES = {(r.kind, r.device_id): DeviceInfo(r.kind, r.device_id, r.gateway, r.zone, r.road)
           for r in hostile.REGISTRY}


@pytest.fixture(scope="module")
def messages() -> list[HostileMessage]:
    return list(hostile_messages(SEED, COUNT, NOW_MS))


def point_of(line: str) -> tuple[str, str, int | None]:
    """(measurement, device or gateway, ts) of a line (status ts: None, the ingester's clock)."""
    head, _, ts = line.rpartition(" ")
    series = head.split(" ", 1)[0].split(",")
    tags = dict(tag.split("=", 1) for tag in series[1:])
    return series[0], tags[DEVICE_TAG[series[0]]], None if series[0] == "gateway_status" else int(ts)


def outcomes_of(message: HostileMessage) -> tuple[list[str], list[tuple]]:
    """What `process_message` made of it: reasons of its rejects, points of its lines (in order)."""
    outcome = process_message(message.topic, message.payload, NOW_MS, DEVICES)
    return [r.reason for r in outcome.rejects], [point_of(line) for line in outcome.lines]


def labelled(message: HostileMessage) -> tuple[list[str], list[tuple]]:
    """The same two lists as the labels say they must be."""
    reasons = [o.reason for o in message.expected if isinstance(o, Rejected)]
    points = [(o.kind, o.device, o.ts) for o in message.expected if isinstance(o, Stored)]
    return reasons, points


def describe(message: HostileMessage, actual: tuple, wanted: tuple) -> str:
    labels = [o.case.split(":", 1)[1] for o in message.expected]
    return (f"{message.case} on {message.topic[:80]!r} ({len(message.payload)} bytes: "
            f"{message.payload[:120]!r})\n  labels {labels[:12]}\n  wanted rejects {wanted[0][:12]}"
            f"\n  got    rejects {actual[0][:12]}\n  wanted points {len(wanted[1])}, got {len(actual[1])}")


# The generator itself --------------------------------------------------------------------------
def test_the_same_seed_gives_the_same_bytes_and_labels(messages):
    assert list(hostile_messages(SEED, COUNT, NOW_MS)) == messages


def test_another_seed_gives_other_messages(messages):
    other = list(hostile_messages(SEED + 1, 200, NOW_MS))
    assert [m.payload for m in other] != [m.payload for m in messages[:200]]


def test_every_case_of_the_catalogue_occurs(messages):
    seen = Counter(o.case for m in messages for o in m.expected) + Counter(m.case for m in messages)
    missing = [c for c in [*READING_CASES, *ITEM_CASES, *MESSAGE_CASES] if not seen[c]]
    assert not missing, f"cases never generated in {COUNT} messages: {missing}"


def test_labels_use_only_reasons_of_the_contract(messages):
    reasons = {o.reason for m in messages for o in m.expected if isinstance(o, Rejected)}
    assert reasons <= CONTENT_REASONS


def test_each_valid_reading_is_its_own_point_inside_the_accepted_window(messages):
    points = [(o.kind, o.device, o.ts) for m in messages for o in m.expected
              if isinstance(o, Stored) and o.kind != "gateway_status"]
    assert len(points) == len(set(points))
    window = range(NOW_MS - 30 * 86_400_000, NOW_MS + 5 * 60_000 + 1)
    assert all(ts in window for _, _, ts in points)


def test_messages_are_qos_1_and_stay_under_the_broker_packet_limit(messages):
    assert {m.qos for m in messages} == {1}
    assert max(len(m.payload) + len(m.topic.encode()) for m in messages) < 2 * 1024 * 1024


def test_rfc3339_text_is_the_same_instant():
    ts = NOW_MS + 123
    for zone in hostile._OFFSETS:
        text = hostile.rfc3339(ts, zone)
        assert parse_timestamp_ms(text) == ts and datetime.fromisoformat(text).tzinfo is not None


def test_tally_counts_points_per_measurement_and_rejects_per_reason(messages):
    tally = Tally.of(messages)
    outcomes = sum(len(m.expected) for m in messages)
    assert tally.messages == COUNT
    assert sum(tally.stored.values()) + sum(tally.rejected.values()) == outcomes
    assert tally.ignored == sum(1 for m in messages if m.case == "alert:ignored")


# process_message against the labels ----------------------------------------------------------
@pytest.mark.parametrize("case", READING_CASES + MESSAGE_CASES)
def test_process_message_ends_each_message_as_labelled(messages, case):
    """Per case, so a disagreement names its case: every reading or batch item stored or
    rejected with its labelled reason, in order."""
    chosen = [m for m in messages if m.case == case]
    assert chosen, f"no {case} message generated"
    wrong = []
    for message in chosen:
        actual, wanted = outcomes_of(message), labelled(message)
        if actual != wanted:
            wrong.append(describe(message, actual, wanted))
    assert not wrong, f"{len(wrong)} of {len(chosen)} {case} messages:\n" + "\n".join(wrong[:5])


def test_poison_is_out_of_range_and_never_raises():
    for message in poison(500):
        assert outcomes_of(message) == (["out_of_range"], [])
        assert int(message.payload.split(b":")[1].split(b",")[0]) > MAX_TS_MS


def test_valid_lamps_are_stored_one_point_each():
    lamps = list(valid_lamps(100, NOW_MS))
    assert [outcomes_of(m) for m in lamps] == [labelled(m) for m in lamps]
    assert len({labelled(m)[1][0] for m in lamps}) == 100
