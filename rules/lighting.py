"""Lighting rate: per-zone counts kept incrementally, sampled at ticks, and the zone_below_target rule.

A lamp is in exactly one category at any instant (docs/alerts.md): out of service, lit (fresh
reading, on, no fault that leaves it dark), dark (fresh reading that says otherwise) or stale (no
reading in `stale_after`). The lamp rules move a lamp between categories when a reading or a timer
changes it; this module only adds and subtracts, so a tick costs one step per zone, not per lamp.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

from rules.config import RuleConfig
from streetwatch.alerts.model import (
    CITY_ZONE,
    Cleared,
    Condition,
    Raised,
    Transition,
    rfc3339_ms,
    zone_subject,
)

OUT_OF_SERVICE, LIT, DARK, STALE = 0, 1, 2, 3


@dataclass(frozen=True, slots=True)
class LightingRate:
    """One sample of a zone's (or the town's) lighting rate at a tick in its lights-on period."""

    ts_ms: int
    zone: str
    lit: int
    expected: int
    stale: int
    target: float

    @property
    def rate(self) -> float:
        return self.lit / self.expected if self.expected else 1.0

    def as_json(self) -> dict[str, object]:
        return {"type": "lighting_rate", "ts": rfc3339_ms(self.ts_ms), "zone": self.zone,
                "rate": round(self.rate, 6), "lit": self.lit, "expected": self.expected,
                "stale": self.stale, "target": self.target}


class ZoneCounts:
    """expected / lit / stale per zone, moved by category changes (no rescans)."""

    def __init__(self, lamps_per_zone: dict[str, int]) -> None:
        """Every lamp starts out of service; the lamp rules move it to its category."""
        self._counts = {zone: [n, 0, 0, 0] for zone, n in lamps_per_zone.items()}

    def move(self, zone: str, old: int, new: int) -> None:
        counts = self._counts[zone]
        counts[old] -= 1
        counts[new] += 1

    def sample(self, zone: str, ts_ms: int, target: Fraction) -> LightingRate:
        counts = self._counts[zone]
        expected = counts[LIT] + counts[DARK] + counts[STALE]
        return LightingRate(ts_ms, zone, counts[LIT], expected, counts[STALE], float(target))


def city_sample(samples: list[LightingRate], ts_ms: int, target: Fraction) -> LightingRate:
    """The town's rate: the sum over the zones that are in their lights-on period."""
    return LightingRate(ts_ms, CITY_ZONE, sum(s.lit for s in samples),
                        sum(s.expected for s in samples), sum(s.stale for s in samples),
                        float(target))


def meets(sample: LightingRate, target: Fraction) -> bool:
    """Exact: 99 lit of 100 meets 0.99 (no float rounding decides a campaign score)."""
    return sample.expected == 0 or Fraction(sample.lit, sample.expected) >= target


@dataclass(slots=True)
class _BelowTarget:
    below_since: int | None = None
    above_since: int | None = None
    active: bool = False


class BelowTargetRule:
    """zone_below_target: below target for `after` during the lights-on period; clears after
    `clear` at or above it. Outside the period the zone is not judged and an open alert stays."""

    def __init__(self, config: RuleConfig) -> None:
        self.config = config
        self._zones: dict[str, _BelowTarget] = {}

    def night_sample(self, sample: LightingRate, target: Fraction) -> list[Transition]:
        state = self._zones.setdefault(sample.zone, _BelowTarget())
        if not meets(sample, target):
            state.above_since = None
            state.below_since = state.below_since if state.below_since is not None else sample.ts_ms
            if not state.active and sample.ts_ms - state.below_since >= self.config.zone_below_target_after_ms:
                state.active = True
                return [Raised(self._condition(sample, target), sample.ts_ms)]
            return []
        state.below_since = None
        state.above_since = state.above_since if state.above_since is not None else sample.ts_ms
        if state.active and sample.ts_ms - state.above_since >= self.config.zone_below_target_clear_ms:
            state.active = False
            return [Cleared("zone_below_target", zone_subject(sample.zone), sample.ts_ms,
                            f"rate at or above {float(target):.2%} since the tick at "
                            f"{rfc3339_ms(state.above_since)}")]
        return []

    def assume(self, zone: str) -> None:
        """An open zone_below_target from storage (restart): it clears only after the hold."""
        self._zones.setdefault(zone, _BelowTarget()).active = True

    def not_night(self, zone: str) -> None:
        """Streaks do not bridge a day: the next night starts counting afresh."""
        state = self._zones.get(zone)
        if state is not None:
            state.below_since = state.above_since = None

    def _condition(self, sample: LightingRate, target: Fraction) -> Condition:
        return Condition(
            "zone_below_target", zone_subject(sample.zone), sample.zone, (),
            f"zone {sample.zone} lighting rate {sample.rate:.2%} ({sample.lit}/{sample.expected},"
            f" {sample.stale} stale) below target {float(target):.2%}")

