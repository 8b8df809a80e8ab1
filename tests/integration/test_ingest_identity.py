"""Who a client is on the broker: no gateway can take the ingester's or another gateway's client id,
and a gateway cannot get a reading in under another gateway's name.

Real Mosquitto (the generated config: `use_username_as_clientid true`) and a real ingester process.
A takeover closes the old holder's socket before the newcomer gets its CONNACK, so each test checks
for a disconnect only after a later round trip that could not have completed on the old socket.
Without `use_username_as_clientid` the first two tests fail: that is the bug they pin.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.reasoncodes import ReasonCode

from ingest.dead_letter import read_dead_letters
from streetwatch.influx import InfluxClient
from streetwatch.registry.store import make_engine, upsert_devices

from processes import last_stats, publish_as, wait_for

TIMEOUT_S = 30.0
Message = tuple[str, bytes]


class GatewayClient:
    """One MQTT 3.1.1 connection as a gateway account, recording every CONNACK and disconnect
    (paho's loop thread reconnects on its own, so a takeover shows as a second CONNACK too)."""

    def __init__(self, mosquitto, username: str, client_id: str) -> None:  # noqa: ANN001
        self.username = username
        self.connects: list[ReasonCode] = []
        self.disconnects: list[ReasonCode] = []
        self._lock = threading.Lock()
        self.client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv311
        )
        self.client.username_pw_set(username, mosquitto.password(username))
        self.client.on_connect = lambda c, u, flags, code, p: self._record(self.connects, code)
        self.client.on_disconnect = lambda c, u, flags, code, p: self._record(self.disconnects, code)
        self.client.connect(mosquitto.host, mosquitto.port)
        self.client.loop_start()
        wait_for(lambda: self.connects, TIMEOUT_S, f"{username}'s CONNACK")
        assert not self.connects[0].is_failure, f"{username} refused: {self.connects[0]}"

    def _record(self, into: list[ReasonCode], code: ReasonCode) -> None:
        with self._lock:
            into.append(code)

    def publish(self, messages: list[Message]) -> None:
        """Publish QoS 1 and return once every PUBACK is in (a refused 3.1.1 publish gets one too)."""
        infos = [self.client.publish(topic, payload, qos=1) for topic, payload in messages]
        for info in infos:
            try:
                info.wait_for_publish(timeout=TIMEOUT_S)
            except RuntimeError as exc:  # paho: "the client is not currently connected"
                raise AssertionError(f"{self.username} lost its connection ({exc}); "
                                     f"disconnects: {self.disconnects}") from None
            assert info.is_published(), f"no PUBACK for a message of {self.username}"

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
def gateway(mosquitto) -> Iterator[Callable[[str, str], GatewayClient]]:  # noqa: ANN001
    """`gateway(username, client_id)`: a connected GatewayClient, closed after the test."""
    opened: list[GatewayClient] = []

    def connect(username: str, client_id: str) -> GatewayClient:
        opened.append(GatewayClient(mosquitto, username, client_id))
        return opened[-1]

    yield connect
    for client in opened:
        client.close()


def lamp_readings(gateway: str, prefix: str, count: int) -> list[Message]:
    """`count` lamp readings of distinct lamps `<prefix>0..`, one series each."""
    payload = json.dumps({"ts": int(time.time() * 1000), "on": True}).encode()
    return [(f"streetwatch/{gateway}/lamp/{prefix}{n}", payload) for n in range(count)]


def lamp_counts(influx: InfluxClient) -> dict[str, int]:
    """Stored readings per lamp id."""
    return {row["lamp"]: row["count"] for row in influx.rows('SELECT count("on") FROM lamp GROUP BY lamp')}


def test_a_gateway_using_the_ingesters_client_id_does_not_disconnect_it(e2e, mosquitto, gateway) -> None:  # noqa: ANN001
    e2e.ingester.start()
    sent = lamp_readings("gw2", "before-", 100)
    publish_as(mosquitto, "gw2", sent)
    # gw1 tries the ingester's configured client id, then its account name (the broker's id for
    # it); a CONNACK means the broker has handled the CONNECT, takeover included.
    for n, client_id in enumerate((e2e.settings.ingest_client_id, e2e.username)):
        hijacker = gateway("gw1", client_id)
        readings = lamp_readings("gw1", f"hijack{n}-", 50)
        hijacker.publish(readings)
        hijacker.close()
        sent += readings
    after = lamp_readings("gw2", "after-", 100)
    publish_as(mosquitto, "gw2", after)
    sent += after

    # A knocked-off ingester can only store `after` over a new connection: by then it has logged
    # ingest.disconnected, so whichever comes first decides.
    wait_for(lambda: len(lamp_counts(e2e.influx)) == len(sent)
             or e2e.ingester.events("ingest.disconnected"), 60, f"{len(sent)} lamps stored")
    assert e2e.ingester.events("ingest.disconnected") == []
    assert len(e2e.ingester.events("ingest.connected")) == 1
    assert e2e.ingester.stop() == 0
    assert lamp_counts(e2e.influx) == {topic.rsplit("/", 1)[1]: 1 for topic, _ in sent}


def test_a_gateway_cannot_take_another_gateways_client_id(gateway) -> None:  # noqa: ANN001
    gw1 = gateway("gw1", "gw1")
    gw2 = gateway("gw2", "gw1")  # after this CONNACK a takeover would have closed gw1's socket
    # A PUBACK on gw1 proves its connection is alive (a closed one would reconnect first).
    gw1.publish([("streetwatch/gw1/lamp/L-probe", b"{}")])
    gw2.publish([("streetwatch/gw2/lamp/L-probe", b"{}")])

    assert gw1.disconnects == [] and len(gw1.connects) == 1
    assert gw2.disconnects == [] and len(gw2.connects) == 1


def register_lamp(settings, lamp_id: str, gateway_id: str) -> None:  # noqa: ANN001
    engine = make_engine(settings.sql_url())
    row = {"id": lamp_id, "gateway": gateway_id, "zone": "Z02", "road": None,
           "position_on_road": None, "cabinet": None, "lat": None, "lon": None}
    upsert_devices(engine, [row], [], [])
    engine.dispose()


def test_a_3_1_1_gateway_publishing_outside_its_namespace_is_acked_and_dropped(e2e, gateway) -> None:  # noqa: ANN001
    """MQTT 3.1.1 has no reason code in PUBACK: the broker acknowledges a publish its ACL refuses
    and drops it (documented silent drop). The lamp belongs to gw2, so had the message reached the
    ingester it would have been stored as a valid gw2 reading."""
    register_lamp(e2e.settings, "L-gw2-owned", "gw2")
    e2e.ingester.start()
    payload = json.dumps({"ts": int(time.time() * 1000), "on": True}).encode()
    spoof = ("streetwatch/gw2/lamp/L-gw2-owned", payload)
    marker = ("streetwatch/gw1/lamp/L-marker", payload)

    gateway("gw1", "gw1").publish([spoof, marker])  # both acknowledged, in this order
    wait_for(lambda: lamp_counts(e2e.influx).get("L-marker"), 60, "the marker stored")
    assert e2e.ingester.stop() == 0

    assert lamp_counts(e2e.influx) == {"L-marker": 1}
    dead = read_dead_letters(e2e.settings.state_dir / "dead-letter")
    assert [d for d in dead if d["topic"] == spoof[0]] == []
    stats = last_stats(e2e.ingester)
    # Retained status (or junk) from earlier tests may arrive too; readings taken in: the marker.
    readings_in = stats["received"] - stats["status_messages"] - sum(stats["rejects"].values())
    assert readings_in == 1, stats
