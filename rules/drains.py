"""Drain rules: blockage versus storm surge, overflow, covers, sensor health (docs/alerts.md).

Pure and discrete-event, like the lamp rules: time comes from the data (a reading's ts, a silence
wake's exact instant), so the live runner and replay judge the same. Each drain is judged at each
of its readings against its band at that instant: the configured normal band, or the dry-weather
band learned from its own readings of the last days (rules/baseline.py), and in its zone's weather
(rules/weather.py). A storm lifting most of a wet zone's drains is a `high_water` notice, never a
`blockage`: in wet weather only the downstream comparison (high here, low below) finds a blockage.

Robustness: the level judged is the median of the last three readings and rates are Theil-Sen
slopes, so one wild reading never raises an alert; an impossible level (below zero, above the
drain's depth) is not used as a level at all.
"""

from __future__ import annotations

import math
import statistics
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from rules.baseline import (
    Band,
    BaselineConfig,
    LevelHistory,
    LocalClock,
    band_at_hour,
    bands_of,
    configured_band,
)
from rules.overflow import OverflowConfig, overflow_imminent
from rules.timers import NEVER, Timers
from rules.weather import WeatherConfig, ZoneWeather
from streetwatch.alerts.model import (
    AlertKind,
    Cleared,
    Condition,
    Notice,
    Place,
    Raised,
    Transition,
    drain_subject,
    rfc3339_ms,
)
from streetwatch.town import DrainSite, GaugeSite

if TYPE_CHECKING:
    from streetwatch.settings import Settings

HOUR_MS = 3_600_000
BATTERY_HYSTERESIS_V = 0.1
IMPOSSIBLE_MARGIN_CM = 2.0  # beyond 0 or the depth by more than this: no water level can be there
JUMP_FLOOR_CM = 2 * IMPOSSIBLE_MARGIN_CM  # a change this small is never a jump
IMPOSSIBLE_READINGS = 2  # in a row: one is an outlier, two are a sensor
JUMPS = 3  # impossible jumps within JUMP_WINDOW_MS: one wild reading makes two
JUMP_WINDOW_MS = HOUR_MS
CLEAN_READINGS = 3  # in a row without an impossible level before a sensor_fault clears
RISE_PARTS = 4  # "keeps rising": each quarter of the hold above the one before
EMPTY_CM = 1.0  # a flat level at or below this is an empty drain, not a stuck sensor
_LOWEST_CM = -IMPOSSIBLE_MARGIN_CM  # (the per-reading tests' constants, computed once)
_JUMP_LOW_CM = -JUMP_FLOOR_CM
_TRIM_AT = 48  # recent points kept before the old ones are dropped (a batch at a time)


@dataclass(frozen=True)
class DrainConfig:
    """Every threshold of the drain rules, in ms and cm (docs/alerts.md has the reasoning)."""

    hold_ms: int = HOUR_MS
    rise_cm_per_h: float = 4.0
    overflow: OverflowConfig = OverflowConfig(min_points=5)
    silent_after_ms: int = HOUR_MS
    stuck_after_ms: int = 3 * HOUR_MS
    stuck_tolerance_cm: float = 0.1
    neighbour_move_cm: float = 2.0
    max_rise_cm_per_min: float = 10.0
    low_battery_v: float = 3.3
    surge_fraction: float = 0.5
    timezone: str = "UTC"
    weather: WeatherConfig = field(default_factory=WeatherConfig)
    baseline: BaselineConfig = field(default_factory=BaselineConfig)

    @classmethod
    def from_settings(cls, s: Settings) -> DrainConfig:
        return cls(
            hold_ms=s.blockage_hold_s * 1000, rise_cm_per_h=s.blockage_rise_cm_per_h,
            overflow=OverflowConfig(margin_fraction=s.overflow_margin_fraction,
                                    horizon_ms=s.overflow_horizon_s * 1000, min_points=5),
            silent_after_ms=s.drain_silent_after_s * 1000, stuck_after_ms=s.stuck_after_s * 1000,
            stuck_tolerance_cm=s.stuck_tolerance_cm, neighbour_move_cm=s.neighbour_move_cm,
            max_rise_cm_per_min=s.max_rise_cm_per_min, low_battery_v=s.low_battery_v,
            surge_fraction=s.surge_fraction, timezone=s.town_timezone,
            weather=WeatherConfig.from_settings(s), baseline=BaselineConfig.from_settings(s))

    @property
    def keep_ms(self) -> int:
        """How much of a drain's recent readings the rules look back on."""
        return max(self.hold_ms, self.stuck_after_ms, self.overflow.window_ms)


