"""Writes each batch durably, then acknowledges its messages: the heart of the zero-loss promise.

Order per batch: rejects to the dead-letter file (fsync), lines (readings + `ingest_reject` points)
to InfluxDB, and only then the MQTT acks. While InfluxDB is down the writer retries with backoff
and acks nothing, so the broker keeps every unacknowledged message for us.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from ingest.batching import AckToken, Batch, BatchQueue
from ingest.dead_letter import DeadLetterFile
from ingest.validation import RejectRecord
from streetwatch.errors import InfluxRejected, InfluxUnavailable
from streetwatch.influx import InfluxClient
from streetwatch.lineproto import reject_line
from streetwatch.logs import log_event

log = logging.getLogger("streetwatch.ingest")


class RejectClock:
    """Unique millisecond timestamps per (reason, gateway) so two rejects never overwrite."""

    def __init__(self) -> None:
        self._last: dict[tuple[str, str | None], int] = {}

    def next(self, reason: str, gateway: str | None, now_ms: int) -> int:
        key = (reason, gateway)
        ts = max(now_ms, self._last.get(key, 0) + 1)
        self._last[key] = ts
        return ts


@dataclass
class WriterStats:
    batches: int = 0
    points: int = 0
    acked: int = 0
    unregistered: int = 0
    rejects: Counter[str] = field(default_factory=Counter)
    write_failures: int = 0


class BatchWriter:
    """Drains a BatchQueue on its own thread until the queue closes or `abort` is set."""

    def __init__(
        self,
        queue: BatchQueue,
        influx: InfluxClient,
        dead_letters: DeadLetterFile,
        ack: Callable[[AckToken], None],
        abort: threading.Event,
        now_ms: Callable[[], int] = lambda: int(time.time() * 1000),
    ) -> None:
        self.queue = queue
        self.influx = influx
        self.dead_letters = dead_letters
        self.ack = ack
        self.abort = abort
        self.now_ms = now_ms
        self.stats = WriterStats()
        self._reject_clock = RejectClock()

    def run(self) -> None:
        while (batch := self.queue.take()) is not None:
            if not self.flush(batch):
                log_event(log, "ingest.writer_aborted", logging.WARNING, unacked=batch.messages)
                return

    def flush(self, batch: Batch) -> bool:
        """Store one batch and ack it; False when aborted first (nothing acked, all redelivered)."""
        lines = batch.lines + [self._reject_line(record, ts) for record, ts in batch.rejects]
        if not self._retry("dead_letter", lambda: self.dead_letters.append(batch.rejects)):
            return False
        if not self._retry("influx_write", lambda: self._write(lines)):
            return False
        for token in batch.acks:
            self.ack(token)
        self._count(batch, len(lines))
        return True

    def _count(self, batch: Batch, points: int) -> None:
        stats = self.stats
        stats.batches += 1
        stats.points += points
        stats.acked += batch.messages
        stats.unregistered += batch.unregistered
        stats.rejects.update(record.reason for record, _ in batch.rejects)
        if batch.rejects or batch.unregistered:
            log_event(
                log,
                "ingest.batch_rejects",
                rejects=dict(Counter(r.reason for r, _ in batch.rejects)),
                unregistered=batch.unregistered,
            )

    def _reject_line(self, record: RejectRecord, received_ms: int) -> str:
        ts = self._reject_clock.next(record.reason, record.gateway, received_ms)
        payload = record.payload[:4096].decode("utf-8", "backslashreplace")
        return reject_line(record.reason, record.gateway, record.topic, record.detail, payload, ts)

    def _write(self, lines: list[str]) -> None:
        try:
            self.influx.write_lines(lines)
        except InfluxRejected as exc:
            if exc.status == 404:  # database missing (dropped, or first start): make it, retry
                self.influx.create_database()
                raise InfluxUnavailable(f"database was missing: {exc}") from exc
            log_event(log, "ingest.batch_refused", logging.ERROR, error=str(exc), points=len(lines))
            self._write_one_by_one(lines)

    def _write_one_by_one(self, lines: list[str]) -> None:
        """Isolate the points InfluxDB refuses; keep those as `storage_rejected` dead letters."""
        refused: list[tuple[RejectRecord, int]] = []
        for line in lines:
            try:
                self.influx.write_lines([line])
            except InfluxRejected as exc:
                record = RejectRecord("storage_rejected", str(exc)[:500], "", None, line.encode())
                refused.append((record, self.now_ms()))
        self.dead_letters.append(refused)
        self.stats.rejects.update(record.reason for record, _ in refused)
        if refused:
            self.influx.write_lines([self._reject_line(r, ts) for r, ts in refused])

    def _retry(self, what: str, call: Callable[[], object]) -> bool:
        """Call until it succeeds (True) or `abort` is set (False); backoff 0.5 s .. 5 s."""
        delay_s = 0.5
        while not self.abort.is_set():
            try:
                call()
                return True
            except (InfluxUnavailable, OSError) as exc:
                self.stats.write_failures += 1
                log_event(log, "ingest.retry", logging.WARNING, op=what, error=str(exc)[:300],
                          retry_in_s=delay_s)
                self.abort.wait(delay_s)
                delay_s = min(delay_s * 2, 5.0)
        return False
