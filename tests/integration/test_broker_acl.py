"""The generated broker ACL and password file against a real Mosquitto (MQTT 5 reason codes).

No sleeps: every "never arrives" is proven by a later message on the same path that does arrive.
"""

from __future__ import annotations

import base64
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.reasoncodes import ReasonCode

from streetwatch.errors import ConfigError
from streetwatch.services.credentials import mosquitto_password_line
from streetwatch.services.mosquitto import LocalMosquitto
from streetwatch.services.process import free_port, require_binary
from streetwatch.settings import INGEST_USER, RULES_USER, Settings, rules_account

TIMEOUT_S = 10.0
NOT_AUTHORIZED = 0x87
BAD_CREDENTIALS = 0x86


class MqttSession:
    """A paho MQTT 5 client whose acks and messages can be awaited with deadlines.

    The broker replaces the client id by the username (use_username_as_clientid): one session per
    username at a time, so a test opens each account at most once."""

    def __init__(self, host: str, port: int, username: str, password: str) -> None:
        self.client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2,
            client_id=f"test-{username}-{uuid.uuid4().hex[:8]}",
            protocol=mqtt.MQTTv5,
        )
        self.client.username_pw_set(username, password)
        self.host, self.port = host, port
        self._cond = threading.Condition()
        self.connack: ReasonCode | None = None
        self.pubacks: dict[int, ReasonCode] = {}
        self.subacks: dict[int, list[ReasonCode]] = {}
        self.messages: list[mqtt.MQTTMessage] = []
        self.client.on_connect = self._on_connect
        self.client.on_publish = self._on_publish
        self.client.on_subscribe = self._on_subscribe
        self.client.on_message = self._on_message

    def _notify(self, update: Callable[[], None]) -> None:
        with self._cond:
            update()
            self._cond.notify_all()

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:  # noqa: ANN001
        self._notify(lambda: setattr(self, "connack", reason_code))

    def _on_publish(self, client, userdata, mid, reason_code, properties) -> None:  # noqa: ANN001
        self._notify(lambda: self.pubacks.__setitem__(mid, reason_code))

    def _on_subscribe(self, client, userdata, mid, reason_codes, properties) -> None:  # noqa: ANN001
        self._notify(lambda: self.subacks.__setitem__(mid, list(reason_codes)))

    def _on_message(self, client, userdata, message) -> None:  # noqa: ANN001
        self._notify(lambda: self.messages.append(message))

    def wait(self, condition: Callable[[], bool], what: str, timeout_s: float = TIMEOUT_S) -> None:
        """Block until `condition()` holds (checked on every callback); fail after the deadline."""
        with self._cond:
            if not self._cond.wait_for(condition, timeout=timeout_s):
                pytest.fail(f"timed out after {timeout_s} s waiting for {what}")

    def connect(self) -> ReasonCode:
        """Connect, driving the network loop here until CONNACK; start the loop thread on success.

        A refused client gets no thread, so closing it never waits out paho's reconnect delay.
        """
        self.client.connect(self.host, self.port, keepalive=30)
        deadline = time.monotonic() + TIMEOUT_S
        while self.connack is None:
            if time.monotonic() > deadline:
                pytest.fail(f"timed out after {TIMEOUT_S} s waiting for CONNACK")
            self.client.loop(timeout=0.05)
        if not self.connack.is_failure:
            self.client.loop_start()
        return self.connack

    def publish(self, topic: str, payload: bytes = b"{}") -> ReasonCode:
        """Publish QoS 1 and return the PUBACK reason code."""
        mid = self.client.publish(topic, payload, qos=1).mid
        self.wait(lambda: mid in self.pubacks, f"PUBACK for {topic}")
        return self.pubacks[mid]

    def subscribe(self, topic: str) -> ReasonCode:
        """Subscribe QoS 1 and return the SUBACK reason code."""
        _, mid = self.client.subscribe(topic, qos=1)
        self.wait(lambda: mid in self.subacks, f"SUBACK for {topic}")
        return self.subacks[mid][0]

    def wait_for_payload(self, payload: bytes) -> None:
        self.wait(lambda: any(m.payload == payload for m in self.messages), f"message {payload!r}")

    def payloads(self) -> list[bytes]:
        with self._cond:
            return [m.payload for m in self.messages]

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
def session(mosquitto) -> Iterator[Callable[..., MqttSession]]:  # noqa: ANN001
    """`session(username, password=None)`: a connected MQTT 5 client (closed after the test)."""
    opened: list[MqttSession] = []

    def open_session(username: str, password: str | None = None) -> MqttSession:
        secret = mosquitto.password(username) if password is None else password
        client = MqttSession(mosquitto.host, mosquitto.port, username, secret)
        opened.append(client)
        code = client.connect()
        assert not code.is_failure, f"{username} could not connect: {code}"
        return client

    yield open_session
    for client in opened:
        client.close()


