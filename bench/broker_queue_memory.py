#!/usr/bin/env python
"""Memory Mosquitto spends per message it queues for a disconnected persistent session.

    .venv/bin/python bench/broker_queue_memory.py [--messages N] [--batch K]

The generated config lets the ingester's session hold `max_queued_messages` (2,000,000) messages
while it is away, in the broker's memory: this measures what one costs, for sizing the machine
(docs/deploy.md, "Sizing"). It starts a Mosquitto with that config on a free loopback port,
creates the ingester's session (QoS 1 on streetwatch/#) and disconnects it, publishes N lamp
readings QoS 1 as a gateway (one per message, or batches of K), reads the broker's VmRSS before
and after, and checks the session then holds all N.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import paho.mqtt.client as mqtt

from streetwatch.services.mosquitto import LocalMosquitto
from streetwatch.services.process import free_port
from streetwatch.settings import INGEST_USER, Settings

GATEWAY = "gw1"
READING = {"ts": 1_796_089_480_000, "on": True, "dim": 100, "power_w": 98.5, "voltage_v": 229.8}


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        return int(next(line for line in status if line.startswith("VmRSS")).split()[1])


def client(port: int, username: str, password: str, clean: bool) -> mqtt.Client:
    session = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=username,
                          clean_session=clean, protocol=mqtt.MQTTv311)
    session.username_pw_set(username, password)
    session.max_inflight_messages_set(1000)
    session.connect("127.0.0.1", port)
    session.loop_start()
    return session


def payload(batch: int) -> str:
    if batch == 1:
        return json.dumps(READING, separators=(",", ":"))
    items = [{"kind": "lamp", "id": f"L{i}", **READING} for i in range(batch)]
    return json.dumps(items, separators=(",", ":"))


def publish_all(gateway: mqtt.Client, topic: str, body: str, count: int) -> None:
    """QoS 1 in slices of 1,000, each waited for (a large paho backlog is very slow)."""
    for start in range(0, count, 1000):
        infos = [gateway.publish(topic, body, qos=1) for _ in range(min(1000, count - start))]
        for info in infos:
            info.wait_for_publish(60)


def drain(port: int, password: str, count: int) -> int:
    """Reconnect the ingester's session and count what it was holding (stops at `count`)."""
    received = 0

    def on_message(*_: object) -> None:
        nonlocal received
        received += 1

    session = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=INGEST_USER,
                          clean_session=False, protocol=mqtt.MQTTv311)
    session.username_pw_set(INGEST_USER, password)
    session.on_message = on_message
    session.connect("127.0.0.1", port)
    while received < count:
        if session.loop(timeout=5.0) != mqtt.MQTT_ERR_SUCCESS:
            break
    session.disconnect()
    return received


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=1, help="readings per message")
    args = parser.parse_args()
    state = Path(tempfile.mkdtemp(prefix="sw-broker-mem-"))
    broker = LocalMosquitto(state, free_port(), Settings(state_dir=state))
    passwords = broker.ensure_users([INGEST_USER, GATEWAY])
    broker.start()
    try:
        ingest = client(broker.port, INGEST_USER, passwords[INGEST_USER], clean=False)
        ingest.subscribe("streetwatch/#", qos=1)  # sent before the DISCONNECT, handled first
        ingest.disconnect()
        ingest.loop_stop()
        before = rss_kib(broker.pid() or 0)
        gateway = client(broker.port, GATEWAY, passwords[GATEWAY], clean=True)
        topic = f"streetwatch/{GATEWAY}/" + ("batch" if args.batch > 1 else "lamp/L1")
        body = payload(args.batch)
        publish_all(gateway, topic, body, args.messages)
        after = rss_kib(broker.pid() or 0)
        gateway.disconnect()
        gateway.loop_stop()
        held = drain(broker.port, passwords[INGEST_USER], args.messages)
    finally:
        broker.stop()
    per_message = (after - before) * 1024 / args.messages
    print(f"{args.messages} messages of {len(body)} B payload + {len(topic)} B topic queued: "
          f"Mosquitto RSS {before} -> {after} KiB, {per_message:.0f} B per message "
          f"({per_message - len(body):.0f} B beyond the payload); the session held {held}")
    if held != args.messages:
        sys.exit(f"the session held {held} of {args.messages}: the broker dropped messages")


if __name__ == "__main__":
    main()
