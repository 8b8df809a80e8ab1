"""The phase interval (night, day, switching) around an instant, from a Schedule, cached per zone.

The rule core asks "since when has it been night here?" for every dark lamp; the schedule only
answers "what phase now" and "when does it change next", so this walks those answers once and
keeps the current interval per zone (the core's clock only moves forward).
"""

from __future__ import annotations

from rules.config import Phase, Schedule

_LOOK_BACK_MS = 3 * 86_400_000  # a phase never lasts longer than this outside the polar regions


class PhaseClock:
    """Current phase interval per zone: `interval(zone, ts)` -> (start_ms, end_ms, phase)."""

    def __init__(self, schedule: Schedule) -> None:
        self.schedule = schedule
        self._current: dict[str, tuple[int, int, Phase]] = {}

    def interval(self, zone: str, ts_ms: int) -> tuple[int, int, Phase]:
        known = self._current.get(zone)
        if known is not None and known[0] <= ts_ms < known[1]:
            return known
        if known is not None and known[1] <= ts_ms < self.schedule.next_change_ms(zone, known[1]):
            found = (known[1], self.schedule.next_change_ms(zone, known[1]),
                     self.schedule.phase(zone, known[1]))
        else:
            found = self._search(zone, ts_ms)
        self._current[zone] = found
        return found

    def phase(self, zone: str, ts_ms: int) -> Phase:
        return self.interval(zone, ts_ms)[2]

    def next_start(self, zone: str, ts_ms: int, phase: Phase) -> int:
        """The first start of a `phase` interval after `ts_ms`."""
        _, end, _ = self.interval(zone, ts_ms)
        while self.schedule.phase(zone, end) != phase:
            end = self.schedule.next_change_ms(zone, end)
        return end

    def turn_after(self, zone: str, ts_ms: int, phase: Phase, hold_ms: int) -> int:
        """The first instant after `ts_ms` that is a `phase` start plus `hold_ms` (the current
        interval's, when that is still ahead)."""
        start, _, current = self.interval(zone, ts_ms)
        if current == phase and start + hold_ms > ts_ms:
            return start + hold_ms
        return self.next_start(zone, ts_ms, phase) + hold_ms

    def _search(self, zone: str, ts_ms: int) -> tuple[int, int, Phase]:
        start = ts_ms - _LOOK_BACK_MS
        while True:
            end = self.schedule.next_change_ms(zone, start)
            if end > ts_ms:
                return start, end, self.schedule.phase(zone, ts_ms)
            start = end