def unique(label: str) -> bytes:
    return f"{label}-{uuid.uuid4().hex}".encode()


def test_gateway_publishes_under_its_own_id(session) -> None:  # noqa: ANN001
    ingest = session(INGEST_USER)
    assert not ingest.subscribe("streetwatch/#").is_failure
    marker = unique("own")

    assert not session("gw1").publish("streetwatch/gw1/lamp/L1", marker).is_failure
    ingest.wait_for_payload(marker)


def test_gateway_cannot_publish_as_another_gateway(session) -> None:  # noqa: ANN001
    ingest = session(INGEST_USER)
    ingest.subscribe("streetwatch/#")
    gw1 = session("gw1")
    spoof, marker = unique("spoof"), unique("after-spoof")

    assert gw1.publish("streetwatch/gw2/lamp/L1", spoof).value == NOT_AUTHORIZED
    assert not gw1.publish("streetwatch/gw1/lamp/L1", marker).is_failure
    ingest.wait_for_payload(marker)  # same publisher, same subscriber: order is kept
    assert spoof not in ingest.payloads()


def test_wrong_or_unknown_credentials_are_refused(mosquitto) -> None:  # noqa: ANN001
    for username, password in (
        ("gw1", "wrong-password"),
        ("nobody", "whatever"),
        (INGEST_USER, ""),
    ):
        client = MqttSession(mosquitto.host, mosquitto.port, username, password)
        try:
            code = client.connect()
        finally:
            client.close()
        # Mosquitto 2.0.11 answers 0x87 "Not authorized"; 0x86 "Bad user name or password" is
        # the other refusal the spec allows.
        assert code.value in (BAD_CREDENTIALS, NOT_AUTHORIZED), (username, str(code))


def test_gateway_cannot_read_streetwatch_topics(session) -> None:  # noqa: ANN001
    gw3 = session("gw3")
    suback = gw3.subscribe("streetwatch/#")
    ingest = session(INGEST_USER)
    ingest.subscribe("streetwatch/#")
    marker = unique("unreadable")

    assert not session("gw1").publish("streetwatch/gw1/lamp/L9", marker).is_failure
    ingest.wait_for_payload(marker)
    # Anything routed to gw3 before the broker saw this PUBLISH precedes its PUBACK on gw3's socket.
    assert not gw3.publish("streetwatch/gw3/status", b"online").is_failure
    assert gw3.payloads() == []
    # Mosquitto 2.0.11 grants the SUBSCRIBE (QoS 1) and filters every delivery by the read ACL;
    # other versions may refuse it with 0x87. Either way nothing is readable.
    assert suback.value in (0x01, NOT_AUTHORIZED)


def test_rules_user_publishes_alerts_and_no_gateway_can(session) -> None:  # noqa: ANN001
    crew = session(INGEST_USER)
    crew.subscribe("streetwatch/alerts/#")
    for gateway in ("gw1", "gw2", "gw8"):
        assert (
            session(gateway).publish("streetwatch/alerts/z1/red", b"fake").value == NOT_AUTHORIZED
        )
    alert = unique("alert")

    assert not session(RULES_USER).publish("streetwatch/alerts/z1/red", alert).is_failure
    crew.wait_for_payload(alert)
    assert b"fake" not in crew.payloads()


def test_service_accounts_cannot_publish_readings(session) -> None:  # noqa: ANN001
    assert session(INGEST_USER).publish("streetwatch/gw1/lamp/L1").value == NOT_AUTHORIZED
    assert session(RULES_USER).publish("streetwatch/gw1/lamp/L1").value == NOT_AUTHORIZED


def test_ingest_shared_subscription_receives(session) -> None:  # noqa: ANN001
    ingest = session(INGEST_USER)
    assert not ingest.subscribe("$share/ingest/streetwatch/+/+/+").is_failure
    marker = unique("shared")

    session("gw2").publish("streetwatch/gw2/drain/D1", marker)
    ingest.wait_for_payload(marker)


