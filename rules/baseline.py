"""A drain's dry-weather band per hour of day, learned from its own readings (issue 15).

Sewer levels follow the day (low at night, peaks with morning and evening water use), so a drain
is judged against its own level at that hour on dry days: the median, and a spread from the
interquartile range, robust to the odd outlier where a mean and a standard deviation are not. (The
median absolute deviation would do as well; the quartiles come from the same single sort as the
median, which matters when 2,000 drains relearn 24 bands each every day.)
Pure and deterministic: readings and the zone's wet periods in, bands out.
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from rules.weather import WetPeriod
from streetwatch.town import DrainSite

if TYPE_CHECKING:
    from streetwatch.settings import Settings

IQR_TO_SIGMA = 1 / 1.349  # the interquartile range x this estimates the sd of normal noise
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
    """The dry-weather level at one hour of day: median +- k robust standard deviations (the
    interquartile range scaled to one; at least the minimum half-width)."""

    median_cm: float
    spread_cm: float  # the robust standard deviation: IQR / 1.349
    low_cm: float
    high_cm: float
    samples: int


class LocalClock:
    """Epoch ms -> local day ordinal, hour and time of day in the town's zone, cached per UTC
    quarter hour (every zone's offset is a multiple of 15 min, so it never changes inside one)."""

    BLOCK_MS = 900_000

    def __init__(self, tz: ZoneInfo) -> None:
        self.tz = tz
        # (day, hour, local midnight ms) by `ts // BLOCK_MS`: a hot loop may look it up itself
        self.cache: dict[int, tuple[int, int, int]] = {}

    def local(self, ts_ms: int) -> tuple[int, int, int]:
        """(day ordinal, hour, local midnight in epoch ms) of the quarter hour holding ts_ms."""
        block = ts_ms // self.BLOCK_MS
        found = self.cache.get(block)
        if found is None:
            if len(self.cache) > 100_000:
                self.cache.clear()
            start = block * self.BLOCK_MS
            local = datetime.fromtimestamp(start / 1000, UTC).astimezone(self.tz)
            since_midnight = ((local.hour * 60 + local.minute) * 60 + local.second) * 1000
            found = self.cache[block] = (local.toordinal(), local.hour, start - since_midnight)
        return found

    def day_hour(self, ts_ms: int) -> tuple[int, int]:
        day, hour, _ = self.local(ts_ms)
        return day, hour

    def hours_of_day(self, ts_ms: int) -> float:
        """Local time of day in hours (13.5 is half past one in the afternoon)."""
        return (ts_ms - self.local(ts_ms)[2]) / 3_600_000

    def day(self, ts_ms: int) -> int:
        return self.day_hour(ts_ms)[0]

    def wet_days(self, periods: Sequence[WetPeriod]) -> set[int]:
        """Local day ordinals that any wet period overlaps (a day with any wet hour is not dry)."""
        days: set[int] = set()
        for period in periods:
            days.update(range(self.day(period.since), self.day(period.until - 1) + 1))
        return days


class LevelHistory:
    """One drain's readings by local day and hour: what its bands are learned from. The day being
    added to is kept at hand: readings come in time order, so most adds skip the day lookup (and a
    hot loop may do `today_hours[hour].append(level)` itself when `day == today`; `add` otherwise).

    The bands are relearned every day from a window that moves by one day, so the sorted levels of
    each hour are kept from one learning to the next and only the days that left and entered the
    window are taken out and merged in (`columns`): far less than 24 sorts of a fortnight's
    readings per drain per day. The lists are exactly those one sort would give."""

    __slots__ = ("days", "today", "today_hours", "_learned", "_sorted", "_plain")

    def __init__(self) -> None:
        self.days: dict[int, list[list[float]]] = {}
        self.today = -1
        self.today_hours: list[list[float]] = []
        self._learned: set[int] = set()  # the days whose levels `_sorted` holds
        self._sorted: list[list[float]] = []  # per hour, those days' levels in order
        self._plain = False  # `_sorted` holds no odd level (see `_odd`)

    def add(self, day: int, hour: int, level_cm: float) -> None:
        if day != self.today:
            hours = self.days.get(day)
            if hours is None:
                hours = self.days[day] = [[] for _ in range(24)]
            if day in self._learned:
                self._forget_sorted()  # a learned day grows: the kept lists no longer hold
            self.today, self.today_hours = day, hours
        self.today_hours[hour].append(level_cm)

    def forget_before(self, day: int) -> None:
        for old in [d for d in self.days if d < day]:
            del self.days[old]
            if old in self._learned:
                self._forget_sorted()
        if self.today < day:
            self.today = -1  # its bucket is gone with it

    def bands(self, day: int, wet_days: set[int], config: BaselineConfig) -> dict[int, Band]:
        """Bands by local hour from the dry days among the `window_days` days before `day`. An
        hour with fewer than `min_samples` dry readings has no band (no judging against a guess)."""
        return bands_of(self.columns(day, wet_days, config))

    def columns(self, day: int, wet_days: set[int], config: BaselineConfig
                ) -> tuple[list[float | None], list[float], list[float], list[float | None],
                           list[int]]:
        """The bands as columns of 24 -- medians (None: no band), spreads, lows, highs, samples
        -- with no object per band: the rule core relearns 24 bands per drain every day.
        (The quartiles are `_quantile` written out: three calls an hour, 24 hours, 2,000 drains.)"""
        days = self.days
        dry = {d for d in range(day - config.window_days, day) if d in days and d not in wet_days}
        width, floor, least = (config.band_k * IQR_TO_SIGMA, config.min_halfwidth_cm,
                               config.min_samples)
        medians: list[float | None] = []
        spreads, lows, highs, counts = [], [], [], []
        for levels in self._sorted_levels(dry):
            n = len(levels)
            if n < least or n == 0:
                medians.append(None)
                spreads.append(0.0)
                lows.append(0.0)
                highs.append(None)
                counts.append(n)
                continue
            places = _QUARTILE_PLACES.get(n) or _quartile_places(n)
            i, w, j, v, k, u = places  # (the hours of a day mostly hold as many levels)
            lower = levels[i] if w is None else levels[i] + (levels[i + 1] - levels[i]) * w
            median = levels[j] if v is None else levels[j] + (levels[j + 1] - levels[j]) * v
            upper = levels[k] if u is None else levels[k] + (levels[k + 1] - levels[k]) * u
            spread = upper - lower
            half = width * spread
            if half < floor:
                half = floor
            medians.append(median)
            spreads.append(spread * IQR_TO_SIGMA)
            lows.append(median - half)
            highs.append(median + half)
            counts.append(n)
        return medians, spreads, lows, highs, counts  # type: ignore[return-value]

    def _sorted_levels(self, dry: set[int]) -> list[list[float]]:
        """Per hour, the levels of the `dry` days in order: the kept lists brought up to date (the
        days that left taken out, the new ones merged in), or sorted afresh when nothing usable
        is kept or an odd level (see `_odd`) is among them."""
        days, learned = self.days, self._learned
        gone, new = learned - dry, dry - learned
        ordered = self._sorted
        if self._plain and learned and len(gone) + len(new) <= len(dry) // 2:
            for d in gone:  # written flat: 2,000 drains come here every day
                for levels, old in zip(ordered, days[d], strict=True):
                    for level in old:
                        del levels[bisect_left(levels, level)]
            for d in new:
                for levels, added in zip(ordered, days[d], strict=True):
                    if _odd(added):
                        break  # (the lists are rebuilt below)
                    levels += added
                    levels.sort()  # one long sorted run and a short one: a merge
                else:
                    continue
                self._plain = False
                break
        else:
            self._plain = False
        if not self._plain:
            chosen = [days[d] for d in sorted(dry)]
            ordered = []
            plain = True
            for hour in range(24):
                levels: list[float] = []
                for hours in chosen:
                    levels += hours[hour]
                levels.sort()
                ordered.append(levels)
                plain = plain and not _odd(levels)
            self._plain = plain
        self._learned, self._sorted = dry, ordered
        if self.today in dry:
            self.today = -1  # so that its next add goes through the check in `add`
        return ordered

    def _forget_sorted(self) -> None:
        self._learned, self._sorted, self._plain = set(), [], False


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


def bands_of(columns: tuple) -> dict[int, Band]:
    """`LevelHistory.columns` as Band objects by hour (hours without a band left out)."""
    return {hour: Band(median, spread, low, high, n)
            for hour, (median, spread, low, high, n) in enumerate(zip(*columns, strict=True))
            if median is not None}


def configured_band(site: DrainSite) -> Band | None:
    """The registry's normal band of `site` (the same at every hour), or None: learn one."""
    if site.normal_low_cm is None or site.normal_high_cm is None:
        return None
    low, high = site.normal_low_cm, site.normal_high_cm
    return Band((low + high) / 2, 0.0, low, high, 0)


def _odd(levels: list[float]) -> bool:
    """Whether the levels hold a NaN (which a sort places anyhow) or a -0.0 (equal to 0.0, so its
    place among the zeros is the input's): then no kept sorted list can stand in for a fresh sort.
    (Two C-level passes; the sign is looked at only when there is a zero.)"""
    total = sum(levels)
    return total != total or (0.0 in levels and any(
        v == 0.0 and math.copysign(1.0, v) < 0 for v in levels))


Places = tuple[int, float | None, int, float | None, int, float | None]
_QUARTILE_PLACES: dict[int, Places] = {}


def _quartile_places(n: int) -> Places:
    """Where `_quantile` takes the 1st, 2nd and 3rd quartiles of n sorted values: (index,
    weight of the next value) each, None at the last index (nothing after it to weigh; a weight
    of 0.0 is still applied, as `_quantile` does). Kept per n (a few sizes recur)."""
    places: list[int | float | None] = []
    for p in (0.25, 0.5, 0.75):
        at = p * (n - 1)
        low = int(at)
        places += [low, None if low + 1 >= n else at - low]
    found = _QUARTILE_PLACES[n] = tuple(places)  # type: ignore[assignment]
    return found  # type: ignore[return-value]


def _quantile(ordered: list[float], p: float) -> float:
    """The p-quantile of sorted values, linearly interpolated (statistics' "inclusive" method)."""
    position = p * (len(ordered) - 1)
    low = int(position)
    if low + 1 >= len(ordered):
        return ordered[low]
    return ordered[low] + (ordered[low + 1] - ordered[low]) * (position - low)


def band_at(bands: dict[int, Band], ts_ms: int, tz: ZoneInfo) -> Band | None:
    """The band at `ts_ms` in zone `tz` (see `band_at_hour`)."""
    return band_at_hour(bands, LocalClock(tz).hours_of_day(ts_ms))


def band_at_hour(bands: dict[int, Band], hours: float) -> Band | None:
    """The band at local time of day `hours`, interpolated linearly between the bands of the
    neighbouring hours (each hour's band stands at its half past), so a drain's level is compared
    with a smooth curve and not a staircase that steps at every whole hour. One neighbour missing:
    the other's band; both missing: None."""
    position = hours - 0.5
    floor = position // 1
    before = int(floor) % 24
    a, b = bands.get(before), bands.get((before + 1) % 24)
    if a is None or b is None:
        return a or b
    w = position - floor
    return Band(a.median_cm + (b.median_cm - a.median_cm) * w,
                a.spread_cm + (b.spread_cm - a.spread_cm) * w,
                a.low_cm + (b.low_cm - a.low_cm) * w, a.high_cm + (b.high_cm - a.high_cm) * w,
                min(a.samples, b.samples))
