"""Lighting-rate reports: time-weighted nightly and monthly rates per zone, from rate samples.

The rule engine writes one `lighting_rate` sample per zone every `every_s` during the night
phase (DESIGN s.4, s.5). Definitions, for one zone:

- **Hold.** A sample taken at `ts` stands for the rate from `ts` until the next sample, but never
  longer than `every_s` (a gap means the engine did not run: that time is unknown, not dark).
  A sample whose `expected` is 0 (no lamp should be lit) stands for nothing.
- **Covered time** of a night: the part of the night interval that the samples' holds cover.
- **Night mean rate**: the mean of the samples' rates, each weighted by its hold within the
  night (its share of the covered time): sum(rate_i * hold_i) / sum(hold_i). A night no sample
  covers has no rate and is not counted.
- **Minutes below target**: the covered minutes of samples below the target in force (the
  sample's own `target` when stored, else the zone's configured target), decided exactly on the
  counts: 99 lit of 100 meets 0.99 whatever the float rounding of the stored rate.
- **Month** (town local time): the nights that *start* in the month. Its mean rate is weighted by
  covered time over all those nights (a long winter night weighs more than a short summer one);
  `nights` counts the nights with a rate; the worst night is the one with the lowest mean (the
  earliest on a tie), named by the local date it starts on; minutes below target add up.
- **Long nights**: a night interval longer than a day (polar night) is cut at each local noon
  inside it, so a polar month still has one "night" per day.

Pure: plain data in, plain data out; the `report lighting` command (rules/cli.py) does the I/O.
"""

from __future__ import annotations

import csv
import io
from bisect import bisect_left
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from fractions import Fraction
from functools import lru_cache
from typing import Protocol
from zoneinfo import ZoneInfo

from streetwatch.alerts.model import CITY_ZONE
from streetwatch.safe_csv import csv_cell

Period = tuple[int, int]
_DAY_MS = 86_400_000
_MINUTE_MS = 60_000
CSV_COLUMNS = ("zone", "nights", "mean_rate", "worst_night", "worst_night_rate",
               "minutes_below_target")


class NightSource(Protocol):
    """What reports need from rules.schedule.LightsOnSchedule."""

    def night_intervals(self, zone: str, from_ms: int, to_ms: int) -> list[Period]: ...


@dataclass(frozen=True, slots=True)
class RateSample:
    """One `lighting_rate` point of a zone; `target` is the one stored with it, if any."""

    ts_ms: int
    rate: float
    lit: int
    expected: int
    target: float | None = None


@dataclass(frozen=True, slots=True)
class NightRate:
    """One night of one zone: its interval, covered time, mean rate (None: no data), time below
    target."""

    start_ms: int
    end_ms: int
    covered_ms: int
    mean_rate: float | None
    below_target_ms: int


@dataclass(frozen=True, slots=True)
class ZoneMonth:
    """A zone's month: the CSV row."""

    zone: str
    nights: int
    mean_rate: float | None
    worst_night: date | None
    worst_night_rate: float | None
    minutes_below_target: float


# Nights ----------------------------------------------------------------------------------------

