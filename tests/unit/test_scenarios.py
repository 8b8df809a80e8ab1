"""Labelled scenarios through the pure rule core: every file in simulators/scenarios meets all its
labels with nothing unexpected, wherever in time it is anchored; and the check can fail."""

from __future__ import annotations

import dataclasses
import io
import json
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from rules.lamps import DARK_FAULTS
from rules.replay import LampObservation, StatusObservation
from rules.scenario_check import print_results
from rules.scenario_replay import pure_replay_lines
from simulators.scenario_publish import MARGIN_MS, STATUS_LEAD_MS, default_anchor_ms
from streetwatch.alerts.model import rfc3339_ms
from streetwatch.scenarios import (
    ScenarioError,
    anchored_settings,
    check,
    load_scenario,
    scenario_events,
)
from streetwatch.scenarios.format import DARK_FAULTS as SCENARIO_DARK_FAULTS

SCENARIOS = sorted((Path(__file__).parents[2] / "simulators" / "scenarios").glob("*.toml"))
DAY0 = 1_795_392_000_000  # 2026-11-23T00:00:00Z
MIN = 60_000
HOUR = 60 * MIN


def frame_anchor(scenario) -> int:
    """The anchor at which the scenario clock equals UTC (its schedules are not moved)."""
    return DAY0 + scenario.start_ms_of_day


ODD_ANCHOR = DAY0 + 9 * HOUR + 37 * MIN  # 09:37Z: schedules move by hours and minutes


def missed(results):
    return [(r.label, r.seen) for r in results if not r.met]


@pytest.mark.parametrize("path", SCENARIOS, ids=lambda p: p.stem)
@pytest.mark.parametrize("anchor", ["frame", "odd"])
def test_every_scenario_meets_all_its_labels(path, anchor):
    scenario = load_scenario(path)
    anchor_ms = frame_anchor(scenario) if anchor == "frame" else ODD_ANCHOR
    results = check(pure_replay_lines(scenario, anchor_ms), scenario, anchor_ms)
    assert missed(results) == []
    assert len(results) == (len(scenario.alerts) + len(scenario.rates) + len(scenario.notices)
                            + 1)


def test_the_catalogue_has_the_scenarios_the_issue_asks_for():
    names = {load_scenario(path).name for path in SCENARIOS}
    assert names >= {"one-failed-lamp", "blind-spot", "cabinet-trip", "day-burner",
                     "cycling-lamp", "gateway-offline", "gateway-silent", "silent-lamp",
                     "night-99", "night-98"}
    assert all(path.stem == load_scenario(path).name for path in SCENARIOS)


def test_an_instant_off_by_a_minute_is_missed_and_says_what_was_seen():
    scenario = load_scenario(_path("one-failed-lamp"))
    late = dataclasses.replace(scenario.alerts[0], at_ms=scenario.alerts[0].at_ms + MIN)
    mutated = dataclasses.replace(scenario, alerts=(late, *scenario.alerts[1:]))
    anchor = frame_anchor(scenario)
    results = check(pure_replay_lines(scenario, anchor), mutated, anchor)
    assert missed(results) == [
        ("raised lamp_out lamp:L005 at 19:11 (yellow)",
         "raised lamp_out lamp:L005 at 19:10 (yellow)"),
        ("no other alerts", "unexpected: raised lamp_out lamp:L005 at 19:10 (yellow)"),
    ]


def test_a_missing_label_leaves_an_unexpected_alert():
    scenario = load_scenario(_path("cabinet-trip"))
    mutated = dataclasses.replace(scenario, alerts=scenario.alerts[1:])
    anchor = frame_anchor(scenario)
    results = check(pure_replay_lines(scenario, anchor), mutated, anchor)
    assert missed(results) == [
        ("no other alerts", "unexpected: raised cabinet_failure cabinet:R1-C2 at 19:10 (red)")]


