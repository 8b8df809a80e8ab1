"""The simulator against a real Mosquitto started here (free loopback port, passwords, ACL)."""

from __future__ import annotations

import json
import os
import pwd
import selectors
import socket
import subprocess
import threading
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest

from simulators.cli import SimulationConfig, run_simulation
from simulators.fleet import build_fleet
from simulators.publisher import GatewayConnectError, PublishOptions, publish_simulation
from simulators.readings import LampSchedule, ReadingModel, plan_lamp_failures, schedule_reports
from streetwatch.settings import load_settings

MOSQUITTO = "/usr/sbin/mosquitto"
PASSWORDS = {"gw1": "pw-gw1", "gw2": "pw-gw2", "watcher": "pw-watcher"}
READING_KEYS = {
    "lamp": {"ts", "on", "dim", "power_w", "voltage_v", "fault"},
    "drain": {"ts", "level_cm", "battery_v", "rssi_dbm", "cover_open"},
    "rain": {"ts", "rain_mm"},
}
ROUNDS, INTERVAL_MS = 3, 60_000


@dataclass(frozen=True)
class Broker:
    host: str
    port: int


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write_broker_files(root: Path, port: int) -> Path:
    passwd = root / "passwd"
    passwd.touch()
    for user, password in PASSWORDS.items():
        subprocess.run(["mosquitto_passwd", "-b", str(passwd), user, password], check=True)
    acl = root / "acl"
    acl.write_text("user watcher\ntopic read streetwatch/#\n\npattern write streetwatch/%u/#\n")
    conf = root / "mosquitto.conf"
    conf.write_text("\n".join([
        f"listener {port} 127.0.0.1",
        "allow_anonymous false",
        f"password_file {passwd}",
        f"acl_file {acl}",
        "max_inflight_messages 1000",
        "max_queued_messages 100000",
        # As the generated config: one connection per account, so a simulator that opened two
        # connections for one gateway would knock itself off here too.
        "use_username_as_clientid true",
        "log_dest stderr",
        "log_type error",
        "log_type warning",
        "log_type notice",
        "log_type information",  # carries the "... running" line the fixture waits for
        "connection_messages false",
        f"user {pwd.getpwuid(os.geteuid()).pw_name}",
    ]) + "\n")
    return conf


def wait_for_log_line(process: subprocess.Popen, marker: bytes, timeout_s: float) -> None:
    """Block on the broker's stderr until `marker` appears (no polling sleeps)."""
    deadline = time.monotonic() + timeout_s
    seen = b""
    with selectors.DefaultSelector() as selector:
        selector.register(process.stderr, selectors.EVENT_READ)
        while marker not in seen:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or process.poll() is not None:
                raise RuntimeError(f"mosquitto did not start:\n{seen.decode(errors='replace')}")
            if selector.select(remaining):
                seen += os.read(process.stderr.fileno(), 65536)


@pytest.fixture(scope="module")
def sim_broker(tmp_path_factory):
    """A private Mosquitto 2.0 with passwords and the gateway ACL, on a free loopback port."""
    root = tmp_path_factory.mktemp("sim-broker")
    port = free_port()
    conf = write_broker_files(root, port)
    process = subprocess.Popen([MOSQUITTO, "-c", str(conf)], stderr=subprocess.PIPE)
    try:
        wait_for_log_line(process, b" running", timeout_s=10)
        drainer = threading.Thread(target=lambda: process.stderr.read(), daemon=True)
        drainer.start()  # keep the pipe empty so the broker never blocks on logging
        yield Broker("127.0.0.1", port)
    finally:
        process.terminate()
        process.wait(10)


