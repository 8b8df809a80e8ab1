"""When lamps must be lit: the lights-on period of DESIGN s.5, as a phase per zone and instant.

The lights-on period is the time the sun's centre is more than 6 degrees below the horizon (civil
dusk to civil dawn, from astral, for the town's coordinates), or, for a zone in `zone_schedules`,
a fixed local schedule "HH:MM-HH:MM" (which may cross midnight). A grace `g` is taken off each end:

- "night":     [on + g, off - g)  lamps must be lit (dark lamps and the lighting rate are judged)
- "switching": [on - g, on + g) and [off - g, off + g)  neither dark nor day-burning is judged
- "day":       everything else    lamps must be off (day burners are judged)

Intervals are half-open in epoch milliseconds: each boundary instant belongs to the phase that
starts there (at exactly dusk + g it is night; at exactly dawn - g it is switching). When a night
is shorter than 2 g it has no "night" at all, and when a day is shorter than 2 g the switching
windows of dawn and the next dusk touch: no "day" in between. With g = 0 there is no switching.

Polar night and day: astral's dusk() and dawn() raise when the sun never reaches -6 degrees on a
date (and, near that limit, on some dates when it does), so dusk and dawn are found here from
astral's sun elevation instead, which is defined at every instant: a sun that stays below -6
degrees all day is polar night (lights on all day: "night"), one that stays above is a white
night (no lights-on period: "day"). Near the poles a phase can last for weeks, and
`next_change_ms` looks ahead up to 400 days.

Local dates: a fixed schedule's times are town-local wall-clock times on each local date. On a
DST change they keep their wall-clock meaning: a time that does not exist that day (spring
forward) is read with the offset before the change (02:30 becomes 03:30 in Europe/Berlin), a time
that occurs twice (fall back) is its first occurrence. Civil dusk and dawn are instants, so DST
does not move them.

Speed: each (schedule, local date) is computed once (about 200 sun elevations, ~1 ms; never
per reading) into a sorted list of phase changes; `phase` then is a bisect, well under the few
microseconds per reading the rule engine can spend. Pure: no I/O.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING, Literal
from zoneinfo import ZoneInfo

from astral import Observer
from astral.sun import elevation

from streetwatch.fixed_schedule import FixedSchedule, parse_fixed_schedule

if TYPE_CHECKING:
    from streetwatch.settings import Settings

Phase = Literal["night", "day", "switching"]
Period = tuple[int, int]  # [on_ms, off_ms): lamps should be lit

CIVIL_ZENITH_DEG = 96.0  # sun centre 6 degrees below the horizon
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_MS = timedelta(milliseconds=1)
_DAY_MS = 86_400_000
_SAMPLE_MS = 600_000  # sun elevation sampled every 10 minutes
_MAX_SCAN_DAYS = 400  # longer than any polar night or day, shorter than forever
_CACHE_DAYS = 20_000  # (schedule, date) entries kept; cleared when full


@dataclass(frozen=True, slots=True)
class _Day:
    """One local date [start_ms, end_ms): phase `phases[i]` holds from `starts[i]`."""

    start_ms: int
    end_ms: int
    starts: tuple[int, ...]
    phases: tuple[Phase, ...]

    def segments(self) -> Iterator[tuple[int, int, Phase]]:
        ends = (*self.starts[1:], self.end_ms)
        return zip(self.starts, ends, self.phases, strict=True)


class LightsOnSchedule:
    """The lights-on phase per zone; zones not in `zone_schedules` follow civil dusk and dawn."""

    def __init__(
        self,
        latitude: float,
        longitude: float,
        timezone: str,
        grace_s: int,
        zone_schedules: Mapping[str, str] | None = None,
    ) -> None:
        if grace_s < 0:
            raise ValueError(f"grace_s must be >= 0, got {grace_s}")
        self.tz = ZoneInfo(timezone)
        self.grace_ms = grace_s * 1000
        self._observer = Observer(latitude, longitude)
        self._fixed: dict[str, FixedSchedule] = {
            zone: parse_fixed_schedule(text) for zone, text in (zone_schedules or {}).items()
        }
        self._days: dict[tuple[FixedSchedule | None, int], _Day] = {}
        self._recent: dict[str, _Day] = {}

    @classmethod
    def from_settings(cls, settings: Settings) -> LightsOnSchedule:
        return cls(settings.town_latitude, settings.town_longitude, settings.town_timezone,
                   settings.lights_on_grace_s, settings.zone_schedules)

    # Public API ---------------------------------------------------------------------------
    def phase(self, zone: str, ts_ms: int) -> Phase:
        """The phase of `zone` at `ts_ms` (see the module docstring); a bisect when cached."""
        day = self._recent.get(zone)
        if day is None or not day.start_ms <= ts_ms < day.end_ms:
            day = self._recent[zone] = self._day(zone, ts_ms)
        return day.phases[bisect_right(day.starts, ts_ms) - 1]

    def night_intervals(self, zone: str, from_ms: int, to_ms: int) -> list[Period]:
        """The "night" intervals overlapping [from_ms, to_ms), clipped to it, in order; a night
        that crosses local midnight is one interval."""
        nights: list[Period] = []
        for start, end, phase in self._segments_from(zone, from_ms, to_ms):
            if phase != "night":
                continue
            start, end = max(start, from_ms), min(end, to_ms)
            if nights and nights[-1][1] == start:
                nights[-1] = (nights[-1][0], end)
            else:
                nights.append((start, end))
        return nights

    def next_change_ms(self, zone: str, ts_ms: int) -> int:
        """The first instant after `ts_ms` at which the phase of `zone` differs from its phase
        at `ts_ms` (the start of the next phase)."""
        current = self.phase(zone, ts_ms)
        horizon_ms = ts_ms + _MAX_SCAN_DAYS * _DAY_MS
        for start, _end, phase in self._segments_from(zone, ts_ms, horizon_ms):
            if start > ts_ms and phase != current:
                return start
        raise RuntimeError(f"zone {zone!r}: no phase change within {_MAX_SCAN_DAYS} days")

    # Local dates --------------------------------------------------------------------------
    def _segments_from(self, zone: str, from_ms: int, to_ms: int
                       ) -> Iterator[tuple[int, int, Phase]]:
        """Every phase segment of every local date that overlaps [from_ms, to_ms)."""
        ts_ms = from_ms
        while ts_ms < to_ms:
            day = self._day(zone, ts_ms)
            for segment in day.segments():
                if segment[1] > from_ms and segment[0] < to_ms:
                    yield segment
            ts_ms = day.end_ms

    def _day(self, zone: str, ts_ms: int) -> _Day:
        """The local date holding `ts_ms`, computed once per (schedule, date)."""
        local = self._local_date(ts_ms)
        fixed = self._fixed.get(zone)
        key = (fixed, local.toordinal())
        day = self._days.get(key)
        if day is None:
            if len(self._days) >= _CACHE_DAYS:
                self._days.clear()
            day = self._days[key] = self._build_day(fixed, local)
        return day

    def _local_date(self, ts_ms: int) -> date:
        """The local date D with midnight(D) <= ts_ms < midnight(D + 1)."""
        local = datetime.fromtimestamp(ts_ms // 1000, self.tz).date()
        while ts_ms < self._midnight_ms(local):
            local -= timedelta(days=1)
        while ts_ms >= self._midnight_ms(local + timedelta(days=1)):
            local += timedelta(days=1)
        return local

    def _midnight_ms(self, local: date) -> int:
        """Start of local date `local`; when midnight does not exist (a DST change at 00:00),
        the instant of the change."""
        return self._local_ms(local, 0)

    def _local_ms(self, local: date, minute: int) -> int:
        """Epoch ms of wall-clock `minute` after midnight on `local` (first occurrence; a time
        skipped by DST is read with the offset before the change)."""
        moment = datetime.combine(local, time(minute // 60, minute % 60), self.tz)
        return _ms(moment)

    def _build_day(self, fixed: FixedSchedule | None, local: date) -> _Day:
        start_ms = self._midnight_ms(local)
        end_ms = self._midnight_ms(local + timedelta(days=1))
        window = (start_ms - self.grace_ms, end_ms + self.grace_ms)
        sun = fixed is None
        periods = self._sun_periods(*window) if sun else self._fixed_periods(fixed, local)
        return _timeline(_clip(periods, *window), self.grace_ms, start_ms, end_ms)

    # Lights-on periods --------------------------------------------------------------------
    def _fixed_periods(self, fixed: FixedSchedule, local: date) -> list[Period]:
        """The fixed schedule's periods switched on from two days before `local` to the day
        after: every one that can reach into `local` with its grace (at most 3 h)."""
        periods = []
        for offset in (-2, -1, 0, 1):
            on_date = local + timedelta(days=offset)
            off_date = on_date + timedelta(days=1) if fixed.crosses_midnight else on_date
            periods.append((self._local_ms(on_date, fixed.on_min),
                            self._local_ms(off_date, fixed.off_min)))
        return periods

    def _sun_periods(self, from_ms: int, to_ms: int) -> list[Period]:
        """The dark periods (sun centre below -6 degrees) overlapping [from_ms, to_ms], cut at
        the sample grid around it.

        The sun's elevation is sampled on a fixed 10-minute grid (aligned to the epoch, so
        neighbouring dates see the same samples and agree on every crossing) and each change of
        side is bisected to the millisecond. Unlike astral's dusk() and dawn(), this never fails
        near the polar circles; a dark or bright spell shorter than the grid step (the sun
        grazing -6 degrees, a few days a year at high latitudes) is not seen."""
        first = from_ms - from_ms % _SAMPLE_MS
        samples = [(ts, self._dark(ts)) for ts in range(first, to_ms + _SAMPLE_MS, _SAMPLE_MS)]
        periods: list[Period] = []
        on_ms: int | None = first if samples[0][1] else None
        for (a_ms, a_dark), (b_ms, b_dark) in zip(samples, samples[1:], strict=False):
            if a_dark == b_dark:
                continue
            crossing_ms = self._crossing_ms(a_ms, b_ms, a_dark)
            if b_dark:
                on_ms = crossing_ms
            else:
                periods.append((first if on_ms is None else on_ms, crossing_ms))
                on_ms = None
        if on_ms is not None:
            periods.append((on_ms, samples[-1][0]))
        return periods

    def _dark(self, ts_ms: int) -> bool:
        moment = _EPOCH + ts_ms * _ONE_MS
        return elevation(self._observer, moment) < 90.0 - CIVIL_ZENITH_DEG

    def _crossing_ms(self, a_ms: int, b_ms: int, a_dark: bool) -> int:
        """The first millisecond in (a_ms, b_ms] on b's side of -6 degrees, by bisection."""
        while b_ms - a_ms > 1:
            middle_ms = (a_ms + b_ms) // 2
            if self._dark(middle_ms) == a_dark:
                a_ms = middle_ms
            else:
                b_ms = middle_ms
        return b_ms


