"""Drain reports (issue 15): a period summary per drain, and the pre-storm dredging list.

Pure: registry sites, drain readings, rain readings and alerts in, rows and CSV text out.
rules/drain_report_sources.py reads storage; rules/cli.py is the command. Readings are streamed
(an iterable in time order), so a month of 2,000 drains is never held in memory at once.

**Period summary** (`report drains --from T0 --to T1`), one row per registered drain:

- `readings`, `max_level_cm`: the drain's readings in [T0, T1).
- `minutes_above_band`: a reading stands for the time until the drain's next reading, at most
  `hold_cap_ms` (30 min: a silent drain is not above its band), clipped to [T0, T1); it counts when
  its level is above the band's high. The band is the drain's configured normal band when the
  registry has one, else its learned dry-weather band of that local day (rules/baseline.py: the
  dry days of the `window_days` days before it), interpolated between hours (`band_at`). A
  reading with no band (too few dry samples) is not judged.
- `minutes_wet`: how much of [T0, T1) the drain's zone was wet (rules/weather.py).
- `alerts`, `alert_kinds`: the drain alerts (subject `drain:<id>`) raised in [T0, T1), and their
  distinct kinds.
- `band`: `configured`, `learned` (some reading in [T0, T1) had a learned band) or `none`.

**Dredging list** (`report dredging --at T --weeks N`): silt raises a drain's dry-weather level
slowly, weeks before a blockage shows. For each drain:

1. *Day level*: the median of its hourly medians over a local day (each hour counts once, so a
   sensor that reports faster when the water moves does not weigh more), kept only when the day is
   dry in the drain's zone and at least `min_day_hours` hours have readings (a day with a gap would
   be biased by the daily cycle: night lows, morning peaks).
2. *Weekly baseline*: the median of a week's day levels, when it has at least `min_dry_days`; the
   weeks are the N whole local weeks before the day of T. A storm week keeps only its dry days,
   and a median of them is not moved by one odd day.
3. *Creep*: the Theil-Sen slope (median of the pairwise slopes) of the weekly baselines, cm per
   week; robust to one odd week where a least-squares fit is not. *Rise*: the latest weekly
   baseline minus the first.
4. Ranked by creep, then rise (both descending), then id. A drain with fewer than `min_weeks`
   weekly baselines is flagged (`too_few_dry_days`, or `no_readings`) and ranked last: never
   silently dropped. `capacity_used_pct` is the latest baseline as a percentage of its overflow
   level (registry `overflow_cm`, else `depth_cm`): levels are water depth above the invert, so
   this is how much of the height from the drain's base to its overflow level dry weather already
   fills; `weeks_to_overflow` projects the creep to the overflow level.

A zone without a rain gauge is never wet: its storm days count as dry (the weekly median and the
Theil-Sen slope blunt one or two of them).
"""

from __future__ import annotations

import csv
import io
import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from rules.baseline import (
    Band,
    BaselineConfig,
    LevelHistory,
    LocalClock,
    band_at,
    configured_band,
)
from rules.weather import WeatherConfig, WetPeriod, ZoneWeather
from streetwatch.safe_csv import csv_cell
from streetwatch.town import DrainObservation, DrainSite, GaugeSite, RainObservation

if TYPE_CHECKING:
    from streetwatch.settings import Settings

Period = tuple[int, int]
MINUTE_MS = 60_000
DAY_MS = 86_400_000
DRAINS_CSV_COLUMNS = ("drain", "zone", "readings", "max_level_cm", "minutes_above_band",
                      "minutes_wet", "alerts", "alert_kinds", "band")
DREDGING_CSV_COLUMNS = ("rank", "drain", "zone", "creep_cm_per_week", "rise_cm",
                        "latest_baseline_cm", "overflow_cm", "capacity_used_pct",
                        "weeks_to_overflow", "weekly_baseline_cm", "dry_days", "flag")


@dataclass(frozen=True, slots=True)
class DrainAlert:
    """A stored alert about one drain (its subject `drain:<id>`): what and when it was raised."""

    drain: str
    kind: str
    raised_ms: int


# Weather and time ------------------------------------------------------------------------------

