"""Every labelled scenario end to end: `simulate --scenario`'s function publishes it through a real
Mosquitto to the real ingester process and a real influxd, with its lamps in a SQLite registry;
then `check_stored` replays storage over the scenario's window and every label is met.

Each scenario gets its own registry, database and ingester (the `e2e` fixture). The
gateway-offline scenario waits for its anchored clock to reach its status (up to about a minute):
the ingester stamps a status on receipt, so it is published live.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from rules.scenario_check import check_stored
from rules.scenario_replay import pure_replay_lines
from rules.stored_replay import stored_replay_lines
from simulators.cli import load_passwords_file
from simulators.scenario_publish import register_scenario, run_scenario
from streetwatch.alerts.model import rfc3339_ms
from streetwatch.cli import app
from streetwatch.influx import InfluxClient
from streetwatch.scenarios import Scenario, anchored_settings, load_scenario
from streetwatch.settings import Settings

from processes import env_for, finish_simulator, wait_for

SCENARIOS = sorted((Path(__file__).parents[2] / "simulators" / "scenarios").glob("*.toml"))


def stored_in(influx: InfluxClient, from_ms: int, to_ms: int) -> tuple[int, int]:
    """(lamp, drain and rain readings, offline gateway statuses) InfluxDB holds in
    [from_ms, to_ms)."""
    window = f"time >= {from_ms}ms AND time < {to_ms}ms"
    readings = sum(influx.scalar(f'SELECT count("{field}") FROM {measurement} WHERE {window}')
                   or 0 for measurement, field in (("lamp", "on"), ("drain", "level_cm"),
                                                   ("rain", "rain_mm")))
    offline = influx.scalar(
        f'SELECT count("online") FROM gateway_status WHERE "online" = false AND {window}') or 0
    return readings, offline


@pytest.mark.parametrize("path", SCENARIOS, ids=lambda p: p.stem)
def test_a_published_scenario_meets_its_labels_in_storage(e2e, path):
    scenario = load_scenario(path)
    register_scenario(e2e.settings, scenario)  # before the ingester: it tags readings by zone
    e2e.ingester.start()
    summary = run_scenario(e2e.settings, path, None,
                           lambda settings, ids: load_passwords_file(e2e.passwords, ids))
    assert summary.late_statuses == 0
    anchor, end = summary.anchor_ms, summary.anchor_ms + scenario.duration_ms
    published = (summary.readings, summary.offline_statuses)
    first = anchor + scenario.history_from_ms  # drain history comes before the window
    wait_for(lambda: stored_in(e2e.influx, first, end) == published, 60,
             f"InfluxDB to hold {published} (readings, offline statuses)", every_s=0.2)

    results = check_stored(e2e.settings, path, anchor)

    assert [(r.label, r.seen) for r in results if not r.met] == []
    assert len(results) == len(scenario.alerts) + len(scenario.rates) + len(scenario.notices) + 1
    if not summary.statuses:  # no receipt-stamped status: storage replays byte for byte
        assert stored_lines(e2e.settings, scenario, anchor) == pure_replay_lines(scenario, anchor)
    assert e2e.ingester.stop() == 0


def test_the_simulate_command_prints_the_anchor_the_check_needs(e2e, tmp_path):
    """The CLI path: `streetwatch simulate --scenario FILE` as a child process registers the lamps
    itself (the check reads them from the registry) and its summary carries the anchor. (The
    ingester started on an empty registry stores these readings without zone tags until its next
    refresh; replay does not read those tags.)"""
    path = next(p for p in SCENARIOS if p.stem == "blind-spot")
    e2e.ingester.start()
    summary = finish_simulator(*e2e.simulate("--scenario", str(path)))
    anchor = summary["anchor_ms"]
    assert summary["anchor"] == rfc3339_ms(anchor) and summary["readings"] == 10 * 42
    wait_for(lambda: stored_in(e2e.influx, anchor, anchor + 210 * 60_000) == (420, 0), 60,
             "InfluxDB to hold the 420 readings")
    assert all(r.met for r in check_stored(e2e.settings, path, anchor))
    assert e2e.ingester.stop() == 0

    # `streetwatch rules check FILE --anchor A`: met, exit 0; a label off by a minute, exit 1.
    env = env_for(e2e.settings)
    met = CliRunner().invoke(app, ["rules", "check", str(path), "--anchor", summary["anchor"]],
                             env=env)
    assert met.exit_code == 0 and "labels met" in met.output, met.output
    wrong = tmp_path / "blind-spot-wrong.toml"
    wrong.write_text(path.read_text().replace('at = "19:10"', 'at = "19:11"', 1))
    missed = CliRunner().invoke(app, ["rules", "check", str(wrong), "--anchor", summary["anchor"]],
                                env=env)
    assert missed.exit_code == 1 and "MISSED" in missed.output, missed.output


def stored_lines(settings: Settings, scenario: Scenario, anchor_ms: int) -> list[str]:
    """The stored replay that check_stored compares with the labels."""
    town = settings.model_copy(update=anchored_settings(scenario, anchor_ms))
    return list(stored_replay_lines(town, anchor_ms, anchor_ms + scenario.duration_ms,
                                    town.rules_every_s, warm_up_s=0))
