"""Webhook delivery from the SQL outbox to a real HTTP server (http.server on loopback): a webhook
that is down loses nothing, retries back off, and the token in its URL never reaches the log."""

from __future__ import annotations

import json
import logging
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx

from rules.webhooks import TopicCourier, WebhookCourier, retry_after_ms
from streetwatch.alerts.model import Condition
from streetwatch.alerts.store import AlertStore
from streetwatch.registry.migrate import upgrade
from streetwatch.registry.store import make_engine

TOKEN = "s3cret-T0KEN"


class Receiver:
    """An HTTP server that records POST bodies; answers `status` (200 unless told otherwise)."""

    def __init__(self, port: int) -> None:
        self.bodies: list[dict] = []
        self.status = 200
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers["Content-Length"]))
                if receiver.status == 200:
                    receiver.bodies.append(json.loads(body))
                self.send_response(receiver.status)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_webhook_that_is_down_loses_nothing(tmp_path, caplog):
    sql_url = f"sqlite:///{tmp_path / 'alerts.db'}"
    upgrade(sql_url)
    engine = make_engine(sql_url)
    port = free_port()
    store = AlertStore(engine, [f"http://127.0.0.1:{port}/hook/{TOKEN}"])
    clock = [1_795_400_000_000]
    raised = store.raise_alert(Condition("lamp_out", "lamp:L1", "Z1", ("L1",), "lamp L1 dark"),
                               clock[0], "yellow", clock[0] + 3_600_000)
    assert raised is not None
    caplog.set_level(logging.INFO)
    with httpx.Client(timeout=5) as http:
        courier = WebhookCourier(store, http, wall_ms=lambda: clock[0])
        assert courier.deliver_due() == 0  # nobody listens: connection refused
        clock[0] += retry_after_ms(0) - 1
        assert store.due_deliveries(clock[0]) == []  # backing off
        receiver = Receiver(port)
        try:
            receiver.status = 503
            clock[0] += 1
            assert courier.deliver_due() == 0  # up, but failing
            clock[0] += retry_after_ms(1)
            receiver.status = 200
            assert courier.deliver_due() == 1
            assert courier.deliver_due() == 0  # delivered once
        finally:
            receiver.close()
    assert receiver.bodies == [json.loads(raised.line())]
    assert receiver.bodies[0]["event"] == "raised" and receiver.bodies[0]["id"] == raised.id
    assert TOKEN not in caplog.text and "rules.webhook_failed" in caplog.text
    engine.dispose()


def test_backoff_grows_and_is_capped():
    assert [retry_after_ms(n) for n in range(4)] == [5_000, 10_000, 20_000, 40_000]
    assert retry_after_ms(50) == 3_600_000


class Receipt:
    """A publish as the broker answers it: acked when the test says so (paho's is_published)."""

    def __init__(self) -> None:
        self.acked = False

    def is_published(self) -> bool:
        return self.acked


def test_crew_events_wait_for_the_broker_and_are_published_once(tmp_path):
    """The rule runner's topic courier: nothing is published while disconnected (rows stay due),
    a row in flight is not published again, and it is done (point written) only once the
    broker has acked it. Webhooks never see these rows, nor the topic courier the webhooks'."""
    sql_url = f"sqlite:///{tmp_path / 'alerts.db'}"
    upgrade(sql_url)
    engine = make_engine(sql_url)
    store = AlertStore(engine, ["http://127.0.0.1:9/hook"])
    clock = [1_795_400_000_000]
    raised = store.raise_alert(Condition("lamp_out", "lamp:L1", "Z1", ("L1",), "lamp L1 dark"),
                               clock[0], "yellow", clock[0] + 3_600_000)
    assert raised is not None and store.acknowledge(raised.id, clock[0] + 1, "crew") is not None
    published: list[tuple[str, str, Receipt]] = []
    points: list[str] = []

    def publish(topic: str, payload: str) -> Receipt:
        published.append((topic, payload, Receipt()))
        return published[-1][2]

    courier = TopicCourier(store, publish, lambda d: points.append(d.payload),
                           wall_ms=lambda: clock[0])
    assert courier.deliver_due(connected=False) == 0 and published == []
    clock[0] += 1_000
    assert courier.deliver_due(connected=True) == 0  # published, not acked yet
    assert courier.deliver_due(connected=True) == 0  # in flight: not published again
    [(topic, payload, receipt)] = published
    assert topic == "streetwatch/alerts/Z1/yellow" and json.loads(payload)["event"] == "acknowledged"
    receipt.acked = True
    assert courier.deliver_due(connected=True) == 1 and points == [payload]
    assert courier.deliver_due(connected=True) == 0 and len(published) == 1
    assert store.due_deliveries(clock[0], mqtt=True) == []
    webhook_rows = store.due_deliveries(clock[0])
    assert [json.loads(d.payload)["event"] for d in webhook_rows] == ["raised", "acknowledged"]
    engine.dispose()
