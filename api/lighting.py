"""The lighting rate as the API answers it: now per zone and town, a series, nights and months.

Reads the `lighting_rate` points the rule engine writes (streetwatch/lighting_samples.py) and
computes nights and months with the functions of `streetwatch report lighting`
(rules.reports.night_rates / lighting_month over rules.schedule.LightsOnSchedule), so the API and
the command cannot disagree (a test compares their CSV on the same data).

"Now": the latest point of each zone counts as current while it is at most `FRESH_TICKS` ticks
(`rules_every_s`) old. By day the engine writes no points (the rate is judged at night only), and
a zone whose engine is down writes none either: such a zone is answered with no rate, its phase
and the time of its last point, never with an invented rate.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from contextlib import suppress
from datetime import datetime
from fractions import Fraction
from functools import lru_cache
from zoneinfo import ZoneInfo

from pydantic import BaseModel, Field

from api.keys import Principal
from api.query_params import QueryError, every_s, moment_ms
from rules.reports import (
    CSV_COLUMNS,
    NightRate,
    RateSample,
    ZoneMonth,
    cut_at_noon,
    lighting_month_of,
    night_rates,
)
from rules.schedule import LightsOnSchedule, Phase
from streetwatch.alerts.model import CITY_ZONE, rfc3339_ms
from streetwatch.influx import InfluxClient
from streetwatch.lighting_samples import (
    LightingPoint,
    latest_points,
    read_buckets,
    read_points,
    read_rate_samples,
    samples_by_zone,
)
from streetwatch.settings import Settings

FRESH_TICKS = 2  # a point missing one tick is still current
LOOKBACK_MS = 7 * 86_400_000  # how far back "now" looks for a zone's last point
MAX_UNCHANGED_MS = 86_400_000  # the longest a "now" answer is taken as unchanged (polar nights)
MAX_SERIES_POINTS = 10_000
MAX_NIGHTLY_DAYS = 93
MAX_EVERY_S = 366 * 86_400
_DAY_MS = 86_400_000


# Answers ---------------------------------------------------------------------------------------

class ZoneRateNow(BaseModel):
    """A zone's (or the town's) lighting rate now; `rate` and its counts are null when there is
    no current point (`status`, `phase` and `note` say why)."""

    zone: str
    status: str = Field(description="`current`, or `no_recent_sample` (by day, between "
                                    "switching moments, or while the rule engine is silent).")
    phase: Phase = Field(description="The zone's lights-on phase now: night, switching, day.")
    rate: float | None = None
    lit: int | None = None
    expected: int | None = None
    stale: int | None = None
    target: float | None = None
    meets_target: bool | None = Field(None, description="lit / expected >= target, exactly.")
    ts: str | None = Field(None, description="When the current point was taken.")
    last_sample_ts: str | None = Field(None, description="The zone's last point in the "
                                                         "past 7 days, current or not.")
    note: str


class LightingNow(BaseModel):
    """The rate now: each zone the caller sees, and the town (`_city`; unbound keys only)."""

    at: str
    zones: list[ZoneRateNow]
    town: ZoneRateNow | None


class SeriesPoint(BaseModel):
    """A stored point (no `every`: counts given) or a bucket (`every`: mean and lowest rate)."""

    ts: str
    rate: float
    min_rate: float
    samples: int
    lit: int | None = None
    expected: int | None = None
    stale: int | None = None
    target: float | None = None


class LightingSeries(BaseModel):
    zone: str
    from_: str = Field(alias="from")
    to: str
    every: str | None
    points: list[SeriesPoint]


class NightValue(BaseModel):
    """One night of a zone (the rules of `report lighting`): null `mean_rate` when no point
    covers it."""

    night: str = Field(description="The local date the night starts on.")
    start: str
    end: str
    covered_minutes: float
    mean_rate: float | None
    minutes_below_target: float


class LightingNights(BaseModel):
    zone: str
    target: float
    nights: list[NightValue]


class MonthValue(BaseModel):
    """A zone's month: the row of `streetwatch report lighting`."""

    zone: str
    nights: int
    mean_rate: float | None
    worst_night: str | None
    worst_night_rate: float | None
    minutes_below_target: float


class LightingMonth(BaseModel):
    month: str
    zones: list[MonthValue]


