"""The simulator's MQTT edge: one paho client per gateway, QoS 1, optional batching and a rate cap.

Payloads are built as plain dicts and encoded with `json` (no pydantic in the hot loop). The run
ends only when the broker has acknowledged every publish, so a summary counts delivered messages.
"""

from __future__ import annotations

import contextlib
import json
import select
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field

import paho.mqtt.client as mqtt

from simulators.fleet import Fleet
from simulators.readings import ReadingModel, Report, reading_for, release_due
from streetwatch.errors import StreetwatchError
from streetwatch.topics import batch_topic, reading_topic, status_topic

Clock = Callable[[], float]
Wait = Callable[[float], bool]  # wait up to n seconds; True means "stop"
STOP_CHECK_S = 0.2  # longest a wait goes without looking at the stop event
CLOSE_TIMEOUT_S = 5.0
MAX_BATCH_ITEMS = 5_000  # ~0.9 MiB of the largest items: under the contract's 1 MiB per batch


class SimulatorError(StreetwatchError):
    """Base of the simulator's publishing errors."""


class GatewayConnectError(SimulatorError):
    """A gateway could not connect: broker unreachable, or it refused the credentials."""


class PublishAckTimeout(SimulatorError):
    """The broker did not acknowledge every QoS 1 publish before the deadline."""


@dataclass(frozen=True)
class PublishOptions:
    """How to publish: batching, rate cap (messages/s over all gateways, 0 = unlimited), limits."""

    batch_size: int = 1
    rate: float = 0.0
    connect_timeout_s: float = 10.0
    ack_timeout_s: float = 60.0
    keepalive_s: int = 30
    inflight: int = 1000  # paho's client-side window of unacknowledged QoS 1 publishes
    max_unacked: int = 20_000  # back-pressure: a gateway waits when this many are unacknowledged
    tls: bool = False


@dataclass
class PublishSummary:
    """What a run delivered: messages (batches count once), readings by kind, and the pace."""

    messages: int = 0
    readings: dict[str, int] = field(default_factory=lambda: {"lamp": 0, "drain": 0, "rain": 0})
    gateways: int = 0
    first_ts: int | None = None
    last_ts: int | None = None
    elapsed_s: float = 0.0
    rate: float = 0.0

    def count_reading(self, kind: str, ts_ms: int) -> None:
        self.readings[kind] += 1
        if self.first_ts is None:
            self.first_ts = ts_ms
        self.last_ts = ts_ms

    def to_dict(self) -> dict:
        return asdict(self)


class TokenBucket:
    """Allow `rate` takes per second on average (bursts up to ~50 ms worth); 0 = unlimited.

    When empty it waits for the time ~2 ms worth of tokens take to refill (at least one token):
    no spinning, and at most ~500 wake-ups a second however high the rate.
    """

    def __init__(self, rate: float, clock: Clock, wait: Wait) -> None:
        self.rate, self._clock, self._wait = rate, clock, wait
        self.capacity = max(1.0, rate * 0.05)
        self._refill = min(self.capacity, max(1.0, rate * 0.002))
        self._tokens, self._stamp = 1.0, clock()

    def take(self) -> bool:
        """Take one token, waiting if none is left; False when the wait was told to stop."""
        if self.rate <= 0:
            return True
        while True:
            now = self._clock()
            self._tokens = min(self.capacity, self._tokens + (now - self._stamp) * self.rate)
            self._stamp = now
            if self._tokens >= 1.0 - 1e-9:  # tolerate float rounding of the refill
                self._tokens -= 1.0
                return True
            if self._wait((self._refill - self._tokens) / self.rate):
                return False


class Batcher:
    """Collect batch items per gateway; hand back a full batch once `size` items are in."""

    def __init__(self, size: int) -> None:
        if not 1 <= size <= MAX_BATCH_ITEMS:
            raise ValueError(f"batch size must be between 1 and {MAX_BATCH_ITEMS}")
        self.size = size
        self._pending: dict[str, list[dict]] = {}

    def add(self, gateway: str, item: dict) -> list[dict] | None:
        items = self._pending.setdefault(gateway, [])
        items.append(item)
        if len(items) < self.size:
            return None
        del self._pending[gateway]
        return items

    def drain(self) -> list[tuple[str, list[dict]]]:
        """Every partial batch, emptied."""
        batches, self._pending = list(self._pending.items()), {}
        return batches


def encode(payload: object) -> bytes:
    """Compact JSON, as gateways send it."""
    return json.dumps(payload, separators=(",", ":")).encode()