class Watcher:
    """A subscriber to streetwatch/# that records live (non-retained) messages."""

    def __init__(self, broker: Broker) -> None:
        self.messages: list[mqtt.MQTTMessage] = []
        self._changed = threading.Condition()
        self._subscribed = threading.Event()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2,
                                  client_id=f"watcher-{time.time_ns()}", protocol=mqtt.MQTTv311)
        self.client.username_pw_set("watcher", PASSWORDS["watcher"])
        self.client.on_connect = lambda c, u, f, rc, p: c.subscribe("streetwatch/#", qos=1)
        self.client.on_subscribe = lambda c, u, mid, rcs, p: self._subscribed.set()
        self.client.on_message = self._on_message
        self.client.connect(broker.host, broker.port)
        self.client.loop_start()
        assert self._subscribed.wait(10), "watcher could not subscribe"

    def _on_message(self, client, userdata, message) -> None:
        if message.retain:
            return  # retained status from earlier tests
        with self._changed:
            self.messages.append(message)
            self._changed.notify_all()

    def wait_for_count(self, count: int, timeout_s: float = 10) -> None:
        with self._changed:
            assert self._changed.wait_for(lambda: len(self.messages) >= count, timeout_s), (
                f"got {len(self.messages)} of {count} messages"
            )

    def settle(self, timeout_s: float = 30) -> list[mqtt.MQTTMessage]:
        """Every message the broker routed before now: publish a sentinel and wait for it.

        Mosquitto queues a message to subscribers before it acknowledges it, in order, so once
        the sentinel arrives everything the simulator had acknowledged has arrived too.
        """
        sentinel = f"streetwatch/watcher/sentinel-{time.time_ns()}"
        self.client.publish(sentinel, b"", qos=1)
        with self._changed:
            arrived = self._changed.wait_for(
                lambda: any(m.topic == sentinel for m in self.messages), timeout_s)
            assert arrived, f"sentinel not back; got {len(self.messages)} messages"
            return [m for m in self.messages if "/watcher/" not in m.topic]

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
def watcher(sim_broker):
    w = Watcher(sim_broker)
    yield w
    w.close()


def run(broker: Broker, fleet, passwords=PASSWORDS, **options):
    start_ms = int(time.time() * 1000) - 86_400_000
    failures = plan_lamp_failures(fleet.lamps, fleet.seed, 0.1, start_ms, 3600_000)
    model = ReadingModel(fleet.seed, INTERVAL_MS, LampSchedule(), failures)
    reports = schedule_reports(fleet, start_ms, INTERVAL_MS, ROUNDS)
    return publish_simulation(fleet, model, reports, host=broker.host, port=broker.port,
                              passwords=passwords, options=PublishOptions(**options))


def split(messages):
    """Status messages and reading/batch messages (topic, decoded JSON)."""
    status = [(m.topic, m.payload.decode()) for m in messages if m.topic.endswith("/status")]
    data = [(m.topic, json.loads(m.payload)) for m in messages if not m.topic.endswith("/status")]
    return status, data


def test_three_rounds_arrive_exactly_once_on_the_right_topics(sim_broker, watcher):
    fleet = build_fleet(21, gateways=2, lamps=50, drains=5)
    summary = run(sim_broker, fleet)
    expected = ROUNDS * len(fleet.devices)  # 3 * (50 + 5 + 2)
    assert summary.messages == expected
    assert summary.readings == {"lamp": 150, "drain": 15, "rain": 6}
    status, data = split(watcher.settle())
    assert len(data) == expected
    assert sorted(status) == sorted((f"streetwatch/{gw}/status", state)
                                    for gw in fleet.gateways for state in ("online", "offline"))
    by_id = {d.id: d for d in fleet.devices}
    seen = set()
    for topic, payload in data:
        _, gateway, kind, device_id = topic.split("/")
        device = by_id[device_id]
        assert (gateway, kind) == (device.gateway, device.kind)
        assert set(payload) == READING_KEYS[kind]
        seen.add((device_id, payload["ts"]))
    assert len(seen) == expected
    assert {ts for _, ts in seen} >= {summary.first_ts, summary.last_ts}
    assert all(m.qos == 1 for m in watcher.messages)


