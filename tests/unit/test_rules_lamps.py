"""The lamp rules through replay, table by table: one precise alert per problem, at the exact instant."""

from __future__ import annotations

import json
from dataclasses import replace

from rules.config import RuleConfig
from rules.engine import RuleEngine
from rules.fleet import Fleet
from rules.lifecycle import MemorySink
from rules.replay import replay_lines
from streetwatch.alerts.model import rfc3339_ms

from rule_drive import (
    DAY0,
    HOUR,
    MIN,
    FixedNights,
    StatusObservation,
    alerts,
    lit_at_night,
    merge,
    rates,
    readings,
    road_lamps,
    run,
)

NIGHT = DAY0 + 18 * HOUR  # 18:00Z, the FixedNights dusk
START = NIGHT - 2 * HOUR


def at(ms: int) -> str:
    return rfc3339_ms(ms)


def broken(names: set[str], since_ms: int, until_ms: int = 1 << 60, fault: str | None = None):
    """Healthy lamps, except `names`, which are dark in [since, until)."""
    def state(lamp: str, ts: int):
        if lamp in names and since_ms <= ts < until_ms:
            return (fault is not None, fault)
        return lit_at_night(lamp, ts)
    return state


LAX = RuleConfig(target=0.5)  # most tables here are about one lamp, not the zone's rate


def night(sites, state, hours: int = 6, **kwargs):
    kwargs.setdefault("config", LAX)
    return run(sites, readings(sites, state, START, NIGHT + hours * HOUR), START, NIGHT,
               NIGHT + hours * HOUR, **kwargs)


def test_healthy_night_is_all_lit_and_quiet():
    sites = road_lamps(10)
    lines = night(sites, lit_at_night, hours=2)
    assert alerts(lines) == []
    samples = rates(lines)
    assert len(samples) == 120 and {s["rate"] for s in samples} == {1.0}
    assert samples[0]["ts"] == at(NIGHT) and samples[0]["expected"] == 10
    assert len(rates(lines, "_city")) == 120


def test_one_dark_lamp_is_one_lamp_out_after_its_hold_and_resolves_when_lit():
    sites = road_lamps(10)
    lines = night(sites, broken({"L005"}, NIGHT + 2 * HOUR, NIGHT + 4 * HOUR))
    assert alerts(lines) == [
        ("raised", "lamp_out", "lamp:L005", at(NIGHT + 2 * HOUR + 10 * MIN)),
        ("resolved", "lamp_out", "lamp:L005", at(NIGHT + 4 * HOUR)),
    ]
    raised = next(x for x in lines if x["type"] == "alert")
    assert raised["severity"] == "yellow" and raised["devices"] == ["L005"]
    assert raised["deadline"] == at(NIGHT + 2 * HOUR + 10 * MIN + 72 * HOUR)
    dark_tick = next(s for s in rates(lines) if s["ts"] == at(NIGHT + 3 * HOUR))
    assert (dark_tick["lit"], dark_tick["expected"], dark_tick["stale"]) == (9, 10, 0)


def test_a_lamp_dark_before_dusk_counts_from_the_start_of_the_night():
    sites = road_lamps(10)
    lines = night(sites, broken({"L003"}, START), hours=1)
    assert alerts(lines) == [("raised", "lamp_out", "lamp:L003", at(NIGHT + 10 * MIN))]


def test_two_neighbours_dark_are_one_blind_spot_not_two_lamp_outs():
    sites = road_lamps(10)
    lines = night(sites, broken({"L004", "L005"}, NIGHT + HOUR, NIGHT + 3 * HOUR))
    assert alerts(lines) == [
        ("raised", "blind_spot", "road:R1:4", at(NIGHT + HOUR + 10 * MIN)),
        ("resolved", "blind_spot", "road:R1:4", at(NIGHT + 3 * HOUR)),
    ]
    raised = next(x for x in lines if x["type"] == "alert")
    assert raised["severity"] == "red" and raised["devices"] == ["L004", "L005"]


