"""Fuzz, counted (issue 13): hostile traffic through the real ingester, Mosquitto and influxd.

Every message comes from `simulators.hostile`, labelled from the wire contract. After the stream,
InfluxDB must hold exactly the labelled points per measurement and `ingest_reject` points per
reason, the dead-letter file the same rejects, the broker must have refused only the alert topics,
and the ingester must still run. STREETWATCH_FUZZ_MESSAGES sets the stream's length (default
20,000; a soak run sets 100,000).

The poison test replays what once stopped a whole town's intake: 20,000 lamp readings whose integer
`ts` has 313 digits (each made the ingester raise and hold its broker slot), then valid readings.
"""

from __future__ import annotations

import os
import threading
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from itertools import chain, islice

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from ingest.dead_letter import read_dead_letters
from simulators.hostile import (
    GATEWAY,
    KINDS,
    STATUS_KIND,
    HostileMessage,
    Tally,
    hostile_messages,
    poison,
    registry_rows,
    valid_lamps,
)
from streetwatch.registry.migrate import upgrade
from streetwatch.registry.store import make_engine, upsert_devices

from processes import last_stats, stored, wait_for

FUZZ_MESSAGES = int(os.environ.get("STREETWATCH_FUZZ_MESSAGES", "20000"))
POISON_MESSAGES = 20_000
SEED = 13
SLICE = 1_000  # messages in flight per slice; also paho's in-flight window
STALL_S = 30.0  # InfluxDB counts that do not move for this long: the ingester is stuck


def now_ms() -> int:
    return int(time.time() * 1000)


@dataclass
class Published:
    """What a run handed to the broker: the tally of its labels and what the broker refused."""

    tally: Tally = field(default_factory=Tally)
    refused: Counter[str] = field(default_factory=Counter)  # by case

    @property
    def accepted(self) -> int:
        return self.tally.messages - sum(self.refused.values())


class SlicePublisher:
    """One MQTT 5 connection as a gateway, publishing QoS 1 in slices: each slice is sent and
    acknowledged before the next, because a paho client holding a large backlog rescans it on
    every PUBACK (DESIGN s.8). MQTT 5 so that each PUBACK says whether the broker took the
    message (with 3.1.1 a refused publish is acknowledged like any other)."""

    def __init__(self, broker, gateway: str, slice_size: int = SLICE, ack_timeout_s: float = 60):
        self.slice_size = slice_size
        self.ack_timeout_s = ack_timeout_s
        self._acks: dict[int, mqtt.ReasonCode] = {}
        self._changed = threading.Condition()
        self._connected = threading.Event()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=gateway,
                                  protocol=mqtt.MQTTv5)
        self.client.username_pw_set(gateway, broker.password(gateway))
        self.client.max_inflight_messages_set(slice_size)
        self.client.on_connect = lambda client, userdata, flags, code, props: self._connected.set()
        self.client.on_publish = self._on_publish
        self.client.connect(broker.host, broker.port)

    def __enter__(self) -> SlicePublisher:
        self.client.loop_start()
        assert self._connected.wait(10), "no CONNACK from the broker"
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.client.disconnect()
        self.client.loop_stop()

    def _on_publish(self, client, userdata, mid, reason_code, properties) -> None:  # noqa: ANN001
        with self._changed:
            self._acks[mid] = reason_code
            self._changed.notify_all()

    def publish(self, messages: Iterable[HostileMessage], into: Published | None = None) -> Published:
        """Publish all, slice by slice; returns (or adds to `into`) the tally and the refusals."""
        published = into or Published()
        iterator = iter(messages)
        while chunk := list(islice(iterator, self.slice_size)):
            for message, code in zip(chunk, self._publish_slice(chunk), strict=True):
                published.tally.add(message)
                if code.is_failure:
                    published.refused[message.case] += 1
        return published

    def _publish_slice(self, chunk: list[HostileMessage]) -> list[mqtt.ReasonCode]:
        infos = [self.client.publish(m.topic, m.payload, qos=m.qos) for m in chunk]
        assert all(info.rc == mqtt.MQTT_ERR_SUCCESS for info in infos), [i.rc for i in infos]
        mids = [info.mid for info in infos]
        with self._changed:
            done = self._changed.wait_for(lambda: all(mid in self._acks for mid in mids),
                                          self.ack_timeout_s)
            assert done, f"the broker acked {sum(m in self._acks for m in mids)} of {len(mids)}"
            return [self._acks.pop(mid) for mid in mids]


