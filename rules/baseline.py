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
from datetime import UTC, datetime
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


class LocalClock:
    """Epoch ms -> (local day ordinal, local hour) in the town's zone, cached per UTC quarter hour
    (every zone's offset is a multiple of 15 min, so the local hour never changes inside one)."""

    _BLOCK_MS = 900_000

    def __init__(self, tz: ZoneInfo) -> None:
        self.tz = tz
        self._cache: dict[int, tuple[int, int]] = {}

    def day_hour(self, ts_ms: int) -> tuple[int, int]:
        block = ts_ms // self._BLOCK_MS
        found = self._cache.get(block)
        if found is None:
            if len(self._cache) > 100_000:
                self._cache.clear()
            local = datetime.fromtimestamp(block * self._BLOCK_MS / 1000, UTC).astimezone(self.tz)
            found = self._cache[block] = (local.toordinal(), local.hour)
        return found

    def day(self, ts_ms: int) -> int:
        return self.day_hour(ts_ms)[0]

    def wet_days(self, periods: Sequence[WetPeriod]) -> set[int]:
        """Local day ordinals that any wet period overlaps (a day with any wet hour is not dry)."""
        days: set[int] = set()
        for period in periods:
            days.update(range(self.day(period.since), self.day(period.until - 1) + 1))
        return days


class LevelHistory:
    """One drain's readings by local day and hour: what its bands are learned from."""

    __slots__ = ("days",)

    def __init__(self) -> None:
        self.days: dict[int, list[list[float]]] = {}

    def add(self, day: int, hour: int, level_cm: float) -> None:
        hours = self.days.get(day)
        if hours is None:
            hours = self.days[day] = [[] for _ in range(24)]
        hours[hour].append(level_cm)

    def forget_before(self, day: int) -> None:
        for old in [d for d in self.days if d < day]:
            del self.days[old]

    def bands(self, day: int, wet_days: set[int], config: BaselineConfig) -> dict[int, Band]:
        """Bands by local hour from the dry days among the `window_days` days before `day`. An
        hour with fewer than `min_samples` dry readings has no band (no judging against a guess)."""
        dry = [self.days[d] for d in range(day - config.window_days, day)
               if d in self.days and d not in wet_days]
        bands = {}
        for hour in range(24):
            levels = [level for hours in dry for level in hours[hour]]
            if len(levels) >= config.min_samples:
                bands[hour] = _band(levels, config)
        return bands


def hour_bands(readings: Iterable[tuple[int, float]], wet: Sequence[WetPeriod], tz: ZoneInfo,
               until_ms: int, config: BaselineConfig) -> dict[int, Band]:
    """Bands by local hour (0-23) from the readings (ts_ms, level_cm) of the `window_days` local
    days before the day of `until_ms` that are dry (no wet period touches them): what the rule core
    judges that day against (it keeps a `LevelHistory` per drain to the same effect)."""
    clock = LocalClock(tz)
    history = LevelHistory()
    for ts, level in readings:
        if ts < until_ms:
            history.add(*clock.day_hour(ts), level)
    return history.bands(clock.day(until_ms), clock.wet_days(wet), config)


def _band(levels: list[float], config: BaselineConfig) -> Band:
    median = statistics.median(levels)
    mad = statistics.median(abs(level - median) for level in levels)
    half = max(config.band_k * MAD_TO_SIGMA * mad, config.min_halfwidth_cm)
    return Band(median, mad, median - half, median + half, len(levels))


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
