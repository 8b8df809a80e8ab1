"""A scenario in time: its readings and gateway statuses anchored at an epoch-ms instant, and the
rule settings it runs with there.

Pure. The scenario clock reads `start` at the anchor. The town's zone schedules are written on
that clock, so `anchored_settings` moves them by the anchor's time of day: a scenario anchored at
09:37 UTC whose clock starts at 17:00 gets "18:00-06:00" as "10:37-22:37" (UTC), and its nights,
faults and labels keep their places relative to the anchor whatever the date and hour.
"""

from __future__ import annotations

import math

from streetwatch.fixed_schedule import parse_fixed_schedule
from streetwatch.scenarios.format import (
    DAY_MS,
    MIN_MS,
    TOWN_KEYS,
    Fault,
    Scenario,
    ScenarioError,
)
from streetwatch.town import LampObservation, LampSite, Observation, StatusObservation

SILENCES = frozenset({"silent", "gateway_offline", "gateway_silent"})




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
    """Every lamp reading and gateway status, in the order stored replay reads them: by time,
    lamp readings (by lamp id) before statuses (by gateway) at one instant."""
    ordered = sorted(scenario.sites, key=lambda s: s.id)
    faults = {site.id: [f for f in scenario.faults if _touches(f, site)] for site in ordered}
    found: list[Observation] = []
    for offset_ms in range(0, scenario.duration_ms, scenario.interval_ms):
        for site in ordered:
            state = _lamp_state(scenario, site, faults[site.id], offset_ms)
            if state is not None:
                found.append(LampObservation(anchor_ms + offset_ms, site.id, *state))
    found += _statuses(scenario, anchor_ms)
    return sorted(found, key=_order)


def _order(event: Observation) -> tuple[int, int, str]:
    if isinstance(event, LampObservation):
        return event.ts_ms, 0, event.lamp
    return event.ts_ms, 1, event.gateway


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