def month_bounds_ms(month: str, tz: ZoneInfo) -> Period:
    """[first local midnight, next month's first local midnight) of "YYYY-MM" in epoch ms."""
    try:
        first = date.fromisoformat(f"{month}-01")
    except ValueError:
        raise ValueError(f"month {month!r} must be YYYY-MM") from None
    following = date(first.year + first.month // 12, first.month % 12 + 1, 1)
    return _local_ms(first, time(0), tz), _local_ms(following, time(0), tz)


def month_nights(source: NightSource, zone: str, month: str, tz: ZoneInfo) -> list[Period]:
    """The nights of `zone` that start in `month` (local time), long ones cut at local noon."""
    start_ms, end_ms = month_bounds_ms(month, tz)
    # Look two days either side so that a night is seen whole, not clipped at the month edge.
    found = source.night_intervals(zone, start_ms - 2 * _DAY_MS, end_ms + 2 * _DAY_MS)
    pieces = (piece for night in found for piece in cut_at_noon(night, tz))
    return [piece for piece in pieces if start_ms <= piece[0] < end_ms]


def cut_at_noon(night: Period, tz: ZoneInfo) -> list[Period]:
    """`night` unchanged if at most a day long, else cut at every local noon inside it."""
    start_ms, end_ms = night
    if end_ms - start_ms <= _DAY_MS:
        return [night]
    cuts = []
    day = _local_date(start_ms, tz)
    while (noon_ms := _local_ms(day, time(12), tz)) < end_ms:
        if noon_ms > start_ms:
            cuts.append(noon_ms)
        day += timedelta(days=1)
    edges = [start_ms, *cuts, end_ms]
    return list(zip(edges, edges[1:], strict=False))


# Rates -----------------------------------------------------------------------------------------

def night_rates(samples: Sequence[RateSample], nights: Iterable[Period], every_s: int,
                target: float) -> list[NightRate]:
    """Each night's rate from `samples` (any order). See the module docstring for definitions."""
    ordered = sorted(samples, key=lambda s: s.ts_ms)
    times = [s.ts_ms for s in ordered]
    every_ms = every_s * 1000
    return [_night_rate(ordered, times, night, every_ms, target) for night in nights]


def _night_rate(ordered: Sequence[RateSample], times: list[int], night: Period, every_ms: int,
                target: float) -> NightRate:
    start_ms, end_ms = night
    covered_ms = below_ms = 0
    weighted = 0.0
    # A sample up to one tick before the night may hold into it.
    for i in range(bisect_left(times, start_ms - every_ms), bisect_left(times, end_ms)):
        sample = ordered[i]
        if sample.expected <= 0:  # no lamp should be lit: no rate to speak of
            continue
        until_ms = sample.ts_ms + every_ms
        if i + 1 < len(ordered):
            until_ms = min(until_ms, ordered[i + 1].ts_ms)
        hold_ms = max(0, min(until_ms, end_ms) - max(sample.ts_ms, start_ms))
        covered_ms += hold_ms
        weighted += sample.rate * hold_ms
        if _below(sample, target if sample.target is None else sample.target):
            below_ms += hold_ms
    mean = weighted / covered_ms if covered_ms else None
    return NightRate(start_ms, end_ms, covered_ms, mean, below_ms)


def _below(sample: RateSample, target: float) -> bool:
    """lit / expected < target, in integers (the target read as the decimal it was written as)."""
    numerator, denominator = _ratio(target)
    return sample.lit * denominator < numerator * sample.expected


@lru_cache(maxsize=64)
def _ratio(target: float) -> tuple[int, int]:
    exact = Fraction(repr(target))
    return exact.numerator, exact.denominator


def summarise_month(zone: str, nights: Sequence[NightRate], tz: ZoneInfo) -> ZoneMonth:
    """Aggregate a zone's nights (those starting in the month) into its month row."""
    rated = [night for night in nights if night.mean_rate is not None]
    covered_ms = sum(night.covered_ms for night in rated)
    weighted = sum(night.mean_rate * night.covered_ms for night in rated)  # type: ignore[operator]
    mean = weighted / covered_ms if covered_ms else None
    worst = min(rated, key=lambda night: (night.mean_rate, night.start_ms), default=None)
    return ZoneMonth(
        zone=zone,
        nights=len(rated),
        mean_rate=mean,
        worst_night=None if worst is None else _local_date(worst.start_ms, tz),
        worst_night_rate=None if worst is None else worst.mean_rate,
        minutes_below_target=sum(night.below_target_ms for night in rated) / _MINUTE_MS,
    )


def lighting_month(samples_by_zone: Mapping[str, Sequence[RateSample]], source: NightSource,
                   month: str, tz: ZoneInfo, every_s: int,
                   targets: Mapping[str, float]) -> list[ZoneMonth]:
    """The month rows of every zone in `samples_by_zone`, zones sorted, the town (`_city`) last;
    `targets[zone]` is the configured target (the sample's stored target wins)."""
    rows = []
    for zone in sorted(samples_by_zone, key=lambda zone: (zone == CITY_ZONE, zone)):
        nights = month_nights(source, zone, month, tz)
        rates = night_rates(samples_by_zone[zone], nights, every_s, targets[zone])
        rows.append(summarise_month(zone, rates, tz))
    return rows


def lighting_month_of(read: Callable[[int, int], Mapping[str, Sequence[RateSample]]],
                      source: NightSource, month: str, tz: ZoneInfo, every_s: int,
                      target_of: Callable[[str], float]) -> list[ZoneMonth]:
    """`lighting_month` over the samples `read(from_ms, to_ms)` returns by zone, asked for the
    month's window: two days either side (see month_nights), and one tick before, since a
    sample just before a night may hold into it. The one definition of `report lighting`'s
    month, which the API serves too."""
    start_ms, end_ms = month_bounds_ms(month, tz)
    samples = read(start_ms - 2 * _DAY_MS - every_s * 1000, end_ms + 2 * _DAY_MS)
    targets = {zone: target_of(zone) for zone in samples}
    return lighting_month(samples, source, month, tz, every_s, targets)


# CSV -------------------------------------------------------------------------------------------

def lighting_csv(rows: Iterable[ZoneMonth]) -> str:
    """The report as CSV text: rates with 6 decimals, minutes with 1, empty where no data; the
    zone id defused for spreadsheets (streetwatch.safe_csv)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for row in rows:
        writer.writerow([
            csv_cell(row.zone), row.nights, _fixed(row.mean_rate, 6),
            "" if row.worst_night is None else row.worst_night.isoformat(),
            _fixed(row.worst_night_rate, 6), _fixed(row.minutes_below_target, 1),
        ])
    return out.getvalue()


def _fixed(value: float | None, decimals: int) -> str:
    return "" if value is None else f"{value:.{decimals}f}"


def _local_ms(day: date, at: time, tz: ZoneInfo) -> int:
    return int(datetime.combine(day, at, tz).timestamp() * 1000)


def _local_date(ts_ms: int, tz: ZoneInfo) -> date:
    return datetime.fromtimestamp(ts_ms // 1000, tz).date()


__all__ = [
    "CSV_COLUMNS",
    "NightRate",
    "NightSource",
    "RateSample",
    "ZoneMonth",
    "cut_at_noon",
    "lighting_csv",
    "lighting_month",
    "month_bounds_ms",
    "month_nights",
    "night_rates",
    "summarise_month",
]
