"""Properties of the rule core over random fleets and random nights (hypothesis)."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from rules.config import RuleConfig
from rules.fleet import LampSite
from rules.lamps import LampRules
from rules.replay import LampObservation, StatusObservation

from rule_drive import DAY0, HOUR, MIN, FixedNights, run

START = DAY0 + 17 * HOUR
FROM = DAY0 + 18 * HOUR
TO = DAY0 + 22 * HOUR
FAULTS = (None, None, None, "lamp_failure", "tilt", "cycling", "low_power_factor")
FAST = RuleConfig(lamp_out_after_ms=10 * MIN, lamp_silent_after_ms=30 * MIN,
                  stale_after_ms=15 * MIN, zone_below_target_after_ms=5 * MIN,
                  zone_below_target_clear_ms=5 * MIN,
                  deadline_ms={"red": HOUR, "yellow": 2 * HOUR, "blue": 3 * HOUR})


@st.composite
def towns(draw):
    """A small town: lamps on 1-3 roads, cabinets of 2-6, 1-2 gateways, and a random night."""
    seed = draw(st.integers(0, 2**32 - 1))
    n = draw(st.integers(1, 24))
    rng = random.Random(seed)
    cabinet_size = rng.randint(2, 6)
    sites = [LampSite(f"L{i:02d}", f"gw{i % rng.randint(1, 2)}", f"Z{i % 2}",
                      f"R{i % 3}", i // 3, f"C{i // cabinet_size}")
             for i in range(n)]
    observations = []
    broken = {s.id: rng.random() < 0.3 for s in sites}
    mute_from = {s.id: rng.choice([TO, TO, rng.randrange(FROM, TO)]) for s in sites}
    for ts in range(START, TO, 5 * MIN):
        for site in rng.sample(sites, len(sites)):
            if ts >= mute_from[site.id] or rng.random() < 0.05:
                continue
            night = ts >= FROM
            on = night and not (broken[site.id] and rng.random() < 0.8)
            observations.append(LampObservation(ts + rng.randrange(3) * 1000, site.id, on,
                                                rng.choice(FAULTS) if rng.random() < 0.1 else None))
    if rng.random() < 0.3:
        observations.append(StatusObservation(rng.randrange(FROM, TO), "gw0", False))
    observations.sort(key=lambda o: o.ts_ms)
    return sites, observations


def replay(town):
    sites, observations = town
    return run(sites, observations, START, START, TO, config=FAST)  # print from the start


@settings(max_examples=400, deadline=None)
@given(towns())
def test_rates_are_fractions_and_counts_add_up(town):
    for line in replay(town):
        if line["type"] == "lighting_rate":
            assert 0.0 <= line["rate"] <= 1.0
            assert line["lit"] + line["stale"] <= line["expected"]


@settings(max_examples=400, deadline=None)
@given(towns())
def test_at_most_one_open_alert_per_subject_and_kind(town):
    open_alerts: set[tuple[str, str]] = set()
    for line in replay(town):
        if line["type"] != "alert":
            continue
        key = (line["subject"], line["kind"])
        if line["event"] == "raised":
            assert key not in open_alerts, key
            open_alerts.add(key)
        else:
            assert key in open_alerts, line  # resolved, overdue, escalated: only open alerts
            if line["event"] == "resolved":
                open_alerts.discard(key)


@settings(max_examples=400, deadline=None)
@given(towns())
def test_no_per_lamp_alert_is_raised_under_an_open_cabinet_failure(town):
    sites, _ = town
    cabinet_of = {f"lamp:{s.id}": s.cabinet for s in sites}
    tripped: set[str] = set()
    for line in replay(town):
        if line["type"] != "alert":
            continue
        if line["kind"] == "cabinet_failure":
            cabinet = line["subject"].removeprefix("cabinet:")
            (tripped.add if line["event"] == "raised" else tripped.discard)(cabinet)
        elif line["event"] == "raised" and line["kind"] in ("lamp_out", "lamp_silent"):
            assert cabinet_of[line["subject"]] not in tripped, line
        elif line["event"] == "raised" and line["kind"] == "blind_spot":
            assert not {cabinet_of[f"lamp:{d}"] for d in line["devices"]} & tripped, line


@settings(max_examples=40, deadline=None)
@given(towns(), st.randoms(use_true_random=False))
def test_the_order_of_readings_within_one_instant_does_not_matter(town, rng):
    sites, observations = town
    shuffled = sorted(rng.sample(observations, len(observations)), key=lambda o: o.ts_ms)
    assert sorted(map(str, replay(town))) == sorted(map(str, replay((sites, shuffled))))


@settings(max_examples=40, deadline=None)
@given(towns())
def test_the_quiet_lamp_shortcuts_change_nothing(town):
    """A repeated reading of a quiet lamp only moves its clock, and a quiet lamp's staleness wake
    only re-arms: the full evaluation everywhere gives byte-identical output."""
    fast = replay(town)
    LampRules.fast_paths = False
    try:
        slow = replay(town)
    finally:
        LampRules.fast_paths = True
    assert slow == fast


def test_fixed_nights_schedule_is_consistent():
    schedule = FixedNights(grace_ms=15 * MIN)
    ts = DAY0
    phases = []
    for _ in range(8):
        phases.append(schedule.phase("Z", ts))
        nxt = schedule.next_change_ms("Z", ts)
        assert nxt > ts and schedule.phase("Z", nxt) != schedule.phase("Z", nxt - 1)
        ts = nxt
    assert phases[:4] == ["night", "switching", "day", "switching"]
