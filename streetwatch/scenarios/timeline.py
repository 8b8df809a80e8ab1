"""A scenario in time: its readings and gateway statuses anchored at an epoch-ms instant, and the
rule settings it runs with there.

Pure. The scenario clock reads `start` at the anchor. The town's zone schedules are written on
that clock, so `anchored_settings` moves them by the anchor's time of day: a scenario anchored at
09:37 UTC whose clock starts at 17:00 gets "18:00-06:00" as "10:37-22:37" (UTC), and its nights,
faults and labels keep their places relative to the anchor whatever the date and hour.

Drains follow a flow model that is a pure function of (drain, offset, scenario), so the same
scenario gives the same readings at any anchor (docs/scenarios.md, "Drain flow"):

    level = base + amplitude x dry_shape(scenario clock) + noise(drain, offset)
            + storm x storm_lift(zone, offset) + faults,  within [0, depth], to 0.1 cm

`dry_shape` is read on the scenario clock, so history day k before the anchor has, at the same
scenario-clock time, the same dry level (within noise) as the window itself: the hour-of-day
baseline the rules learn from history is the one the window is judged against. The noise is a
hash of (drain, offset), never a random generator's state.
"""

from __future__ import annotations

import hashlib
import math
from bisect import bisect_right
from collections.abc import Iterator

from streetwatch.fixed_schedule import parse_fixed_schedule
from streetwatch.scenarios.format import (
    DAY_MS,
    MIN_MS,
    TOWN_KEYS,
    Fault,
    Scenario,
    ScenarioError,
)
from streetwatch.town import (
    OBSERVATION_ORDER,
    DrainObservation,
    LampObservation,
    LampSite,
    Observation,
    RainObservation,
    StatusObservation,
)

SILENCES = frozenset({"silent", "gateway_offline", "gateway_silent"})
GATEWAY_SILENCES = frozenset({"gateway_offline", "gateway_silent"})
HOUR_MS = 60 * MIN_MS
HEALTHY_BATTERY_V = 3.6  # what a drain's battery reads without a low_battery fault
RAIN_SCALE_MM_PER_H = 10.0  # rain of r mm/h drives the storm lift towards 1 - exp(-r / this)
STORM_RISE_MS = 30 * MIN_MS  # time constant of the lift while it rains
# After the rain the lift decays with time constant drain_out / (ln(storm_cm) + RECESSION_MARGIN):
# within the zone's drain-out it falls by a factor storm_cm x e^2, to below 1 cm (e^-2 cm).
RECESSION_MARGIN = 2.0



# Anchoring --------------------------------------------------------------------------------------
def anchor_step_ms(scenario: Scenario) -> int:
    """Anchors fall on whole minutes and on the rule engine's ticks, so labels that depend on
    ticks (rates, zone_below_target) keep their offsets."""
    return math.lcm(MIN_MS, scenario.town.rules_every_s * 1000)


def anchored_settings(scenario: Scenario, anchor_ms: int) -> dict[str, object]:
    """Every rule setting the scenario runs with, zone schedules moved to the anchor (UTC): the
    `update` for `Settings.model_copy`, so the operator's own thresholds never leak in."""
    step = anchor_step_ms(scenario)
    if anchor_ms % step:
        raise ScenarioError(f"{scenario.path}: anchor {anchor_ms} must be a multiple of "
                            f"{step // 1000} s (whole minutes and rule ticks)")
    shift_min = ((anchor_ms % DAY_MS - scenario.start_ms_of_day) % DAY_MS) // MIN_MS
    values: dict[str, object] = {name: getattr(scenario.town, name) for name in TOWN_KEYS}
    values["zone_schedules"] = {zone: _shifted(text, shift_min)
                                for zone, text in scenario.town.zone_schedules.items()}
    return values


def _shifted(schedule: str, shift_min: int) -> str:
    fixed = parse_fixed_schedule(schedule)
    on, off = ((m + shift_min) % 1440 for m in (fixed.on_min, fixed.off_min))
    return f"{on // 60:02d}:{on % 60:02d}-{off // 60:02d}:{off % 60:02d}"


