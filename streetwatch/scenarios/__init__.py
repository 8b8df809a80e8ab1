"""Labelled scenarios (docs/scenarios.md): a small town with known faults and the alerts and
lighting rates they must produce, run anywhere in time.

In the kernel because two components use it and may not import each other (DESIGN s.2): the
simulator publishes a scenario (simulators/scenario_publish.py), the rule engine replays it and
checks the labels (rules/scenario_replay.py, rules/scenario_check.py). Pure: files in, data out.
"""

from __future__ import annotations

from streetwatch.scenarios.format import (
    AlertLabel,
    Fault,
    RateLabel,
    Scenario,
    ScenarioError,
    load_scenario,
)
from streetwatch.scenarios.labels import LabelResult, check
from streetwatch.scenarios.timeline import (
    anchor_step_ms,
    anchored_settings,
    scenario_events,
)

__all__ = [
    "AlertLabel", "Fault", "LabelResult", "RateLabel", "Scenario", "ScenarioError",
    "anchor_step_ms",
    "anchored_settings", "check", "load_scenario", "scenario_events",
]