@dataclass(frozen=True)
class DrainNetwork:
    """The drains and rain gauges the rules judge (from the registry or a scenario)."""

    drains: Sequence[DrainSite] = ()
    gauges: Sequence[GaugeSite] = ()


class _Drain:
    """What the rules remember of one drain."""

    __slots__ = ("key", "site", "points", "last_ts", "above_since", "within_since", "impossible_run",
                 "clean_run", "jumps", "batteries", "history", "bands_day", "flat_since", "columns",
                 "flat_low", "flat_high", "level", "alerts", "overflow", "configured", "margin",
                 "quiet_below", "ceiling", "zone_above", "overflow_near")

    def __init__(self, key: int, site: DrainSite, margin_fraction: float) -> None:
        self.key = key
        self.site = site
        self.points: deque[tuple[int, float]] = deque()  # recent usable (ts, level)
        self.last_ts = -1
        self.above_since: int | None = None  # judged level above its band's high since
        self.within_since: int | None = None  # at or below its band's high since
        self.impossible_run = 0
        self.clean_run = 0
        self.jumps: deque[int] = deque()
        self.batteries: deque[float] = deque(maxlen=3)
        self.history = LevelHistory()
        self.bands_day = -1
        self.columns: tuple = ([None] * 24, [0.0] * 24, [0.0] * 24, [None] * 24,
                               [0] * 24)  # LevelHistory.columns: no band yet
        self.flat_since = -1
        self.flat_low = self.flat_high = 0.0
        self.level: float | None = None  # the judged (robust) level
        self.configured = configured_band(site)
        self.quiet_below = [-math.inf] * 24  # per local hour: at or below, surely quiet
        if self.configured is not None:
            band = self.configured
            self.quiet_below = [band.median_cm + (band.high_cm - band.median_cm) / 2] * 24
        self.alerts = 0  # conditions active for this drain (0: the quiet paths apply)
        self.overflow = site.overflow_level_cm
        depth = site.depth_cm if site.depth_cm is not None else self.overflow
        self.margin = margin_fraction * (depth or 0.0)  # overflow margin, cm
        # a judged level below this needs no overflow look (unless the rise is to be checked)
        self.overflow_near = math.inf if self.overflow is None else self.overflow - self.margin
        self.ceiling = math.inf if site.depth_cm is None else site.depth_cm + IMPOSSIBLE_MARGIN_CM
        self.zone_above: list[int] = [0]  # drains of its zone above their bands (shared)

    @property
    def bands(self) -> dict[int, Band]:
        """Today's learned bands as objects (for messages and tests; the rules read columns)."""
        return bands_of(self.columns)