# Readings and statuses --------------------------------------------------------------------------
def scenario_events(scenario: Scenario, anchor_ms: int) -> list[Observation]:
    """Every lamp, rain and drain reading and gateway status, in the order stored replay reads
    them: by time, then by type (OBSERVATION_ORDER: lamp, rain, drain, status), then by device id
    (the gateway for a status). Drains and gauges report from `scenario.history_from_ms` (history
    first, before the anchor), lamps and statuses only inside the window."""
    ordered = sorted(scenario.sites, key=lambda s: s.id)
    faults = {site.id: [f for f in scenario.faults if _touches(f, site)] for site in ordered}
    found: list[Observation] = []
    for offset_ms in range(0, scenario.duration_ms, scenario.interval_ms):
        for site in ordered:
            state = _lamp_state(scenario, site, faults[site.id], offset_ms)
            if state is not None:
                found.append(LampObservation(anchor_ms + offset_ms, site.id, *state))
    model = DrainModel(scenario)
    for offset_ms in range(scenario.history_from_ms, scenario.duration_ms, scenario.interval_ms):
        found += model.observations(anchor_ms, offset_ms)
    found += _statuses(scenario, anchor_ms)
    return sorted(found, key=_order)


def _order(event: Observation) -> tuple[int, int, str]:
    if isinstance(event, LampObservation):
        device = event.lamp
    elif isinstance(event, DrainObservation):
        device = event.drain
    elif isinstance(event, RainObservation):
        device = event.gauge
    else:
        device = event.gateway
    return event.ts_ms, OBSERVATION_ORDER[type(event)], device


def _touches(fault: Fault, site: LampSite) -> bool:
    return (site.id in fault.lamps or (fault.cabinet is not None and fault.cabinet == site.cabinet)
            or fault.gateway == site.gateway)


def _lamp_state(scenario: Scenario, site: LampSite, faults: list[Fault],
                offset_ms: int) -> tuple[bool, str | None] | None:
    """(on, fault) a lamp reports at `offset_ms`, None when it says nothing. A silence wins over
    other faults; otherwise the fault listed last; no fault: on exactly in its zone's night."""
    active = [f for f in faults if f.active(offset_ms)]
    if any(f.kind in SILENCES for f in active):
        return None
    if not active:
        return _night(scenario, site.zone, offset_ms), None
    fault = active[-1]
    if fault.kind == "stuck_on":
        return True, None
    if fault.kind == "cycling":  # off at `from`, then on, off, on ... one state per reading
        return (offset_ms - fault.from_ms) // scenario.interval_ms % 2 == 1, None
    return False, fault.fault  # dark, cabinet_trip


def _night(scenario: Scenario, zone: str, offset_ms: int) -> bool:
    """Whether the zone's schedule has the lights on at `offset_ms` (scenario clock)."""
    fixed = parse_fixed_schedule(scenario.town.zone_schedules[zone])
    minute = (scenario.start_ms_of_day + offset_ms) % DAY_MS / MIN_MS
    if fixed.crosses_midnight:
        return minute >= fixed.on_min or minute < fixed.off_min
    return fixed.on_min <= minute < fixed.off_min


def _statuses(scenario: Scenario, anchor_ms: int) -> list[StatusObservation]:
    """A gateway_offline fault is an `offline` status at its start, `online` at its end."""
    found = []
    for fault in scenario.faults:
        if fault.kind != "gateway_offline" or fault.gateway is None:
            continue
        found.append(StatusObservation(anchor_ms + fault.from_ms, fault.gateway, False))
        if fault.until_ms is not None and fault.until_ms < scenario.duration_ms:
            found.append(StatusObservation(anchor_ms + fault.until_ms, fault.gateway, True))
    return found


# Drains and rain gauges -------------------------------------------------------------------------
def _von_mises(hour: float, centre: float, kappa: float) -> float:
    """A smooth periodic bump (period 24 h) peaking at 1 at `centre`; larger kappa, narrower."""
    return math.exp(kappa * (math.cos(2 * math.pi * (hour - centre) / 24) - 1))


def _raw_shape(hour: float) -> float:
    # A sharp morning peak (08:00), a broad evening one (about 20:00), some water use by day;
    # the sum is lowest around 04:00.
    return (_von_mises(hour, 8.0, 9.0) + 0.75 * _von_mises(hour, 20.5, 1.8)
            + 0.45 * _von_mises(hour, 14.0, 2.0))


_RAW = [_raw_shape(minute / 60) for minute in range(1440)]
_RAW_LOW, _RAW_HIGH = min(_RAW), max(_RAW)