def test_gateway_added_while_running_can_publish_after_reload(mosquitto, session) -> None:  # noqa: ANN001
    new_id = f"late-{uuid.uuid4().hex[:6]}"
    mosquitto.server.ensure_users([new_id])  # writes the password file and waits for the reload
    ingest = session(INGEST_USER)
    ingest.subscribe("streetwatch/#")
    late = MqttSession(
        mosquitto.host, mosquitto.port, new_id, mosquitto.server.credentials.get(new_id)
    )
    try:
        assert not late.connect().is_failure
        marker = unique("late")
        assert not late.publish(f"streetwatch/{new_id}/rain/R1", marker).is_failure
        assert late.publish("streetwatch/gw1/rain/R1").value == NOT_AUTHORIZED
        ingest.wait_for_payload(marker)
    finally:
        late.close()


def test_service_instances_added_while_running_get_their_acl_after_reload(mosquitto, session) -> None:  # noqa: ANN001
    ingest = mosquitto.new_ingest_account("acl")  # password and ACL block written, reloaded
    rules = rules_account(f"acl-{uuid.uuid4().hex[:8]}")
    mosquitto.server.ensure_users([rules])
    reader, alerter = session(ingest), session(rules)
    assert not reader.subscribe("streetwatch/#").is_failure
    reading, alert = unique("instance-read"), unique("instance-alert")

    assert not session("gw4").publish("streetwatch/gw4/lamp/L1", reading).is_failure
    assert not alerter.publish("streetwatch/alerts/z1/red", alert).is_failure
    reader.wait_for_payload(reading)
    reader.wait_for_payload(alert)
    assert reader.publish("streetwatch/gw4/lamp/L1").value == NOT_AUTHORIZED
    assert reader.publish("streetwatch/alerts/z1/red").value == NOT_AUTHORIZED
    assert alerter.publish("streetwatch/gw4/lamp/L1").value == NOT_AUTHORIZED


def test_acl_file_has_a_block_per_service_account(mosquitto) -> None:  # noqa: ANN001
    account = mosquitto.new_ingest_account("acl-file")
    lines = mosquitto.server.paths.acl.read_text().splitlines()

    assert lines[lines.index(f"user {account}") + 1] == "topic read streetwatch/#"
    assert f"user {INGEST_USER}" in lines and f"user {RULES_USER}" in lines
    assert not any(line.startswith("user gw") for line in lines)


def test_reserved_or_malformed_gateway_ids_are_refused(mosquitto) -> None:  # noqa: ANN001
    for bad in ("alerts", "gw/1", "gw+", "#", "", "x" * 65, "gw 1", "ingest@x"):
        with pytest.raises(ConfigError):
            mosquitto.server.ensure_users([bad])


def test_python_hash_matches_mosquitto_passwd(tmp_path: Path) -> None:
    binary = require_binary("mosquitto_passwd", "mosquitto")
    passwd = tmp_path / "passwd"
    passwd.touch()
    subprocess.run([binary, "-b", str(passwd), "gw1", "s3cret/+:x"], check=True, timeout=TIMEOUT_S)
    line = passwd.read_text().strip()
    salt_b64 = line.split("$")[3]

    assert mosquitto_password_line("gw1", "s3cret/+:x", base64.b64decode(salt_b64)) == line


def test_broker_saves_persistence_on_stop(tmp_path: Path) -> None:
    broker = LocalMosquitto(tmp_path, free_port(), Settings(state_dir=tmp_path))
    broker.start()
    started = time.monotonic()
    assert broker.stop()
    assert time.monotonic() - started < 15
    assert (broker.paths.data_dir / "mosquitto.db").is_file()


def test_pattern_lines_apply_to_all_users_wherever_placed(tmp_path: Path) -> None:
    """mosquitto.conf(5): pattern ACLs apply to every user even after a `user` line; prove it."""
    broker = LocalMosquitto(tmp_path, free_port(), Settings(state_dir=tmp_path))
    password = broker.ensure_users(["gw1"])["gw1"]
    broker.start()
    try:
        broker.paths.acl.write_text(
            f"user {INGEST_USER}\ntopic read streetwatch/#\npattern write streetwatch/%u/#\n"
        )
        broker.reload()
        gw1 = MqttSession(broker.host, broker.port, "gw1", password)
        try:
            assert not gw1.connect().is_failure
            assert not gw1.publish("streetwatch/gw1/lamp/L1").is_failure
            assert gw1.publish("streetwatch/gw2/lamp/L1").value == NOT_AUTHORIZED
        finally:
            gw1.close()
    finally:
        broker.stop()
