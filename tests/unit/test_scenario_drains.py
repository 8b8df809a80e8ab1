"""Drain scenarios (docs/scenarios.md): the format's drain keys and their errors, the drain flow
model and its faults in time, notice and message labels, and what the publisher sends.

The rule core does not judge drains here: these tests pin what a scenario generates and how its
labels are checked, with hand-written replay lines."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from simulators.scenario_publish import ScenarioSummary, _publish, default_anchor_ms, registry_rows
from streetwatch.alerts.model import AlertEvent, Notice
from streetwatch.scenarios import (
    DrainFlow,
    DrainModel,
    ScenarioError,
    check,
    dry_shape,
    load_scenario,
    scenario_events,
    storm_lift,
)
from streetwatch.scenarios.format import DAY_MS
from streetwatch.schemas import DrainReading, RainReading
from streetwatch.town import (
    OBSERVATION_ORDER,
    DrainObservation,
    LampObservation,
    RainObservation,
    StatusObservation,
)

DAY0 = 1_795_392_000_000  # 2026-11-23T00:00:00Z
MIN = 60_000
HOUR = 60 * MIN
DRAIN_SCENARIOS = sorted((Path(__file__).parents[2] / "simulators" / "scenarios")
                         .glob("drain-*.toml"))

# Three drains D1 -> D2 -> D3 and a gauge in Z1, a road of lamps in L1; rain 10:00-12:00.
DRAINS = """
name = "d"
start = "06:00"
duration_min = 480
reading_interval_min = 10
history_days = 2
[town]
town_timezone = "UTC"
zone_schedules = { L1 = "18:00-06:00" }
wet_window_s = 3600
wet_drain_out_s = 7200
[[roads]]
road = "R1"
zone = "L1"
gateway = "gw1"
lamps = 2
[[drains]]
id = "D1"
zone = "Z1"
gateway = "gw2"
depth_cm = 150
downstream = "D2"
[[drains]]
id = "D2"
zone = "Z1"
gateway = "gw2"
depth_cm = 150
downstream = "D3"
normal_low_cm = 10
normal_high_cm = 40
[[drains]]
id = "D3"
zone = "Z1"
gateway = "gw2"
depth_cm = 120
overflow_cm = 100
base_cm = 30
amplitude_cm = 5
noise_cm = 0.2
storm_cm = 60
[[gauges]]
id = "G1"
zone = "Z1"
gateway = "gw2"
[[rain]]
gauges = ["G1"]
from = "10:00"
until = "12:00"
mm_per_h = 12
[expect]
no_other_alerts = true
"""


def write(tmp_path: Path, text: str, name: str = "d.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def with_faults(tmp_path: Path, faults: str, text: str = DRAINS):
    """The DRAINS scenario with these [[faults]] (TOML) added."""
    return load_scenario(write(tmp_path, text.replace("[expect]", faults + "\n[expect]")))


@pytest.fixture
def drains(tmp_path):
    return load_scenario(write(tmp_path, DRAINS))


def anchor_of(scenario) -> int:
    return DAY0 + scenario.start_ms_of_day


def readings(scenario, anchor: int | None = None) -> dict[str, dict[int, DrainObservation]]:
    """Drain readings by drain, then by offset from the anchor."""
    anchor = anchor_of(scenario) if anchor is None else anchor
    found: dict[str, dict[int, DrainObservation]] = {}
    for event in scenario_events(scenario, anchor):
        if isinstance(event, DrainObservation):
            found.setdefault(event.drain, {})[event.ts_ms - anchor] = event
    return found


def levels(scenario, drain: str) -> dict[int, float]:
    return {offset: r.level_cm for offset, r in readings(scenario)[drain].items()}


# The format ------------------------------------------------------------------------------------
def test_a_drain_scenario_loads_with_its_defaults(drains):
    d1, d2, d3 = drains.drains
    assert (d1.id, d1.zone, d1.gateway, d1.depth_cm, d1.overflow_cm, d1.downstream) == \
        ("D1", "Z1", "gw2", 150.0, None, "D2")
    assert (d2.normal_low_cm, d2.normal_high_cm) == (10.0, 40.0)
    assert (d3.overflow_cm, d3.downstream) == (100.0, None)
    assert drains.flows["D1"] == DrainFlow(20.0, 10.0, 0.5, 40.0)
    assert drains.flows["D3"] == DrainFlow(30.0, 5.0, 0.2, 60.0)
    assert [(g.id, g.zone) for g in drains.gauges] == [("G1", "Z1")]
    (spell,) = drains.rain
    assert (spell.gauges, spell.from_ms, spell.until_ms, spell.mm_per_h) == \
        (("G1",), 4 * HOUR, 6 * HOUR, 12.0)
    assert drains.history_days == 2 and drains.history_from_ms == -2 * DAY_MS
    assert drains.gateways == ["gw1", "gw2"]
    assert drains.town.wet_drain_out_s == 7200


def test_a_scenario_of_drains_alone_needs_no_zone_schedule(tmp_path):
    text = DRAINS.replace('zone_schedules = { L1 = "18:00-06:00" }\n', "").replace(
        '[[roads]]\nroad = "R1"\nzone = "L1"\ngateway = "gw1"\nlamps = 2\n', "")
    scenario = load_scenario(write(tmp_path, text))
    assert scenario.sites == () and len(scenario.drains) == 3


def test_history_stays_on_the_reading_grid(tmp_path):
    scenario = load_scenario(write(tmp_path, DRAINS.replace("reading_interval_min = 10",
                                                            "reading_interval_min = 7")))
    assert scenario.history_from_ms % (7 * MIN) == 0
    assert -2 * DAY_MS <= scenario.history_from_ms < -2 * DAY_MS + 7 * MIN


FAULT = '[[faults]]\nkind = "{kind}"\ndrains = ["D1"]\n{extra}\n'


@pytest.mark.parametrize(("change", "message"), [
    (('downstream = "D2"', 'downstream = "D9"'),
     "drains[0].downstream: unknown drain 'D9' (declare it in [[drains]])"),
    (('storm_cm = 60', 'storm_cm = 60\ndownstream = "D1"'),
     "drains[0].downstream: the downstream chain from D1 loops back to D1"),
    (('downstream = "D2"', 'downstream = "D1"'), "drains[0].downstream: a drain cannot flow"),
    (("normal_low_cm = 10", "normal_low_cm = 40"),
     "drains[1].normal_high_cm: must be above normal_low_cm (40)"),
    (("normal_high_cm = 40\n", ""), "drains[1].normal_low_cm: give both"),
    (("depth_cm = 120\n", ""), "drains[2]: missing key(s) depth_cm"),
    (("depth_cm = 120", "depth_cm = 0"), "drains[2].depth_cm: must be a number above 0"),
    (("overflow_cm = 100", "overflow_cm = 130"),
     "drains[2].overflow_cm: must not exceed depth_cm (120)"),
    (("amplitude_cm = 5", "amplitude_cm = 95"), "drains[2].amplitude_cm: base_cm + amplitude_cm"),
    (("noise_cm = 0.2", "noise_cm = -1"), "drains[2].noise_cm: must be a number at least 0"),
    (("storm_cm = 60", "storm_cm = 60\nflow = 3"), "drains[2]: unknown key(s) flow"),
    (('id = "D2"', 'id = "D1"'), "drains: drain id 'D1' is declared twice"),
    (('gauges = ["G1"]', 'gauges = ["G9"]'), "rain[0].gauges: unknown gauges: G9"),
    (("mm_per_h = 12", "mm_per_h = 0"), "rain[0].mm_per_h: must be a number above 0"),
    (('until = "12:00"', 'until = "09:00"'), "rain[0].until: must be after `from`"),
    (("history_days = 2", "history_days = 31"),
     "history_days: must be a whole number from 0 to 30"),
    (("wet_drain_out_s = 7200", "wet_drain_out_s = 0"),
     "town.wet_drain_out_s: Input should be greater than 0"),
    (("[expect]", FAULT.format(kind="blockage", extra='drains = ["D9"]').replace(
        'drains = ["D1"]\n', "") + "[expect]"), "faults[0].drains: unknown drains: D9"),
    (("[expect]", FAULT.format(kind="blockage", extra='lamps = ["L001"]') + "[expect]"),
     "faults[0].lamps: a blockage fault takes `drains`, not `lamps`"),
    (("[expect]", '[[faults]]\nkind = "dark"\ndrains = ["D1"]\n[expect]'),
     "faults[0].lamps: a dark fault needs `lamps`"),
    (("[expect]", FAULT.format(kind="spike", extra='at = "15:00"\nlevel_cm = 99') + "[expect]"),
     "faults[0].at: 15:00 is outside the scenario"),
    (("[expect]", FAULT.format(kind="spike", extra='at = "10:05"\nlevel_cm = 99') + "[expect]"),
     "faults[0].at: 10:05 is not a reading instant of the window"),
    (("[expect]", FAULT.format(kind="spike", extra='at = "14:00"\nlevel_cm = 99') + "[expect]"),
     "faults[0].at: 14:00 is not a reading instant"),
    (("[expect]", FAULT.format(kind="spike", extra='from = "10:00"\nlevel_cm = 9') + "[expect]"),
     "faults[0].from: a spike takes `at` (one reading), not `from`"),
    (("[expect]", FAULT.format(kind="spike", extra='at = "10:00"') + "[expect]"),
     "faults[0].level_cm: a spike needs `level_cm`"),
    (("[expect]", FAULT.format(kind="stuck", extra="rise_cm_per_h = 3") + "[expect]"),
     "faults[0].rise_cm_per_h: only blockage faults take `rise_cm_per_h`"),
    (("[expect]", FAULT.format(kind="stuck", extra='at = "10:00"') + "[expect]"),
     "faults[0].at: only spike faults take `at`"),
    (("[expect]", FAULT.format(kind="blockage", extra="max_cm = 0") + "[expect]"),
     "faults[0].max_cm: must be a number above 0"),
    (("[expect]", FAULT.format(kind="blockage", extra="starves_downstream = true").replace(
        '"D1"', '"D3"') + "[expect]"), "faults[0].starves_downstream: D3 has no downstream"),
    (("[expect]", FAULT.format(kind="blockage", extra='starves_downstream = "yes"')
      + "[expect]"), "faults[0].starves_downstream: must be true or false"),
    (("no_other_alerts = true", 'no_other_alerts = true\n[[expect.alerts]]\nevent = "raised"\n'
      'kind = "blockage"\nsubject = "drain:D9"\nat = "10:00"'),
     "expect.alerts[0].subject: unknown drain 'D9'"),
    (("no_other_alerts = true", 'no_other_alerts = true\n[[expect.alerts]]\nevent = "raised"\n'
      'kind = "clogged"\nsubject = "drain:D1"\nat = "10:00"'), "expect.alerts[0].kind: 'clogged'"),
    (("no_other_alerts = true", 'no_other_alerts = true\n[[expect.notices]]\nkind = "flood"\n'
      'zone = "Z1"\nat = "10:00"'), "expect.notices[0].kind: 'flood' is not one of high_water"),
    (("no_other_alerts = true", 'no_other_alerts = true\n[[expect.notices]]\n'
      'kind = "high_water"\nzone = "L1"\nat = "10:00"'),
     "expect.notices[0].zone: no drain of the scenario is in zone 'L1'"),
    (("no_other_alerts = true", 'no_other_alerts = true\n[[expect.notices]]\n'
      'kind = "high_water"\nzone = "Z1"\nat = "10:00"\ndrains = ["D1", "D7"]'),
     "expect.notices[0].drains: not drains of zone Z1: D7"),
    (("no_other_alerts = true", 'forbidden_kinds = ["flooding"]'),
     "expect.forbidden_kinds: 'flooding' is not one of"),
])
def test_a_bad_drain_scenario_names_the_file_and_the_key(tmp_path, change, message):
    assert change[0] in DRAINS
    path = write(tmp_path, DRAINS.replace(change[0], change[1], 1), "bad.toml")
    with pytest.raises(ScenarioError) as caught:
        load_scenario(path)
    assert str(caught.value).startswith(f"{path}: ")
    assert message in str(caught.value)


def test_a_scenario_without_lamps_or_drains_is_refused(tmp_path):
    path = write(tmp_path, 'name = "x"\nstart = "06:00"\nduration_min = 60\n'
                 '[expect]\nno_other_alerts = true\n')
    with pytest.raises(ScenarioError, match=r"\(top level\): a scenario needs at least one lamp"):
        load_scenario(path)


def test_drain_and_notice_kinds_may_be_forbidden(tmp_path):
    scenario = load_scenario(write(tmp_path, DRAINS.replace(
        "no_other_alerts = true", 'forbidden_kinds = ["blockage", "high_water"]')))
    assert scenario.forbidden_kinds == ("blockage", "high_water")


# A blockage label with a message and a notice label (its tolerance and drains filled in).
LABELS = """
no_other_alerts = true
[[expect.alerts]]
event = "raised"
kind = "blockage"
subject = "drain:D1"
at = "11:40"
within_s = 600
message = "D1 -> D2"
[[expect.notices]]
kind = "high_water"
zone = "Z1"
at = "10:20"
within_s = {within_s}
drains = {drains}
"""


def test_labels_read_message_and_notices(tmp_path):
    labels = LABELS.format(within_s=1200, drains='["D2", "D1"]')
    scenario = load_scenario(write(tmp_path, DRAINS.replace("no_other_alerts = true", labels + """