class DrainRules:
    """Drain readings and rain in, condition transitions and high_water notices out."""

    def __init__(self, network: DrainNetwork, config: DrainConfig, start_ms: int) -> None:
        self.config = config
        self.start_ms = start_ms
        self.now = start_ms  # the latest silence wake handled (readings do not move it)
        self.clock = LocalClock(ZoneInfo(config.timezone))
        self.weather = ZoneWeather({g.id: g.zone for g in network.gauges}, config.weather)
        sites = sorted(network.drains, key=lambda s: s.id)
        self.drains = {site.id: _Drain(key, site, config.overflow.margin_fraction)
                       for key, site in enumerate(sites)}
        self._by_key = list(self.drains.values())
        self.by_zone: dict[str, list[_Drain]] = {}
        for drain in self.drains.values():
            self.by_zone.setdefault(drain.site.zone, []).append(drain)
        for members in self.by_zone.values():
            shared = [0]
            for drain in members:
                drain.zone_above = shared
        self.transitions: list[Transition] = []
        self.notices: list[Notice] = []
        self._active: dict[tuple[str, AlertKind], Condition] = {}
        self._noticed: dict[str, int] = {}  # zone -> `since` of the wet period already noticed
        self._wet_days: dict[tuple[str, int], set[int]] = {}
        self._timers = Timers(len(sites))  # each drain's silence instant
        self._next_wake = NEVER  # no wake is due before this (kept by `advance`, `_arm_silence`)
        self._keep_ms = config.keep_ms  # the per-reading path's constants, read once
        self._max_rise_per_ms = config.max_rise_cm_per_min / 60_000
        self._stuck_tolerance = config.stuck_tolerance_cm
        self._stuck_after = config.stuck_after_ms
        self._silent_after = config.silent_after_ms + 1
        self._battery_fine = config.low_battery_v + BATTERY_HYSTERESIS_V
        self._local_ts, self._local = -1, (0, 0, 0)  # the latest reading's LocalClock.local
        self._min_points, self._window_ms = config.overflow.min_points, config.overflow.window_ms
        for drain in self.drains.values():
            self._arm_silence(drain, start_ms)

    def __len__(self) -> int:
        return len(self.drains)

    # Inputs --------------------------------------------------------------------------------------
    def rain(self, gauge: str, ts_ms: int, rain_mm: float) -> None:
        if ts_ms >= self._next_wake:
            self.advance(ts_ms)
        self.weather.rain(gauge, ts_ms, rain_mm)

    def remember(self, drain_id: str, ts_ms: int, level_cm: float) -> None:
        """A stored reading from before the core's start: learned from, not judged."""
        drain = self.drains.get(drain_id)
        if drain is None or level_cm < -IMPOSSIBLE_MARGIN_CM or level_cm > drain.ceiling:
            return  # unknown, or impossible (as `reading` judges it)
        day, hour, _ = self.clock.local(ts_ms)
        drain.history.add(day, hour, level_cm)

    def reading(self, drain_id: str, ts: int, level: float, battery_v: float | None,
                cover_open: bool | None) -> None:
        """A stored or live drain reading; one not newer than the drain's latest changes nothing."""
        drain = self.drains.get(drain_id)
        if drain is None or ts <= drain.last_ts:
            return
        if ts >= self._next_wake:
            self.advance(ts)
        drain.last_ts = ts  # its silence wake, when it comes, moves on (see `advance`)
        alerts = drain.alerts
        if alerts:
            self._set(drain, "drain_silent", None, ts, "drain reported again")
        if cover_open or (cover_open is not None and alerts):
            self._judge_cover(drain, ts, cover_open)
        if battery_v is not None:
            drain.batteries.append(battery_v)
            if battery_v < self._battery_fine or alerts:
                self._judge_battery(drain, ts)
        # The level: keep the reading (recent points, jumps, the flat run, the learning
        # history), take the judged level and the band at this instant, then judge. Written out
        # flat, with the drain's and the core's state read once into locals: it runs at every
        # reading of every drain, and the quiet case (inside the lower part of its band, far from
        # overflowing, nothing open) does no more than keep it.
        if level < _LOWEST_CM or level > drain.ceiling:
            drain.impossible_run += 1
            drain.clean_run = 0
            self._judge_sensor(drain, ts)
            return  # one impossible level judges nothing (two are a sensor_fault)
        if drain.clean_run < CLEAN_READINGS:  # (past it, the count no longer matters)
            drain.impossible_run = 0
            drain.clean_run += 1
        points, jumps = drain.points, drain.jumps
        if points:
            last_ts, last_level = points[-1]
            step = level - last_level
            if not _JUMP_LOW_CM <= step <= JUMP_FLOOR_CM and \
                    abs(step) > self._max_rise_per_ms * (ts - last_ts):
                jumps.append(ts)  # faster than water rises (and more than the floor)
            if jumps and jumps[0] <= ts - JUMP_WINDOW_MS:
                jumps.popleft()
        points.append((ts, level))
        n = len(points)
        if n > _TRIM_AT:  # the old points, a batch at a time (everything reads them by time)
            self._trim(points, ts)
            n = len(points)
        # The flat run: the spread stays within the tolerance unless the level leaves
        # [high - tolerance, low + tolerance] (the same test as high - low > tolerance).
        flat_since, low, high = drain.flat_since, drain.flat_low, drain.flat_high
        tolerance = self._stuck_tolerance
        if level - low > tolerance or high - level > tolerance or flat_since < 0:
            drain.flat_since = flat_since = ts
            drain.flat_low = drain.flat_high = level
        elif level < low:
            drain.flat_low = level
        elif level > high:
            drain.flat_high = level
        if ts == self._local_ts:  # (a town's drains report at the same instants)
            day, hour, midnight = self._local
        else:
            day, hour, midnight = self._local = self.clock.local(ts)
            self._local_ts = ts
        alerts = drain.alerts
        if not alerts or not (self._is_active(drain, "blockage")
                              or self._is_active(drain, "sensor_fault")):
            history = drain.history  # (a known fault is not the drain's normal)
            if day == history.today:  # LevelHistory.add's usual case, in line
                history.today_hours[hour].append(level)
            else:
                history.add(day, hour, level)
        if n >= 3:  # the median of the last three
            a, b = points[-2][1], points[-3][1]
            drain.level = judged = (level if a <= level <= b or b <= level <= a
                                    else a if level <= a <= b or b <= a <= level else b)
        else:
            drain.level = judged = level if n == 1 else (level + points[-2][1]) / 2
        if drain.bands_day != day:
            if drain.configured is None:
                self._learn_bands(drain, day)
            else:
                drain.bands_day = day  # (nothing to learn: so that the next test is one)
        if jumps or ts - flat_since >= self._stuck_after or alerts:
            self._judge_sensor(drain, ts)
            if drain.alerts and self._is_active(drain, "sensor_fault"):
                self._forget_position(drain)  # a sensor not to be believed judges nothing
                return
        if not alerts and judged <= drain.quiet_below[hour] and drain.above_since is None:
            if drain.within_since is None:  # the quiet case: the lower half of its band
                drain.within_since = ts
        else:
            self._judge_blockage(drain, ts, (ts - midnight) / HOUR_MS)
        min_points = self._min_points
        if alerts or judged >= drain.overflow_near or (
                n >= min_points and points[-min_points][0] > ts - self._window_ms):
            overflow = drain.overflow  # (overflow_near is the least level that needs a look)
            if overflow is not None and (
                    alerts or judged >= overflow - drain.margin
                    or (n >= min_points and points[-min_points][0] > ts - self._window_ms
                        and self._could_reach(drain, overflow))):
                self._judge_overflow(drain, ts, overflow)
        if drain.zone_above[0]:
            self._judge_surge(drain, ts)

    def _trim(self, points: deque[tuple[int, float]], ts: int) -> None:
        """Drop the points older than the look-back, but one at or before its start and at
        least four in all. (Older points change nothing: every reader of `points` filters them
        by time; they are only dropped a batch at a time, to spare the per-reading check.)"""
        start = ts - self._keep_ms
        while len(points) > 3 and points[1][0] <= start:
            points.popleft()

    def advance(self, now_ms: int) -> None:
        """Silences due at or before `now_ms`, in time order. A drain's wake is not moved at each
        reading (that would cost every reading a timer move): a wake that finds the drain heard
        from since moves itself to the new silence instant."""
        while (due := self._timers.pop_due(now_ms)) is not None:
            at, key = due
            drain = self._by_key[key]
            silent_at = max(drain.last_ts, self.start_ms) + self._silent_after
            if silent_at > at:
                self._timers.schedule(key, silent_at)
                continue
            self.now = max(self.now, at)
            heard = max(drain.last_ts, self.start_ms)
            self._set(drain, "drain_silent", self._condition(
                drain, "drain_silent", f"no reading since {rfc3339_ms(heard)}"), at, "")
        self.now = max(self.now, now_ms)
        self._next_wake = self._timers.next_at() or NEVER  # a lower bound: the per-reading check

    def assume(self, condition: Condition) -> None:
        """An alert open in storage before the core started: held until the data says otherwise."""
        key = (condition.subject, condition.kind)
        drain = self.drains.get(condition.subject.removeprefix("drain:"))
        if drain is not None and key not in self._active:
            self._active[key] = condition
            drain.alerts += 1

    def take_transitions(self) -> list[Transition]:
        out, self.transitions = self.transitions, []
        return out

    def take_notices(self) -> list[Notice]:
        out, self.notices = self.notices, []
        return out

    # Covers, batteries, silence ------------------------------------------------------------------
    def _judge_cover(self, drain: _Drain, ts: int, cover_open: bool) -> None:
        if cover_open:
            self._set(drain, "cover_open", self._condition(
                drain, "cover_open", f"cover of drain {drain.site.id} open"), ts, "")
        else:
            self._set(drain, "cover_open", None, ts, "cover closed")

    def _judge_battery(self, drain: _Drain, ts: int) -> None:
        """Median of the last three: one low reading (a cold morning, a radio burst) is not news.
        (Skipped while the latest is well above the threshold and nothing is open: then the
        median cannot be low, or the reading before would have raised it.)"""
        volts = statistics.median(drain.batteries)
        low = self.config.low_battery_v
        if len(drain.batteries) == drain.batteries.maxlen and volts < low:
            self._set(drain, "low_battery", self._condition(
                drain, "low_battery", f"battery {volts:.2f} V (below {low:.2f} V)"), ts, "")
        elif volts >= low + BATTERY_HYSTERESIS_V:
            self._set(drain, "low_battery", None, ts, f"battery {volts:.2f} V")

    def _arm_silence(self, drain: _Drain, heard_ms: int) -> None:
        """Silent once nothing came for more than `silent_after` (a wake at that instant)."""
        self._timers.schedule(drain.key, heard_ms + self._silent_after)
        self._next_wake = min(self._next_wake, heard_ms + self._silent_after)

    # Levels --------------------------------------------------------------------------------------
    def _learn_bands(self, drain: _Drain, day: int) -> None:
        """The day's bands, learned from the days before (once a day, at its first reading)."""
        columns = drain.history.columns(day, self._wet_days_of(drain.site.zone, day),
                                        self.config.baseline)
        drain.columns = columns
        drain.history.forget_before(day - self.config.baseline.window_days)
        drain.bands_day = day
        drain.quiet_below = _quiet_below(columns[0], columns[3])

    def _median_high(self, drain: _Drain, hours: float) -> tuple[float | None, float | None]:
        """The band's median and high at local time `hours`, as `band_at_hour` interpolates them
        (written out: it runs at every reading of every drain)."""
        position = hours - 0.5
        floor = position // 1
        before = int(floor) % 24
        after = before + 1 if before < 23 else 0
        medians, highs = drain.columns[0], drain.columns[3]
        m0, m1 = medians[before], medians[after]
        if m0 is None or m1 is None:
            k = before if m0 is not None else after if m1 is not None else None
            return (None, None) if k is None else (medians[k], highs[k])
        h0, h1 = highs[before], highs[after]
        w = position - floor
        return m0 + (m1 - m0) * w, h0 + (h1 - h0) * w  # type: ignore[operator]

    def _band_now(self, drain: _Drain, ts: int) -> Band | None:
        """The whole band at `ts` (for messages)."""
        if drain.configured is not None:
            return drain.configured
        return band_at_hour(drain.bands, self.clock.hours_of_day(ts))  # type: ignore[arg-type]

    def _wet_days_of(self, zone: str, day: int) -> set[int]:
        key = (zone, day)
        found = self._wet_days.get(key)
        if found is None:
            found = self._wet_days[key] = self.clock.wet_days(self.weather.wet_periods(zone))
        return found

    # Sensor health -------------------------------------------------------------------------------
    def _judge_sensor(self, drain: _Drain, ts: int) -> None:
        fault = self._sensor_fault(drain, ts)
        if fault is not None:
            self._set(drain, "sensor_fault", self._condition(drain, "sensor_fault", fault), ts, "")
        elif drain.clean_run >= CLEAN_READINGS:
            self._set(drain, "sensor_fault", None, ts, "readings plausible again")

    def _sensor_fault(self, drain: _Drain, ts: int) -> str | None:
        """Why the sensor is not to be believed (None: nothing)."""
        if drain.impossible_run >= IMPOSSIBLE_READINGS:
            return f"{drain.impossible_run} readings in a row below 0 or above the drain's depth"
        if len(drain.jumps) >= JUMPS:
            return (f"{len(drain.jumps)} jumps faster than {self.config.max_rise_cm_per_min:g} "
                    f"cm/min within an hour")
        stuck_for = ts - drain.flat_since
        if drain.points and stuck_for >= self.config.stuck_after_ms and drain.flat_high > EMPTY_CM:
            moving = self._moving_neighbour(drain, ts)
            if moving is not None:
                return (f"level stuck at {drain.points[-1][1]:.1f} cm for "
                        f"{stuck_for // 60_000} min while {moving} moved")
        return None

    def _moving_neighbour(self, drain: _Drain, ts: int) -> str | None:
        """Another drain of the zone whose level moved by `neighbour_move_cm` while this one
        stood still: the water moved, the sensor did not."""
        since = ts - self.config.stuck_after_ms
        for other in self.by_zone[drain.site.zone]:
            levels = [level for t, level in other.points if t >= since]
            if other is not drain and levels and \
                    max(levels) - min(levels) >= self.config.neighbour_move_cm:
                return other.site.id
        return None

    # Blockage ------------------------------------------------------------------------------------
    def _forget_position(self, drain: _Drain) -> None:
        """Neither above nor within its band: nothing is known of this drain's level."""
        if drain.above_since is not None:
            drain.zone_above[0] -= 1
        drain.above_since = drain.within_since = None

    def _judge_blockage(self, drain: _Drain, ts: int, hours: float) -> None:
        if drain.configured is not None:
            median, high = drain.configured.median_cm, drain.configured.high_cm
        else:
            median, high = self._median_high(drain, hours)
        level = drain.level
        if high is None or median is None or level is None:
            self._forget_position(drain)
        elif level > high:
            if drain.above_since is None:
                drain.above_since = ts
                drain.zone_above[0] += 1
            drain.within_since = None
        else:
            if drain.above_since is not None:
                drain.above_since = None
                drain.zone_above[0] -= 1
            if drain.within_since is None:
                drain.within_since = ts
            if level <= median + (high - median) / 2 and not drain.alerts:
                return  # the quiet case: in the lower part of its band, nothing open
        reason = self._blockage_reason(drain, ts, median, high)
        if reason is not None:
            self._set(drain, "blockage", self._condition(drain, "blockage", reason), ts, "")
        elif drain.within_since is not None and ts - drain.within_since >= self.config.hold_ms:
            self._set(drain, "blockage", None, ts,
                      f"level within its band for {self.config.hold_ms // 60_000} min")

    def _blockage_reason(self, drain: _Drain, ts: int, median: float | None,
                         high: float | None) -> str | None:
        """The downstream comparison first (it names the pipe to open, wet or dry), then the
        dry-weather rules: above the band for the hold, or rising against it over the hold.
        (Judged on the band's median and high at this reading; the whole band is looked up only
        for a message.)"""
        hold = self.config.hold_ms
        level = drain.level
        if median is None or high is None or level is None:
            return None
        if drain.above_since is not None and ts - drain.above_since >= hold:
            below = self._low_downstream(drain, ts)
            if below is not None:
                return (f"segment {drain.site.id} -> {below.site.id}: {drain.site.id} at "
                        f"{level:.1f} cm, above its band ({high:.1f} cm), while "
                        f"downstream {below.site.id} stays within its band: inspect the pipe "
                        "between them")
        dry_since = self._dry_since(drain.site.zone, ts)
        if dry_since is None:
            return None  # wet: a high level is the storm's until shown otherwise
        if drain.above_since is not None and ts - max(drain.above_since, dry_since) >= hold:
            band = self._band_now(drain, ts)
            low = f"{band.low_cm:.1f}" if band is not None else "?"
            return (f"level {level:.1f} cm above its dry-weather band ({low}-{high:.1f} cm) "
                    f"for {(ts - drain.above_since) // 60_000} min")
        if level > median + (high - median) / 2:
            rise = self._rise_against_band(drain, ts, dry_since)
            if rise is not None and rise >= self.config.rise_cm_per_h:
                return (f"level {level:.1f} cm rising {rise:.1f} cm/h against its dry-weather "
                        f"band over {hold // 60_000} min")
        return None

    def _low_downstream(self, drain: _Drain, ts: int) -> _Drain | None:
        """The downstream neighbour, when it has stayed at or below its band for the hold and
        still reports (a silent or faulty neighbour proves nothing)."""
        name = drain.site.downstream
        below = self.drains.get(name) if name is not None else None
        if below is None or below.within_since is None or self._is_active(below, "sensor_fault"):
            return None
        fresh = ts - below.last_ts <= self.config.silent_after_ms
        return below if fresh and ts - below.within_since >= self.config.hold_ms else None

    def _rise_against_band(self, drain: _Drain, ts: int, dry_since: int) -> float | None:
        """How fast the level keeps rising against its band's median (cm/h): the median excess
        of each quarter of the last hold against the quarter before; the smallest of the three
        steps counts. One step up lifts at most two of them, so a jump is not "keeps rising";
        neither is a rise that stopped. None: the readings do not span the hold in dry weather."""
        hold = self.config.hold_ms
        start = ts - hold
        points = list(drain.points)
        first = next((k for k in range(len(points) - 1, -1, -1) if points[k][0] <= start), None)
        if first is None or points[first][0] < dry_since:
            return None
        parts: list[list[float]] = [[] for _ in range(RISE_PARTS)]
        for t, level in points[first:]:
            median = drain.configured.median_cm if drain.configured is not None \
                else self._median_high(drain, self.clock.hours_of_day(t))[0]
            if median is None:
                return None
            part = min(RISE_PARTS - 1, max(0, (t - start) * RISE_PARTS // hold))
            parts[part].append(level - median)
        if not all(parts):
            return None
        medians = [statistics.median(part) for part in parts]
        step = min(b - a for a, b in zip(medians, medians[1:], strict=False))
        return step * RISE_PARTS * HOUR_MS / hold

    def _dry_since(self, zone: str, ts: int) -> int | None:
        """None while the zone is wet; else when its last wet period ended (or long ago)."""
        if self.weather.is_wet(zone, ts):
            return None
        period = self.weather.last_period(zone)
        return -(1 << 62) if period is None else period.until

    # Overflow and storm surge ---------------------------------------------------------------------
    def _judge_overflow(self, drain: _Drain, ts: int, overflow: float) -> None:
        site, config = drain.site, self.config.overflow
        depth = site.depth_cm if site.depth_cm is not None else overflow
        level = drain.level
        if level is None:
            return
        why = overflow_imminent(list(drain.points), depth, overflow, config)
        if why is not None:
            self._set(drain, "overflow_imminent", self._condition(
                drain, "overflow_imminent", f"drain {site.id}: {why}"), ts, "")
        elif level < overflow - 2 * drain.margin:
            self._set(drain, "overflow_imminent", None, ts, f"level {level:.1f} cm")

    def _could_reach(self, drain: _Drain, overflow: float) -> bool:
        """Whether the projection could reach `overflow`: enough readings in its window, and the
        steepest slope between them (a bound of the Theil-Sen slope) carries the judged level
        there within the horizon."""
        config = self.config.overflow
        points = drain.points
        latest = points[-1][0]
        if len(points) < config.min_points or \
                points[-config.min_points][0] <= latest - config.window_ms:
            return False
        recent = []
        for k in range(len(points) - 1, -1, -1):
            if points[k][0] <= latest - config.window_ms:
                break
            recent.append(points[k])
        if len(recent) < config.min_points:
            return False
        levels = [level for _, level in recent]
        gap = min(a[0] - b[0] for a, b in zip(recent, recent[1:], strict=False))
        if gap <= 0:
            return True
        steepest = (max(levels) - min(levels)) / gap
        return drain.level + steepest * config.horizon_ms >= overflow  # type: ignore[operator]

    def _judge_surge(self, drain: _Drain, ts: int) -> None:
        """A wet zone with most drains above their bands: one high_water notice per wet period."""
        zone = drain.site.zone
        members = self.by_zone[zone]
        if drain.zone_above[0] <= self.config.surge_fraction * len(members) \
                or not self.weather.is_wet(zone, ts):
            return
        period = self.weather.last_period(zone)
        if period is None or self._noticed.get(zone) == period.since:
            return
        self._noticed[zone] = period.since
        high = tuple(d.site.id for d in members if d.above_since is not None)
        self.notices.append(Notice(
            "high_water", zone, ts, high,
            f"storm surge in {zone}: {len(high)} of {len(members)} drains above their dry-weather "
            f"band while it rains (not a blockage)"))

    # Conditions ----------------------------------------------------------------------------------
    def _condition(self, drain: _Drain, kind: AlertKind, message: str) -> Condition:
        site = drain.site
        return Condition(kind, drain_subject(site.id), site.zone, (site.id,), message,
                         Place(None, None, site.lat, site.lon))

    def _is_active(self, drain: _Drain, kind: AlertKind) -> bool:
        return (drain_subject(drain.site.id), kind) in self._active

    def _set(self, drain: _Drain, kind: AlertKind, condition: Condition | None, at_ms: int,
             reason: str) -> None:
        """Make (drain, kind) hold `condition` (None: not hold); emit only real changes. A
        raised alert keeps its first message until it clears (no repeat per reading)."""
        key = (drain_subject(drain.site.id), kind)
        known = self._active.get(key)
        if condition is None:
            if known is not None:
                del self._active[key]
                drain.alerts -= 1
                self.transitions.append(Cleared(kind, key[0], at_ms, reason))
        elif known is None:
            self._active[key] = condition
            drain.alerts += 1
            self.transitions.append(Raised(condition, at_ms))


def _quiet_below(medians: list[float | None], highs: list[float | None]) -> list[float]:
    """Per local hour h, a level at or below which a reading in [h, h+1) is surely in the lower
    half of its band (median + (high - median) / 2, interpolated linearly between the hours' half
    pasts): that threshold's least value over [h, h+1], which is at h, h + 1/2 or h + 1. -inf
    where a band is missing (such readings take the full path)."""
    t = [None if m is None or h is None else m + (h - m) / 2
         for m, h in zip(medians, highs, strict=True)]
    out = []
    for hour in range(24):
        before, here, after = t[hour - 1], t[hour], t[(hour + 1) % 24]
        if before is None or here is None or after is None:
            out.append(-math.inf)
        else:
            out.append(min((before + here) / 2, here, (here + after) / 2))
    return out