def test_forbidden_kinds_only_flag_those_kinds():
    scenario = load_scenario(_path("night-98"))
    unlabelled = dataclasses.replace(scenario, alerts=(), no_other_alerts=False,
                                     forbidden_kinds=("zone_below_target",))
    anchor = frame_anchor(scenario)
    results = check(pure_replay_lines(scenario, anchor), unlabelled, anchor)
    assert missed(results) == [("no other zone_below_target alerts",
                                "unexpected: raised zone_below_target zone:Z1 at 18:15 (red)")]


def test_a_wrong_rate_and_a_rate_with_no_samples_are_missed():
    scenario = load_scenario(_path("night-99"))
    wrong = dataclasses.replace(scenario.rates[0], rate=0.98, lit=98)
    daytime = dataclasses.replace(scenario.rates[0], from_ms=0, until_ms=10 * MIN)
    mutated = dataclasses.replace(scenario, rates=(wrong, daytime))
    anchor = frame_anchor(scenario)
    found = missed(check(pure_replay_lines(scenario, anchor), mutated, anchor))
    assert found == [
        ("lighting_rate Z1 from 18:00 until 19:00: rate 0.98, lit 98, expected 100",
         "60 of 60 sample(s) differ; first at 18:00: rate 0.99, lit 99, expected 100, stale 0"),
        ("lighting_rate Z1 from 17:30 until 17:40: rate 0.99, lit 99, expected 100",
         "no lighting_rate sample of Z1 from 17:30 until 17:40"),
    ]


def test_a_status_label_has_its_tolerance():
    scenario = load_scenario(_path("gateway-offline"))
    anchor = frame_anchor(scenario)
    lines = [_shift_alert(line, "gateway_offline", 3_000)
             for line in pure_replay_lines(scenario, anchor)]
    assert missed(check(lines, scenario, anchor)) == []
    lines = [_shift_alert(line, "gateway_offline", 11_000) for line in lines]
    assert [label for label, _ in missed(check(lines, scenario, anchor))][0] == \
        "raised gateway_offline gateway:gw1 at 19:00 (yellow) within 10 s"


def _shift_alert(line: str, kind: str, by_ms: int) -> str:
    """The line with the alert of `kind` moved by `by_ms` (as a late status receipt would)."""
    document = json.loads(line)
    if document.get("kind") != kind:
        return line
    moved = datetime.fromisoformat(document["ts"]) + timedelta(milliseconds=by_ms)
    document["ts"] = rfc3339_ms(round(moved.timestamp() * 1000))
    return json.dumps(document)


def test_print_results_says_met_and_missed_and_returns_whether_all_were_met():
    scenario = load_scenario(_path("one-failed-lamp"))
    anchor = frame_anchor(scenario)
    good = check(pure_replay_lines(scenario, anchor), scenario, anchor)
    out = io.StringIO()
    assert print_results(good, out) is True
    assert out.getvalue().splitlines()[0] == "met     raised lamp_out lamp:L005 at 19:10 (yellow)"
    bad = check([], scenario, anchor)
    out = io.StringIO()
    assert print_results(bad, out) is False
    assert "MISSED  raised lamp_out lamp:L005 at 19:10 (yellow)\n" \
           "        seen: no raised lamp_out for lamp:L005" in out.getvalue()
    assert out.getvalue().endswith("1 of 6 labels met\n")


# Generation and anchoring -----------------------------------------------------------------------
def test_observations_are_in_stored_replay_order_and_faults_shape_them():
    scenario = load_scenario(_path("gateway-offline"))
    anchor = frame_anchor(scenario)
    found = scenario_events(scenario, anchor)
    keys = [(o.ts_ms, isinstance(o, StatusObservation),
             o.lamp if isinstance(o, LampObservation) else o.gateway) for o in found]
    assert keys == sorted(keys)
    assert [o for o in found if isinstance(o, StatusObservation)] == [
        StatusObservation(anchor + 2 * HOUR, "gw1", False)]
    assert max(o.ts_ms for o in found if isinstance(o, LampObservation)) == anchor + 115 * MIN
    assert len(found) == 10 * 24 + 1


