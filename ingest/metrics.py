"""Prometheus `/metrics` and `/healthz` for one ingester (prometheus-client, its own registry).

Counters are read from the ingester's own counters at scrape time (one source of truth with the
`ingest.stats` log event, nothing added to the per-message path); only the per-batch histograms
are observed as batches are written. `/healthz` answers 503 when the ingester has failed or its
oldest unacknowledged message is older than `ingest_stuck_after_s`, so compose and systemd can
restart it (redelivery loses nothing).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from streetwatch.metrics_http import MetricsHttpServer

if TYPE_CHECKING:
    from ingest.runner import Ingester

PREFIX = "streetwatch_ingest"
WRITE_SECONDS_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
BATCH_BUCKETS = (1, 10, 50, 100, 250, 500, 1000, 2000, 5000, 10000)


class IngestMetrics:
    """The registry behind `/metrics`; also the writer's BatchObserver."""

    def __init__(self, ingester: Ingester) -> None:
        self.registry = CollectorRegistry()
        self.write_seconds = Histogram(
            f"{PREFIX}_write_seconds", "Time to store and ack one batch (InfluxDB write included)",
            buckets=WRITE_SECONDS_BUCKETS, registry=self.registry)
        self.batch_messages = Histogram(
            f"{PREFIX}_batch_messages", "Messages per written batch",
            buckets=BATCH_BUCKETS, registry=self.registry)
        self.registry.register(_IngesterCollector(ingester))

    def batch_written(self, messages: int, points: int, seconds: float) -> None:
        self.write_seconds.observe(seconds)
        self.batch_messages.observe(messages)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


class _IngesterCollector(Collector):
    """Counters and gauges read from the ingester at scrape time."""

    def __init__(self, ingester: Ingester) -> None:
        self.ingester = ingester

    def collect(self) -> Iterator[Metric]:
        ing = self.ingester
        stats = ing.writer.stats
        counters = {
            "messages_received": ("MQTT messages received", ing.received),
            "messages_redelivered": ("Messages the broker resent (DUP): unacked before", ing.redelivered),
            "messages_acked": ("Messages acknowledged after a durable write", stats.acked),
            "points_written": ("Points InfluxDB accepted (readings and reject records)", stats.points),
            "batches_written": ("Batches stored and acked", stats.batches),
            "unregistered_readings": ("Readings of devices not in the registry", stats.unregistered),
            "status_messages": ("Gateway online/offline messages", ing.status_messages),
            "write_failures": ("Transient write failures retried", stats.write_failures),
        }
        for name, (help_text, value) in counters.items():
            yield CounterMetricFamily(f"{PREFIX}_{name}", help_text, value=value)
        yield from self._rejects()
        yield from self._gauges()

    def _rejects(self) -> Iterator[Metric]:
        family = CounterMetricFamily(f"{PREFIX}_rejects", "Rejected messages and batch items",
                                     labels=["reason"])
        for reason, count in sorted(self.ingester.stats_fields()["rejects"].items()):  # type: ignore[union-attr]
            family.add_metric([reason], count)
        yield family

    def _gauges(self) -> Iterator[Metric]:
        ing = self.ingester
        snapshot = ing.queue.snapshot()
        last_write = ing.writer.stats.last_write_unix_s
        gauges: dict[str, tuple[str, float]] = {
            "queue_messages": ("Messages held: queued or being written, not yet acked",
                               snapshot.messages),
            "queue_bytes": ("Bytes held by the batch queue and the writer", snapshot.bytes_held),
            "queue_max_bytes": ("The queue's byte bound", ing.queue.max_bytes),
            "queue_full": ("1 while a QoS 1 message waits for room (reading paused)",
                           float(snapshot.waiting_for_room)),
            "oldest_unacked_age_seconds": ("Age of the oldest message not yet acked (0: none)",
                                           snapshot.oldest_unacked_age_s or 0.0),
            "last_write_timestamp_seconds": ("Unix time of the last successful write (0: none)",
                                             last_write or 0.0),
            "connected": ("1 while connected to the broker", float(ing.connected)),
            "registry_devices": ("Devices in the cached registry", len(ing.devices.index)),
            "healthy": ("1 while /healthz answers 200", float(ing.health()[0])),
        }
        for name, (help_text, value) in gauges.items():
            yield GaugeMetricFamily(f"{PREFIX}_{name}", help_text, value=value)


class MetricsServer(MetricsHttpServer):
    """The ingester's `/metrics` and `/healthz` (streetwatch.metrics_http)."""

    def __init__(self, ingester: Ingester, host: str, port: int) -> None:
        super().__init__(host, port, lambda: ingester.metrics.exposition(), ingester.health,
                         "ingest-metrics")