def test_a_later_neighbour_turns_a_lamp_out_into_a_blind_spot():
    sites = road_lamps(10)
    state = broken({"L004"}, NIGHT + HOUR)
    later = broken({"L005"}, NIGHT + 2 * HOUR)
    lines = night(sites, lambda lamp, ts: later(lamp, ts) if lamp == "L005" else state(lamp, ts),
                  hours=3)
    assert alerts(lines) == [
        ("raised", "lamp_out", "lamp:L004", at(NIGHT + HOUR + 10 * MIN)),
        ("raised", "blind_spot", "road:R1:4", at(NIGHT + 2 * HOUR + 10 * MIN)),
        ("resolved", "lamp_out", "lamp:L004", at(NIGHT + 2 * HOUR + 10 * MIN)),
    ]


def test_a_tripped_cabinet_is_one_alert_not_fifty():
    sites = road_lamps(60, cabinet_size=50)  # C1: L001-L050, C2: L051-L060
    cabinet = {f"L{p:03d}" for p in range(1, 51)}
    lines = night(sites, broken(cabinet, NIGHT + HOUR, NIGHT + 3 * HOUR),
                  config=RuleConfig(target=0.1))
    assert alerts(lines) == [
        ("raised", "cabinet_failure", "cabinet:C1", at(NIGHT + HOUR + 10 * MIN)),
        ("resolved", "cabinet_failure", "cabinet:C1", at(NIGHT + 3 * HOUR)),
    ]


def test_a_cabinet_whose_lamps_fall_silent_is_one_alert_too():
    sites = road_lamps(20, cabinet_size=10)
    silent = {f"L{p:03d}" for p in range(1, 11)}
    def state(lamp, ts):
        return None if lamp in silent and ts >= NIGHT + HOUR else lit_at_night(lamp, ts)
    lines = night(sites, state, hours=3)
    kinds = {(e, k, s) for e, k, s, _ in alerts(lines)}
    assert kinds == {("raised", "cabinet_failure", "cabinet:C1")}


def test_day_burner_after_its_hold_in_daylight():
    sites = road_lamps(5)
    noon = DAY0 + 10 * HOUR
    def state(lamp, ts):
        return (True, None) if lamp == "L002" and ts >= noon else lit_at_night(lamp, ts)
    lines = run(sites, readings(sites, state, DAY0 + 8 * HOUR, DAY0 + 14 * HOUR),
                DAY0 + 8 * HOUR, DAY0 + 9 * HOUR, DAY0 + 14 * HOUR, config=LAX)
    assert alerts(lines) == [("raised", "day_burner", "lamp:L002", at(noon + 30 * MIN))]