def _clip(periods: list[Period], from_ms: int, to_ms: int) -> list[Period]:
    """Periods cut to [from_ms, to_ms], empty ones dropped, sorted."""
    clipped = [(max(on, from_ms), min(off, to_ms)) for on, off in periods]
    return sorted((on, off) for on, off in clipped if on < off)


def _timeline(periods: list[Period], grace_ms: int, start_ms: int, end_ms: int) -> _Day:
    """Phases over [start_ms, end_ms) from the lights-on periods around it (cut at most grace_ms
    outside the day: a cut edge's switching window then stays outside the day)."""
    nights = [(on + grace_ms, off - grace_ms) for on, off in periods if off - on > 2 * grace_ms]
    switching = [] if grace_ms == 0 else [
        (edge - grace_ms, edge + grace_ms) for period in periods for edge in period
    ]
    points = {start_ms}
    for a, b in (*nights, *switching):
        points.update(p for p in (a, b) if start_ms < p < end_ms)
    starts: list[int] = []
    phases: list[Phase] = []
    for point in sorted(points):
        phase = _phase_at(point, nights, switching)
        if not phases or phases[-1] != phase:
            starts.append(point)
            phases.append(phase)
    return _Day(start_ms, end_ms, tuple(starts), tuple(phases))


def _phase_at(ts_ms: int, nights: list[Period], switching: list[Period]) -> Phase:
    if any(a <= ts_ms < b for a, b in nights):
        return "night"
    if any(a <= ts_ms < b for a, b in switching):
        return "switching"
    return "day"


def _ms(moment: datetime) -> int:
    return (moment - _EPOCH) // _ONE_MS


__all__ = ["CIVIL_ZENITH_DEG", "LightsOnSchedule", "Period", "Phase"]