def test_batch_mode_sends_gateway_batches_of_at_most_batch_size(sim_broker, watcher):
    fleet = build_fleet(22, gateways=2, lamps=50, drains=5)
    summary = run(sim_broker, fleet, batch_size=10)
    per_gateway = Counter(d.gateway for d in fleet.devices)  # gw1: 25+3+1, gw2: 25+2+1
    expected_batches = sum(-(-ROUNDS * n // 10) for n in per_gateway.values())
    assert summary.messages == expected_batches == 18
    status, data = split(watcher.settle())
    assert len(data) == expected_batches
    items_per_gateway: Counter[str] = Counter()
    seen = set()
    by_id = {d.id: d for d in fleet.devices}
    for topic, items in data:
        _, gateway, leaf = topic.split("/")
        assert leaf == "batch" and isinstance(items, list) and 1 <= len(items) <= 10
        for item in items:
            device = by_id[item["id"]]
            assert (device.gateway, device.kind) == (gateway, item["kind"])
            assert set(item) == READING_KEYS[item["kind"]] | {"kind", "id"}
            seen.add((item["id"], item["ts"]))
        items_per_gateway[gateway] += len(items)
    assert items_per_gateway == {gw: ROUNDS * n for gw, n in per_gateway.items()}
    assert len(seen) == ROUNDS * len(fleet.devices)
    assert sum(summary.readings.values()) == len(seen)


def test_wrong_password_is_a_clear_error_quickly(sim_broker):
    fleet = build_fleet(23, gateways=2, lamps=4, drains=0)
    started = time.monotonic()
    with pytest.raises(GatewayConnectError, match=r"gw2.*refused.*password"):
        run(sim_broker, fleet, passwords={"gw1": "pw-gw1", "gw2": "wrong"})
    assert time.monotonic() - started < 5


def test_unreachable_broker_is_a_clear_error_quickly():
    fleet = build_fleet(24, gateways=1, lamps=1, drains=0)
    started = time.monotonic()
    with pytest.raises(GatewayConnectError, match="cannot reach"):
        run(Broker("127.0.0.1", free_port()), fleet)
    assert time.monotonic() - started < 5


def test_missing_password_is_named(sim_broker):
    with pytest.raises(GatewayConnectError, match="gw2"):
        run(sim_broker, build_fleet(25, 2, 2, 0), passwords={"gw1": "pw-gw1"})


def test_rate_cap_is_respected(sim_broker):
    fleet = build_fleet(26, gateways=2, lamps=100, drains=0, gauges=0)
    summary = run(sim_broker, fleet, rate=500)  # 300 messages -> ~0.6 s
    assert summary.messages == 300
    assert 0.45 <= summary.elapsed_s <= 2.0
    assert summary.rate <= 650


def test_the_command_core_registers_and_publishes(sim_broker, watcher, tmp_path):
    settings = load_settings(mqtt_url=f"mqtt://{sim_broker.host}:{sim_broker.port}",
                             state_dir=tmp_path)
    registered = []
    config = SimulationConfig(gateways=2, lamps=30, drains=4, rounds=2, seed=27, register=True)
    summary = run_simulation(config, settings, lambda s, ids: {gw: PASSWORDS[gw] for gw in ids},
                             register=lambda s, fleet: registered.append(fleet))
    assert registered == [build_fleet(27, 2, 30, 4)]
    assert summary.readings == {"lamp": 60, "drain": 8, "rain": 4}
    _, data = split(watcher.settle())
    assert len(data) == summary.messages == 72


def test_stop_ends_a_real_time_run_with_everything_acknowledged(sim_broker, watcher, tmp_path):
    """What SIGINT/SIGTERM do in the command: stop publishing, await acks, report."""
    settings = load_settings(mqtt_url=f"mqtt://{sim_broker.host}:{sim_broker.port}",
                             state_dir=tmp_path)
    config = SimulationConfig(gateways=2, lamps=10, drains=2, seed=28, interval_s=0.5,
                              backfill_s=5)  # unbounded: catch up 5 s, then real time
    stop = threading.Event()
    result = {}
    runner = threading.Thread(target=lambda: result.update(summary=run_simulation(
        config, settings, lambda s, ids: {gw: PASSWORDS[gw] for gw in ids}, stop=stop)))
    runner.start()
    history = 10 * 14  # 5 s of history = 10 rounds of 14 devices, then ~28 messages/s
    watcher.wait_for_count(history + 30)
    stopped_at = time.monotonic()
    stop.set()
    runner.join(5)
    assert not runner.is_alive() and time.monotonic() - stopped_at < 1.0
    summary = result["summary"]
    _, data = split(watcher.settle())
    assert len(data) == summary.messages == sum(summary.readings.values())
    assert summary.last_ts <= time.time() * 1000