[[expect.notices]]
kind = "high_water"
zone = "Z1"
at = "13:00"
""")))
    (alert,) = scenario.alerts
    assert (alert.subject, alert.at_ms, alert.within_ms, alert.message) == \
        ("drain:D1", 340 * MIN, 600_000, "D1 -> D2")
    first, second = scenario.notices
    assert (first.kind, first.zone, first.at_ms, first.within_ms, first.drains) == \
        ("high_water", "Z1", 260 * MIN, 1_200_000, ("D2", "D1"))
    assert (second.within_ms, second.drains) == (0, None)


# The flow model --------------------------------------------------------------------------------
def test_the_dry_shape_is_a_smooth_day_low_at_night_with_two_peaks():
    by_minute = [dry_shape(m * MIN) for m in range(1440)]
    assert min(by_minute) >= 0.0 and max(by_minute) <= 1.0
    assert 3 * 60 <= by_minute.index(min(by_minute)) <= 5 * 60
    assert 7 * 60 + 30 <= by_minute.index(max(by_minute)) <= 8 * 60 + 30
    evening = by_minute[17 * 60:23 * 60]
    assert 19 * 60 + 30 <= 17 * 60 + evening.index(max(evening)) <= 20 * 60 + 30
    assert all(dry_shape(h * HOUR) < 0.1 for h in (3, 4, 5))
    # continuous: no step anywhere, midnight included
    assert max(abs(a - b) for a, b in zip(by_minute, by_minute[1:] + by_minute[:1],
                                          strict=True)) < 0.02
    assert dry_shape(DAY_MS + 8 * HOUR) == dry_shape(8 * HOUR)


def test_generation_is_deterministic_and_the_same_at_any_anchor(drains):
    first = scenario_events(drains, anchor_of(drains))
    assert first == scenario_events(drains, anchor_of(drains))
    odd = DAY0 + 9 * HOUR + 37 * MIN
    moved = scenario_events(drains, odd)
    assert [e._replace(ts_ms=e.ts_ms - odd) for e in moved
            if not isinstance(e, LampObservation)] == \
        [e._replace(ts_ms=e.ts_ms - anchor_of(drains)) for e in first
         if not isinstance(e, LampObservation)]


def test_events_are_ordered_by_time_type_and_device_history_first(drains):
    anchor = anchor_of(drains)
    events = scenario_events(drains, anchor)

    def device(e):
        return getattr(e, "lamp", None) or getattr(e, "drain", None) or \
            getattr(e, "gauge", None) or e.gateway

    keys = [(e.ts_ms, OBSERVATION_ORDER[type(e)], device(e)) for e in events]
    assert keys == sorted(keys)
    at_start = [type(e).__name__ + ":" + device(e) for e in events if e.ts_ms == anchor]
    assert at_start == ["LampObservation:L001", "LampObservation:L002", "RainObservation:G1",
                        "DrainObservation:D1", "DrainObservation:D2", "DrainObservation:D3"]
    history = [e for e in events if e.ts_ms < anchor]
    assert events[:len(history)] == history
    assert not any(isinstance(e, LampObservation | StatusObservation) for e in history)


def test_history_has_one_reading_per_interval_for_every_drain_and_gauge(drains):
    anchor = anchor_of(drains)
    events = scenario_events(drains, anchor)
    per_history = 2 * 1440 // 10
    per_window = 480 // 10
    for kind, attribute, devices in ((DrainObservation, "drain", ("D1", "D2", "D3")),
                                     (RainObservation, "gauge", ("G1",))):
        for name in devices:
            mine = [e for e in events if isinstance(e, kind) and getattr(e, attribute) == name]
            assert len([e for e in mine if e.ts_ms < anchor]) == per_history
            assert len(mine) == per_history + per_window
            assert mine[0].ts_ms == anchor - 2 * DAY_MS
    assert all(e.rain_mm == 0 for e in events
               if isinstance(e, RainObservation) and e.ts_ms < anchor)


def test_a_dry_day_repeats_from_one_history_day_to_the_next(drains):
    flow = drains.flows["D1"]
    found = levels(drains, "D1")
    for offset in range(drains.history_from_ms, -DAY_MS, 10 * MIN):
        # the same scenario-clock time one day later: the same dry level, within the noise
        assert abs(found[offset] - found[offset + DAY_MS]) <= 2 * flow.noise_cm + 0.1
    # ... and the window before the rain is the same day again
    for offset in range(0, 4 * HOUR, 10 * MIN):
        assert abs(found[offset] - found[offset - DAY_MS]) <= 2 * flow.noise_cm + 0.1
    # the day itself moves: 04:00 low, 08:00 high (scenario clock; start is 06:00)
    assert found[2 * HOUR - DAY_MS] - found[-2 * HOUR] > 0.8 * flow.amplitude_cm


def test_noise_is_uniform_within_its_half_width(drains):
    model = DrainModel(drains)
    flow = drains.flows["D1"]
    offsets = range(drains.history_from_ms, 0, 10 * MIN)
    noise = [model.level("D1", t) - flow.base_cm
             - flow.amplitude_cm * dry_shape(drains.start_ms_of_day + t) for t in offsets]
    assert max(noise) <= flow.noise_cm and min(noise) >= -flow.noise_cm
    assert max(noise) > 0.8 * flow.noise_cm and min(noise) < -0.8 * flow.noise_cm
    assert abs(sum(noise) / len(noise)) < 0.1 * flow.noise_cm


def test_rain_readings_say_what_fell_since_the_previous_one(drains):
    model = DrainModel(drains)
    assert model.rain_mm("G1", 4 * HOUR) == 0  # (09:50, 10:00]: nothing yet
    assert model.rain_mm("G1", 4 * HOUR + 10 * MIN) == 2.0  # 12 mm/h for 10 min
    assert model.rain_mm("G1", 6 * HOUR) == 2.0
    assert model.rain_mm("G1", 6 * HOUR + 10 * MIN) == 0
    half = dataclasses.replace(drains, rain=(dataclasses.replace(
        drains.rain[0], from_ms=4 * HOUR + 5 * MIN),))
    assert DrainModel(half).rain_mm("G1", 4 * HOUR + 10 * MIN) == 1.0


def test_a_storm_lifts_the_zone_s_drains_together_and_recedes_within_the_drain_out(drains):
    dry = DrainModel(dataclasses.replace(drains, rain=()))
    wet = DrainModel(drains)
    lifts = [storm_lift(drains, "Z1", t) for t in range(0, drains.duration_ms, 10 * MIN)]
    assert all(0 <= g <= 1 for g in lifts)
    rising = lifts[24:37]  # 10:00 .. 12:00
    assert rising == sorted(rising) and rising[0] == 0 and rising[-1] > 0.6
    falling = lifts[36:]
    assert falling == sorted(falling, reverse=True)
    for t in range(4 * HOUR + 10 * MIN, drains.duration_ms, 10 * MIN):
        g = wet.lift("Z1", t)
        for drain in ("D1", "D2", "D3"):  # each drain by its own storm_cm, the same g
            extra = wet.level(drain, t) - dry.level(drain, t)
            assert extra == pytest.approx(drains.flows[drain].storm_cm * g)
    rain_end = 6 * HOUR
    drain_out = drains.town.wet_drain_out_s * 1000
    assert 60 * wet.lift("Z1", rain_end + drain_out) < 1.0  # D3's storm_cm is 60
    assert 60 * wet.lift("Z1", rain_end + drain_out // 2) < 8.0  # smoothly on the way down


def test_more_rain_lifts_higher_and_saturates(drains):
    def lift_at_noon(mm_per_h):
        spell = dataclasses.replace(drains.rain[0], mm_per_h=mm_per_h)
        return storm_lift(dataclasses.replace(drains, rain=(spell,)), "Z1", 6 * HOUR)

    lifts = [lift_at_noon(r) for r in (2, 5, 12, 30, 100, 500)]
    assert lifts == sorted(lifts) and lifts[-1] < 1.0
    assert lifts[-1] - lifts[-2] < 0.05  # saturating


def test_rain_in_another_zone_leaves_the_drains_dry(drains, tmp_path):
    text = DRAINS.replace('[[gauges]]\nid = "G1"\nzone = "Z1"', '[[gauges]]\nid = "G1"\nzone = "Z2"')
    other = load_scenario(write(tmp_path, text, "other.toml"))
    assert storm_lift(other, "Z1", 5 * HOUR) == 0 and storm_lift(other, "Z2", 5 * HOUR) > 0.3


def test_a_stuck_sensor_repeats_the_level_it_read_at_its_start(drains, tmp_path):
    stuck = with_faults(tmp_path, FAULT.format(kind="stuck", extra='from = "07:00"\n'
                                               'until = "09:00"'))
    found, healthy = levels(stuck, "D1"), levels(drains, "D1")
    during = {found[t] for t in range(HOUR, 3 * HOUR, 10 * MIN)}
    assert during == {healthy[HOUR]}
    assert found[3 * HOUR] == healthy[3 * HOUR] and found[50 * MIN] == healthy[50 * MIN]
    assert levels(stuck, "D2") == levels(drains, "D2")


def test_a_silent_drain_reports_nothing_and_a_silent_gateway_silences_drains_and_gauges(
        drains, tmp_path):
    silent = with_faults(tmp_path, FAULT.format(kind="drain_silent", extra='from = "07:00"\n'
                                                'until = "08:00"'))
    found = readings(silent)
    assert [t for t in range(0, 3 * HOUR, 10 * MIN) if t not in found["D1"]] == \
        list(range(HOUR, 2 * HOUR, 10 * MIN))
    assert len(found["D2"]) == len(readings(drains)["D2"])
    gateway = with_faults(tmp_path, '[[faults]]\nkind = "gateway_silent"\ngateway = "gw2"\n'
                          'from = "07:00"\nuntil = "08:00"')
    anchor = anchor_of(gateway)
    quiet = [e for e in scenario_events(gateway, anchor)
             if anchor + HOUR <= e.ts_ms < anchor + 2 * HOUR]
    assert quiet and all(isinstance(e, LampObservation) for e in quiet)  # gw1's lamps go on


def test_cover_open_flags_exactly_its_readings(drains, tmp_path):
    cover = with_faults(tmp_path, FAULT.format(kind="cover_open", extra='from = "07:00"\n'
                                               'until = "08:00"'))
    found = readings(cover)
    assert [t for t, r in found["D1"].items() if r.cover_open] == \
        list(range(HOUR, 2 * HOUR, 10 * MIN))
    assert all(r.cover_open is False for r in found["D2"].values())
    assert {t: r.level_cm for t, r in found["D1"].items()} == levels(drains, "D1")


def test_a_low_battery_reads_its_voltage_else_3_6(tmp_path):
    low = with_faults(tmp_path, FAULT.format(kind="low_battery", extra='from = "07:00"\n'
                                             'battery_v = 3.0'))
    found = readings(low)["D1"]
    assert {r.battery_v for t, r in found.items() if t >= HOUR} == {3.0}
    assert {r.battery_v for t, r in found.items() if t < HOUR} == {3.6}
    default = with_faults(tmp_path, FAULT.format(kind="low_battery", extra=""))
    assert {r.battery_v for t, r in readings(default)["D1"].items() if t >= 0} == {3.1}


def test_a_spike_replaces_one_reading(drains, tmp_path):
    spike = with_faults(tmp_path, FAULT.format(kind="spike", extra='at = "07:00"\n'
                                               'level_cm = 400'))
    found, healthy = levels(spike, "D1"), levels(drains, "D1")
    assert found[HOUR] == 400.0
    assert {t: v for t, v in found.items() if t != HOUR} == \
        {t: v for t, v in healthy.items() if t != HOUR}


def test_a_blockage_adds_its_rise_up_to_its_cap_and_clears_at_until(drains, tmp_path):
    blocked = with_faults(tmp_path, FAULT.format(
        kind="blockage", extra='from = "07:00"\nuntil = "11:00"\nrise_cm_per_h = 6\nmax_cm = 15'))
    plain, model = DrainModel(drains), DrainModel(blocked)
    for t, added in ((HOUR, 0), (90 * MIN, 3), (3 * HOUR, 12), (4 * HOUR, 15), (5 * HOUR - 1, 15),
                     (5 * HOUR, 0)):
        assert model.level("D1", t) - plain.level("D1", t) == pytest.approx(added)
    assert levels(blocked, "D2") == levels(drains, "D2")  # not starved: the default


def test_a_blockage_that_starves_its_downstream_takes_away_its_storm_lift(drains, tmp_path):
    blocked = with_faults(tmp_path, FAULT.format(
        kind="blockage", extra='from = "10:30"\nstarves_downstream = true'))
    dry, wet, model = (DrainModel(dataclasses.replace(drains, rain=())), DrainModel(drains),
                       DrainModel(blocked))
    for t in range(4 * HOUR + 30 * MIN, 8 * HOUR, 10 * MIN):
        assert model.level("D2", t) == dry.level("D2", t)  # D1's downstream neighbour
        assert model.level("D3", t) == wet.level("D3", t)  # further down: storm water again
        assert model.level("D1", t) > wet.level("D1", t) or t == 4 * HOUR + 30 * MIN
    assert model.level("D2", 4 * HOUR + 20 * MIN) == wet.level("D2", 4 * HOUR + 20 * MIN)


def test_a_fast_rise_climbs_to_the_depth_and_no_further(drains, tmp_path):
    fast = with_faults(tmp_path, FAULT.format(kind="fast_rise", extra='from = "10:00"\n'
                                              'rise_cm_per_min = 3'))
    plain, model = DrainModel(drains), DrainModel(fast)
    t = 4 * HOUR + 10 * MIN
    assert model.level("D1", t) - plain.level("D1", t) == pytest.approx(30)
    assert max(levels(fast, "D1").values()) == 150.0
    assert levels(fast, "D1")[7 * HOUR] == 150.0


# Labels -----------------------------------------------------------------------------------------
def notice_line(scenario, anchor, at_ms, drains=("D1", "D2", "D3"), zone="Z1") -> str:
    return Notice("high_water", zone, anchor + at_ms, tuple(drains), "storm surge").line()


def alert_line(anchor, at_ms, message, kind="blockage", subject="drain:D1") -> str:
    return AlertEvent("raised", anchor + at_ms, None, kind, "yellow", "Z1", subject,
                      (subject[6:],), anchor + at_ms + 86_400_000, message).line()


@pytest.fixture
def labelled(tmp_path):
    labels = LABELS.format(within_s=600, drains='["D3", "D1", "D2"]')
    return load_scenario(write(tmp_path, DRAINS.replace("no_other_alerts = true", labels)))


def missed(results):
    return [(r.label, r.seen) for r in results if not r.met]


def test_notice_and_message_labels_are_met(labelled):
    anchor = anchor_of(labelled)
    lines = [notice_line(labelled, anchor, 270 * MIN),
             alert_line(anchor, 345 * MIN, "level above its band while D1 -> D2 stays low")]
    results = check(lines, labelled, anchor)
    assert missed(results) == []
    assert len(results) == len(labelled.alerts) + len(labelled.rates) + len(labelled.notices) + 1
    assert [r.label for r in results] == [
        "raised blockage drain:D1 at 11:40 within 600 s saying 'D1 -> D2'",
        "notice high_water Z1 at 10:20 within 600 s (D3, D1, D2)", "no other alerts"]
    assert results[1].seen == "notice high_water Z1 at 10:30 (D1, D2, D3)"


def test_a_blockage_for_another_reason_misses_the_message_label(labelled):
    anchor = anchor_of(labelled)
    lines = [notice_line(labelled, anchor, 260 * MIN),
             alert_line(anchor, 340 * MIN, "above its dry-weather band for 1 h")]
    assert missed(check(lines, labelled, anchor)) == [
        ("raised blockage drain:D1 at 11:40 within 600 s saying 'D1 -> D2'",
         "raised blockage drain:D1 at 11:40 (yellow): 'above its dry-weather band for 1 h'"),
        ("no other alerts", "unexpected: raised blockage drain:D1 at 11:40 (yellow)"),
    ]


def test_a_notice_missing_late_or_naming_other_drains_is_missed(labelled):
    anchor = anchor_of(labelled)
    alert = alert_line(anchor, 340 * MIN, "D1 -> D2")
    assert missed(check([alert], labelled, anchor)) == [
        ("notice high_water Z1 at 10:20 within 600 s (D3, D1, D2)",
         "no high_water notice for Z1")]
    late = notice_line(labelled, anchor, 271 * MIN)
    assert missed(check([alert, late], labelled, anchor)) == [
        ("notice high_water Z1 at 10:20 within 600 s (D3, D1, D2)",
         "notice high_water Z1 at 10:31 (D1, D2, D3)"),
        ("no other alerts", "unexpected: notice high_water Z1 at 10:31 (D1, D2, D3)")]
    fewer = notice_line(labelled, anchor, 260 * MIN, drains=("D1", "D2"))
    assert [label for label, _ in missed(check([alert, fewer], labelled, anchor))][0] == \
        "notice high_water Z1 at 10:20 within 600 s (D3, D1, D2)"


def test_an_unexpected_notice_fails_no_other_alerts_but_not_unrelated_forbidden_kinds(labelled):
    anchor = anchor_of(labelled)
    lines = [alert_line(anchor, 340 * MIN, "D1 -> D2"), notice_line(labelled, anchor, 260 * MIN),
             notice_line(labelled, anchor, 400 * MIN)]
    assert missed(check(lines, labelled, anchor)) == [
        ("no other alerts", "unexpected: notice high_water Z1 at 12:40 (D1, D2, D3)")]
    tolerant = dataclasses.replace(labelled, no_other_alerts=False, forbidden_kinds=("blockage",))
    assert missed(check(lines, tolerant, anchor)) == []
    strict = dataclasses.replace(labelled, no_other_alerts=False, forbidden_kinds=("high_water",))
    assert missed(check(lines, strict, anchor)) == [
        ("no other high_water alerts", "unexpected: notice high_water Z1 at 12:40 (D1, D2, D3)")]


# Publishing -------------------------------------------------------------------------------------
def test_registry_rows_hold_lamps_drains_and_gauges(drains):
    lamps, drain_rows, gauges = registry_rows(drains)
    assert [row["id"] for row in lamps] == ["L001", "L002"]
    assert drain_rows[0] == {"id": "D1", "gateway": "gw2", "zone": "Z1", "depth_cm": 150.0,
                             "overflow_cm": None, "downstream_id": "D2", "pipe_diameter_cm": None,
                             "normal_low_cm": None, "normal_high_cm": None, "lat": None,
                             "lon": None}
    assert (drain_rows[1]["normal_low_cm"], drain_rows[2]["overflow_cm"]) == (10.0, 100.0)
    assert gauges == [{"id": "G1", "gateway": "gw2", "zone": "Z1", "lat": None, "lon": None}]


class FakePool:
    """What `_publish` needs of a GatewayPool: publish, await_acks, wait."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str, dict]] = []

    def publish(self, gateway: str, topic: str, payload: bytes) -> None:
        self.sent.append((gateway, topic, json.loads(payload)))

    def await_acks(self) -> None:
        pass

    def wait(self, seconds: float) -> bool:
        return False


