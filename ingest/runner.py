"""The paho-mqtt edge of the ingester: persistent session, QoS 1, manual ack after durable write.

paho's network thread validates each message (pure `process_message`) and hands the outcome to the
BatchQueue; the BatchWriter thread stores batches and acks them. Acks carry the connection
"generation" they arrived on: after a reconnect the broker redelivers every unacked message, so acks
for an older connection are dropped (the redelivered copies are stored again, idempotently, and
acked then). SIGTERM: stop taking messages, flush, ack, disconnect -- nothing is unsubscribed, so
the broker keeps queueing for us while we are away.

No message may hold a slot of the broker's in-flight window forever: one whose processing raises
is dead-lettered as `internal_error` and acked. No thread may die silently: a dead writer or a
dead network thread ends the process with `IngestFatal` (a supervisor restarts it, and the broker
redelivers whatever was not acked).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import paho.mqtt.client as mqtt

from ingest.batching import AckToken, BatchQueue
from ingest.dead_letter import DeadLetterFile
from ingest.metrics import IngestMetrics
from ingest.registry_cache import DeviceDirectory
from ingest.writer import BatchWriter, SeriesClock
from streetwatch.errors import ConfigError, InfluxAuthError, StreetwatchError
from streetwatch.influx import InfluxClient
from streetwatch.logs import log_event
from streetwatch.mqtt_session import service_client
from streetwatch.settings import DEFAULT_INGEST_CLIENT_ID, MqttEndpoint, Settings
from streetwatch.topics import SUBSCRIPTION, gateway_of
from streetwatch.validation import (
    Limits,
    RejectRecord,
    internal_error_outcome,
    process_message,
)

log = logging.getLogger("streetwatch.ingest")

STATS_EVERY_S = 10.0
# Never subscribed: unsubscribing from it is a broker round trip that leaves the session alone.
SYNC_TOPIC = "streetwatch/$ingest-sync"
# Exit codes (sysexits.h): the operator must fix the configuration / an unexpected failure.
EXIT_CONFIG = 78
EXIT_SOFTWARE = 70


class IngestFatal(StreetwatchError):
    """The ingester stopped because it cannot go on; `exit_code` tells a supervisor which kind."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def exit_code_for(exc: BaseException) -> int:
    return EXIT_CONFIG if isinstance(exc, InfluxAuthError | ConfigError) else EXIT_SOFTWARE


@dataclass(frozen=True)
class IngestConfig:
    """What the ingester needs from Settings, as plain values, checked for consistency."""

    endpoint: MqttEndpoint
    client_id: str
    subscription: str
    batch_size: int
    flush_interval_s: float
    keepalive_s: int
    limits: Limits
    max_queue_bytes: int = 256 * 1024 * 1024
    stuck_after_s: float = 300.0
    shutdown_grace_s: float = 30.0
    # Leave the share group for good: unsubscribe, store what the session still holds, stop once
    # nothing has arrived for `quiet_s`, then drop the session (see docs/operations.md).
    leave: bool = False
    quiet_s: float = 3.0

    @classmethod
    def from_settings(
        cls, settings: Settings, endpoint: MqttEndpoint, leave: bool = False
    ) -> IngestConfig:
        check_ingest_settings(settings)
        if leave and not settings.ingest_share_group:
            raise ConfigError(
                "--leave takes a member out of a share group; without STREETWATCH_INGEST_SHARE_GROUP "
                "this ingester is the only subscriber, and unsubscribing it would lose every reading")
        group = settings.ingest_share_group
        subscription = f"$share/{group}/{SUBSCRIPTION}" if group else SUBSCRIPTION
        limits = Limits(
            max_payload_bytes=settings.ingest_max_payload_bytes,
            max_batch_bytes=settings.ingest_max_batch_bytes,
            max_future_ms=int(settings.ingest_max_future_s * 1000),
            max_age_ms=int(settings.ingest_max_age_s * 1000),
        )
        return cls(
            endpoint,
            settings.ingest_client_id,
            subscription,
            settings.ingest_batch_size,
            settings.ingest_flush_interval_s,
            settings.ingest_keepalive_s,
            limits,
            settings.ingest_max_queue_bytes,
            settings.ingest_stuck_after_s,
            leave=leave,
        )