def dry_shape(ms_of_day: int) -> float:
    """A drain's dry-weather flow over the day, in [0, 1]: 0 around 04:00, 1 at the 08:00 peak,
    about 0.7 at the 20:00 peak, 0.3-0.5 by day. Smooth and periodic (no step at midnight)."""
    raw = _raw_shape(ms_of_day % DAY_MS / HOUR_MS)
    return min(1.0, max(0.0, (raw - _RAW_LOW) / (_RAW_HIGH - _RAW_LOW)))


def drain_noise(drain: str, offset_ms: int, noise_cm: float) -> float:
    """Uniform in [-noise_cm, noise_cm), from a hash of (drain, offset): the same at any anchor
    and on every run."""
    digest = hashlib.blake2b(f"{drain}@{offset_ms}".encode(), digest_size=8).digest()
    return (2 * int.from_bytes(digest) / 2**64 - 1) * noise_cm


def storm_lift(scenario: Scenario, zone: str, offset_ms: int) -> float:
    """g(t) in [0, 1]: how far a storm lifts the zone's drains (times each drain's storm_cm)."""
    return DrainModel(scenario).lift(zone, offset_ms)


class _Storm:
    """One zone's storm lift, a linear reservoir over the zone's rain rate r(t) (the wettest of
    its gauges): while it rains the lift relaxes towards 1 - exp(-r / 10 mm/h) with a 30 min time
    constant (more rain, higher, never above 1); when it stops it decays with `fall_ms`. The rate
    is piecewise constant, so the lift at each change is computed once, and any instant after it
    in closed form."""

    def __init__(self, changes: list[int], rates: list[float], fall_ms: float) -> None:
        self.changes, self.rates, self.fall_ms = changes, rates, fall_ms
        self.lifts: list[float] = []
        lift = 0.0
        for i, at in enumerate(changes):
            self.lifts.append(lift)
            if i + 1 < len(changes):
                lift = self._after(lift, rates[i], changes[i + 1] - at)

    def lift(self, offset_ms: int) -> float:
        i = bisect_right(self.changes, offset_ms) - 1
        if i < 0:
            return 0.0
        return self._after(self.lifts[i], self.rates[i], offset_ms - self.changes[i])

    def _after(self, lift: float, rate_mm_per_h: float, elapsed_ms: int) -> float:
        if rate_mm_per_h > 0:
            target = 1 - math.exp(-rate_mm_per_h / RAIN_SCALE_MM_PER_H)
            return target + (lift - target) * math.exp(-elapsed_ms / STORM_RISE_MS)
        return lift * math.exp(-elapsed_ms / self.fall_ms)


