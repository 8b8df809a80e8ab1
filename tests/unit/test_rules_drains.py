"""Drain rules through the pure core (rules/drains.py): each kind, exactly, and the storm that must
never be a blockage. Times are on the judged day (drain_drive.START is its midnight, UTC)."""

from __future__ import annotations

import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rules.drains import DrainNetwork
from rules.engine import RuleEngine
from rules.fleet import Fleet
from rules.lifecycle import MemorySink, OpenAlert
from streetwatch.alerts.model import Condition
from streetwatch.town import DrainSite

from drain_drive import (
    DAY,
    HOUR,
    MIN,
    START,
    TOWN,
    at,
    chain,
    dry_level,
    events,
    run,
)

DRAINS = chain()
RAIN = (at("12:00"), at("15:00"))  # 1 mm every 10 min: wet from 12:10 until 6 h + 6 h after


def lift(ts: int, cm: float = 40.0) -> float:
    """A storm's lift of every drain of the zone: up over an hour, receding after the rain."""
    start, end = RAIN
    if ts < start:
        return 0.0
    if ts < end:
        return cm * min(1.0, (ts - start) / HOUR)
    return cm * math.exp(-(ts - end) / HOUR)


def rain(ts: int) -> float:
    return 1.0 if RAIN[0] <= ts < RAIN[1] else 0.0


def growing(drain: str, since: int, cm_per_h: float, until: int | None = None):
    """The dry curve, with `drain` rising by cm_per_h from `since` (until `until`)."""
    def level(d: str, ts: int) -> float:
        extra = cm_per_h * (ts - since) / HOUR if d == drain and since <= ts and (
            until is None or ts < until) else 0.0
        return dry_level(d, ts) + extra
    return level


def alerts(lines):
    return [d for d in lines if d["type"] == "alert"]


def notices(lines):
    return [d for d in lines if d["type"] == "notice"]


def test_a_quiet_town_raises_nothing_over_two_days():
    assert run(DRAINS, dry_level, at("00:00", 2)) == []


def test_a_dry_weather_blockage_is_found_as_it_grows_and_cleared_once_back_in_its_band():
    lines = run(DRAINS, growing("D5", at("10:00"), 3.0, until=at("16:00")), at("23:00"))
    # D5 has no downstream neighbour: the dry-weather rule, an hour after it left its band
    assert events(lines) == [("raised", "blockage", "drain:D5", "11:50"),
                             ("resolved", "blockage", "drain:D5", "17:10")]
    raised = alerts(lines)[0]
    assert raised["severity"] == "yellow" and "above its dry-weather band" in raised["message"]


def test_a_fast_growing_blockage_is_found_by_its_rise_before_it_leaves_its_band():
    lines = run(DRAINS, growing("D5", at("10:00"), 6.0), at("12:00"))
    # the median of each quarter of the hour three steps up by 1.5 cm: a whole hour of rising
    assert events(lines) == [("raised", "blockage", "drain:D5", "11:00")]
    assert "rising" in alerts(lines)[0]["message"]


def test_one_step_up_is_not_a_rise_it_is_judged_after_the_hold():
    level = lambda d, ts: dry_level(d, ts) + (10.0 if d == "D5" and ts >= at("09:00") else 0)  # noqa: E731
    lines = run(DRAINS, level, at("11:00"))
    assert events(lines) == [("raised", "blockage", "drain:D5", "10:10")]
    message = alerts(lines)[0]["message"]
    assert "above its dry-weather band" in message and message.endswith("for 60 min")


def test_a_storm_across_the_zone_is_one_high_water_notice_and_no_blockage():
    lines = run(DRAINS, lambda d, t: dry_level(d, t) + lift(t), at("12:00", 1), rain=rain)
    assert alerts(lines) == []
    [notice] = notices(lines)
    assert notice["kind"] == "high_water" and notice["zone"] == "Z1"
    assert notice["ts"].endswith("T12:20:00.000Z") and len(notice["drains"]) >= 3


def test_a_blockage_in_the_rain_is_found_by_the_downstream_comparison():
    """D2 blocks at 13:00, in the storm: it stays high, D3 gets none of the storm (starved)."""
    def level(d: str, ts: int) -> float:
        blocked = ts >= at("13:00")
        if d == "D3" and blocked:
            return dry_level(d, ts)
        extra = 30.0 if d == "D2" and blocked else 0.0
        return dry_level(d, ts) + lift(ts) + extra
    lines = run(DRAINS, level, at("16:00"), rain=rain)
    assert events(lines) == [("raised", "blockage", "drain:D2", "14:10")]
    assert alerts(lines)[0]["message"].startswith("segment D2 -> D3")