def zone_wet_periods(gauges: Iterable[GaugeSite], rain: Iterable[RainObservation],
                     config: WeatherConfig) -> dict[str, list[WetPeriod]]:
    """Each gauged zone's wet periods from its gauges' rain readings (any order)."""
    zones = {gauge.id: gauge.zone for gauge in gauges}
    weather = ZoneWeather(zones, config)
    for reading in sorted(rain, key=lambda r: r.ts_ms):
        weather.rain(reading.gauge, reading.ts_ms, reading.rain_mm)
    return {zone: weather.wet_periods(zone) for zone in set(zones.values())}


def wet_lookback_ms(config: WeatherConfig) -> int:
    """How long before an instant rain can still make it wet: the window plus the drain-out."""
    return config.window_ms + config.drain_out_ms


def overlap_ms(start_ms: int, end_ms: int, window: Period) -> int:
    return max(0, min(end_ms, window[1]) - max(start_ms, window[0]))


def local_midnight_ms(day: int, tz: ZoneInfo) -> int:
    """The first instant of local day `day` (a date ordinal) in epoch ms."""
    return int(datetime.combine(date.fromordinal(day), time(0), tz).timestamp() * 1000)


# Period summary per drain ----------------------------------------------------------------------

@dataclass(frozen=True)
class DrainReportConfig:
    tz: ZoneInfo
    weather: WeatherConfig = WeatherConfig()
    baseline: BaselineConfig = BaselineConfig()
    hold_cap_ms: int = 30 * MINUTE_MS  # a reading stands for at most this long

    @classmethod
    def from_settings(cls, settings: Settings) -> DrainReportConfig:
        return cls(ZoneInfo(settings.town_timezone), WeatherConfig.from_settings(settings),
                   BaselineConfig.from_settings(settings))


@dataclass(frozen=True, slots=True)
class DrainPeriod:
    """One drain over [from, to): the `report drains` CSV row."""

    drain: str
    zone: str
    readings: int
    max_level_cm: float | None
    minutes_above_band: float
    minutes_wet: float
    alerts: int
    alert_kinds: tuple[str, ...]
    band: str  # configured | learned | none


def drains_report_spans(window: Period, config: DrainReportConfig) -> tuple[int, int]:
    """(drain readings from, rain readings from), in epoch ms, for a report of `window`: the
    learned bands of the window's first day need the `window_days` local days before it, and
    those days' weather needs the rain of the wet lookback before them."""
    first_day = LocalClock(config.tz).day(window[0])
    readings_from = min(local_midnight_ms(first_day - config.baseline.window_days, config.tz),
                        window[0] - config.hold_cap_ms)
    return readings_from, readings_from - wet_lookback_ms(config.weather)


@dataclass(slots=True)
class _DrainTally:
    """One drain's running figures while its readings stream by."""

    site: DrainSite
    configured: Band | None
    history: LevelHistory = field(default_factory=LevelHistory)
    bands_day: int | None = None
    bands: dict[int, Band] = field(default_factory=dict)
    last_ts: int | None = None  # the previous reading, whose hold the next one ends
    last_above: bool = False
    readings: int = 0
    max_level_cm: float | None = None
    above_ms: int = 0
    learned_used: bool = False