def check_ingest_settings(settings: Settings) -> None:
    """ConfigError naming the fix when ingest settings contradict each other or the broker's."""
    window = settings.broker_max_inflight_messages
    if not 0 < settings.ingest_batch_size < window:
        raise ConfigError(
            f"STREETWATCH_INGEST_BATCH_SIZE={settings.ingest_batch_size} must be between 1 and the "
            f"broker's in-flight window (STREETWATCH_BROKER_MAX_INFLIGHT_MESSAGES={window}), "
            "exclusive: the ingester acks only after writing, so a batch larger than the window "
            "waits for messages the broker will never send; half the window lets the next batch "
            "fill while one is written")
    if settings.ingest_share_group and settings.ingest_client_id == DEFAULT_INGEST_CLIENT_ID:
        raise ConfigError(
            f"STREETWATCH_INGEST_SHARE_GROUP={settings.ingest_share_group} is set, so several "
            "ingesters share the load: give each its own STREETWATCH_INGEST_CLIENT_ID (and broker "
            "account); two ingesters with one client id knock each other off the broker")
    if settings.ingest_max_queue_bytes < settings.ingest_max_batch_bytes:
        raise ConfigError(
            "STREETWATCH_INGEST_MAX_QUEUE_BYTES must be at least STREETWATCH_INGEST_MAX_BATCH_BYTES "
            f"({settings.ingest_max_batch_bytes}): the queue must hold one whole batch payload")
    if settings.ingest_flush_interval_s <= 0 or settings.ingest_stuck_after_s <= 0:
        raise ConfigError("STREETWATCH_INGEST_FLUSH_INTERVAL_S and _STUCK_AFTER_S must be > 0")