class DrainModel:
    """The scenario's drains and rain gauges as pure functions of the offset from the anchor.
    Built once per scenario (the storm lift of each zone, the faults of each drain) so a reading
    costs a few lookups; `scenario_events` uses it, tests may ask it directly."""

    def __init__(self, scenario: Scenario) -> None:
        self.scenario = scenario
        self.sites = {d.id: d for d in scenario.drains}
        self.gauges = {g.id: g for g in scenario.gauges}
        self.faults = {d: [f for f in scenario.faults if d in f.drains] for d in self.sites}
        self.gateway_faults = [f for f in scenario.faults if f.kind in GATEWAY_SILENCES]
        # The blockages that keep storm water from each drain (upstream, starves_downstream).
        self.starved_by: dict[str, list[Fault]] = {d: [] for d in self.sites}
        for fault in scenario.faults:
            if fault.kind == "blockage" and fault.starves_downstream:
                for drain in fault.drains:
                    downstream = self.sites[drain].downstream
                    if downstream is not None:
                        self.starved_by[downstream].append(fault)
        zones = {d.zone for d in scenario.drains} | {g.zone for g in scenario.gauges}
        self.storms = {zone: self._storm(zone) for zone in zones}

    def _storm(self, zone: str) -> _Storm:
        gauges = {g.id for g in self.scenario.gauges if g.zone == zone}
        spells = [s for s in self.scenario.rain if gauges & set(s.gauges)]
        changes = sorted({t for s in spells for t in (s.from_ms, s.until_ms)})
        rates = [max((sum(s.mm_per_h for s in spells if g in s.gauges
                          and s.from_ms <= at < s.until_ms) for g in gauges), default=0.0)
                 for at in changes]
        storm_cm = max((self.scenario.flows[d.id].storm_cm for d in self.scenario.drains
                        if d.zone == zone), default=1.0)
        drain_out_ms = self.scenario.town.wet_drain_out_s * 1000
        return _Storm(changes, rates,
                      drain_out_ms / (math.log(max(storm_cm, 1.0)) + RECESSION_MARGIN))

    def lift(self, zone: str, offset_ms: int) -> float:
        """The zone's storm lift g in [0, 1] at `offset_ms` (0 for a zone with no rain)."""
        storm = self.storms.get(zone)
        return 0.0 if storm is None else storm.lift(offset_ms)

    def level(self, drain: str, offset_ms: int) -> float:
        """The water level at `offset_ms` (cm, unrounded): dry flow + noise + storm lift (unless
        an upstream blockage starves the drain) + blockages and fast rises, within [0, depth]."""
        site, flow = self.sites[drain], self.scenario.flows[drain]
        clock_ms = self.scenario.start_ms_of_day + offset_ms
        level = (flow.base_cm + flow.amplitude_cm * dry_shape(clock_ms)
                 + drain_noise(drain, offset_ms, flow.noise_cm))
        if not any(f.active(offset_ms) for f in self.starved_by[drain]):
            level += flow.storm_cm * self.lift(site.zone, offset_ms)
        for fault in self.faults[drain]:
            if not fault.active(offset_ms):
                continue
            if fault.kind == "blockage":
                added = fault.rise_cm_per_h * (offset_ms - fault.from_ms) / HOUR_MS
                level += added if fault.max_cm is None else min(added, fault.max_cm)
            elif fault.kind == "fast_rise":
                level += fault.rise_cm_per_min * (offset_ms - fault.from_ms) / MIN_MS
        depth = math.inf if site.depth_cm is None else site.depth_cm
        return min(depth, max(0.0, level))

    def reading(self, drain: str, offset_ms: int) -> tuple[float, float, bool] | None:
        """(level_cm, battery_v, cover_open) the drain reports at `offset_ms`, None when silent
        (drain_silent, or its gateway silent or offline). A stuck sensor repeats the level it
        read at the fault's `from`; a spike replaces the one reading."""
        if self._silenced(self.sites[drain].gateway, offset_ms):
            return None
        active = [f for f in self.faults[drain] if f.active(offset_ms)]
        if any(f.kind == "drain_silent" for f in active):
            return None
        level = round(self.level(drain, offset_ms), 1)
        battery_v, cover_open = HEALTHY_BATTERY_V, False
        for fault in active:
            if fault.kind == "stuck":
                level = round(self.level(drain, fault.from_ms), 1)
            elif fault.kind == "low_battery":
                battery_v = fault.battery_v
            elif fault.kind == "cover_open":
                cover_open = True
        for fault in active:
            if fault.kind == "spike" and fault.level_cm is not None:
                level = fault.level_cm
        return level, battery_v, cover_open

    def rain_mm(self, gauge: str, offset_ms: int) -> float | None:
        """The rain `gauge` reports at `offset_ms`: what fell since its previous reading
        (offset - interval, offset], to 0.001 mm; None when its gateway is silent."""
        if self._silenced(self.gauges[gauge].gateway, offset_ms):
            return None
        since = offset_ms - self.scenario.interval_ms
        fallen = sum(s.mm_per_h * max(0, min(offset_ms, s.until_ms) - max(since, s.from_ms))
                     for s in self.scenario.rain if gauge in s.gauges) / HOUR_MS
        return round(fallen, 3)

    def observations(self, anchor_ms: int, offset_ms: int) -> Iterator[Observation]:
        """The rain and drain readings at one instant (unsorted)."""
        ts_ms = anchor_ms + offset_ms
        for gauge in self.scenario.gauges:
            rain = self.rain_mm(gauge.id, offset_ms)
            if rain is not None:
                yield RainObservation(ts_ms, gauge.id, rain)
        for drain in self.sites:
            reading = self.reading(drain, offset_ms)
            if reading is not None:
                yield DrainObservation(ts_ms, drain, *reading)

    def _silenced(self, gateway: str, offset_ms: int) -> bool:
        return any(f.gateway == gateway and f.active(offset_ms) for f in self.gateway_faults)

