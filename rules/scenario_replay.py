"""A labelled scenario through the rule core, no I/O: its lamps as the fleet, its readings and
statuses as replay observations, the replay's lines out.

These are the lines a stored replay of the published scenario must match
(rules/scenario_check.py); the unit tests check every scenario's labels against them.
"""

from __future__ import annotations

from rules.drains import DrainNetwork
from rules.engine import RuleEngine
from rules.fleet import Fleet
from rules.lifecycle import MemorySink
from rules.replay import remember, replay_lines
from streetwatch.scenarios import Scenario, anchored_settings, scenario_events


def pure_replay_lines(scenario: Scenario, anchor_ms: int) -> list[str]:
    """The replay's lines for [anchor, anchor + duration), the core started at the anchor (as
    rules/scenario_check.py starts it) with the scenario's anchored settings; the drains'
    baselines learned from the scenario's history (the readings before the anchor), as a stored
    replay learns them from storage."""
    settings = scenario.town.model_copy(update=anchored_settings(scenario, anchor_ms))
    engine = RuleEngine.from_settings(Fleet(scenario.sites), settings, MemorySink(), anchor_ms,
                                      DrainNetwork(scenario.drains, scenario.gauges))
    events = scenario_events(scenario, anchor_ms)
    history = [e for e in events if e.ts_ms < anchor_ms]
    remember(engine, history)  # type: ignore[arg-type]  # before the anchor: drains and rain only
    return list(replay_lines(engine, events[len(history):], anchor_ms,
                             anchor_ms + scenario.duration_ms, settings.rules_every_s * 1000))