NIGHT_CSV_COLUMNS = ("zone", "night", "start", "end", "covered_minutes", "mean_rate",
                     "minutes_below_target")
SERIES_CSV_COLUMNS = ("zone", "ts", "rate", "min_rate", "samples", "lit", "expected", "stale",
                      "target")


# Parsing ---------------------------------------------------------------------------------------

def time_range(from_text: str, to_text: str) -> tuple[int, int]:
    from_ms, to_ms = moment_ms("from", from_text), moment_ms("to", to_text)
    if to_ms <= from_ms:
        raise QueryError("to must be after from")
    return from_ms, to_ms


# Configuration ---------------------------------------------------------------------------------

def schedule_of(settings: Settings) -> LightsOnSchedule:
    """The lights-on schedule of `settings`, built once per configuration (it caches days)."""
    return _schedule(settings.town_latitude, settings.town_longitude, settings.town_timezone,
                     settings.lights_on_grace_s, tuple(sorted(settings.zone_schedules.items())))


@lru_cache(maxsize=8)
def _schedule(lat: float, lon: float, tz: str, grace_s: int,
              fixed: tuple[tuple[str, str], ...]) -> LightsOnSchedule:
    return LightsOnSchedule(lat, lon, tz, grace_s, dict(fixed))


def meets_target(lit: int, expected: int, target: float) -> bool:
    """lit / expected >= target decided on the counts (99 of 100 meets 0.99); nothing expected
    meets any target (the rate is 1.0 then)."""
    exact = Fraction(repr(target))
    return expected <= 0 or lit * exact.denominator >= exact.numerator * expected


# Now -------------------------------------------------------------------------------------------

class LastPoints:
    """The latest point of every zone over LOOKBACK_MS, read sparingly. The rule engine writes a
    point per zone once a tick (`rules_every_s`), so: a week is read at most once a tick and
    kept; the last two ticks are read at most every REFRESH_MS and laid over it; requests in
    between share the answer. One request reads at a time, the others wait for its answer (a
    hundred zones cost influxd ~30 ms even for three minutes of points). A new point shows
    within REFRESH_MS; a zone ageing out of the week goes a tick late."""

    REFRESH_MS = 5_000

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._kept: dict[str, LightingPoint] = {}
        # (the points, when the week was read, when the last ticks were): replaced as one
        self._state: tuple[dict[str, LightingPoint], int | None, int] = ({}, None, 0)

    def ready(self, now_ms: int, tick_ms: int) -> dict[str, LightingPoint] | None:
        """The points when no read is due at `now_ms` (no I/O, no waiting: fit for the event
        loop), else None: then `at`, in a worker thread."""
        points, week_at_ms, fresh_at_ms = self._state
        return None if self._due(week_at_ms, fresh_at_ms, now_ms, tick_ms) else points

    def at(self, influx: InfluxClient, now_ms: int, tick_ms: int) -> dict[str, LightingPoint]:
        with self._lock:
            points, week_at_ms, fresh_at_ms = self._state
            due = self._due(week_at_ms, fresh_at_ms, now_ms, tick_ms)
            if due == "week":
                self._kept = latest_points(influx, now_ms - LOOKBACK_MS, now_ms + 1)
                self._state = (self._kept, now_ms, now_ms)
            elif due == "ticks":
                recent = latest_points(influx, week_at_ms - 2 * tick_ms, now_ms + 1)  # type: ignore[operator]
                self._state = ({**self._kept, **recent}, week_at_ms, now_ms)
            return self._state[0]

    def _due(self, week_at_ms: int | None, fresh_at_ms: int, now_ms: int,
             tick_ms: int) -> str | None:
        if week_at_ms is None or not 0 <= now_ms - week_at_ms < tick_ms:
            return "week"
        if not 0 <= now_ms - fresh_at_ms < min(self.REFRESH_MS, tick_ms):
            return "ticks"
        return None


def rates_now(settings: Settings, influx: InfluxClient, now_ms: int, principal: Principal,
              last_points: LastPoints | None = None) -> LightingNow:
    """The latest point of each zone the caller sees; the town for unbound keys."""
    tick_ms = settings.rules_every_s * 1000
    latest = (last_points or LastPoints()).at(influx, now_ms, tick_ms)
    return rates_from(settings, latest, now_ms, principal)