def test_a_blockage_hidden_by_rain_is_found_once_the_zone_dries():
    """D5 (no downstream) blocks during the storm and stays 30 cm up. The zone stays wet until the
    6 h rain window holds less than 2 mm (when the 14:40 reading leaves it, 20:40) and 6 h of
    drain-out after: dry from 02:40, and the hold is an hour of dry weather."""
    def level(d: str, ts: int) -> float:
        extra = 30.0 if d == "D5" and ts >= at("13:00") else 0.0
        return dry_level(d, ts) + lift(ts) + extra
    lines = run(DRAINS, level, at("06:00", 1), rain=rain)
    assert events(lines) == [("raised", "blockage", "drain:D5", "03:40")]


def test_a_fast_rise_is_overflow_imminent_then_resolved_when_it_falls():
    def level(d: str, ts: int) -> float:
        if d != "D1" or ts < at("10:00"):
            return dry_level(d, ts)
        up = 3.0 * (ts - at("10:00")) / MIN
        return min(170.0, dry_level(d, ts) + up) if ts < at("11:00") else dry_level(d, ts)
    lines = run(DRAINS, level, at("12:00"), every_ms=5 * MIN)
    overflow = [e for e in events(lines) if e[1] == "overflow_imminent"]
    # 10:30: the median level (~100 cm) at the Theil-Sen rate (3 cm/min) is 27 min from 180 cm
    assert overflow == [("raised", "overflow_imminent", "drain:D1", "10:30"),
                        ("resolved", "overflow_imminent", "drain:D1", "11:05")]
    raised = alerts(lines)[0]
    assert raised["severity"] == "red" and "rising" in raised["message"]
    # in dry weather, a drain filling that fast is also a blockage by its rise
    assert ("raised", "blockage", "drain:D1", "10:45") in events(lines)


def test_a_stuck_sensor_is_a_sensor_fault_while_its_neighbours_move():
    stuck = dry_level("D3", at("08:00"))
    def level(d: str, ts: int) -> float:
        return stuck if d == "D3" and at("08:00") <= ts < at("14:00") else dry_level(d, ts)
    lines = run(DRAINS, level, at("16:00"))
    assert events(lines) == [("raised", "sensor_fault", "drain:D3", "11:00"),
                             ("resolved", "sensor_fault", "drain:D3", "14:00")]
    assert "stuck" in alerts(lines)[0]["message"]


def test_an_empty_drain_reading_zero_is_not_stuck():
    level = lambda d, ts: 0.0 if d == "D3" else dry_level(d, ts)  # noqa: E731
    assert [e for e in events(run(DRAINS, level, at("16:00"))) if e[1] == "sensor_fault"] == []


@pytest.mark.parametrize("wild", [250.0, -50.0])
def test_impossible_levels_two_in_a_row_are_a_sensor_fault_one_is_nothing(wild):
    once = {at("09:00")}
    twice = {at("09:00"), at("09:10")}
    def level(times):
        return lambda d, ts: wild if d == "D2" and ts in times else dry_level(d, ts)
    assert events(run(DRAINS, level(once), at("12:00"))) == []
    assert events(run(DRAINS, level(twice), at("12:00"))) == [
        ("raised", "sensor_fault", "drain:D2", "09:10"),
        ("resolved", "sensor_fault", "drain:D2", "09:40")]


def test_jumps_no_water_makes_two_spikes_in_an_hour_are_a_sensor_fault():
    spikes = {at("09:00"), at("09:30")}
    level = lambda d, ts: 150.0 if d == "D2" and ts in spikes else dry_level(d, ts)  # noqa: E731
    assert events(run(DRAINS, level, at("10:00"))) == [
        ("raised", "sensor_fault", "drain:D2", "09:30")]


def test_an_open_cover_is_red_at_once_with_a_six_hour_deadline():
    cover = lambda d, ts: d == "D4" and at("09:00") <= ts < at("09:30")  # noqa: E731
    lines = run(DRAINS, dry_level, at("10:00"), cover=cover)
    assert events(lines) == [("raised", "cover_open", "drain:D4", "09:00"),
                             ("resolved", "cover_open", "drain:D4", "09:30")]
    raised = alerts(lines)[0]
    assert raised["severity"] == "red" and raised["deadline"].endswith("T15:00:00.000Z")


def test_a_low_battery_is_the_median_of_three_readings_so_one_low_reading_is_nothing():
    def battery(low_from, low_until):
        return lambda d, ts: 3.0 if d == "D1" and low_from <= ts < low_until else 3.6
    assert events(run(DRAINS, dry_level, at("10:00"),
                      battery=battery(at("09:00"), at("09:10")))) == []
    assert events(run(DRAINS, dry_level, at("10:00"),
                      battery=battery(at("09:00"), at("11:00")))) == [
        ("raised", "low_battery", "drain:D1", "09:10")]