class GatewayLink:
    """One gateway's MQTT client: will and retained status, QoS 1 publishes counted until acked.

    No paho thread: `GatewayPool.pump` drives every link's socket from the publishing thread, so
    a publish is written inline (no thread hand-off), which roughly doubles paho's throughput.
    """

    def __init__(self, gateway: str, password: str, seed: int, options: PublishOptions) -> None:
        self.gateway, self.options = gateway, options
        self.sent = self.acked = 0
        self.connected = False
        self.refusal: str | None = None
        self.closing = False
        self._next_reconnect = 0.0
        client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2, client_id=f"sim-{gateway}-{seed}",
            protocol=mqtt.MQTTv311,
        )
        client.username_pw_set(gateway, password)
        client.will_set(status_topic(gateway), "offline", qos=1, retain=True)
        client.max_inflight_messages_set(options.inflight)
        client.max_queued_messages_set(0)  # unbounded in paho; `max_unacked` bounds it instead
        if options.tls:
            client.tls_set()
        client.on_connect = self._on_connect
        client.on_publish = self._on_publish
        self.client = client

    @property
    def unacked(self) -> int:
        return self.sent - self.acked

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        if reason_code.is_failure:
            self.refusal = str(reason_code)
            client.disconnect()
            return
        self.connected = True
        self.publish(status_topic(self.gateway), b"online", retain=True)

    def _on_publish(self, client, userdata, mid, reason_code, properties) -> None:
        self.acked += 1

    def start(self, host: str, port: int) -> None:
        """Open the TCP connection and send CONNECT (the CONNACK arrives through `pump`)."""
        try:
            self.client.connect(host, port, keepalive=self.options.keepalive_s)
        except OSError as exc:
            raise GatewayConnectError(
                f"gateway {self.gateway}: cannot reach the MQTT broker at {host}:{port}: {exc}"
            ) from exc

    def publish(self, topic: str, payload: bytes, retain: bool = False) -> None:
        """QoS 1 publish; paho writes it to the socket at once when the in-flight window allows."""
        self.sent += 1
        info = self.client.publish(topic, payload, qos=1, retain=retain)
        if info.rc == mqtt.MQTT_ERR_QUEUE_SIZE:
            raise SimulatorError(f"gateway {self.gateway}: paho's outgoing queue is full")

    def service(self, readable: bool, writable: bool) -> None:
        """Read acks, write pending packets, keep alive; reconnect (at most 1/s) after a loss."""
        client = self.client
        if client.socket() is None:
            self._reconnect()
            return
        if readable:
            client.loop_read()
        if writable and client.socket() is not None:
            client.loop_write()
        if client.socket() is not None:
            client.loop_misc()

    def _reconnect(self) -> None:
        now = time.monotonic()
        if self.closing or self.refusal is not None or now < self._next_reconnect:
            return
        self._next_reconnect = now + 1.0
        self.connected = False
        # Broker still away: try again next second; the ack deadline bounds the wait.
        with contextlib.suppress(OSError):
            self.client.reconnect()


class GatewayPool:
    """Every gateway's link, driven by one select loop in the publishing thread."""

    def __init__(self, links: Mapping[str, GatewayLink], stop: threading.Event) -> None:
        self.links, self.stop = links, stop
        self._since_pump = 0
        self._pump_every = max(32, 4 * len(links))

    def pump(self, timeout_s: float) -> None:
        """Wait up to `timeout_s` for socket events and service every link once."""
        socks = {link.client.socket(): link for link in self.links.values()}
        socks.pop(None, None)
        wanted = [sock for sock, link in socks.items() if link.client.want_write()]
        readable, writable = [], []
        if socks:
            readable, writable, _ = select.select(list(socks), wanted, [], timeout_s)
        for link in self.links.values():
            sock = link.client.socket()
            link.service(sock in readable, sock in writable)

    def wait(self, seconds: float) -> bool:
        """Keep the links serviced for `seconds`; True (early) once `stop` is set."""
        deadline = time.monotonic() + seconds
        while not self.stop.is_set():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            self.pump(min(remaining, STOP_CHECK_S))
        return True

    def publish(self, gateway: str, topic: str, payload: bytes) -> None:
        """Publish for `gateway`; read acks every few messages; hold back when too far ahead."""
        link = self.links[gateway]
        if link.unacked >= link.options.max_unacked:
            self.await_unacked_below(link.options.max_unacked)
        link.publish(topic, payload)
        self._since_pump += 1
        if self._since_pump >= self._pump_every:
            self._since_pump = 0
            self.pump(0.0)

    def await_connected(self, timeout_s: float, where: str) -> None:
        """Pump until every link has its CONNACK; refusal or silence: GatewayConnectError."""
        deadline = time.monotonic() + timeout_s
        while True:
            for link in self.links.values():
                if link.refusal is not None:
                    raise GatewayConnectError(
                        f"gateway {link.gateway}: broker at {where} refused the connection: "
                        f"{link.refusal} (check the gateway's username/password)"
                    )
            waiting = [link.gateway for link in self.links.values() if not link.connected]
            if not waiting:
                return
            if time.monotonic() >= deadline:
                raise GatewayConnectError(f"no CONNACK from {where} for {', '.join(waiting)}")
            self.pump(min(STOP_CHECK_S, max(0.0, deadline - time.monotonic())))

    def await_unacked_below(self, limit: int, timeout_s: float | None = None) -> None:
        """Pump until every link has fewer than `limit` unacknowledged publishes."""
        timeout_s = self._ack_timeout_s() if timeout_s is None else timeout_s
        deadline = time.monotonic() + timeout_s
        while True:
            late = {gw: link.unacked for gw, link in self.links.items() if link.unacked >= limit}
            if not late:
                return
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                detail = ", ".join(f"{gw}: {n}" for gw, n in late.items())
                raise PublishAckTimeout(
                    f"QoS 1 publishes still unacknowledged after {timeout_s:g} s ({detail})"
                )
            self.pump(min(remaining, STOP_CHECK_S))

    def await_acks(self) -> None:
        self.await_unacked_below(1)

    def _ack_timeout_s(self) -> float:
        return min(link.options.ack_timeout_s for link in self.links.values())

    def close(self, graceful: bool) -> None:
        """Graceful: retained "offline", its ack, then DISCONNECT (so the will is not sent)."""
        for link in self.links.values():
            link.closing = True
        try:
            if graceful:
                for link in self.links.values():
                    link.publish(status_topic(link.gateway), b"offline", retain=True)
                self.await_acks()
        finally:
            for link in self.links.values():
                link.client.disconnect()
            deadline = time.monotonic() + CLOSE_TIMEOUT_S  # let DISCONNECTs leave the buffers
            while any(link.client.socket() for link in self.links.values()):
                if time.monotonic() >= deadline:
                    break
                self.pump(STOP_CHECK_S)


