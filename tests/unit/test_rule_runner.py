"""The live runner's message handling with a fake paho client (acks recorded; no broker needed
for this unit): a message the core fails on is acked and counted, a storage error is not."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest
from sqlalchemy.exc import OperationalError

from rules.config import RuleConfig
from rules.engine import RuleEngine
from rules.fleet import Fleet
from rules.lifecycle import MemorySink
from rules.runner import RuleRunner, RunnerConfig
from streetwatch.settings import MqttEndpoint

from rule_drive import DAY0, HOUR, FixedNights, road_lamps

NOW = DAY0 + 20 * HOUR


class FakeClient:
    def __init__(self) -> None:
        self.acked: list[int] = []
        self.published: list[tuple[str, str]] = []

    def ack(self, mid: int, qos: int) -> None:
        self.acked.append(mid)

    def publish(self, topic: str, payload: str, qos: int) -> None:
        self.published.append((topic, payload))


def runner() -> RuleRunner:
    r = RuleRunner(settings=None, config=RunnerConfig(MqttEndpoint("127.0.0.1", 1, None, None), "rules"),  # type: ignore[arg-type]
                   store=None, influx=None, devices=lambda: {}, wall_ms=lambda: NOW)  # type: ignore[arg-type]
    r.core = RuleEngine(Fleet(road_lamps(3)), RuleConfig(), FixedNights(), MemorySink(), NOW)
    r.next_tick = NOW
    r.client = FakeClient()  # type: ignore[assignment]
    return r


def message(mid: int, lamp: str, on: bool) -> SimpleNamespace:
    return SimpleNamespace(topic=f"streetwatch/gw1/lamp/{lamp}", retain=False, mid=mid, qos=1,
                           payload=json.dumps({"ts": NOW, "on": on, "fault": "tilt"}).encode())


def test_a_lit_faulty_lamp_is_judged_and_acked():
    r = runner()
    r._handle(message(7, "L001", True))
    r.core.advance(NOW + 1)
    r._emit_events()
    assert r.client.acked == [7] and r.failed_messages == 0
    assert [json.loads(p)["kind"] for _, p in r.client.published] == ["lamp_fault"]


def test_a_message_the_core_fails_on_is_acked_and_counted(monkeypatch):
    r = runner()
    monkeypatch.setattr(r.core, "lamp_reading", lambda *a: {}["bug"])
    r._handle(message(8, "L002", True))
    assert r.client.acked == [8] and r.failed_messages == 1


def test_a_storage_error_ends_the_runner_unacked(monkeypatch):
    r = runner()

    def down(*args):
        raise OperationalError("INSERT", {}, Exception("database is locked"))

    monkeypatch.setattr(r.core, "lamp_reading", down)
    with pytest.raises(OperationalError):
        r._handle(message(9, "L003", True))
    assert r.client.acked == []


def test_metrics_and_health_over_http():
    """/metrics counts what the runner did; /healthz turns 503 when the loop stops stepping."""
    import httpx

    from rules.metrics import RuleMetrics
    from streetwatch.metrics_http import MetricsHttpServer

    clock = [NOW]
    r = runner()
    r.wall_ms = lambda: clock[0]
    r.last_step_wall_ms = NOW
    r._handle(message(1, "L001", True))
    r.core.advance(NOW + 1)
    r._emit_events()
    server = MetricsHttpServer("127.0.0.1", 0, RuleMetrics(r).exposition, r.health, "t").start()
    try:
        base = f"http://127.0.0.1:{server.port}"
        text = httpx.get(f"{base}/metrics").text
        assert "streetwatch_rules_messages_total 1.0" in text
        assert "streetwatch_rules_rebuilds_total 0.0" in text  # built with rebuild(), not followed
        assert 'streetwatch_rules_alert_events_total{event="raised",kind="lamp_fault"} 1.0' in text
        assert httpx.get(f"{base}/healthz").status_code == 200
        clock[0] += 181_000  # three ticks of 60 s
        stuck = httpx.get(f"{base}/healthz")
        assert stuck.status_code == 503 and stuck.json()["since_last_step_s"] == 181.0
    finally:
        server.stop()