def test_the_format_knows_the_core_s_dark_faults():
    assert set(SCENARIO_DARK_FAULTS) == DARK_FAULTS


def test_a_cycling_lamp_is_off_at_its_fault_start_then_alternates():
    scenario = load_scenario(_path("cycling-lamp"))
    anchor = frame_anchor(scenario)
    states = [(o.ts_ms - anchor) // MIN for o in scenario_events(scenario, anchor)
              if isinstance(o, LampObservation) and o.lamp == "L006" and o.on]
    assert [m for m in states if 115 <= m < 185] == [115, 125, 135, 145, 155, 165, 175, 180]


def test_anchoring_moves_the_zone_schedules_by_the_anchor_time_of_day():
    scenario = load_scenario(_path("gateway-silent"))
    assert anchored_settings(scenario, ODD_ANCHOR)["zone_schedules"] == {
        "Z1": "10:37-22:37", "Z2": "10:37-22:37"}
    settings = anchored_settings(scenario, frame_anchor(scenario))
    assert settings["zone_schedules"] == {"Z1": "18:00-06:00", "Z2": "18:00-06:00"}
    assert settings["town_timezone"] == "UTC" and settings["stale_after_s"] == 900
    with pytest.raises(ScenarioError, match="anchor .* multiple of 60 s"):
        anchored_settings(scenario, ODD_ANCHOR + 1000)


def test_default_anchor_puts_the_window_in_the_past_or_the_first_status_just_ahead():
    now = DAY0 + 12 * HOUR + 34 * MIN + 56_789
    quiet = load_scenario(_path("night-99"))
    anchor = default_anchor_ms(quiet, now)
    assert anchor % MIN == 0
    assert now - MARGIN_MS - MIN < anchor + quiet.duration_ms <= now - MARGIN_MS
    offline = load_scenario(_path("gateway-offline"))
    anchor = default_anchor_ms(offline, now)
    status_at = anchor + 2 * HOUR
    assert anchor % MIN == 0 and now + STATUS_LEAD_MS <= status_at < now + STATUS_LEAD_MS + MIN


# The format's errors ----------------------------------------------------------------------------
MINIMAL = """
name = "t"
start = "17:00"
duration_min = 60
[town]
zone_schedules = { Z1 = "18:00-06:00" }
town_timezone = "UTC"
[[roads]]
road = "R1"
zone = "Z1"
gateway = "gw1"
lamps = 3
[expect]
no_other_alerts = true
"""


@pytest.mark.parametrize(("change", "message"), [
    (("lamps = 3", "lamps = 3\nlanes = 2"), "roads[0]: unknown key(s) lanes"),
    (('town_timezone = "UTC"', 'town_timezone = "Europe/Berlin"'),
     "town.town_timezone: scenario clocks are UTC"),
    (('Z1 = "18:00-06:00"', 'Z2 = "18:00-06:00"'), "town.zone_schedules: zone(s) Z1 need"),
    (('Z1 = "18:00-06:00"', 'Z1 = "18:00-18:00"'), "town.zone_schedules: Value error"),
    (("[town]", "[town]\nlighting_target = 1.5"), "town.lighting_target: Input should be"),
    (("no_other_alerts = true", "no_other_alerts = false"), "expect: say which alerts"),
    (('start = "17:00"', 'start = "5pm"'), "start: '5pm' is not a clock time"),
    (("[expect]", '[[faults]]\nkind = "dark"\nlamps = ["L009"]\n[expect]'),
     "faults[0].lamps: unknown lamps: L009"),
    (("[expect]", '[[faults]]\nkind = "cabinet_trip"\nlamps = ["L001"]\n[expect]'),
     "faults[0].cabinet: a cabinet_trip fault needs `cabinet`"),
    (("[expect]", '[[faults]]\nkind = "dark"\nlamps = ["L001"]\nfrom = "19:00"\n[expect]'),
     "faults[0].from: 19:00 is outside the scenario"),
    (("no_other_alerts = true", 'no_other_alerts = true\n[[expect.alerts]]\nevent = "raised"\n'
      'kind = "lamp_out"\nsubject = "L001"\nat = "17:10"'), "expect.alerts[0].subject: 'L001'"),
    (("no_other_alerts = true", 'no_other_alerts = true\n[[expect.rates]]\nzone = "Z1"\n'
      'at = "17:10"'), "expect.rates[0]: give at least one of rate"),
    (("lamps = 3", "lamps = 3\n[[lamps]]\nid = \"L001\"\ngateway = \"gw1\"\nzone = \"Z1\""),
     "lamps: lamp id 'L001' is declared twice"),
])
def test_a_bad_scenario_names_the_file_and_the_key(tmp_path, change, message):
    path = tmp_path / "bad.toml"
    assert change[0] in MINIMAL
    path.write_text(MINIMAL.replace(change[0], change[1], 1))
    with pytest.raises(ScenarioError) as caught:
        load_scenario(path)
    assert str(caught.value).startswith(f"{path}: ")
    assert message in str(caught.value)