def rates_from(settings: Settings, latest: dict[str, LightingPoint], now_ms: int,
               principal: Principal) -> LightingNow:
    """`rates_now` over the given latest points."""
    fresh_ms = FRESH_TICKS * settings.rules_every_s * 1000
    schedule = schedule_of(settings)

    def answer(zone: str) -> ZoneRateNow:
        return _zone_now(settings, schedule, zone, latest.get(zone), now_ms, fresh_ms)

    seen, town = _shown(latest, principal)
    return LightingNow(at=rfc3339_ms(now_ms), zones=[answer(zone) for zone in seen],
                       town=answer(CITY_ZONE) if town else None)


def unchanged_until_ms(settings: Settings, latest: dict[str, LightingPoint], now_ms: int,
                       principal: Principal) -> int:
    """The first instant after `now_ms` at which `rates_from` over `latest` may answer more than
    another `at`: a shown zone changes phase, or its current point ages out of date."""
    fresh_ms = FRESH_TICKS * settings.rules_every_s * 1000
    schedule = schedule_of(settings)
    seen, town = _shown(latest, principal)
    until_ms = now_ms + MAX_UNCHANGED_MS
    for zone in seen + ([CITY_ZONE] if town else []):
        with suppress(RuntimeError):  # no change within the schedule's horizon (a polar night)
            until_ms = min(until_ms, schedule.next_change_ms(zone, now_ms))
        point = latest.get(zone)
        if point is not None and now_ms - point.ts_ms <= fresh_ms:
            until_ms = min(until_ms, point.ts_ms + fresh_ms + 1)
    return until_ms


def _shown(latest: dict[str, LightingPoint], principal: Principal) -> tuple[list[str], bool]:
    """The zones of `latest` the caller sees, in order, and whether it sees the town."""
    seen = [zone for zone in sorted(latest) if zone != CITY_ZONE and principal.sees(zone)]
    return seen, principal.zones is None


def _zone_now(settings: Settings, schedule: LightsOnSchedule, zone: str,
              point: LightingPoint | None, now_ms: int, fresh_ms: int) -> ZoneRateNow:
    phase = schedule.phase(zone, now_ms)
    last = None if point is None else rfc3339_ms(point.ts_ms)
    if point is None or now_ms - point.ts_ms > fresh_ms:
        return ZoneRateNow(zone=zone, status="no_recent_sample", phase=phase,
                           last_sample_ts=last, note=_why_no_rate(phase))
    target = settings.zone_target(zone) if point.target is None else point.target
    return ZoneRateNow(
        zone=zone, status="current", phase=phase, rate=point.rate, lit=point.lit,
        expected=point.expected, stale=point.stale, target=target,
        meets_target=meets_target(point.lit, point.expected, target), ts=last,
        last_sample_ts=last, note="the rule engine's latest sample")


def _why_no_rate(phase: Phase) -> str:
    if phase == "day":
        return "day: lamps are off, no lighting rate is measured"
    if phase == "switching":
        return "switching: lamps are turning on or off, no lighting rate is measured"
    return "night, but no recent sample: the rule engine may not be running"


# Series ----------------------------------------------------------------------------------------

def series(settings: Settings, influx: InfluxClient, zone: str, from_ms: int, to_ms: int,
           every: str | None) -> LightingSeries:
    """The zone's points in [from_ms, to_ms), or their `every` buckets; at most
    MAX_SERIES_POINTS of them (QueryError for a longer range)."""
    step_s = settings.rules_every_s if every is None else every_s(every, MAX_EVERY_S)
    if (to_ms - from_ms) // (step_s * 1000) > MAX_SERIES_POINTS:
        raise QueryError(f"the range holds more than {MAX_SERIES_POINTS} points: "
                         "shorten it or choose a longer every")
    if every is None:
        points = [SeriesPoint(ts=rfc3339_ms(p.ts_ms), rate=p.rate, min_rate=p.rate, samples=1,
                              lit=p.lit, expected=p.expected, stale=p.stale, target=p.target)
                  for p in read_points(influx, zone, from_ms, to_ms)]
    else:
        points = [SeriesPoint(ts=rfc3339_ms(b.ts_ms), rate=b.mean_rate, min_rate=b.min_rate,
                              samples=b.samples)
                  for b in read_buckets(influx, zone, from_ms, to_ms, step_s)]
    return LightingSeries.model_validate({"zone": zone, "from": rfc3339_ms(from_ms),
                                          "to": rfc3339_ms(to_ms), "every": every,
                                          "points": points})


