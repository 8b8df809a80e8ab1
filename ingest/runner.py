"""The paho-mqtt edge of the ingester: persistent session, QoS 1, manual ack after durable write.

paho's network thread validates each message (pure `process_message`) and hands the outcome to the
BatchQueue; the BatchWriter thread stores batches and acks them. Acks carry the connection
"generation" they arrived on: after a reconnect the broker redelivers every unacked message, so acks
for an older connection are dropped (the redelivered copies are stored again, idempotently, and
acked then). SIGTERM: stop taking messages, flush, ack, disconnect -- nothing is unsubscribed, so
the broker keeps queueing for us while we are away.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from ingest.batching import AckToken, BatchQueue
from ingest.dead_letter import DeadLetterFile
from ingest.registry_cache import DeviceDirectory
from ingest.validation import Limits, process_message
from ingest.writer import BatchWriter
from streetwatch.influx import InfluxClient
from streetwatch.logs import log_event
from streetwatch.settings import MqttEndpoint, Settings
from streetwatch.topics import SUBSCRIPTION

log = logging.getLogger("streetwatch.ingest")

STATS_EVERY_S = 10.0
# Never subscribed: unsubscribing from it is a broker round trip that leaves the session alone.
SYNC_TOPIC = "streetwatch/$ingest-sync"


@dataclass(frozen=True)
class IngestConfig:
    """What the ingester needs from Settings, as plain values."""

    endpoint: MqttEndpoint
    client_id: str
    subscription: str
    batch_size: int
    flush_interval_s: float
    keepalive_s: int
    limits: Limits
    shutdown_grace_s: float = 30.0

    @classmethod
    def from_settings(cls, settings: Settings, endpoint: MqttEndpoint) -> IngestConfig:
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
        )


class Ingester:
    """One ingester process's MQTT client, batch queue and writer thread."""

    def __init__(
        self,
        config: IngestConfig,
        influx: InfluxClient,
        devices: DeviceDirectory,
        dead_letters: DeadLetterFile,
        now_ms: Callable[[], int] = lambda: int(time.time() * 1000),
    ) -> None:
        self.config = config
        self.devices = devices
        self.now_ms = now_ms
        self.queue = BatchQueue(config.batch_size, config.flush_interval_s)
        self.abort = threading.Event()
        self.writer = BatchWriter(self.queue, influx, dead_letters, self._ack, self.abort, now_ms)
        self.received = 0
        self.redelivered = 0  # DUP flag set: the broker resent a message we had not acked
        self._accepting = True
        self._generation = 0
        self._lock = threading.Lock()
        self._synced = threading.Event()  # set by the UNSUBACK of SYNC_TOPIC
        self.client = self._make_client()

    # MQTT ---------------------------------------------------------------------------------
    def _make_client(self) -> mqtt.Client:
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=self.config.client_id,
            clean_session=False,
            protocol=mqtt.MQTTv311,
            manual_ack=True,
        )
        ep = self.config.endpoint
        if ep.username:
            client.username_pw_set(ep.username, ep.password.get_secret_value() if ep.password else None)
        if ep.tls:
            client.tls_set()
        client.reconnect_delay_set(min_delay=1, max_delay=30)
        client.on_connect = self._on_connect
        client.on_subscribe = self._on_subscribe
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        client.on_unsubscribe = self._on_unsubscribe
        return client

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:  # noqa: ANN001
        if reason_code.is_failure:
            log_event(log, "ingest.connect_failed", logging.ERROR, reason=str(reason_code))
            return
        with self._lock:
            self._generation += 1
        log_event(log, "ingest.connected", broker=self.config.endpoint.display(),
                  session_present=bool(flags.session_present), generation=self._generation)
        client.subscribe(self.config.subscription, qos=1)

    def _on_subscribe(self, client, userdata, mid, reason_codes, properties) -> None:  # noqa: ANN001
        failed = [str(code) for code in reason_codes if code.is_failure]
        if failed:
            log_event(log, "ingest.subscribe_failed", logging.ERROR, reasons=failed,
                      topic=self.config.subscription)
            return
        log_event(log, "ingest.subscribed", topic=self.config.subscription)

    def _on_unsubscribe(self, client, userdata, mid, reason_codes, properties) -> None:  # noqa: ANN001
        self._synced.set()  # the ingester unsubscribes only from SYNC_TOPIC, at shutdown

    def _on_disconnect(self, client, userdata, flags, reason_code, properties) -> None:  # noqa: ANN001
        log_event(log, "ingest.disconnected", logging.WARNING, reason=str(reason_code))

    def _on_message(self, client, userdata, message: mqtt.MQTTMessage) -> None:  # noqa: ANN001
        if not self._accepting:
            return  # shutting down: left unacked, so the broker redelivers it to our next run
        now_ms = self.now_ms()
        try:
            outcome = process_message(message.topic, message.payload, now_ms,
                                      self.devices.index, self.config.limits, message.retain)
        except Exception:  # a bug, not bad input: keep running, leave the message unacked
            log.exception("ingest.process_failed", extra={"topic": message.topic[:200]})
            return
        if outcome.status is not None:
            self._log_status(outcome.status.gateway, outcome.status.online, message.retain)
        token = AckToken(self._generation, message.mid) if message.qos > 0 else None
        self.received += 1
        self.redelivered += message.dup
        self.queue.add(outcome, token, now_ms)

    def _ack(self, token: AckToken) -> None:
        # Under the lock so a reconnect (generation bump) cannot slip between check and ack.
        with self._lock:
            if token.generation == self._generation:
                self.client.ack(token.mid, 1)

    def _log_status(self, gateway: str, online: bool, retained: bool) -> None:
        state = "online" if online else "offline"
        log_event(log, "ingest.gateway_status", gateway=gateway, state=state, retained=retained)

    # Life cycle ---------------------------------------------------------------------------
    def run(self, stop: threading.Event) -> None:
        """Consume until `stop` is set, then flush, ack and disconnect."""
        writer = threading.Thread(target=self.writer.run, name="ingest-writer", daemon=True)
        writer.start()
        self.devices.start_refreshing(stop)
        ep = self.config.endpoint
        self.client.connect_async(ep.host, ep.port, keepalive=self.config.keepalive_s)
        self.client.loop_start()
        log_event(log, "ingest.started", broker=ep.display(), client_id=self.config.client_id)
        while not stop.wait(STATS_EVERY_S):
            self._log_stats()
        self._shutdown(writer)

    def _shutdown(self, writer: threading.Thread) -> None:
        self._accepting = False
        self.queue.close()
        writer.join(self.config.shutdown_grace_s)
        if writer.is_alive():  # InfluxDB still down: give up, unacked messages come back later
            self.abort.set()
            writer.join(10)
        self._sync_with_broker()
        self.client.disconnect()
        self.client.loop_stop()
        self._log_stats()
        log_event(log, "ingest.stopped")

    def _sync_with_broker(self, timeout_s: float = 10.0) -> None:
        """Return once the broker has processed every ack we sent: a closing socket with unread
        data (the broker keeps streaming) is reset, and a reset can discard the final acks; a
        stored reading redelivered later could then land twice if its tags changed meanwhile."""
        self.client.unsubscribe(SYNC_TOPIC)
        if not self._synced.wait(timeout_s):
            log_event(log, "ingest.sync_timeout", logging.WARNING, timeout_s=timeout_s,
                      hint="the last acks may be lost; their messages will be redelivered")

    def _log_stats(self) -> None:
        stats = self.writer.stats
        log_event(log, "ingest.stats", received=self.received, redelivered=self.redelivered,
                  acked=stats.acked,
                  points=stats.points, batches=stats.batches, unregistered=stats.unregistered,
                  rejects=dict(stats.rejects), write_failures=stats.write_failures,
                  devices=len(self.devices.index))