def connect_gateways(
    gateways: Sequence[str], host: str, port: int, passwords: Mapping[str, str], seed: int,
    options: PublishOptions, stop: threading.Event,
) -> GatewayPool:
    """Connect every gateway: all CONNECTs are sent first, then all CONNACKs awaited."""
    missing = [gw for gw in gateways if gw not in passwords]
    if missing:
        raise GatewayConnectError(f"no password for gateway(s): {', '.join(missing)}")
    pool = GatewayPool({gw: GatewayLink(gw, passwords[gw], seed, options) for gw in gateways}, stop)
    try:
        for link in pool.links.values():
            link.start(host, port)
        pool.await_connected(options.connect_timeout_s, f"{host}:{port}")
    except BaseException:
        pool.close(graceful=False)
        raise
    return pool


def publish_simulation(
    fleet: Fleet,
    model: ReadingModel,
    reports: Iterable[Report],
    *,
    host: str,
    port: int,
    passwords: Mapping[str, str],
    options: PublishOptions = PublishOptions(),
    duration_s: float | None = None,
    stop: threading.Event | None = None,
    clock: Clock = time.time,
) -> PublishSummary:
    """Publish `reports` from the fleet's gateways until they run out, `duration_s`, or `stop`.

    Reports are held back until `clock` reaches their ts; at the end every publish is awaited.
    """
    stop = stop or threading.Event()
    pool = connect_gateways(fleet.gateways, host, port, passwords, fleet.seed, options, stop)
    summary = PublishSummary(gateways=len(pool.links))
    started = time.monotonic()
    try:
        _publish_reports(pool, model, reports, options, summary, clock, duration_s)
        pool.await_acks()
    except BaseException:
        pool.close(graceful=False)
        raise
    summary.elapsed_s = round(time.monotonic() - started, 3)
    summary.rate = round(summary.messages / summary.elapsed_s, 1) if summary.elapsed_s else 0.0
    pool.close(graceful=True)
    return summary


def _publish_reports(
    pool: GatewayPool, model: ReadingModel, reports: Iterable[Report], options: PublishOptions,
    summary: PublishSummary, clock: Clock, duration_s: float | None,
) -> None:
    """The hot loop: reading -> JSON -> (batch) -> rate cap -> QoS 1 publish."""
    bucket = TokenBucket(options.rate, time.monotonic, pool.wait)
    batcher = Batcher(options.batch_size)

    def send(gateway: str, topic: str, payload: bytes) -> None:
        bucket.take()
        pool.publish(gateway, topic, payload)
        summary.messages += 1

    def flush_batches() -> None:
        for gateway, items in batcher.drain():
            send(gateway, batch_topic(gateway), encode(items))

    deadline = None if duration_s is None else clock() + duration_s
    for report in release_due(reports, clock, pool.wait, deadline, before_wait=flush_batches):
        if pool.stop.is_set():
            break
        device, ts_ms = report.device, report.ts_ms
        reading = reading_for(model, device, ts_ms)
        if options.batch_size == 1:
            topic = reading_topic(device.gateway, device.kind, device.id)
            send(device.gateway, topic, encode(reading))
        else:
            full = batcher.add(device.gateway, {"kind": device.kind, "id": device.id, **reading})
            if full is not None:
                send(device.gateway, batch_topic(device.gateway), encode(full))
        summary.count_reading(device.kind, ts_ms)
    flush_batches()