def test_a_silent_drain_is_drain_silent_after_an_hour_and_resolved_when_it_reports():
    level = lambda d, ts: None if d == "D2" and at("09:10") <= ts < at("11:00") \
        else dry_level(d, ts)  # noqa: E731
    lines = run(DRAINS, level, at("12:00"))
    assert events(lines) == [("raised", "drain_silent", "drain:D2", "10:00"),
                             ("resolved", "drain_silent", "drain:D2", "11:00")]
    assert alerts(lines)[0]["ts"].endswith("T10:00:00.001Z")
    assert alerts(lines)[0]["severity"] == "blue"


def test_a_configured_band_needs_no_history():
    drains = [DrainSite("D1", "gw1", "Z1", 200.0, 180.0, None, None, 15.0, 35.0)]
    level = lambda d, ts: 40.0 if ts >= at("09:00") else 30.0  # noqa: E731
    engine = RuleEngine.from_settings(Fleet([]), TOWN, MemorySink(), START,
                                      DrainNetwork(drains))
    for ts in range(START, at("11:00"), 10 * MIN):
        engine.drain_reading("D1", ts, level("D1", ts))
    # above the configured 35 cm from the 09:10 median of three, for the hour's hold
    assert [(e.event, e.kind, e.ts_ms) for e in engine.take_events()] == [
        ("raised", "blockage", at("10:10"))]


def test_an_alert_open_in_storage_is_not_raised_again_and_clears_on_the_data():
    engine = RuleEngine.from_settings(Fleet([]), TOWN, MemorySink(), START,
                                      DrainNetwork(DRAINS))
    engine.adopt(OpenAlert(7, Condition("cover_open", "drain:D1", "Z1", ("D1",), "open"),
                           "red", START + HOUR))
    engine.drain_reading("D1", START + MIN, 20.0, 3.6, True)
    assert engine.take_events() == [] and ("drain:D1", "cover_open") in engine.book.open
    engine.drain_reading("D1", START + 2 * MIN, 20.0, 3.6, False)
    assert engine.book.open == {}  # the book resolved it (in SQL, through the live sink)


# Properties ------------------------------------------------------------------------------------
SLOW = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SLOW
@given(drain=st.sampled_from([d.id for d in DRAINS]),
       step=st.integers(0, 6 * 12 - 1),
       value=st.one_of(st.floats(-100, 10_000, allow_nan=False), st.sampled_from([0.0, 199.0])))
def test_a_single_outlier_reading_never_raises_an_alert(drain, step, value):
    """Any one reading of a quiet town, replaced by any level the wire contract lets through."""
    wild = at("08:00") + step * 10 * MIN
    level = lambda d, ts: value if (d, ts) == (drain, wild) else dry_level(d, ts)  # noqa: E731
    assert alerts(run(DRAINS, level, at("20:00"))) == []


@SLOW
@given(cm=st.floats(5.0, 150.0), start_step=st.integers(0, 12), hours=st.integers(1, 8),
       mm=st.floats(0.4, 20.0))
def test_no_blockage_while_the_zone_is_wet_and_all_its_drains_rise_together(cm, start_step,
                                                                          hours, mm):
    start = at("08:00") + start_step * 10 * MIN
    end = start + hours * HOUR
    def storm(ts: int) -> float:
        if ts < start:
            return 0.0
        if ts < end:
            return cm * min(1.0, (ts - start) / HOUR)
        return cm * min(1.0, hours) * math.exp(-(ts - end) / HOUR)
    wet = lambda ts: mm if start <= ts < end else 0.0  # noqa: E731
    lines = run(DRAINS, lambda d, ts: dry_level(d, ts) + storm(ts), start + DAY, rain=wet)
    assert [e for e in events(lines) if e[1] == "blockage"] == []


@SLOW
@given(slow=st.floats(0.5, 5.0), faster=st.floats(0.01, 4.0))
def test_overflow_is_raised_no_later_for_a_faster_rise(slow, faster):
    def first_raise(rate: float) -> int | None:
        def level(d: str, ts: int) -> float:
            up = rate * (ts - at("10:00")) / MIN if d == "D1" and ts >= at("10:00") else 0.0
            return dry_level(d, ts) + min(up, 160.0)  # never above the depth
        lines = run(DRAINS, level, at("12:00"), every_ms=5 * MIN)
        times = [d["ts"] for d in alerts(lines) if d["kind"] == "overflow_imminent"]
        return min(times) if times else None
    before, after = first_raise(slow), first_raise(slow + faster)
    assert before is None or (after is not None and after <= before)