def series_rows(answer: LightingSeries) -> list[tuple]:
    return [(answer.zone, p.ts, p.rate, p.min_rate, p.samples, p.lit, p.expected, p.stale,
             p.target) for p in answer.points]


# Nights and months -----------------------------------------------------------------------------

def nightly(settings: Settings, influx: InfluxClient, zone: str, from_ms: int,
            to_ms: int) -> LightingNights:
    """The zone's nights that start in [from_ms, to_ms) (long ones cut at local noon, as the
    monthly report does), each with its time-weighted rate; QueryError past
    MAX_NIGHTLY_DAYS."""
    if to_ms - from_ms > MAX_NIGHTLY_DAYS * _DAY_MS:
        raise QueryError(f"from and to may be at most {MAX_NIGHTLY_DAYS} days apart")
    schedule = schedule_of(settings)
    # A night that starts in the range may end two days later (polar nights are cut at noon).
    found = schedule.night_intervals(zone, from_ms - 2 * _DAY_MS, to_ms + 2 * _DAY_MS)
    nights = [piece for night in found for piece in cut_at_noon(night, schedule.tz)
              if from_ms <= piece[0] < to_ms]
    target = settings.zone_target(zone)
    rates: list[NightRate] = []
    if nights:
        every_ms = settings.rules_every_s * 1000  # a point one tick early may hold into a night
        samples = read_rate_samples(influx, zone, nights[0][0] - every_ms, nights[-1][1],
                                    RateSample)
        rates = night_rates(samples, nights, settings.rules_every_s, target)
    return LightingNights(zone=zone, target=target,
                          nights=[_night_value(rate, schedule.tz) for rate in rates])


def _night_value(night: NightRate, tz: ZoneInfo) -> NightValue:
    local = datetime.fromtimestamp(night.start_ms // 1000, tz).date()
    return NightValue(night=local.isoformat(), start=rfc3339_ms(night.start_ms),
                      end=rfc3339_ms(night.end_ms), covered_minutes=night.covered_ms / 60_000,
                      mean_rate=night.mean_rate,
                      minutes_below_target=night.below_target_ms / 60_000)


def night_rows(answer: LightingNights) -> list[tuple]:
    return [(answer.zone, n.night, n.start, n.end, n.covered_minutes, n.mean_rate,
             n.minutes_below_target) for n in answer.nights]


def month_rows(settings: Settings, influx: InfluxClient, month: str) -> list[ZoneMonth]:
    """Every zone's month, exactly as `streetwatch report lighting --month` computes it
    (rules.reports.lighting_month_of, the same targets and schedule)."""
    return lighting_month_of(lambda a, b: samples_by_zone(influx, a, b, RateSample),
                             schedule_of(settings), month, ZoneInfo(settings.town_timezone),
                             settings.rules_every_s, settings.zone_target)


def visible_months(rows: Sequence[ZoneMonth], principal: Principal) -> list[ZoneMonth]:
    """The rows of the zones the caller sees (the town only for unbound keys)."""
    return [row for row in rows if principal.sees(row.zone)
            and (row.zone != CITY_ZONE or principal.zones is None)]


def month_answer(month: str, rows: Sequence[ZoneMonth]) -> LightingMonth:
    return LightingMonth(month=month, zones=[
        MonthValue(zone=row.zone, nights=row.nights, mean_rate=row.mean_rate,
                   worst_night=None if row.worst_night is None else row.worst_night.isoformat(),
                   worst_night_rate=row.worst_night_rate,
                   minutes_below_target=row.minutes_below_target)
        for row in rows])


__all__ = ["CSV_COLUMNS", "LightingMonth", "LightingNights", "LightingNow", "LightingSeries",
           "QueryError", "meets_target", "month_answer", "month_rows", "moment_ms", "nightly",
           "rates_now", "series", "time_range", "visible_months"]
