"""The pure ingest core: every malformed input ends in the right reject reason, never an exception."""

import json
from dataclasses import dataclass

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streetwatch.validation import REJECT_REASONS, Limits, process_message

from wire_cases import MALFORMED, SPOOF_LAMP

NOW = 1_795_000_000_000


@dataclass(frozen=True)
class Known:
    gateway: str
    zone: str
    road: str | None = None


DEVICES = {
    ("lamp", "L1"): Known("gw1", "Z01", "R1"),
    ("lamp", SPOOF_LAMP): Known("gw2", "Z02"),
    ("drain", "D1"): Known("gw1", "Z01"),
}


@pytest.mark.parametrize("case", MALFORMED, ids=lambda c: c.name)
def test_malformed_input_is_rejected_with_its_reason(case):
    outcome = process_message(case.topic, case.payload(NOW), NOW, DEVICES)
    assert [r.reason for r in outcome.rejects] == [case.reason]
    assert outcome.lines == []
    assert outcome.rejects[0].detail
    assert case.reason in REJECT_REASONS


def test_there_are_at_least_twenty_malformed_cases_covering_every_input_reason():
    assert len(MALFORMED) >= 20
    not_input = {"storage_rejected", "internal_error", "overload_qos0"}  # not the payload's fault
    assert {c.reason for c in MALFORMED} == set(REJECT_REASONS) - not_input


def test_registered_lamp_gets_zone_and_road_tags():
    payload = json.dumps({"ts": NOW, "on": True, "dim": 100}).encode()
    outcome = process_message("streetwatch/gw1/lamp/L1", payload, NOW, DEVICES)
    assert outcome.lines == [
        f'lamp,gateway=gw1,lamp=L1,road=R1,zone=Z01 dim=100i,fault="",on=true {NOW}'
    ]
    assert outcome.unregistered == 0 and outcome.rejects == []


def test_the_rule_runner_gets_parsed_readings_without_line_protocol():
    """keep_readings + encode=False: the rule runner judges readings, it does not store them."""
    batch = json.dumps([{"kind": "lamp", "id": "L1", "ts": NOW, "on": False, "fault": "tilt"},
                        {"kind": "lamp", "id": SPOOF_LAMP, "ts": NOW, "on": True}]).encode()
    outcome = process_message("streetwatch/gw1/batch", batch, NOW, DEVICES, keep_readings=True,
                              encode=False)
    assert outcome.lines == [] and [r.reason for r in outcome.rejects] == ["spoofed"]
    [accepted] = outcome.readings
    assert (accepted.kind, accepted.device_id, accepted.gateway) == ("lamp", "L1", "gw1")
    assert (accepted.reading.ts, accepted.reading.on, accepted.reading.fault) == (NOW, False, "tilt")
    assert process_message("streetwatch/gw1/batch", batch, NOW, DEVICES).readings == []


def test_unregistered_device_is_stored_as_unassigned_and_counted():
    payload = json.dumps({"ts": NOW, "level_cm": 40.5}).encode()
    outcome = process_message("streetwatch/gw9/drain/D77", payload, NOW, DEVICES)
    assert outcome.lines == [f"drain,gateway=gw9,sensor=D77,zone=unassigned level_cm=40.5 {NOW}"]
    assert outcome.unregistered == 1


def test_batch_keeps_good_items_and_rejects_bad_ones_individually():
    items = [
        {"kind": "lamp", "id": "L1", "ts": NOW, "on": True},
        {"kind": "drain", "id": "D1", "ts": NOW, "level_cm": "high"},
        {"kind": "rain", "id": "G1", "ts": NOW, "rain_mm": 1.5},
        {"kind": "lamp", "id": SPOOF_LAMP, "ts": NOW, "on": True},
    ]
    outcome = process_message("streetwatch/gw1/batch", json.dumps(items).encode(), NOW, DEVICES)
    assert len(outcome.lines) == 2
    assert [(r.reason, r.detail.split(":")[0]) for r in outcome.rejects] == [
        ("schema", "item 1"),
        ("spoofed", "lamp L-owned-by-gw2 is registered to gateway gw2"),
    ]
    assert json.loads(outcome.rejects[0].payload)["level_cm"] == "high"


def test_live_status_is_stored_but_a_retained_replay_is_not():
    live = process_message("streetwatch/gw1/status", b"offline", NOW, DEVICES)
    assert live.lines == [f"gateway_status,gateway=gw1 online=false {NOW}"]
    replay = process_message("streetwatch/gw1/status", b"online", NOW, DEVICES, retained=True)
    assert replay.lines == [] and replay.status.online and replay.rejects == []


def test_alert_topics_are_ignored():
    outcome = process_message("streetwatch/alerts/Z01/red", b"{}", NOW, DEVICES)
    assert (outcome.lines, outcome.rejects) == ([], [])


def test_limits_are_configurable():
    payload = json.dumps({"ts": NOW + 10_000, "on": True}).encode()
    strict = Limits(max_future_ms=5_000)
    assert process_message("streetwatch/gw1/lamp/L1", payload, NOW, DEVICES, strict).rejects[0].reason == "future_ts"
    assert process_message("streetwatch/gw1/lamp/L1", payload, NOW, DEVICES).lines


@settings(max_examples=300)
@given(topic=st.text(max_size=80), payload=st.binary(max_size=300))
def test_arbitrary_input_never_raises(topic, payload):
    outcome = process_message(topic, payload, NOW, DEVICES)
    assert outcome.lines or outcome.rejects or outcome.status or topic.startswith("streetwatch/alerts/")


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)


@settings(max_examples=300)
@given(kind=st.sampled_from(["lamp", "drain", "rain", "batch"]), doc=json_values)
def test_arbitrary_json_is_stored_or_rejected(kind, doc):
    topic = "streetwatch/gw1/batch" if kind == "batch" else f"streetwatch/gw1/{kind}/X1"
    outcome = process_message(topic, json.dumps(doc).encode(), NOW, DEVICES)
    assert outcome.lines or outcome.rejects
