"""MQTT load for the bench: paho 2.x clients, persistent sessions, and QoS 1 publishing."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from streetwatch.services.process import wait_until

from local_services import Services
from workload import Messages

PUBLISH_SLICE = 20_000  # messages a publisher has unacked at most


class PahoClient:
    """A paho 2.x client (callback API v2, MQTT 3.1.1) with events to wait on, not sleeps."""

    def __init__(self, services: Services, username: str, client_id: str, clean: bool) -> None:
        self.services = services
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=client_id,
            clean_session=clean,
            protocol=mqtt.MQTTv311,
        )
        self.client.username_pw_set(username, services.passwords[username])
        self.connected = threading.Event()
        self.subscribed = threading.Event()
        self.client.on_connect = lambda c, u, flags, rc, p: rc.is_failure or self.connected.set()
        self.client.on_subscribe = lambda c, u, mid, rcs, p: self.subscribed.set()

    def connect(self, timeout_s: float = 10) -> PahoClient:
        self.client.connect(self.services.broker.host, self.services.broker.port, keepalive=60)
        self.client.loop_start()
        self.wait(self.connected.is_set, timeout_s, "CONNACK")
        return self

    def wait(self, predicate: Callable[[], bool], timeout_s: float, what: str) -> None:
        """`wait_until` with the broker's log tail in the error."""
        wait_until(predicate, timeout_s, what, logs=self.services.broker_logs)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def create_session(services: Services, client_id: str, subscription: str) -> None:
    """Connect with clean_session=False, subscribe QoS 1, disconnect: the broker now queues for us."""
    client = PahoClient(services, services.ingest_login(client_id), client_id, clean=False).connect()
    try:
        client.client.subscribe(subscription, qos=1)
        client.wait(client.subscribed.is_set, 10, f"SUBACK for {client_id}")
    finally:
        client.close()


def drop_session(services: Services, client_id: str) -> None:
    """Connect once with clean_session=True: the broker discards that client's session."""
    PahoClient(services, services.ingest_login(client_id), client_id, clean=True).connect().close()


def publish(services: Services, by_gateway: Messages, timeout_s: float = 300) -> float:
    """Publish QoS 1 as each gateway; returns once the broker acked every message (PUBACK means it
    has queued it for every subscribed session). Returns seconds taken."""
    t0 = time.monotonic()
    for gateway, messages in by_gateway.items():
        _publish_as(services, gateway, messages, timeout_s)
    return time.monotonic() - t0


def _publish_as(
    services: Services, gateway: str, messages: list[tuple[str, bytes]], timeout_s: float
) -> None:
    """Slices of PUBLISH_SLICE with no client in-flight limit, each waited for: paho rescans its
    whole queue on every PUBACK when a limit holds messages back (O(n^2) for a big preload), and
    more than 65,535 unacked messages would reuse message ids."""
    client = PahoClient(services, gateway, f"bench-pub-{gateway}-{uuid.uuid4().hex[:6]}", True)
    client.client.max_inflight_messages_set(0)
    acked = 0
    lock = threading.Lock()

    def on_publish(c: mqtt.Client, userdata: Any, mid: int, rc: Any, props: Any) -> None:
        nonlocal acked
        with lock:
            acked += 1

    client.client.on_publish = on_publish
    client.connect()
    try:
        for start in range(0, len(messages), PUBLISH_SLICE):
            for topic, payload in messages[start : start + PUBLISH_SLICE]:
                client.client.publish(topic, payload, qos=1)
            target = min(start + PUBLISH_SLICE, len(messages))
            client.wait(
                lambda target=target: acked >= target,
                timeout_s,
                f"PUBACKs for {target} messages from {gateway}",
            )
    finally:
        client.close()
