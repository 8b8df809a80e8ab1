"""Gathers processed messages into batches, by size and by time, between paho's thread and the writer.

A batch carries the lines to write, the rejects to keep, and the ack tokens of every message in it:
the writer acknowledges those only after the whole batch is stored. Memory is bounded by the
broker's in-flight window, since the broker sends no more unacknowledged messages than that.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from ingest.validation import MessageOutcome, RejectRecord


@dataclass(frozen=True, slots=True)
class AckToken:
    """A message to acknowledge: its MQTT id within one connection ("generation")."""

    generation: int
    mid: int


@dataclass(slots=True)
class Batch:
    lines: list[str] = field(default_factory=list)
    rejects: list[tuple[RejectRecord, int]] = field(default_factory=list)
    acks: list[AckToken] = field(default_factory=list)
    unregistered: int = 0
    opened_at: float = 0.0

    @property
    def messages(self) -> int:
        return len(self.acks)


class BatchQueue:
    """Thread-safe: `add` from the MQTT thread, `take` from the writer thread."""

    def __init__(
        self,
        max_messages: int,
        max_wait_s: float,
        max_lines: int = 20_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.max_messages = max_messages
        self.max_wait_s = max_wait_s
        self.max_lines = max_lines
        self._clock = clock
        self._cond = threading.Condition()
        self._batch = Batch()
        self._closed = False

    def add(self, outcome: MessageOutcome, ack: AckToken | None, received_ms: int) -> None:
        with self._cond:
            batch = self._batch
            opening = not batch.acks and not batch.lines and not batch.rejects
            if opening:
                batch.opened_at = self._clock()
            batch.lines += outcome.lines
            if outcome.rejects:  # rare: skip building the pairs for the common clean message
                batch.rejects.extend((record, received_ms) for record in outcome.rejects)
            batch.unregistered += outcome.unregistered
            if ack is not None:
                batch.acks.append(ack)
            if opening or self._full(batch):  # opening: the writer starts the batch's timer
                self._cond.notify_all()

    def close(self) -> None:
        """No more adds are expected: `take` hands out what is left, then returns None."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def take(self) -> Batch | None:
        """Block until a batch is full or old enough (or the queue closes); None when drained."""
        with self._cond:
            while True:
                batch = self._batch
                empty = not batch.acks and not batch.lines and not batch.rejects
                if empty and self._closed:
                    return None
                if not empty and (self._closed or self._full(batch) or self._aged(batch)):
                    self._batch = Batch()
                    return batch
                timeout = None if empty else self.max_wait_s - (self._clock() - batch.opened_at)
                self._cond.wait(timeout=None if timeout is None else max(timeout, 0.001))

    def _full(self, batch: Batch) -> bool:
        return batch.messages >= self.max_messages or len(batch.lines) >= self.max_lines

    def _aged(self, batch: Batch) -> bool:
        return self._clock() - batch.opened_at >= self.max_wait_s
