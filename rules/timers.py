"""Wake-ups for the rule core: one wanted instant per key, in time order, cheap to move.

The wanted instant per key lives in an array (8 bytes a key, no object per timer). Keys wait in
per-second buckets (arrays of keys); the earliest bucket, once its second has come, is sorted into
a small heap by exact instant. Moving a wake later costs nothing: the key's old bucket entry, when
it comes up, re-files the key at its new instant. Cancelling is forgetting the instant. So a lamp
that reports every five minutes moves its staleness timer without touching any bucket.
"""

from __future__ import annotations

import heapq
from array import array

KEY_BITS = 24
KEY_MASK = (1 << KEY_BITS) - 1
NEVER = 1 << 62
BUCKET_MS = 1000


class Timers:
    """`schedule(key, at)`, `cancel(key)`, `pop_due(now)` in time order; keys < `capacity`."""

    def __init__(self, capacity: int) -> None:
        if capacity > KEY_MASK + 1:
            raise ValueError(f"at most {KEY_MASK + 1} timer keys")
        self._due = array("q", [NEVER]) * capacity
        self._buckets: dict[int, array] = {}
        self._bucket_order: list[int] = []  # heap of the buckets that hold keys
        self._ready: list[int] = []  # heap of `at << KEY_BITS | key` of the drained buckets
        self._drained = -1  # the latest bucket moved into `_ready`
        self._count = 0

    def __len__(self) -> int:
        """Keys with a wanted instant."""
        return self._count

    def schedule(self, key: int, at_ms: int) -> None:
        """Wake `key` at `at_ms` (replacing what it wanted before); NEVER cancels."""
        before = self._due[key]
        self._due[key] = at_ms
        self._count += (at_ms < NEVER) - (before < NEVER)
        if at_ms < before:
            self._file(key, at_ms)

    def cancel(self, key: int) -> None:
        self.schedule(key, NEVER)

    def any_due(self, now_ms: int) -> bool:
        """Whether something may be due by `now_ms` (cheap: the per-reading check)."""
        return bool((self._ready and self._ready[0] >> KEY_BITS <= now_ms)
                    or (self._bucket_order and self._bucket_order[0] * BUCKET_MS <= now_ms))

    def next_at(self) -> int | None:
        """A lower bound of the next wanted instant (None: nothing is wanted)."""
        ready = self._ready[0] >> KEY_BITS if self._ready else NEVER
        filed = self._bucket_order[0] * BUCKET_MS if self._bucket_order else NEVER
        head = min(ready, filed)
        return None if head >= NEVER else head

    def pop_due(self, now_ms: int) -> tuple[int, int] | None:
        """The next (at, key) wanted at or before `now_ms`, removed; None when there is none."""
        due, ready = self._due, self._ready
        while True:
            if ready and ready[0] >> KEY_BITS <= now_ms:
                entry = heapq.heappop(ready)
                at, key = entry >> KEY_BITS, entry & KEY_MASK
                wanted = due[key]
                if wanted == at:
                    due[key] = NEVER
                    self._count -= 1
                    return at, key
                if at < wanted < NEVER:
                    self._file(key, wanted)  # moved later: filed again at its new instant
                continue
            if not self._drain_next_bucket(now_ms):
                return None

    def _file(self, key: int, at_ms: int) -> None:
        bucket = at_ms // BUCKET_MS
        if bucket <= self._drained:  # its second is already being served: straight to the heap
            heapq.heappush(self._ready, at_ms << KEY_BITS | key)
            return
        keys = self._buckets.get(bucket)
        if keys is None:
            keys = self._buckets[bucket] = array("q")
            heapq.heappush(self._bucket_order, bucket)
        keys.append(key)

    def _drain_next_bucket(self, now_ms: int) -> bool:
        """Move the earliest bucket whose second has begun into the ready heap."""
        order = self._bucket_order
        if not order or order[0] * BUCKET_MS > now_ms:
            return False
        bucket = heapq.heappop(order)
        self._drained = max(self._drained, bucket)
        due, ready = self._due, self._ready
        for key in self._buckets.pop(bucket):
            at = due[key]
            if at >= NEVER:
                continue
            if at // BUCKET_MS == bucket:
                heapq.heappush(ready, at << KEY_BITS | key)
            elif at // BUCKET_MS > bucket:
                self._file(key, at)
            # earlier than this bucket: an earlier filing serves it
        return True