def test_the_minimal_scenario_loads(tmp_path):
    path = tmp_path / "ok.toml"
    path.write_text(MINIMAL)
    scenario = load_scenario(path)
    assert [s.id for s in scenario.sites] == ["L001", "L002", "L003"]
    assert scenario.interval_ms == 5 * MIN and scenario.gateways == ["gw1"]
    # no drains: no drain keys, no history, nothing but lamp readings
    assert (scenario.drains, scenario.gauges, scenario.rain, scenario.notices) == ((), (), (), ())
    assert scenario.history_days == 0 and scenario.history_from_ms == 0
    assert all(isinstance(o, LampObservation) for o in scenario_events(scenario, DAY0))


def _path(name: str) -> Path:
    return next(p for p in SCENARIOS if p.stem == name)


# The command's refusals (no services needed) ----------------------------------------------------
def test_simulate_refuses_a_bad_anchor_a_lone_anchor_and_a_bad_scenario(tmp_path):
    from typer.testing import CliRunner

    from streetwatch.cli import app

    runner = CliRunner()
    bad_anchor = runner.invoke(app, ["simulate", "--scenario", str(SCENARIOS[0]),
                                     "--anchor", "yesterday"])
    assert bad_anchor.exit_code == 2 and "--anchor" in bad_anchor.output
    lone = runner.invoke(app, ["simulate", "--anchor", "2026-11-23T17:00:00Z"])
    assert lone.exit_code == 2 and "--scenario" in lone.output
    broken = tmp_path / "broken.toml"
    broken.write_text(MINIMAL.replace("lamps = 3", "lamps = 0"))
    result = runner.invoke(app, ["simulate", "--scenario", str(broken)],
                           env={"STREETWATCH_STATE_DIR": str(tmp_path / "state")})
    assert result.exit_code == 1
    assert f"{broken}: roads[0].lamps: must be a whole number from 1" in result.output


DRAIN_SCENARIOS = [p for p in SCENARIOS if p.stem.startswith("drain-")]


@pytest.mark.parametrize("path", DRAIN_SCENARIOS, ids=lambda p: p.stem)
@pytest.mark.parametrize("minutes", [13, 301, 778, 1213])
def test_drain_scenarios_meet_their_labels_wherever_the_town_s_clock_hours_fall(path, minutes):
    """Drains are judged against hour-of-day bands, so the anchor decides which readings share an
    hour: a label must not sit on a threshold that this tips (`simulate` anchors anywhere)."""
    scenario = load_scenario(path)
    anchor_ms = DAY0 + minutes * MIN
    assert missed(check(pure_replay_lines(scenario, anchor_ms), scenario, anchor_ms)) == []
