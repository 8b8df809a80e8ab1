"""Wake-ups for the rule core: one wanted instant per key, in time order, cheap to move.

A heap of plain ints (`at << KEY_BITS | key`) with the wanted instant per key on the side. Moving a
wake later costs nothing (the earlier heap entry, when it comes up, re-arms at the wanted instant);
cancelling is forgetting the wanted instant (its entries are skipped). So a lamp that reports every
five minutes moves its staleness timer without touching the heap.
"""

from __future__ import annotations

import heapq

KEY_BITS = 24
KEY_MASK = (1 << KEY_BITS) - 1
NEVER = 1 << 62


class Timers:
    """`schedule(key, at)`, `cancel(key)`, and `pop_due(now)` in time order."""

    def __init__(self) -> None:
        self._heap: list[int] = []
        self._due: dict[int, int] = {}

    def __len__(self) -> int:
        return len(self._due)

    def schedule(self, key: int, at_ms: int) -> None:
        """Wake `key` at `at_ms` (replacing what it wanted before); NEVER cancels."""
        if at_ms >= NEVER:
            self._due.pop(key, None)
            return
        before = self._due.get(key)
        self._due[key] = at_ms
        if before is None or at_ms < before:
            heapq.heappush(self._heap, at_ms << KEY_BITS | key)

    def cancel(self, key: int) -> None:
        self._due.pop(key, None)

    def wanted(self, key: int) -> int | None:
        return self._due.get(key)

    def next_at(self) -> int | None:
        """The earliest heap entry (it may turn out superseded); None when empty."""
        return self._heap[0] >> KEY_BITS if self._heap else None

    def pop_due(self, now_ms: int) -> tuple[int, int] | None:
        """The next (at, key) wanted at or before `now_ms`, removed; None when there is none."""
        heap, due = self._heap, self._due
        while heap and heap[0] >> KEY_BITS <= now_ms:
            entry = heapq.heappop(heap)
            at, key = entry >> KEY_BITS, entry & KEY_MASK
            wanted = due.get(key)
            if wanted is None or wanted < at:
                continue  # cancelled, or an earlier entry already served it
            if wanted > at:
                heapq.heappush(heap, wanted << KEY_BITS | key)  # moved later: re-arm there
                continue
            del due[key]
            return at, key
        return None
