"""Labelled scenarios (docs/scenarios.md): a small town with known faults and the alerts, lighting
rates and notices they must produce, run anywhere in time.

In the kernel because two components use it and may not import each other (DESIGN s.2): the
simulator publishes a scenario (simulators/scenario_publish.py), the rule engine replays it and
checks the labels (rules/scenario_replay.py, rules/scenario_check.py). Pure: files in, data out.
"""

from __future__ import annotations

from streetwatch.scenarios.format import (
    AlertLabel,
    DrainFlow,
    Fault,
    NoticeLabel,
    RainSpell,
    RateLabel,
    Scenario,
    ScenarioError,
    load_scenario,
)
from streetwatch.scenarios.labels import LabelResult, check
from streetwatch.scenarios.timeline import (
    DrainModel,
    anchor_step_ms,
    anchored_settings,
    dry_shape,
    scenario_events,
    storm_lift,
)

__all__ = [
    "AlertLabel", "DrainFlow", "DrainModel", "Fault", "LabelResult", "NoticeLabel", "RainSpell",
    "RateLabel", "Scenario", "ScenarioError", "anchor_step_ms", "anchored_settings", "check",
    "dry_shape", "load_scenario", "scenario_events", "storm_lift",
]