def test_the_publisher_sends_drain_and_rain_readings_as_their_gateways(drains):
    anchor = default_anchor_ms(drains, DAY0 + 20 * HOUR)
    assert anchor + drains.duration_ms <= DAY0 + 20 * HOUR
    pool = FakePool()
    summary = _publish(pool, drains, anchor, clock=lambda: (DAY0 + 21 * HOUR) / 1000)
    assert isinstance(summary, ScenarioSummary)
    per_window, per_history = 480 // 10, 2 * 1440 // 10
    assert summary.drain_readings == 3 * (per_window + per_history)
    assert summary.rain_readings == per_window + per_history
    assert summary.readings == summary.drain_readings + summary.rain_readings + 2 * per_window
    assert summary.to_dict()["drain_readings"] == summary.drain_readings
    drain = next(s for s in pool.sent if "/drain/" in s[1])
    rain = next(s for s in pool.sent if "/rain/" in s[1])
    assert drain[0] == "gw2" and drain[1].endswith("/gw2/drain/D1")
    assert set(drain[2]) == {"ts", "level_cm", "battery_v", "cover_open"}
    assert drain[2]["ts"] == anchor + drains.history_from_ms
    DrainReading.model_validate(drain[2])
    assert rain[1].endswith("/gw2/rain/G1") and set(rain[2]) == {"ts", "rain_mm"}
    RainReading.model_validate(rain[2])
    stamps = [payload["ts"] for _, _, payload in pool.sent]
    assert stamps == sorted(stamps)


# The drain scenarios of the catalogue ------------------------------------------------------------
@pytest.mark.parametrize("path", DRAIN_SCENARIOS, ids=lambda p: p.stem)
def test_every_drain_scenario_loads_generates_and_labels_only_its_drains(path):
    scenario = load_scenario(path)
    assert scenario.name == path.stem and scenario.no_other_alerts
    assert scenario.history_days == 3 and scenario.description.strip()
    events = scenario_events(scenario, anchor_of(scenario))
    assert events and not any(isinstance(e, LampObservation) for e in events)
    assert all(label.subject.startswith("drain:") for label in scenario.alerts)


def test_the_drain_scenarios_are_the_seven_the_issue_asks_for():
    assert {p.stem for p in DRAIN_SCENARIOS} == {
        "drain-dry-blockage", "drain-storm", "drain-downstream", "drain-rain-blockage",
        "drain-overflow", "drain-stuck", "drain-cover"}
