"""Several ingesters on one shared subscription (`$share/<group>/streetwatch/#`), real Mosquitto.

Each member has its own client id and its own broker account (the broker uses the username as
client id, so one account would be one session). The second test pins what Mosquitto 2.0 does with
a member that is gone but whose persistent session is not: it keeps routing that member's share of
the stream into the session's queue, and beyond max_queued_messages it drops it, silently.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import paho.mqtt.client as mqtt
import pytest
from pydantic import SecretStr

from streetwatch.services.mosquitto import LocalMosquitto
from streetwatch.services.process import free_port
from streetwatch.settings import Settings, ingest_account

from processes import (
    IngesterProcess,
    drop_session,
    env_for,
    finish_simulator,
    last_stats,
    publish_as,
    register,
    sim_args,
    stored,
    wait_for,
)

TIMEOUT_S = 30.0
SYNC_TOPIC = "streetwatch/$never-subscribed"


@pytest.fixture
def second_ingester(e2e, mosquitto, tmp_path) -> Iterator[IngesterProcess]:  # noqa: ANN001
    """Puts e2e's ingester in a fresh share group and returns a second member of that group: its
    own account, client id and state dir (dead letters); stopped and its session dropped after."""
    group = f"g-{uuid.uuid4().hex[:6]}"
    e2e.settings = e2e.settings.model_copy(update={"ingest_share_group": group})
    e2e.env = env_for(e2e.settings)
    e2e.ingester.env = e2e.env
    account = mosquitto.new_ingest_account("share")
    settings = e2e.settings.model_copy(update={
        "mqtt_url": SecretStr(mosquitto.url_for(account)),
        "ingest_client_id": f"ingest-share-{uuid.uuid4().hex[:6]}",
        "state_dir": tmp_path / "state-b",
    })
    second = IngesterProcess(env_for(settings), tmp_path / "ingest-b.log")
    yield second
    second.stop()
    drop_session(mosquitto.host, mosquitto.port, account, mosquitto.password(account))


def test_two_ingesters_on_a_shared_subscription_split_the_load_and_lose_nothing(
    e2e, second_ingester  # noqa: ANN001
) -> None:
    register(e2e.settings, seed=31, gateways=4, lamps=1000, drains=100)
    members = (e2e.ingester.start(), second_ingester.start())
    summary = finish_simulator(*e2e.simulate(*sim_args(31, 4, 1000, 100, rounds=3)))
    expected = summary["readings"]
    assert sum(expected.values()) > 3000

    wait_for(lambda: stored(e2e.influx) == expected, 120, f"InfluxDB to hold {expected}", every_s=0.5)
    per_lamp = e2e.influx.rows('SELECT count("on") FROM lamp GROUP BY lamp')
    assert len(per_lamp) == 1000 and {row["count"] for row in per_lamp} == {3}
    assert [member.stop() for member in members] == [0, 0]
    received = [last_stats(member)["received"] for member in members]
    assert sum(received) >= summary["messages"]
    # Mosquitto serves a share group round robin: each member gets about half.
    assert min(received) >= summary["messages"] // 4, received


class Member:
    """A shared-subscription member like the ingester (MQTT 3.1.1, persistent session, QoS 1)
    that only counts what it receives."""

    def __init__(self, broker: LocalMosquitto, username: str, subscription: str) -> None:
        self.broker, self.username, self.subscription = broker, username, subscription
        self.received = 0
        self.session_present: bool | None = None
        self._synced = threading.Event()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=username,
                                  clean_session=False, protocol=mqtt.MQTTv311)
        self.client.username_pw_set(username, broker.credentials.get(username))
        self.client.on_connect = self._on_connect
        self.client.on_message = self._on_message
        self.client.on_unsubscribe = lambda *_: self._synced.set()

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:  # noqa: ANN001
        self.session_present = bool(flags.session_present)

    def _on_message(self, client, userdata, message) -> None:  # noqa: ANN001
        self.received += 1  # paho's single network thread: no lock needed

    def connect(self) -> Member:
        self.session_present = None
        self.client.connect(self.broker.host, self.broker.port)
        self.client.loop_start()
        wait_for(lambda: self.session_present is not None, TIMEOUT_S, f"{self.username} CONNACK")
        return self

    def subscribe(self) -> Member:
        subscribed = threading.Event()
        self.client.on_subscribe = lambda *_: subscribed.set()
        self.client.subscribe(self.subscription, qos=1)
        wait_for(subscribed.is_set, TIMEOUT_S, f"{self.username} SUBACK")
        return self

    def sync(self) -> int:
        """Messages received once everything the broker had sent us so far is in: the UNSUBACK of
        a never-subscribed topic comes after them on the socket (the in-flight window is large)."""
        self._synced.clear()
        self.client.unsubscribe(SYNC_TOPIC)
        wait_for(self._synced.is_set, TIMEOUT_S, f"{self.username} UNSUBACK")
        return self.received

    def leave(self) -> None:
        """Disconnect without unsubscribing, as a stopped (or removed) ingester does; return once
        the broker has logged the disconnect."""
        log = self.broker.paths.log
        offset = log.stat().st_size
        self.client.disconnect()
        self.client.loop_stop()
        line = f"Client {self.username} disconnected.".encode()
        wait_for(lambda: line in log.read_bytes()[offset:], TIMEOUT_S, "the broker to see it")


@pytest.fixture
def small_queue_broker(tmp_path: Path) -> Iterator[LocalMosquitto]:
    """A private broker (generated config) whose persistent sessions queue at most 100 messages."""
    server = LocalMosquitto(tmp_path, free_port(),
                            Settings(state_dir=tmp_path, broker_max_queued_messages=100))
    server.ensure_users([ingest_account("a"), ingest_account("b"), "gw1"])
    server.start()
    yield server
    server.stop()


def lamp_messages(count: int, offset: int = 0) -> list[tuple[str, bytes]]:
    return [(f"streetwatch/gw1/lamp/L{offset + n}", b"{}") for n in range(count)]


def test_a_departed_members_share_is_queued_for_it_then_dropped_at_the_queue_bound(
    small_queue_broker: LocalMosquitto,
) -> None:
    """Mosquitto 2.0 keeps a disconnected persistent member in its share group: half the stream
    goes to a member that is not there, and all of it beyond max_queued_messages is lost (the
    connected member does not pick it up). Dropping the member's session removes it from the
    group."""
    broker = small_queue_broker
    gateway = SimpleNamespace(host=broker.host, port=broker.port, password=broker.credentials.get)
    subscription = "$share/g/streetwatch/#"
    a = Member(broker, ingest_account("a"), subscription).connect().subscribe()
    b = Member(broker, ingest_account("b"), subscription).connect().subscribe()
    b.leave()

    publish_as(gateway, "gw1", lamp_messages(1000))  # PUBACKed: routed to both sessions
    assert a.sync() == 500  # strict round robin, the absent member's turn included
    b.connect()
    assert b.session_present and b.sync() == 100  # its queue bound: 400 readings dropped
    b.leave()

    drop_session(broker.host, broker.port, b.username, broker.credentials.get(b.username))
    publish_as(gateway, "gw1", lamp_messages(100, offset=1000))
    assert a.sync() == 600  # b's session is gone, and with it its place in the group
    a.leave()


def test_a_member_that_leaves_hands_over_its_share_and_nothing_is_lost(
    e2e, second_ingester, mosquitto  # noqa: ANN001
) -> None:
    """Scaling down the right way: the departed member's share queued in its session is stored
    by `streetwatch ingest --leave`, and afterwards the whole stream goes to the member left."""
    now = int(time.time() * 1000)
    readings = [(f"streetwatch/gw1/lamp/L{n}", json.dumps({"ts": now + n, "on": True}).encode())
                for n in range(500)]
    e2e.ingester.start()
    second_ingester.start()
    assert second_ingester.stop() == 0  # gone, but its session is still a member of the group
    publish_as(mosquitto, "gw1", readings[:400])
    count = lambda: e2e.influx.scalar('SELECT count("on") FROM lamp') or 0  # noqa: E731
    wait_for(lambda: count() == 200, 60, "the connected member's half of the stream")

    leaving = subprocess.run([sys.executable, "-m", "streetwatch", "ingest", "--leave"],
                             env=second_ingester.env, capture_output=True, timeout=120)
    log = leaving.stderr.decode()
    assert leaving.returncode == 0, log[-3000:]
    assert '"ingest.share_drained"' in log and '"ingest.session_dropped"' in log
    wait_for(lambda: count() == 400, 60, "the departed member's share, stored on leaving")

    publish_as(mosquitto, "gw1", readings[400:])
    wait_for(lambda: count() == 500, 60, "every later reading at the member left")
    assert e2e.ingester.stop() == 0
    assert last_stats(e2e.ingester)["received"] >= 300


def test_leave_without_a_share_group_is_refused(e2e) -> None:  # noqa: ANN001
    """Unsubscribing the only ingester would leave the stream without a subscriber."""
    refused = subprocess.run([sys.executable, "-m", "streetwatch", "ingest", "--leave"],
                             env=e2e.env, capture_output=True, timeout=60)
    assert refused.returncode == 78 and b"--leave" in refused.stderr