class DrainPeriodTally:
    """Feed a window's drain readings in time order (`add`), then take the rows (`rows`)."""

    def __init__(self, drains: Iterable[DrainSite], wet: Mapping[str, Sequence[WetPeriod]],
                 window: Period, config: DrainReportConfig) -> None:
        self.window = window
        self.config = config
        self._clock = LocalClock(config.tz)
        self._wet = wet
        self._wet_days = {zone: self._clock.wet_days(periods) for zone, periods in wet.items()}
        self._tallies = {site.id: _DrainTally(site, configured_band(site)) for site in drains}

    def add(self, reading: DrainObservation) -> None:
        """One reading; unknown drains, readings from `to` on and readings not newer than the
        drain's previous one (out of order, or a second series after a zone change) are ignored."""
        tally = self._tallies.get(reading.drain)
        ts = reading.ts_ms
        if tally is None or ts >= self.window[1] or (tally.last_ts is not None
                                                      and ts <= tally.last_ts):
            return
        day, hour = self._clock.day_hour(ts)
        if tally.configured is None:
            tally.history.add(day, hour, reading.level_cm)
        self._end_hold(tally, ts)
        judged = ts >= self.window[0] - self.config.hold_cap_ms  # its hold may reach the window
        band = self._band(tally, day, ts) if judged else None
        tally.last_ts, tally.last_above = ts, band is not None and reading.level_cm > band.high_cm
        if ts >= self.window[0]:
            tally.readings += 1
            if tally.max_level_cm is None or reading.level_cm > tally.max_level_cm:
                tally.max_level_cm = reading.level_cm
            tally.learned_used |= band is not None and tally.configured is None

    def rows(self, alerts: Iterable[DrainAlert]) -> list[DrainPeriod]:
        """The rows, sorted by drain id; `alerts` may hold any drain's, raised at any time."""
        raised = _alerts_in(alerts, self.window)
        rows = []
        for drain_id in sorted(self._tallies):
            tally = self._tallies[drain_id]
            self._end_hold(tally, None)
            rows.append(self._row(tally, raised.get(drain_id, [])))
        return rows

    def _band(self, tally: _DrainTally, day: int, ts: int) -> Band | None:
        if tally.configured is not None:
            return tally.configured
        if tally.bands_day != day:
            baseline = self.config.baseline
            tally.history.forget_before(day - baseline.window_days)
            tally.bands = tally.history.bands(day, self._wet_days.get(tally.site.zone, set()),
                                              baseline)
            tally.bands_day = day
        return band_at(tally.bands, ts, self.config.tz)

    def _end_hold(self, tally: _DrainTally, next_ts: int | None) -> None:
        """Count the previous reading's hold, if it was above its band, up to `next_ts`."""
        if tally.last_ts is None or not tally.last_above:
            return
        end = tally.last_ts + self.config.hold_cap_ms
        if next_ts is not None:
            end = min(end, next_ts)
        tally.above_ms += overlap_ms(tally.last_ts, end, self.window)
        tally.last_above = False

    def _row(self, tally: _DrainTally, kinds: list[str]) -> DrainPeriod:
        site = tally.site
        wet_ms = sum(overlap_ms(period.since, period.until, self.window)
                     for period in self._wet.get(site.zone, ()))
        band = ("configured" if tally.configured is not None
                else "learned" if tally.learned_used else "none")
        return DrainPeriod(site.id, site.zone, tally.readings, tally.max_level_cm,
                           tally.above_ms / MINUTE_MS, wet_ms / MINUTE_MS, len(kinds),
                           tuple(sorted(set(kinds))), band)


def _alerts_in(alerts: Iterable[DrainAlert], window: Period) -> dict[str, list[str]]:
    """The kinds of the alerts raised in [from, to), by drain."""
    kinds: dict[str, list[str]] = {}
    for alert in alerts:
        if window[0] <= alert.raised_ms < window[1]:
            kinds.setdefault(alert.drain, []).append(alert.kind)
    return kinds


def drain_period_rows(drains: Iterable[DrainSite], gauges: Iterable[GaugeSite],
                      readings: Iterable[DrainObservation], rain: Iterable[RainObservation],
                      alerts: Iterable[DrainAlert], window: Period,
                      config: DrainReportConfig) -> list[DrainPeriod]:
    """The `report drains` rows of `window` = [from, to) (definitions: module docstring).
    `readings` in time order from `drains_report_spans(...)[0]`; `rain` (any order) from its [1]."""
    wet = zone_wet_periods(gauges, rain, config.weather)
    tally = DrainPeriodTally(drains, wet, window, config)
    for reading in readings:
        tally.add(reading)
    return tally.rows(alerts)


def drains_csv(rows: Iterable[DrainPeriod]) -> str:
    """The period report as CSV: levels with 2 decimals, minutes with 1, empty where no data."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(DRAINS_CSV_COLUMNS)
    for row in rows:
        writer.writerow([csv_cell(row.drain), csv_cell(row.zone), row.readings,
                         _fixed(row.max_level_cm, 2), _fixed(row.minutes_above_band, 1),
                         _fixed(row.minutes_wet, 1), row.alerts, ";".join(row.alert_kinds),
                         csv_cell(row.band)])
    return out.getvalue()


# Dredging list ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class DredgingConfig:
    tz: ZoneInfo
    weather: WeatherConfig = WeatherConfig()
    weeks: int = 4
    min_day_hours: int = 18  # hours of a day with readings, for its level to count
    min_dry_days: int = 3  # usable dry days, for a week to have a baseline
    min_weeks: int = 3  # weeks with a baseline, for a creep to be judged (at most `weeks`)

    @classmethod
    def from_settings(cls, settings: Settings, weeks: int = 4) -> DredgingConfig:
        return cls(ZoneInfo(settings.town_timezone), WeatherConfig.from_settings(settings), weeks)

    @property
    def weeks_needed(self) -> int:
        return min(self.min_weeks, self.weeks)


@dataclass(frozen=True, slots=True)
class DredgingRow:
    """One drain's evidence on the dredging list."""

    drain: str
    zone: str
    weekly_baseline_cm: tuple[float | None, ...]  # oldest week first
    dry_days: tuple[int, ...]  # the usable dry days each week's baseline is the median of
    creep_cm_per_week: float | None
    rise_cm: float | None
    latest_baseline_cm: float | None
    overflow_cm: float | None
    capacity_used_pct: float | None
    weeks_to_overflow: float | None
    flag: str  # "" (judged), too_few_dry_days, no_readings

    @property
    def judged(self) -> bool:
        return not self.flag