def register_hostile_fleet(settings) -> None:
    """The generator's registry (devices of gw1, spoof targets of gw2/gw3), before the ingester."""
    upgrade(settings.sql_url())
    engine = make_engine(settings.sql_url())
    upsert_devices(engine, *registry_rows())
    engine.dispose()


def influx_counts(influx) -> dict[str, int]:
    """Points per measurement and `ingest_reject` points per reason (as `reject:<reason>`)."""
    counts = stored(influx)
    counts[STATUS_KIND] = influx.scalar(f'SELECT count("online") FROM "{STATUS_KIND}"') or 0
    for row in influx.rows('SELECT count(payload) FROM ingest_reject GROUP BY reason'):
        counts[f"reject:{row['reason']}"] = row["count"]
    return counts


def expected_counts(tally: Tally) -> dict[str, int]:
    counts = {kind: tally.stored[kind] for kind in (*KINDS, STATUS_KIND)}
    counts.update({f"reject:{reason}": n for reason, n in tally.rejected.items()})
    return counts


def wait_for_counts(e2e, expected: dict[str, int], timeout_s: float, stall_s: float = STALL_S
                    ) -> None:
    """Until InfluxDB holds exactly `expected`. Fails when the ingester exits, when the counts
    stop moving for `stall_s` (a stalled ingester fails fast; a slow one on a busy machine keeps
    moving) or after `timeout_s` in all."""
    last: dict[str, int] = {}
    moved_at = time.monotonic()

    def settled() -> bool:
        nonlocal moved_at
        assert e2e.ingester.alive, f"the ingester exited:\n{e2e.ingester.log_tail()}"
        counts = influx_counts(e2e.influx)
        if counts != last:
            last.clear()
            last.update(counts)
            moved_at = time.monotonic()
        assert time.monotonic() - moved_at < stall_s, f"no progress for {stall_s:.0f} s"
        return counts == expected

    try:
        wait_for(settled, timeout_s, "InfluxDB to hold the labelled counts", every_s=0.5)
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n  wanted {expected}\n  holds  {last}\n"
                             f"{ingester_story(e2e)}") from None


def ingester_story(e2e) -> str:
    """What to read when counts disagree: disconnects (a redelivered message is rejected, and
    counted, twice), the latest stats and the end of the log."""
    disconnects = e2e.ingester.events("ingest.disconnected")
    stats = e2e.ingester.events("ingest.stats")[-1:]
    return (f"  disconnects {len(disconnects)}, latest stats {stats}\n"
            f"{e2e.ingester.log_tail(15)}")


def dead_letter_reasons(e2e) -> Counter[str]:
    return Counter(record["reason"] for record in read_dead_letters(e2e.settings.state_dir / "dead-letter"))


def assert_every_message_received_and_acked(e2e, published: Published) -> None:
    """After a graceful stop, the ingester's own books: each message the broker took arrived
    once (no redelivery was needed) and was acked."""
    assert e2e.ingester.stop() == 0
    stats = last_stats(e2e.ingester)
    assert (stats["received"], stats["acked"], stats["redelivered"]) == (published.accepted,) * 2 + (0,)


@pytest.mark.timeout(max(300, FUZZ_MESSAGES // 50))
def test_hostile_stream_every_reading_stored_or_rejected_with_its_reason(e2e, mosquitto):
    register_hostile_fleet(e2e.settings)
    e2e.ingester.start()
    with SlicePublisher(mosquitto, GATEWAY) as publisher:
        published = publisher.publish(hostile_messages(SEED, FUZZ_MESSAGES, now_ms()))
    tally = published.tally
    assert tally.messages == FUZZ_MESSAGES
    assert published.refused == Counter({"alert:ignored": tally.ignored}), "only alerts refused"

    wait_for_counts(e2e, expected_counts(tally), timeout_s=max(200, FUZZ_MESSAGES / 100))
    assert dead_letter_reasons(e2e) == tally.rejected
    assert e2e.ingester.alive
    assert_every_message_received_and_acked(e2e, published)


def test_poison_flood_then_valid_readings_are_stored(e2e, mosquitto):
    e2e.ingester.start()
    now = now_ms()
    with SlicePublisher(mosquitto, GATEWAY) as publisher:
        published = publisher.publish(chain(poison(POISON_MESSAGES), valid_lamps(100, now)))
    assert not published.refused

    expected = {"lamp": 100, "drain": 0, "rain": 0, STATUS_KIND: 0,
                "reject:out_of_range": POISON_MESSAGES}
    wait_for_counts(e2e, expected, timeout_s=200)
    assert dead_letter_reasons(e2e) == Counter({"out_of_range": POISON_MESSAGES})
    assert e2e.ingester.alive
    assert_every_message_received_and_acked(e2e, published)
