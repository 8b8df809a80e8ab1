"""Gathers processed messages into batches, by size and by time, between paho's thread and the writer.

A batch carries the lines to write, the rejects to keep, and the ack tokens of every message in it:
the writer acknowledges those only after the whole batch is stored. The broker's in-flight window
bounds how many messages we hold, but not their bytes (10,000 batch payloads of 1 MiB would be
10 GiB), so the queue also bounds the bytes it holds, from `add` until the writer `release`s the
batch after storing it. At the bound a QoS 1 message waits in `add` (paho's thread stops reading,
so the broker keeps the rest for us); a QoS 0 message, which the broker would not keep, is refused
and the caller counts it as `overload_qos0`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from streetwatch.validation import MessageOutcome, RejectRecord

# What a line or a reject costs in memory beyond its characters (CPython str header, list slot).
ITEM_OVERHEAD_BYTES = 64


@dataclass(frozen=True, slots=True)
class AckToken:
    """A message to acknowledge: its MQTT id within one connection ("generation")."""

    generation: int
    mid: int


@dataclass(slots=True, eq=False)  # identity, not field equality: the queue tracks taken batches
class Batch:
    lines: list[str] = field(default_factory=list)
    rejects: list[tuple[RejectRecord, int]] = field(default_factory=list)
    acks: list[AckToken] = field(default_factory=list)
    unregistered: int = 0
    opened_at: float = 0.0
    size_bytes: int = 0
    received: int = 0  # messages in the batch, QoS 0 included (acks counts QoS 1 only)

    @property
    def messages(self) -> int:
        return len(self.acks)

    @property
    def empty(self) -> bool:
        return not self.received and not self.lines and not self.rejects


def outcome_bytes(outcome: MessageOutcome) -> int:
    """Approximate memory an outcome holds while queued (lines and kept reject payloads)."""
    size = sum(len(line) for line in outcome.lines) + ITEM_OVERHEAD_BYTES * len(outcome.lines)
    for record in outcome.rejects:
        size += len(record.payload) + len(record.detail) + ITEM_OVERHEAD_BYTES
    return size


@dataclass(frozen=True, slots=True)
class QueueSnapshot:
    """Gauges for /metrics and /healthz, read under the queue's lock."""

    messages: int
    bytes_held: int
    oldest_unacked_age_s: float | None
    waiting_for_room: bool


class BatchQueue:
    """Thread-safe: `add` from the MQTT thread, `take` and `release` from the writer thread."""

    def __init__(
        self,
        max_messages: int,
        max_wait_s: float,
        max_lines: int = 20_000,
        max_bytes: int = 256 * 1024 * 1024,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.max_messages = max_messages
        self.max_wait_s = max_wait_s
        self.max_lines = max_lines
        self.max_bytes = max_bytes
        self._clock = clock
        self._cond = threading.Condition()
        self._batch = Batch()
        self._taken: list[Batch] = []  # handed to the writer, not yet released
        self._bytes_held = 0
        self._waiting = False
        self._closed = False

    def add(self, outcome: MessageOutcome, ack: AckToken | None, received_ms: int) -> bool:
        """Queue one message's outcome; False when it was not taken (queue closed, or a QoS 0
        message at the byte bound). A QoS 1 message (`ack` set) waits for room instead."""
        size = outcome_bytes(outcome)
        with self._cond:
            while self._no_room_for(size) and not self._closed:
                if ack is None:
                    return False
                self._waiting = True
                self._cond.wait()
            self._waiting = False
            if self._closed and self._no_room_for(size):
                return False
            self._append(outcome, ack, received_ms, size)
            return True

    def _no_room_for(self, size: int) -> bool:
        # An empty queue always takes a message, however large: otherwise it would wait forever.
        return self._bytes_held > 0 and self._bytes_held + size > self.max_bytes

    def _append(self, outcome: MessageOutcome, ack: AckToken | None, received_ms: int, size: int) -> None:
        batch = self._batch
        opening = batch.empty
        if opening:
            batch.opened_at = self._clock()
        batch.lines += outcome.lines
        if outcome.rejects:  # rare: skip building the pairs for the common clean message
            batch.rejects.extend((record, received_ms) for record in outcome.rejects)
        batch.unregistered += outcome.unregistered
        batch.received += 1
        batch.size_bytes += size
        self._bytes_held += size
        if ack is not None:
            batch.acks.append(ack)
        if opening or self._full(batch):  # opening: the writer starts the batch's timer
            self._cond.notify_all()

    def close(self) -> None:
        """No more adds are expected: `take` hands out what is left, then returns None; an `add`
        waiting for room gives up (its message stays unacked and comes back on the next run)."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def take(self) -> Batch | None:
        """Block until a batch is full or old enough (or the queue closes); None when drained."""
        with self._cond:
            while True:
                batch = self._batch
                if batch.empty and self._closed:
                    return None
                if not batch.empty and (self._closed or self._full(batch) or self._aged(batch)):
                    self._batch = Batch()
                    self._taken.append(batch)
                    return batch
                timeout = None if batch.empty else self.max_wait_s - (self._clock() - batch.opened_at)
                self._cond.wait(timeout=None if timeout is None else max(timeout, 0.001))

    def release(self, batch: Batch) -> None:
        """The writer is done with `batch` (stored and acked, or abandoned): free its bytes."""
        with self._cond:
            if any(taken is batch for taken in self._taken):
                self._taken = [taken for taken in self._taken if taken is not batch]
                self._bytes_held -= batch.size_bytes
                self._cond.notify_all()

    def snapshot(self) -> QueueSnapshot:
        with self._cond:
            held = [*self._taken, self._batch]
            opened = [b.opened_at for b in held if not b.empty]
            age = self._clock() - min(opened) if opened else None
            messages = sum(b.received for b in held)
            return QueueSnapshot(messages, self._bytes_held, age, self._waiting)

    def _full(self, batch: Batch) -> bool:
        return batch.messages >= self.max_messages or len(batch.lines) >= self.max_lines

    def _aged(self, batch: Batch) -> bool:
        return self._clock() - batch.opened_at >= self.max_wait_s