def dredging_days(at_ms: int, config: DredgingConfig) -> list[range]:
    """The local days (date ordinals) of each of the `weeks` whole weeks before the day of
    `at_ms`, oldest first (the day of `at_ms` itself is partial: left out)."""
    end = LocalClock(config.tz).day(at_ms)
    first = end - 7 * config.weeks
    return [range(first + 7 * week, first + 7 * (week + 1)) for week in range(config.weeks)]


def dredging_spans(at_ms: int, config: DredgingConfig) -> tuple[Period, int]:
    """([from, to) of the drain readings, rain readings from), epoch ms, for a list at `at_ms`."""
    weeks = dredging_days(at_ms, config)
    readings = (local_midnight_ms(weeks[0][0], config.tz),
                local_midnight_ms(weeks[-1][-1] + 1, config.tz))
    return readings, readings[0] - wet_lookback_ms(config.weather)


@dataclass(slots=True)
class _DayLevels:
    """One drain's day levels: (median of hourly medians, hours with readings) by local day,
    built a day at a time from readings in time order."""

    day: int | None = None
    hours: list[list[float]] = field(default_factory=list)
    levels: dict[int, tuple[float, int]] = field(default_factory=dict)

    def add(self, day: int, hour: int, level_cm: float) -> None:
        if day != self.day:
            if self.day is not None and day < self.day:
                return  # a late reading of a day already closed
            self.close()
            self.day, self.hours = day, [[] for _ in range(24)]
        self.hours[hour].append(level_cm)

    def close(self) -> None:
        if self.day is None:
            return
        medians = [statistics.median(levels) for levels in self.hours if levels]
        if medians:
            self.levels[self.day] = (statistics.median(medians), len(medians))


def day_levels(drains: Iterable[str], readings: Iterable[DrainObservation],
               tz: ZoneInfo) -> dict[str, dict[int, tuple[float, int]]]:
    """(level, hours with readings) by local day, per drain in `drains`, from readings in time
    order (a reading for a day the drain has moved past is ignored)."""
    clock = LocalClock(tz)
    found = {drain: _DayLevels() for drain in drains}
    for reading in readings:
        levels = found.get(reading.drain)
        if levels is not None:
            levels.add(*clock.day_hour(reading.ts_ms), reading.level_cm)
    for levels in found.values():
        levels.close()
    return {drain: levels.levels for drain, levels in found.items()}


def weekly_baselines(levels: Mapping[int, tuple[float, int]], weeks: Sequence[range],
                     wet_days: set[int], config: DredgingConfig
                     ) -> tuple[tuple[float | None, ...], tuple[int, ...]]:
    """(each week's baseline or None, the usable dry days of each week)."""
    baselines, counts = [], []
    for week in weeks:
        usable = [levels[day][0] for day in week if day in levels and day not in wet_days
                  and levels[day][1] >= config.min_day_hours]
        counts.append(len(usable))
        baselines.append(statistics.median(usable) if len(usable) >= config.min_dry_days else None)
    return tuple(baselines), tuple(counts)


def theil_sen_slope(points: Sequence[tuple[float, float]]) -> float | None:
    """The median of the slopes between every two points with distinct x; None without any."""
    slopes = [(b[1] - a[1]) / (b[0] - a[0])
              for i, a in enumerate(points) for b in points[i + 1:] if b[0] != a[0]]
    return statistics.median(slopes) if slopes else None