class Ingester:
    """One ingester process's MQTT client, batch queue and writer thread."""

    def __init__(
        self,
        config: IngestConfig,
        influx: InfluxClient,
        devices: DeviceDirectory,
        dead_letters: DeadLetterFile,
        now_ms: Callable[[], int] = lambda: int(time.time() * 1000),
        make_client: Callable[[], mqtt.Client] | None = None,
    ) -> None:
        self.config = config
        self.devices = devices
        self.dead_letters = dead_letters
        self.now_ms = now_ms
        self.queue = BatchQueue(config.batch_size, config.flush_interval_s,
                                max_bytes=config.max_queue_bytes)
        self.abort = threading.Event()
        self.metrics = IngestMetrics(self)
        self.writer = BatchWriter(self.queue, influx, dead_letters, self._ack, self.abort, now_ms,
                                  on_fatal=self._fail, observer=self.metrics)
        self.received = 0
        self.redelivered = 0  # DUP flag set: the broker resent a message we had not acked
        self.status_messages = 0
        self.overload_qos0 = 0
        self.internal_errors = 0
        self.connected = False
        self.failure: BaseException | None = None
        self._stop = threading.Event()
        self._accepting = True
        self._generation = 0
        self._lock = threading.Lock()
        self._synced = threading.Event()  # set by the UNSUBACK of SYNC_TOPIC
        self._left = threading.Event()  # set by the UNSUBACK of the share subscription (leave)
        self._leave_mid: int | None = None
        self._status_clock = SeriesClock()
        self.client = (make_client or self._make_client)()
        self._wire(self.client)

    # MQTT ---------------------------------------------------------------------------------
    def _make_client(self, clean_session: bool = False) -> mqtt.Client:
        return service_client(self.config.endpoint, self.config.client_id, clean_session)

    def _wire(self, client: mqtt.Client) -> None:
        client.on_connect = self._on_connect
        client.on_subscribe = self._on_subscribe
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        client.on_unsubscribe = self._on_unsubscribe

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:  # noqa: ANN001
        if reason_code.is_failure:
            log_event(log, "ingest.connect_failed", logging.ERROR, reason=str(reason_code))
            return
        with self._lock:
            self._generation += 1
        self.connected = True
        log_event(log, "ingest.connected", broker=self.config.endpoint.display(),
                  session_present=bool(flags.session_present), generation=self._generation)
        if self.config.leave:  # what the session already holds still comes to us
            self._leave_mid = client.unsubscribe(self.config.subscription)[1]
            log_event(log, "ingest.leaving", topic=self.config.subscription)
        else:
            client.subscribe(self.config.subscription, qos=1)

    def _on_subscribe(self, client, userdata, mid, reason_codes, properties) -> None:  # noqa: ANN001
        failed = [str(code) for code in reason_codes if code.is_failure]
        if failed:
            log_event(log, "ingest.subscribe_failed", logging.ERROR, reasons=failed,
                      topic=self.config.subscription)
            return
        log_event(log, "ingest.subscribed", topic=self.config.subscription)

    def _on_unsubscribe(self, client, userdata, mid, reason_codes, properties) -> None:  # noqa: ANN001
        if self.config.leave and mid == self._leave_mid:
            log_event(log, "ingest.left_share_group", topic=self.config.subscription)
            self._left.set()
        else:
            self._synced.set()  # otherwise the only unsubscribe is SYNC_TOPIC's, at shutdown

    def _on_disconnect(self, client, userdata, flags, reason_code, properties) -> None:  # noqa: ANN001
        self.connected = False
        log_event(log, "ingest.disconnected", logging.WARNING, reason=str(reason_code))

    def _on_message(self, client, userdata, message: mqtt.MQTTMessage) -> None:  # noqa: ANN001
        if not self._accepting:
            return  # shutting down: left unacked, so the broker redelivers it to our next run
        try:
            self._take(message)
        except Exception as exc:  # noqa: BLE001 -- paho's thread must never die silently
            self._fail(exc)

    def _take(self, message: mqtt.MQTTMessage) -> None:
        """Process one message and queue its outcome (to be acked once stored)."""
        now_ms = self.now_ms()
        topic = topic_text(message)
        try:
            outcome = process_message(topic, message.payload, now_ms, self.devices.index,
                                      self.config.limits, message.retain, self._status_clock)
        except Exception as exc:  # noqa: BLE001 -- a bug, not bad input: keep it, ack it
            self.internal_errors += 1
            log_event(log, "ingest.process_failed", logging.ERROR, topic=topic[:200],
                      gateway=gateway_of(topic), error_type=type(exc).__name__)
            outcome = internal_error_outcome(topic, message.payload, exc)
        if outcome.status is not None:
            self.status_messages += 1
            self._log_status(outcome.status.gateway, outcome.status.online, message.retain)
        token = AckToken(self._generation, message.mid) if message.qos > 0 else None
        self.received += 1
        self.redelivered += message.dup
        if not self.queue.add(outcome, token, now_ms) and token is None and self._accepting:
            self._refuse_qos0(topic, message.payload, now_ms)

    def _refuse_qos0(self, topic: str, payload: bytes, now_ms: int) -> None:
        """A QoS 0 message at the byte bound: the broker will not resend it, so keep it on disk."""
        self.overload_qos0 += 1
        detail = f"queue at its bound of {self.config.max_queue_bytes} bytes"
        record = RejectRecord("overload_qos0", detail, topic, gateway_of(topic), payload)
        self.dead_letters.append([(record, now_ms)])

    def _ack(self, token: AckToken) -> None:
        # Under the lock so a reconnect (generation bump) cannot slip between check and ack.
        with self._lock:
            if token.generation == self._generation:
                self.client.ack(token.mid, 1)

    def _log_status(self, gateway: str, online: bool, retained: bool) -> None:
        state = "online" if online else "offline"
        log_event(log, "ingest.gateway_status", gateway=gateway, state=state, retained=retained)

    def _fail(self, exc: BaseException) -> None:
        """A thread cannot go on: remember the first failure and stop the process."""
        with self._lock:
            if self.failure is None:
                self.failure = exc
        self._stop.set()

    # Life cycle ---------------------------------------------------------------------------
    def run(self, stop: threading.Event) -> None:
        """Consume until `stop` is set, then flush, ack and disconnect; IngestFatal when a thread
        failed (nothing more is acked: the broker redelivers the rest to the next run)."""
        self._stop = stop
        if self.failure is not None:
            stop.set()
        writer = threading.Thread(target=self.writer.run, name="ingest-writer", daemon=True)
        writer.start()
        self.devices.start_refreshing(stop)
        ep = self.config.endpoint
        self.client.connect_async(ep.host, ep.port, keepalive=self.config.keepalive_s)
        self.client.loop_start()
        log_event(log, "ingest.started", broker=ep.display(), client_id=self.config.client_id)
        if self.config.leave:
            threading.Thread(target=self._stop_when_drained, name="ingest-leave", daemon=True).start()
        while not stop.wait(STATS_EVERY_S):
            self._check_threads(writer)
            self._log_stats()
        self._shutdown(writer)

    def _stop_when_drained(self, every_s: float = 0.2) -> None:
        """Leave mode: stop once unsubscribed and nothing arrived for `quiet_s` with nothing held
        (acks make the broker send the rest of the session's queue at once, so a quiet gap means
        the queue is empty; while InfluxDB is down messages are held and we keep waiting)."""
        seen, quiet_since = -1, time.monotonic()
        while not self._stop.wait(every_s):
            if not self._left.is_set() or self.queue.snapshot().messages or self.received != seen:
                seen, quiet_since = self.received, time.monotonic()
            elif time.monotonic() - quiet_since >= self.config.quiet_s:
                log_event(log, "ingest.share_drained", received=self.received)
                self._stop.set()
                return

    def _check_threads(self, writer: threading.Thread) -> None:
        if not writer.is_alive():
            self._fail(RuntimeError("the writer thread ended unexpectedly"))
        network = getattr(self.client, "_thread", None)  # paho's loop_start thread
        if network is not None and not network.is_alive():
            self._fail(RuntimeError("paho's network thread ended unexpectedly"))

    def _shutdown(self, writer: threading.Thread) -> None:
        self._accepting = False
        if self.failure is not None:
            self.abort.set()  # store nothing more, ack nothing more
        self.queue.close()
        writer.join(self.config.shutdown_grace_s)
        if writer.is_alive():  # InfluxDB still down: give up, unacked messages come back later
            self.abort.set()
            writer.join(10)
        self._sync_with_broker()
        self.client.disconnect()
        self.client.loop_stop()
        self._log_stats()
        if self.failure is not None:
            raise self._fatal(self.failure)
        if self.config.leave and self._left.is_set():
            self._drop_session()
        log_event(log, "ingest.stopped")

    def _drop_session(self, timeout_s: float = 10.0) -> None:
        """Connect once with a clean session: the broker forgets this member altogether."""
        client = self._make_client(clean_session=True)  # same id and account, session dropped
        connected = threading.Event()
        client.on_connect = lambda *args: connected.set()
        client.connect(self.config.endpoint.host, self.config.endpoint.port)
        client.loop_start()
        try:
            if connected.wait(timeout_s):
                log_event(log, "ingest.session_dropped", client_id=self.config.client_id)
        finally:
            client.disconnect()
            client.loop_stop()

    def _fatal(self, exc: BaseException) -> IngestFatal:
        code = exit_code_for(exc)
        frame = exc.__traceback__
        while frame is not None and frame.tb_next is not None:
            frame = frame.tb_next
        where = f"{frame.tb_frame.f_code.co_filename}:{frame.tb_lineno}" if frame else None
        log_event(log, "ingest.fatal", logging.CRITICAL, error_type=type(exc).__name__,
                  error=str(exc)[:500], where=where, exit_code=code,
                  hint="nothing unstored was acked: the broker redelivers it to the next run")
        return IngestFatal(f"{type(exc).__name__}: {exc}", code)

    def _sync_with_broker(self, timeout_s: float = 10.0) -> None:
        """Return once the broker has processed every ack we sent: a closing socket with unread
        data (the broker keeps streaming) is reset, and a reset can discard the final acks; a
        stored reading redelivered later could then land twice if its tags changed meanwhile."""
        if not self.connected:
            return
        self.client.unsubscribe(SYNC_TOPIC)
        if not self._synced.wait(timeout_s):
            log_event(log, "ingest.sync_timeout", logging.WARNING, timeout_s=timeout_s,
                      hint="the last acks may be lost; their messages will be redelivered")

    def stats_fields(self) -> dict[str, object]:
        """The counters of the `ingest.stats` event (and of /metrics)."""
        stats = self.writer.stats
        rejects = dict(stats.rejects)
        if self.overload_qos0:
            rejects["overload_qos0"] = self.overload_qos0
        snapshot = self.queue.snapshot()
        return {
            "received": self.received, "redelivered": self.redelivered, "acked": stats.acked,
            "points": stats.points, "batches": stats.batches, "unregistered": stats.unregistered,
            "rejects": rejects, "write_failures": stats.write_failures,
            "status_messages": self.status_messages, "devices": len(self.devices.index),
            "queue_messages": snapshot.messages, "queue_bytes": snapshot.bytes_held,
            "connected": self.connected,
        }

    def _log_stats(self) -> None:
        log_event(log, "ingest.stats", **self.stats_fields())

    def health(self) -> tuple[bool, dict[str, object]]:
        """(healthy, why) for /healthz: no failure, writer not stuck behind an old message."""
        age = self.queue.snapshot().oldest_unacked_age_s
        stuck = age is not None and age > self.config.stuck_after_s
        healthy = self.failure is None and not stuck
        return healthy, {
            "status": "ok" if healthy else "unhealthy",
            "failure": None if self.failure is None else type(self.failure).__name__,
            "oldest_unacked_age_s": None if age is None else round(age, 3),
            "stuck_after_s": self.config.stuck_after_s,
            "connected": self.connected,
        }


def topic_text(message: mqtt.MQTTMessage) -> str:
    """The message's topic as text; paho raises on a topic that is not UTF-8 (brokers refuse
    those, but a hostile or broken broker must not crash us), so decode it leniently then."""
    try:
        return message.topic
    except UnicodeDecodeError:
        return bytes(message._topic).decode("utf-8", "replace")  # noqa: SLF001
