"""Writes each batch durably, then acknowledges its messages: the heart of the zero-loss promise.

Order per batch: rejects to the dead-letter file (fsync), lines (readings + `ingest_reject` points)
to InfluxDB, and only then the MQTT acks. What each InfluxDB answer means:
- unreachable, 408, 429, 5xx: transient; retry the batch with backoff (honouring Retry-After) and
  ack nothing meanwhile, so the broker keeps every unacknowledged message for us;
- 400 (partial write, field type conflict, unparsable line) and 413: some points are refused; the
  batch is split in halves until each refused point stands alone (log2 requests per refused point)
  and only those become `storage_rejected` dead letters;
- 404 "database not found": create it, then retry;
- 401, 403 and anything else: the writer cannot go on. `run` hands the error to `on_fatal` (the
  process exits non-zero) with nothing of the batch dead-lettered as refused and nothing acked.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from ingest.batching import AckToken, Batch, BatchQueue
from ingest.dead_letter import DeadLetterFile
from streetwatch.errors import InfluxRejected, InfluxUnavailable
from streetwatch.influx import MAX_LINES_PER_REQUEST, InfluxClient
from streetwatch.lineproto import reject_line
from streetwatch.logs import log_event
from streetwatch.validation import RejectRecord

log = logging.getLogger("streetwatch.ingest")

# Answers that mean "these points were refused": isolate them by splitting the request.
SPLITTABLE_STATUS = frozenset({400, 413})
MAX_BACKOFF_S = 5.0


class SeriesClock:
    """Unique millisecond timestamps per series key, so two points of one series in the same
    millisecond (two rejects, two status messages) never overwrite each other in InfluxDB."""

    def __init__(self) -> None:
        self._last: dict[tuple[str, str | None], int] = {}

    def next(self, key: tuple[str, str | None], now_ms: int) -> int:
        ts = max(now_ms, self._last.get(key, 0) + 1)
        self._last[key] = ts
        return ts


class BatchObserver(Protocol):
    """Receives per-batch figures (the metrics histograms)."""

    def batch_written(self, messages: int, points: int, seconds: float) -> None: ...


class _NoObserver:
    def batch_written(self, messages: int, points: int, seconds: float) -> None:
        return None


@dataclass
class WriterStats:
    batches: int = 0
    points: int = 0
    acked: int = 0
    unregistered: int = 0
    rejects: Counter[str] = field(default_factory=Counter)
    write_failures: int = 0
    last_write_unix_s: float | None = None


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
        on_fatal: Callable[[BaseException], None] | None = None,
        observer: BatchObserver | None = None,
        wait: Callable[[float], object] | None = None,
    ) -> None:
        self.queue = queue
        self.influx = influx
        self.dead_letters = dead_letters
        self.ack = ack
        self.abort = abort
        self.now_ms = now_ms
        self.on_fatal = on_fatal
        self.observer = observer or _NoObserver()
        self._wait = wait or abort.wait  # backoff pause; returns early when aborted
        self.stats = WriterStats()
        self.failure: BaseException | None = None
        self._reject_clock = SeriesClock()

    def run(self) -> None:
        """The writer thread's body: any error it cannot handle ends it through `on_fatal`."""
        try:
            self._drain()
        except Exception as exc:  # noqa: BLE001 -- a dead writer must be a dead process
            self.failure = exc
            if self.on_fatal is None:
                raise
            self.on_fatal(exc)

    def _drain(self) -> None:
        while (batch := self.queue.take()) is not None:
            try:
                done = self.flush(batch)
            finally:
                self.queue.release(batch)
            if not done:
                log_event(log, "ingest.writer_aborted", logging.WARNING, unacked=batch.messages)
                return

    def flush(self, batch: Batch) -> bool:
        """Store one batch and ack it; False when aborted first (nothing acked, all redelivered)."""
        started = time.monotonic()
        lines = batch.lines + [self._reject_line(record, ts) for record, ts in batch.rejects]
        if not self._retry("dead_letter", lambda: self.dead_letters.append(batch.rejects)):
            return False
        refused: list[tuple[str, str]] = []
        if not self._retry("influx_write", lambda: refused.extend(self._store(lines))):
            return False
        if refused and not self._keep_refused(refused):
            return False
        for token in batch.acks:
            self.ack(token)
        self._count(batch, len(lines) - len(refused), refused)
        self.observer.batch_written(batch.received, len(lines), time.monotonic() - started)
        return True

    def _count(self, batch: Batch, points: int, refused: list[tuple[str, str]]) -> None:
        stats = self.stats
        stats.batches += 1
        stats.points += points
        stats.acked += batch.messages
        stats.unregistered += batch.unregistered
        stats.rejects.update(record.reason for record, _ in batch.rejects)
        if refused:
            stats.rejects["storage_rejected"] += len(refused)
        stats.last_write_unix_s = time.time()
        if batch.rejects or batch.unregistered or refused:
            reasons = Counter(r.reason for r, _ in batch.rejects)
            if refused:
                reasons["storage_rejected"] += len(refused)
            log_event(log, "ingest.batch_rejects", rejects=dict(reasons),
                      unregistered=batch.unregistered)

    def _reject_line(self, record: RejectRecord, received_ms: int) -> str:
        ts = self._reject_clock.next((record.reason, record.gateway), received_ms)
        payload = record.payload[:4096].decode("utf-8", "backslashreplace")
        return reject_line(record.reason, record.gateway, record.topic, record.detail, payload, ts)

    # InfluxDB ----------------------------------------------------------------------------
    def _store(self, lines: Sequence[str]) -> list[tuple[str, str]]:
        """Write every line; return (line, InfluxDB's reason) for each point it refused."""
        refused: list[tuple[str, str]] = []
        for start in range(0, len(lines), MAX_LINES_PER_REQUEST):
            self._store_isolating(lines[start : start + MAX_LINES_PER_REQUEST], refused)
        return refused

    def _store_isolating(self, lines: Sequence[str], refused: list[tuple[str, str]]) -> None:
        """Write `lines`; on a refusal split them in halves until the refused points stand alone.
        InfluxDB 1.x stores the acceptable points of a partially refused write, so writing them
        again while splitting overwrites them with themselves."""
        try:
            self._write_once(lines)
        except InfluxRejected as exc:
            if exc.status not in SPLITTABLE_STATUS:
                raise
            if len(lines) == 1:
                refused.append((lines[0], str(exc)[:500]))
                return
            half = len(lines) // 2
            self._store_isolating(lines[:half], refused)
            self._store_isolating(lines[half:], refused)

    def _write_once(self, lines: Sequence[str]) -> None:
        try:
            self.influx.write_lines(lines)
        except InfluxRejected as exc:
            if exc.status == 404 and "database not found" in exc.body:
                self.influx.create_database()  # dropped, or first start: make it, then retry
                raise InfluxUnavailable(f"database was missing: {exc}") from exc
            raise

    def _keep_refused(self, refused: list[tuple[str, str]]) -> bool:
        """Dead-letter the points InfluxDB refused and record them as `storage_rejected`."""
        now_ms = self.now_ms()
        records = [(RejectRecord("storage_rejected", reason, "", None, line.encode()), now_ms)
                   for line, reason in refused]
        log_event(log, "ingest.points_refused", logging.ERROR, points=len(refused),
                  error=refused[0][1])
        if not self._retry("dead_letter", lambda: self.dead_letters.append(records)):
            return False
        reject_lines = [self._reject_line(record, ts) for record, ts in records]
        unrecorded: list[tuple[str, str]] = []
        if not self._retry("influx_write", lambda: unrecorded.extend(self._store(reject_lines))):
            return False
        if unrecorded:  # kept in the dead-letter file all the same
            log_event(log, "ingest.reject_points_refused", logging.ERROR, points=len(unrecorded),
                      error=unrecorded[0][1])
        return True

    def _retry(self, what: str, call: Callable[[], object]) -> bool:
        """Call until it succeeds (True) or `abort` is set (False). Only transient failures are
        retried (backoff 0.5 s .. 5 s, at least the server's Retry-After); others propagate."""
        delay_s = 0.5
        while not self.abort.is_set():
            try:
                call()
                return True
            except (InfluxUnavailable, OSError) as exc:
                wait_s = max(delay_s, getattr(exc, "retry_after_s", None) or 0.0)
                self.stats.write_failures += 1
                log_event(log, "ingest.retry", logging.WARNING, op=what, error=str(exc)[:300],
                          retry_in_s=wait_s)
                self._wait(wait_s)
                delay_s = min(delay_s * 2, MAX_BACKOFF_S)
        return False
