"""A drain's dry-weather band per hour of day, learned from its own readings (issue 15).

Sewer levels follow the day (low at night, peaks with morning and evening water use), so a drain
is judged against its own level at that hour on dry days: the median, and a spread from the median
absolute deviation (MAD), robust to the odd outlier where a mean and a standard deviation are not.
Pure and deterministic: readings and the zone's wet periods in, bands out.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from rules.weather import WetPeriod

if TYPE_CHECKING:
    from streetwatch.settings import Settings

MAD_TO_SIGMA = 1.4826  # MAD x this estimates the standard deviation of normal noise
DAY_MS = 86_400_000


@dataclass(frozen=True)
class BaselineConfig:
    window_days: int = 14
    band_k: float = 3.0
    min_halfwidth_cm: float = 2.0
    min_samples: int = 6

    @classmethod
    def from_settings(cls, settings: Settings) -> BaselineConfig:
        return cls(settings.baseline_window_days, settings.baseline_band_k,
                   settings.baseline_min_halfwidth_cm, settings.baseline_min_samples)


@dataclass(frozen=True)
class Band:
    """The dry-weather level at one hour of day: median +- k scaled MADs (at least the minimum)."""

    median_cm: float
    mad_cm: float
    low_cm: float
    high_cm: float
    samples: int


def hour_bands(readings: Iterable[tuple[int, float]], wet: Sequence[WetPeriod], tz: ZoneInfo,
               until_ms: int, config: BaselineConfig) -> dict[int, Band]:
    """Bands by local hour (0-23) from the readings (ts_ms, level_cm) of the `window_days` before
    `until_ms` that fall on dry local days (no wet period touches them). An hour with fewer than
    `min_samples` dry readings has no band (the drain is not judged against a guess)."""
    since_ms = until_ms - config.window_days * DAY_MS
    wet_days = _days_touched(wet, tz)
    by_hour: dict[int, list[float]] = {}
    for ts, level in readings:
        if not since_ms <= ts < until_ms:
            continue
        local = datetime.fromtimestamp(ts / 1000, UTC).astimezone(tz)
        if local.date() in wet_days:
            continue
        by_hour.setdefault(local.hour, []).append(level)
    return {hour: _band(levels, config) for hour, levels in sorted(by_hour.items())
            if len(levels) >= config.min_samples}


def _band(levels: list[float], config: BaselineConfig) -> Band:
    median = statistics.median(levels)
    mad = statistics.median(abs(level - median) for level in levels)
    half = max(config.band_k * MAD_TO_SIGMA * mad, config.min_halfwidth_cm)
    return Band(median, mad, median - half, median + half, len(levels))


def _days_touched(periods: Sequence[WetPeriod], tz: ZoneInfo) -> set[date]:
    """Local dates that any wet period overlaps (a day with any wet hour is not a dry day)."""
    days: set[date] = set()
    for period in periods:
        day = datetime.fromtimestamp(period.since / 1000, UTC).astimezone(tz).date()
        last = datetime.fromtimestamp((period.until - 1) / 1000, UTC).astimezone(tz).date()
        while day <= last:
            days.add(day)
            day += timedelta(days=1)
    return days


def band_at(bands: dict[int, Band], ts_ms: int, tz: ZoneInfo) -> Band | None:
    """The band at `ts_ms`, interpolated linearly between the bands of the neighbouring hours
    (each hour's band stands at its half past), so a drain's level is compared with a smooth curve
    and not a staircase that steps at every whole hour. One neighbour missing: the other's band;
    both missing: None."""
    local = datetime.fromtimestamp(ts_ms / 1000, UTC).astimezone(tz)
    position = local.hour + (local.minute * 60 + local.second) / 3600 - 0.5
    before = int(position // 1) % 24
    after = (before + 1) % 24
    weight = position - position // 1
    a, b = bands.get(before), bands.get(after)
    if a is None or b is None:
        return a or b
    def mix(x: float, y: float) -> float:
        return x + (y - x) * weight
    return Band(mix(a.median_cm, b.median_cm), mix(a.mad_cm, b.mad_cm), mix(a.low_cm, b.low_cm),
                mix(a.high_cm, b.high_cm), min(a.samples, b.samples))
