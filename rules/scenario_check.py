"""`streetwatch rules check SCENARIO --anchor T`: replay storage over a published scenario's window
and compare the output with the scenario's labels.

The replay starts at the anchor (no warm-up), exactly like the scenario's pure run
(`rules.scenario_replay.pure_replay_lines`), with the scenario's rule settings and its zone
schedules moved to the anchor; the operator's own thresholds are not used. The registry should
hold only the scenario's lamps (a scratch install): every registered lamp is judged.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from rules.stored_replay import stored_replay_lines
from streetwatch.scenarios import LabelResult, anchored_settings, check, load_scenario

if TYPE_CHECKING:
    from streetwatch.settings import Settings


def check_stored(settings: Settings, scenario_path: Path | str, anchor_ms: int
                 ) -> list[LabelResult]:
    """The scenario's labels against a replay of what storage holds for [anchor, anchor + its
    duration)."""
    scenario = load_scenario(scenario_path)
    town = settings.model_copy(update=anchored_settings(scenario, anchor_ms))
    lines = stored_replay_lines(town, anchor_ms, anchor_ms + scenario.duration_ms,
                                town.rules_every_s, warm_up_s=0)
    return check(lines, scenario, anchor_ms)


def print_results(results: list[LabelResult], out: TextIO | None = None) -> bool:
    """One line per label (`met` / `MISSED` with what was seen instead), then a count; True when
    every label is met (the command exits 1 otherwise)."""
    out = out or sys.stdout
    for result in results:
        if result.met:
            print(f"met     {result.label}", file=out)
        else:
            print(f"MISSED  {result.label}\n        seen: {result.seen}", file=out)
    missed = sum(not r.met for r in results)
    print(f"{len(results) - missed} of {len(results)} labels met", file=out)
    return missed == 0
