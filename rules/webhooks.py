"""Delivery from the SQL outbox, at least once: webhooks by HTTP POST with backoff (a webhook
that is down loses nothing: its rows stay due; targets may carry tokens, only redacted forms
are logged), and the events people made (API, CLI) on the rule runner's MQTT session."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Protocol

import httpx

from streetwatch.alerts.records import Delivery
from streetwatch.alerts.store import AlertStore
from streetwatch.logs import log_event, quiet_url_loggers

log = logging.getLogger("streetwatch.rules.webhooks")
FIRST_RETRY_MS = 5_000
LONGEST_RETRY_MS = 3_600_000


def retry_after_ms(attempts: int) -> int:
    """5 s, 10 s, 20 s ... capped at an hour: a webhook down for a day is retried hourly."""
    return min(FIRST_RETRY_MS * 2 ** max(attempts, 0), LONGEST_RETRY_MS)


class WebhookCourier:
    """Posts due outbox rows (one JSON event line each) and records the answer."""

    def __init__(self, store: AlertStore, http: httpx.Client,
                 wall_ms: Callable[[], int] = lambda: int(time.time() * 1000)) -> None:
        self.store, self.http, self.wall_ms = store, http, wall_ms
        quiet_url_loggers()  # httpx would log each POST's URL, token included

    def deliver_due(self, limit: int = 100) -> int:
        """One pass over what is due; returns how many were delivered."""
        delivered = 0
        for delivery in self.store.due_deliveries(self.wall_ms(), limit, mqtt=False):
            error = self._post(delivery.target, delivery.payload)
            now = self.wall_ms()
            if error is None:
                self.store.delivered(delivery.id, now)
                delivered += 1
                continue
            self.store.delivery_failed(delivery.id, now, error,
                                       now + retry_after_ms(delivery.attempts))
            log_event(log, "rules.webhook_failed", logging.WARNING,
                      target=delivery.target_display, attempts=delivery.attempts + 1, error=error)
        return delivered

    def _post(self, target: str, payload: str) -> str | None:
        try:
            response = self.http.post(target, content=payload.encode(),
                                      headers={"Content-Type": "application/json"})
        except httpx.HTTPError as exc:
            return f"{type(exc).__name__}"  # the message may repeat the URL (and its token)
        return None if response.is_success else f"HTTP {response.status_code}"

    def run(self, stop: threading.Event, every_s: float = 1.0) -> None:
        while not stop.is_set():
            try:
                self.deliver_due()
            except Exception as exc:  # noqa: BLE001 - SQL hiccup: log, try again next pass
                log_event(log, "rules.webhook_pass_failed", logging.ERROR, error=str(exc)[:200])
            stop.wait(every_s)


class PublishReceipt(Protocol):
    """What publishing at QoS 1 hands back (paho's MQTTMessageInfo): whether the broker acked."""

    def is_published(self) -> bool: ...


class TopicCourier:
    """Publishes the outbox rows meant for the alert topic (changes the rule runner did not make
    itself: crew actions, citizen reports) on the runner's MQTT session at QoS 1. A row is
    marked delivered, and `on_published` called (the runner writes its `alert_event` point),
    once the broker has acknowledged it; until then it is in flight here, and after a crash or a
    broker outage it is simply published again (at least once). Driven by the runner's own loop,
    which owns the session: no second thread touches it."""

    def __init__(self, store: AlertStore, publish: Callable[[str, str], PublishReceipt],
                 on_published: Callable[[Delivery], None], wall_ms: Callable[[], int]) -> None:
        self.store, self.publish, self.on_published, self.wall_ms = (
            store, publish, on_published, wall_ms)
        self.in_flight: dict[int, tuple[Delivery, PublishReceipt]] = {}

    def deliver_due(self, connected: bool, limit: int = 100) -> int:
        """Confirm what the broker has acked, then (when connected) publish what is due and not
        in flight yet. The oldest rows come first, so at most `limit` are ever in flight."""
        confirmed = 0
        for delivery, receipt in list(self.in_flight.values()):
            if receipt.is_published():
                self.store.delivered(delivery.id, self.wall_ms())
                del self.in_flight[delivery.id]
                self.on_published(delivery)
                confirmed += 1
        if connected:
            for delivery in self.store.due_deliveries(self.wall_ms(), limit, mqtt=True):
                topic = delivery.mqtt_topic
                if topic is not None and delivery.id not in self.in_flight:
                    self.in_flight[delivery.id] = (delivery, self.publish(topic, delivery.payload))
        return confirmed
