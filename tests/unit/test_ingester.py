"""The Ingester's paho edge with a fake paho client and a FakeInflux: every path that used to stall
or silently stop intake (a raising message, a dead writer, a full queue, an unreadable registry).

The fake client stands in for paho only in these unit tests; the same behaviour through a real
Mosquitto and a real ingester process is in tests/integration (fuzz, kill -9, identity).
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from types import SimpleNamespace

import httpx
import pytest

import ingest.runner as runner
from ingest.dead_letter import DeadLetterFile, read_dead_letters
from ingest.registry_cache import DeviceDirectory
from ingest.runner import IngestConfig, Ingester, IngestFatal, check_ingest_settings
from streetwatch.errors import ConfigError
from streetwatch.registry.store import DeviceInfo
from streetwatch.settings import MqttEndpoint, Settings
from streetwatch.validation import Limits

from fake_influx import FakeInflux

NOW_MS = 1_795_000_000_000


@dataclass
class FakeMessage:
    topic: str
    payload: bytes
    mid: int
    qos: int = 1
    retain: bool = False
    dup: bool = False


class FakeClient:
    """Records what the Ingester asks of paho; `loop_start` 'connects' at once."""

    def __init__(self) -> None:
        self.acks: list[int] = []
        self.subscribed: list[str] = []
        self.disconnected = False
        self._thread = None

    def ack(self, mid: int, qos: int) -> None:
        self.acks.append(mid)

    def connect_async(self, host: str, port: int, keepalive: int) -> None:
        return None

    def loop_start(self) -> None:
        flags = SimpleNamespace(session_present=False)
        self.on_connect(self, None, flags, SimpleNamespace(is_failure=False), None)

    def subscribe(self, topic: str, qos: int) -> None:
        self.subscribed.append(topic)

    def unsubscribe(self, topic: str) -> None:
        self.on_unsubscribe(self, None, 1, [], None)

    def disconnect(self) -> None:
        self.disconnected = True

    def loop_stop(self) -> None:
        return None


def make_ingester(tmp_path, fake: FakeInflux | None = None, devices=None, **config) -> Ingester:
    values = dict(endpoint=MqttEndpoint("127.0.0.1", 1, None, None), client_id="t",
                  subscription="streetwatch/#", batch_size=100, flush_interval_s=0.01,
                  keepalive_s=30, limits=Limits())
    values.update(config)
    directory = DeviceDirectory(lambda: devices or {})
    directory.refresh()
    influx = (fake or FakeInflux()).client()
    return Ingester(IngestConfig(**values), influx, directory, DeadLetterFile(tmp_path / "dead"),
                    now_ms=lambda: NOW_MS, make_client=FakeClient)


def lamp(device: str, ts: int = NOW_MS, **fields) -> bytes:
    return json.dumps({"ts": ts, "on": True, **fields}).encode()


def deliver(ing: Ingester, *messages: FakeMessage) -> None:
    for message in messages:
        ing._on_message(ing.client, None, message)


def wait_until(condition, timeout_s: float = 20) -> bool:
    pause = threading.Event()
    for _ in range(int(timeout_s * 100)):
        if condition():
            return True
        pause.wait(0.01)
    return False


def run_with(ing: Ingester, messages: list[FakeMessage], acks: int, timeout_s: float = 20) -> None:
    """Run the ingester on a thread, deliver `messages` once it has subscribed, stop it once the
    fake client saw `acks` acks (or it failed), and re-raise what `run` raised."""
    stop = threading.Event()
    errors: list[BaseException] = []

    def body() -> None:
        try:
            ing.run(stop)
        except BaseException as exc:  # noqa: BLE001 -- handed to the test
            errors.append(exc)

    thread = threading.Thread(target=body, daemon=True)
    thread.start()
    assert wait_until(lambda: ing.client.subscribed, timeout_s)
    deliver(ing, *messages)
    wait_until(lambda: len(ing.client.acks) >= acks or ing.failure is not None, timeout_s)
    stop.set()
    thread.join(timeout_s)
    if errors:
        raise errors[0]


def test_a_message_whose_processing_raises_is_dead_lettered_and_acked(tmp_path, monkeypatch):
    def explode(*args, **kwargs):
        raise OverflowError("int too large to convert to float")

    monkeypatch.setattr(runner, "process_message", explode)
    ing = make_ingester(tmp_path)
    run_with(ing, [FakeMessage("streetwatch/gw1/lamp/L1", lamp("L1"), mid=7)], acks=1)
    assert ing.client.acks == [7]
    dead = read_dead_letters(tmp_path / "dead")
    assert [d["reason"] for d in dead] == ["internal_error"]
    assert "OverflowError" in dead[0]["detail"] and dead[0]["gateway"] == "gw1"
    assert ing.writer.stats.rejects == {"internal_error": 1}


def test_a_313_digit_ts_is_rejected_and_acked_not_left_in_flight(tmp_path):
    fake = FakeInflux()
    ing = make_ingester(tmp_path, fake)
    poison = b'{"ts": ' + b"9" * 313 + b', "on": true}'
    item = b'{"kind": "lamp", "id": "L2", "ts": -' + b"9" * 313 + b', "on": true}'
    good = json.dumps({"kind": "lamp", "id": "L3", "ts": NOW_MS, "on": True}).encode()
    run_with(ing, [FakeMessage("streetwatch/gw1/lamp/L1", poison, mid=1),
                   FakeMessage("streetwatch/gw1/batch", b"[" + item + b"," + good + b"]", mid=2)],
             acks=2)
    assert ing.client.acks == [1, 2]
    assert ing.writer.stats.rejects == {"out_of_range": 2}
    assert any(line.startswith("lamp,gateway=gw1,lamp=L3,") for line in fake.stored)


def test_two_status_messages_in_one_millisecond_are_two_points(tmp_path):
    fake = FakeInflux()
    ing = make_ingester(tmp_path, fake)
    run_with(ing, [FakeMessage("streetwatch/gw1/status", b"offline", mid=1),
                   FakeMessage("streetwatch/gw1/status", b"online", mid=2)], acks=2)
    status = [line for line in fake.stored if line.startswith("gateway_status")]
    assert status == [f"gateway_status,gateway=gw1 online=false {NOW_MS}",
                      f"gateway_status,gateway=gw1 online=true {NOW_MS + 1}"]
    assert ing.status_messages == 2


def test_an_error_outside_processing_in_paho_thread_is_fatal(tmp_path, monkeypatch):
    ing = make_ingester(tmp_path)

    def broken_add(*args, **kwargs):
        raise MemoryError("queue")

    monkeypatch.setattr(ing.queue, "add", broken_add)
    with pytest.raises(IngestFatal) as caught:
        run_with(ing, [FakeMessage("streetwatch/gw1/lamp/L1", lamp("L1"), mid=1)], acks=1)
    assert caught.value.exit_code == runner.EXIT_SOFTWARE and ing.client.acks == []


def test_a_writer_refused_by_influxdb_ends_the_process_with_the_config_exit_code(tmp_path, caplog):
    fake = FakeInflux(script=[(401, {}, "authorization failed")])
    ing = make_ingester(tmp_path, fake)
    messages = [FakeMessage("streetwatch/gw1/lamp/L1", lamp("L1", NOW_MS + i), mid=i)
                for i in range(5)]
    with caplog.at_level("INFO", logger="streetwatch.ingest"), pytest.raises(IngestFatal) as caught:
        run_with(ing, messages, acks=5)
    assert caught.value.exit_code == runner.EXIT_CONFIG
    assert ing.client.acks == [] and not (tmp_path / "dead").exists()
    fatal = [r for r in caplog.records if r.getMessage() == "ingest.fatal"]
    assert len(fatal) == 1 and fatal[0].error_type == "InfluxAuthError"


def test_qos0_at_the_byte_bound_is_refused_as_overload_and_kept(tmp_path):
    ing = make_ingester(tmp_path, max_queue_bytes=1_000)
    big = FakeMessage("streetwatch/gw1/lamp/L1", lamp("L1", dim=1), mid=0, qos=0)
    ing.queue.add(runner.process_message(big.topic, b"x" * 5_000, NOW_MS, {}), None, NOW_MS)
    deliver(ing, big)
    assert ing.overload_qos0 == 1 and ing.stats_fields()["rejects"] == {"overload_qos0": 1}
    assert [d["reason"] for d in read_dead_letters(tmp_path / "dead")] == ["overload_qos0"]


def test_qos1_at_the_byte_bound_waits_until_the_writer_frees_room(tmp_path):
    ing = make_ingester(tmp_path, max_queue_bytes=1_000)
    first = runner.process_message("streetwatch/gw1/lamp/L1", b"x" * 5_000, NOW_MS, {})
    ing.queue.add(first, runner.AckToken(1, 1), NOW_MS)  # alone over the bound: still taken
    blocked = threading.Thread(target=deliver, daemon=True, args=(
        ing, FakeMessage("streetwatch/gw1/lamp/L2", lamp("L2"), mid=2)))
    blocked.start()
    assert wait_until(lambda: ing.queue.snapshot().waiting_for_room, 10)
    assert blocked.is_alive(), "a QoS 1 message over the bound must wait (the broker keeps the rest)"
    batch = ing.queue.take()
    ing.queue.release(batch)
    blocked.join(10)
    assert not blocked.is_alive() and ing.queue.snapshot().messages == 1


def test_consumption_waits_for_the_first_registry_load(tmp_path):
    attempts: list[int] = []
    known = {("lamp", "L1"): DeviceInfo("lamp", "L1", "gw2", "Z2", None)}

    def load():
        attempts.append(1)
        if len(attempts) < 3:
            raise RuntimeError("no such table: lamps")
        return known

    directory = DeviceDirectory(load)
    stop = threading.Event()
    slept: list[float] = []
    stop.wait = lambda s: slept.append(s) or False  # type: ignore[method-assign]
    assert directory.wait_loaded(stop) and directory.loaded
    assert len(attempts) == 3 and slept == [0.5, 1.0]
    assert directory.index == known  # spoof check is on: L1 belongs to gw2


def test_a_failed_refresh_after_loading_keeps_the_last_index(tmp_path):
    calls = iter([{("lamp", "L1"): DeviceInfo("lamp", "L1", "gw1", "Z1", None)}])

    def load():
        return next(calls)  # StopIteration the second time: a failing registry

    directory = DeviceDirectory(load)
    assert directory.refresh() and not directory.refresh()
    assert ("lamp", "L1") in directory.index


def test_health_fails_when_the_oldest_unacked_message_is_too_old(tmp_path):
    clock = [100.0]
    ing = make_ingester(tmp_path, stuck_after_s=60)
    ing.queue._clock = lambda: clock[0]
    ing.queue.add(runner.process_message("streetwatch/gw1/status", b"online", NOW_MS, {}),
                  runner.AckToken(1, 1), NOW_MS)
    assert ing.health()[0]
    clock[0] += 61
    healthy, detail = ing.health()
    assert not healthy and detail["oldest_unacked_age_s"] == 61


def test_metrics_exposition_names_every_counter_and_gauge(tmp_path):
    ing = make_ingester(tmp_path)
    text = ing.metrics.exposition().decode()
    for name in ("messages_received_total", "messages_redelivered_total", "messages_acked_total",
                 "points_written_total", "rejects_total", "write_seconds_bucket",
                 "batch_messages_bucket", "queue_messages", "queue_bytes",
                 "oldest_unacked_age_seconds", "last_write_timestamp_seconds", "connected"):
        assert f"streetwatch_ingest_{name}" in text, name


def test_metrics_and_health_over_http(tmp_path):
    from ingest.metrics import MetricsServer

    ing = make_ingester(tmp_path)
    server = MetricsServer(ing, "127.0.0.1", 0).start()
    try:
        base = f"http://127.0.0.1:{server.port}"
        assert httpx.get(f"{base}/healthz").json()["status"] == "ok"
        assert "streetwatch_ingest_rejects_total" in httpx.get(f"{base}/metrics").text
        ing.failure = RuntimeError("writer died")
        assert httpx.get(f"{base}/healthz").status_code == 503
    finally:
        server.stop()


@pytest.mark.parametrize(("overrides", "message"), [
    ({"ingest_batch_size": 10_000}, "in-flight window"),
    ({"ingest_batch_size": 0}, "in-flight window"),
    ({"ingest_share_group": "g"}, "own STREETWATCH_INGEST_CLIENT_ID"),
    ({"ingest_max_queue_bytes": 1024}, "at least"),
])
def test_contradicting_settings_are_refused_at_start(overrides, message):
    with pytest.raises(ConfigError, match=message):
        check_ingest_settings(Settings(**overrides))


def test_consistent_settings_pass():
    check_ingest_settings(Settings(ingest_share_group="g", ingest_client_id="ingest-a"))