def test_cycling_lamp_is_raised_at_its_fourth_change():
    sites = road_lamps(5)
    flicker_from = NIGHT + HOUR
    def state(lamp, ts):
        if lamp == "L003" and flicker_from <= ts < flicker_from + HOUR:
            return ((ts - flicker_from) // (5 * MIN)) % 2 == 1, None  # off, on, off, on ...
        return lit_at_night(lamp, ts)
    lines = night(sites, state, hours=3)
    got = alerts(lines)
    assert got[0] == ("raised", "cycling", "lamp:L003", at(flicker_from + 15 * MIN))
    assert ("resolved", "cycling", "lamp:L003") in {g[:3] for g in got}
    assert all(k != "lamp_out" for _, k, _, _ in got)


def test_lamp_fault_on_a_lit_lamp():
    sites = road_lamps(5)
    def state(lamp, ts):
        if lamp == "L001" and ts >= NIGHT + HOUR:
            return True, "tilt"
        return lit_at_night(lamp, ts)
    lines = night(sites, state, hours=2)
    assert alerts(lines) == [("raised", "lamp_fault", "lamp:L001", at(NIGHT + HOUR))]


def test_a_silent_lamp_under_a_talking_gateway():
    sites = road_lamps(10)
    def state(lamp, ts):
        return None if lamp == "L007" and ts > NIGHT + HOUR else lit_at_night(lamp, ts)
    lines = night(sites, state, hours=3)
    assert alerts(lines) == [("raised", "lamp_silent", "lamp:L007", at(NIGHT + HOUR + 30 * MIN))]


def test_gateway_offline_is_one_alert_that_suppresses_lamp_silence():
    sites = road_lamps(10) + road_lamps(5, road="R2", gateway="gw2", prefix="M")
    down = NIGHT + HOUR
    def state(lamp, ts):
        return None if lamp.startswith("L") and ts >= down else lit_at_night(lamp, ts)
    observations = merge(readings(sites, state, START, NIGHT + 4 * HOUR),
                         iter([StatusObservation(down + 1000, "gw1", False)]))
    lines = run(sites, observations, START, NIGHT, NIGHT + 4 * HOUR,
                config=RuleConfig(target=0.1))
    assert alerts(lines) == [("raised", "gateway_offline", "gateway:gw1", at(down + 1000))]


def test_a_gateway_that_just_stops_is_one_alert_after_the_silence_hold():
    sites = road_lamps(10)
    last = NIGHT + HOUR - 5 * MIN
    lines = night(sites, lambda lamp, ts: None if ts > last else lit_at_night(lamp, ts), hours=3)
    assert alerts(lines) == [  # its lamps are stale, so not lit: the zone is below target too
        ("raised", "gateway_offline", "gateway:gw1", at(last + 30 * MIN)),
        ("raised", "zone_below_target", "zone:Z1", at(last + 31 * MIN)),
    ]


def test_exactly_99_percent_meets_the_target_and_98_does_not():
    sites = road_lamps(100)
    dark_one = broken({"L050"}, START)
    lines = night(sites, dark_one, hours=2, config=RuleConfig())
    assert {s["rate"] for s in rates(lines)} == {0.99}
    assert [a[1] for a in alerts(lines)] == ["lamp_out"]
    dark_two = broken({"L020", "L070"}, START)
    lines = night(sites, dark_two, hours=2, config=RuleConfig())
    assert [(a[1], a[3]) for a in alerts(lines) if a[1] == "zone_below_target"] == [
        ("zone_below_target", at(NIGHT + 15 * MIN))]


def test_stale_lamps_are_counted_not_lit():
    sites = road_lamps(4)
    def state(lamp, ts):
        return None if lamp == "L001" and ts > NIGHT else lit_at_night(lamp, ts)
    lines = night(sites, state, hours=1)
    sample = next(s for s in rates(lines) if s["ts"] == at(NIGHT + 16 * MIN))
    assert (sample["lit"], sample["stale"], sample["expected"]) == (3, 1, 4)
    fresh = next(s for s in rates(lines) if s["ts"] == at(NIGHT + 15 * MIN))
    assert (fresh["lit"], fresh["stale"]) == (4, 0)


def test_overdue_alert_escalates_one_step():
    sites = road_lamps(5)
    config = RuleConfig(target=0.5,
                        deadline_ms={"red": 3 * HOUR, "yellow": 2 * HOUR, "blue": HOUR})
    lines = night(sites, broken({"L002"}, NIGHT), hours=4, config=config)
    assert alerts(lines) == [
        ("raised", "lamp_out", "lamp:L002", at(NIGHT + 10 * MIN)),
        ("overdue", "lamp_out", "lamp:L002", at(NIGHT + 2 * HOUR + 10 * MIN)),
        ("escalated", "lamp_out", "lamp:L002", at(NIGHT + 2 * HOUR + 10 * MIN)),
    ]
    escalated = [x for x in lines if x["type"] == "alert"][-1]
    assert escalated["severity"] == "red"
    assert escalated["deadline"] == at(NIGHT + 5 * HOUR + 10 * MIN)


def test_replay_is_byte_identical_for_the_same_input():
    sites = road_lamps(30, cabinet_size=10)
    state = broken({"L003", "L004", "L015"}, NIGHT + HOUR)
    assert night(sites, state) == night(sites, state)


def _split_replay(sites, observations, change_at: int, change) -> list[dict]:
    """Replay to `change_at`, apply `change(engine)` there (the live runner following the
    registry), replay on; the lines printed from NIGHT."""
    engine = RuleEngine(Fleet(sites), LAX, FixedNights(), MemorySink(), START)
    before = [o for o in observations if o.ts_ms < change_at]
    after = [o for o in observations if o.ts_ms >= change_at]
    lines = list(replay_lines(engine, before, NIGHT, change_at, MIN))
    change(engine)
    lines += replay_lines(engine, after, change_at, NIGHT + 4 * HOUR, MIN)
    return [json.loads(line) for line in lines]


def test_planned_works_set_in_place_before_they_start_agree_with_replay():
    """The live runner takes a lamp's new planned works in place (RuleEngine.lamp_service):
    set before the window opens, the night comes out exactly as a replay with the window in the
    registry from the start: lamp_out resolved at the window's start, raised again at its end
    (the lamp has been dark since before it, longer than the hold)."""
    sites = road_lamps(10)
    window = (NIGHT + 2 * HOUR, NIGHT + 3 * HOUR)
    dark = list(readings(sites, broken({"L005"}, START), START, NIGHT + 4 * HOUR))
    with_works = [replace(s, works_from_ms=window[0], works_until_ms=window[1])
                  if s.id == "L005" else s for s in sites]
    expected = run(with_works, dark, START, NIGHT, NIGHT + 4 * HOUR, config=LAX)

    live = _split_replay(sites, dark, NIGHT + HOUR,
                         lambda engine: engine.lamp_service("L005", True, *window, NIGHT + HOUR))

    assert alerts(live) == alerts(expected) == [
        ("raised", "lamp_out", "lamp:L005", at(NIGHT + 10 * MIN)),
        ("resolved", "lamp_out", "lamp:L005", at(NIGHT + 2 * HOUR)),
        ("raised", "lamp_out", "lamp:L005", at(NIGHT + 3 * HOUR)),
    ]
    assert [x for x in live if x["type"] == "alert"] == [
        x for x in expected if x["type"] == "alert"]
    assert rates(live) == rates(expected)


def test_a_lamp_retired_in_place_leaves_the_rate_and_its_alert_at_once():
    sites = road_lamps(10)
    dark = list(readings(sites, broken({"L005"}, START), START, NIGHT + 4 * HOUR))
    retire_at = NIGHT + HOUR + 30 * 1000

    live = _split_replay(sites, dark, retire_at,
                         lambda engine: engine.lamp_service("L005", False, None, None, retire_at))

    assert alerts(live) == [("raised", "lamp_out", "lamp:L005", at(NIGHT + 10 * MIN)),
                            ("resolved", "lamp_out", "lamp:L005", at(retire_at))]
    assert [x["message"] for x in live if x["type"] == "alert"][1] == "taken out of service"
    after = [s for s in rates(live) if s["ts"] > at(retire_at)]
    assert after and {(s["lit"], s["expected"]) for s in after} == {(9, 9)}


def test_planned_works_set_in_place_on_a_quiet_lit_lamp_take_it_out_of_the_rate():
    """A healthy lamp takes the readers' fast path (its readings only move its clock, and it
    wakes for nothing but staleness): works set in place must still wake it at the window's
    edges, as a replay with the window from the start does."""
    sites = road_lamps(10)
    window = (NIGHT + 2 * HOUR, NIGHT + 3 * HOUR)
    healthy = list(readings(sites, lit_at_night, START, NIGHT + 4 * HOUR))
    with_works = [replace(s, works_from_ms=window[0], works_until_ms=window[1])
                  if s.id == "L005" else s for s in sites]
    expected = run(with_works, healthy, START, NIGHT, NIGHT + 4 * HOUR, config=LAX)

    live = _split_replay(sites, healthy, NIGHT + HOUR,
                         lambda engine: engine.lamp_service("L005", True, *window, NIGHT + HOUR))

    assert rates(live) == rates(expected)
    during = [s for s in rates(live) if at(window[0]) <= s["ts"] < at(window[1])]
    assert during and {s["expected"] for s in during} == {9}
