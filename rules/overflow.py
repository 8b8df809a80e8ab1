"""Is a drain about to overflow? Robust level and rate of rise from its recent readings (issue 15).

`overflow_imminent` holds when the drain's level is within a margin of its overflow level (default
10 % of its depth), or when its rate of rise, if it keeps up, reaches the overflow level within a
horizon (default 30 min). The level is the median of the last three readings and the rate the
Theil-Sen slope (median of pairwise slopes) over the recent window, so one wild reading -- a
sensor glitch, a wave -- neither raises the alert nor hides a real rise. Pure.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass

MIN_MS = 60_000


@dataclass(frozen=True)
class OverflowConfig:
    margin_fraction: float = 0.10  # of the drain's depth
    horizon_ms: int = 30 * MIN_MS
    window_ms: int = 30 * MIN_MS  # readings the rate of rise is taken from
    min_points: int = 4  # fewer readings in the window: no projection (too little evidence)
    # the rise the projection stands on (rate x the readings' span) must be at least this: ~2 cm
    # is what a level sensor's noise covers, however fast it looks between readings seconds apart
    min_rise_cm: float = 2.0


def robust_level(points: Sequence[tuple[int, float]]) -> float:
    """The median of the last three levels (or fewer, when there are fewer)."""
    return statistics.median(level for _, level in points[-3:])


def rise_cm_per_min(points: Sequence[tuple[int, float]]) -> float | None:
    """Theil-Sen slope of (ts_ms, level_cm) in cm per minute; None for fewer than two instants."""
    slopes = [(b[1] - a[1]) / (b[0] - a[0]) * MIN_MS
              for i, a in enumerate(points) for b in points[i + 1:] if b[0] != a[0]]
    return statistics.median(slopes) if slopes else None


def minutes_to_overflow(level_cm: float, overflow_cm: float, rise: float) -> float | None:
    """Minutes until `overflow_cm` at `rise` cm/min from `level_cm` (0 when already there;
    None when the level is not rising)."""
    if level_cm >= overflow_cm:
        return 0.0
    if rise <= 0:
        return None
    return (overflow_cm - level_cm) / rise


def overflow_imminent(points: Sequence[tuple[int, float]], depth_cm: float, overflow_cm: float,
                      config: OverflowConfig = OverflowConfig()) -> str | None:
    """Why the drain is about to overflow (the alert's message), or None. `points` are its
    readings (ts_ms, level_cm) in time order, the latest last."""
    if not points:
        return None
    level = robust_level(points)
    margin = config.margin_fraction * depth_cm
    if level >= overflow_cm - margin:
        return (f"level {level:.1f} cm is within {margin:.1f} cm of the overflow level "
                f"{overflow_cm:.1f} cm")
    latest = points[-1][0]
    recent = [p for p in points if p[0] > latest - config.window_ms]
    if len({ts for ts, _ in recent}) < config.min_points:
        return None
    rise = rise_cm_per_min(recent)
    if rise is not None and rise * (latest - recent[0][0]) / MIN_MS < config.min_rise_cm:
        return None  # too little rise over the window to be told from noise
    minutes = None if rise is None else minutes_to_overflow(level, overflow_cm, rise)
    if minutes is not None and minutes * MIN_MS <= config.horizon_ms:
        return (f"rising {rise:.2f} cm/min from {level:.1f} cm: overflow level {overflow_cm:.1f} "
                f"cm in about {minutes:.0f} min")
    return None