def dredging_row(site: DrainSite, levels: Mapping[int, tuple[float, int]],
                 weeks: Sequence[range], wet_days: set[int], config: DredgingConfig) -> DredgingRow:
    """One drain's evidence: weekly baselines, creep, rise, headroom (module docstring)."""
    baselines, dry_days = weekly_baselines(levels, weeks, wet_days, config)
    points = [(week, level) for week, level in enumerate(baselines) if level is not None]
    judged = len(points) >= config.weeks_needed
    flag = "" if judged else "too_few_dry_days" if levels else "no_readings"
    creep = theil_sen_slope(points) if judged else None
    rise = points[-1][1] - points[0][1] if judged else None
    latest = points[-1][1] if points else None
    overflow = site.overflow_level_cm
    return DredgingRow(site.id, site.zone, baselines, dry_days, creep, rise, latest, overflow,
                       _capacity_used_pct(latest, overflow),
                       _weeks_to_overflow(latest, overflow, creep), flag)


def _capacity_used_pct(level_cm: float | None, overflow_cm: float | None) -> float | None:
    if level_cm is None or overflow_cm is None or overflow_cm <= 0:
        return None
    return 100 * level_cm / overflow_cm


def _weeks_to_overflow(level_cm: float | None, overflow_cm: float | None,
                       creep: float | None) -> float | None:
    """Weeks until the baseline reaches the overflow level at this creep (0 when there; None
    when it is not creeping up or nothing is known)."""
    if level_cm is None or overflow_cm is None or creep is None:
        return None
    if level_cm >= overflow_cm:
        return 0.0
    return (overflow_cm - level_cm) / creep if creep > 0 else None


def rank_dredging(rows: Iterable[DredgingRow]) -> list[DredgingRow]:
    """Judged drains by creep, then rise (steepest first), then id; flagged drains last, by id."""
    def key(row: DredgingRow) -> tuple:
        if not row.judged:
            return (1, 0.0, 0.0, row.drain)
        return (0, -(row.creep_cm_per_week or 0.0), -(row.rise_cm or 0.0), row.drain)
    return sorted(rows, key=key)


def dredging_list(drains: Iterable[DrainSite], gauges: Iterable[GaugeSite],
                  readings: Iterable[DrainObservation], rain: Iterable[RainObservation],
                  at_ms: int, config: DredgingConfig) -> list[DredgingRow]:
    """The ranked dredging list at `at_ms`. `readings` in time order over
    `dredging_spans(at_ms, config)[0]`; `rain` (any order) from its [1]."""
    sites = list(drains)
    levels = day_levels((site.id for site in sites), readings, config.tz)
    clock = LocalClock(config.tz)
    wet_days = {zone: clock.wet_days(periods)
                for zone, periods in zone_wet_periods(gauges, rain, config.weather).items()}
    weeks = dredging_days(at_ms, config)
    return rank_dredging(dredging_row(site, levels[site.id], weeks, wet_days.get(site.zone, set()),
                                      config) for site in sites)


def dredging_csv(rows: Iterable[DredgingRow]) -> str:
    """The dredging list as CSV, in rank order; per-week values `;`-separated, oldest first."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(DREDGING_CSV_COLUMNS)
    for rank, row in enumerate(rows, start=1):
        writer.writerow([
            rank, csv_cell(row.drain), csv_cell(row.zone), _fixed(row.creep_cm_per_week, 2),
            _fixed(row.rise_cm, 2),
            _fixed(row.latest_baseline_cm, 2), _fixed(row.overflow_cm, 2),
            _fixed(row.capacity_used_pct, 1), _fixed(row.weeks_to_overflow, 1),
            ";".join(_fixed(level, 2) for level in row.weekly_baseline_cm),
            ";".join(str(count) for count in row.dry_days), csv_cell(row.flag),
        ])
    return out.getvalue()


def _fixed(value: float | None, decimals: int) -> str:
    return "" if value is None else f"{value:.{decimals}f}"


__all__ = [
    "DRAINS_CSV_COLUMNS",
    "DREDGING_CSV_COLUMNS",
    "DrainAlert",
    "DrainPeriod",
    "DrainPeriodTally",
    "DrainReportConfig",
    "DredgingConfig",
    "DredgingRow",
    "day_levels",
    "drain_period_rows",
    "drains_csv",
    "drains_report_spans",
    "dredging_csv",
    "dredging_days",
    "dredging_list",
    "dredging_row",
    "dredging_spans",
    "local_midnight_ms",
    "overlap_ms",
    "rank_dredging",
    "theil_sen_slope",
    "weekly_baselines",
    "wet_lookback_ms",
    "zone_wet_periods",
]
