"""The monthly score's `patrol` part (api/scores.py): night patrols finished in the month against
`patrols_per_week` x the month's weeks so far, capped at 1; left out when nobody in the town
patrolled that month. Hand-computed."""

from __future__ import annotations

import pytest

from api.scores import PatrolFacts, ScoreRules, patrol_part, score_month
from streetwatch.settings import Settings

H = 3_600_000
DAY = 24 * H
WEEK = 7 * DAY
NOV = (0, 30 * DAY)
RULES = ScoreRules()


@pytest.mark.parametrize(("patrols", "now", "part"), [
    (12, 30 * DAY, 12 / (3 * 30 / 7)),   # a whole month: 12 of 12.86 expected
    (13, 30 * DAY, 1.0),                 # capped
    (3, WEEK, 1.0),                      # the first week, three patrols: on target
    (1, WEEK, 1 / 3),
    (0, 40 * DAY, 0.0),                  # a month gone by
    (0, 0, None),                        # not begun
])
def test_patrol_part(patrols, now, part):
    assert patrol_part(patrols, NOV, now, 3.0) == pytest.approx(part)


def test_a_zone_that_does_not_patrol_while_others_do_scores_0_and_a_quiet_town_is_not_scored():
    patrols = [PatrolFacts("north", d * DAY) for d in (1, 3, 5)] + [
        PatrolFacts("north", 31 * DAY),         # December: not counted
        PatrolFacts("north", 6 * DAY + 2)]      # after "now": not counted yet
    north, south = score_month(NOV, 6 * DAY + 1, ["north", "south"], {}, dict.fromkeys(
        ["north", "south"], 0.99), [], [], RULES, patrols)
    assert (north.patrols, north.parts["patrol"]) == (3, 1.0)  # 3 in 6 days: above 3 a week
    assert (south.patrols, south.parts["patrol"]) == (0, 0.0)
    # overdue 1.0 (weight 10) and patrol 0 (weight 10): 50
    assert (north.score, south.score) == (100.0, 50.0)
    (quiet,) = score_month(NOV, 6 * DAY, ["north"], {}, {"north": 0.99}, [], [], RULES)
    assert quiet.parts["patrol"] is None and quiet.patrols == 0
    assert quiet.score is None  # nothing at all known of the month: no score (api/scores.py)


def test_patrol_settings_are_carried():
    rules = ScoreRules.from_settings(Settings(score_patrols_per_week=7,
                                              score_weights={"patrol": 5.0}))
    assert (rules.patrols_per_week, rules.weights) == (7, {"patrol": 5.0})
    assert Settings().score_weights["patrol"] == 10.0
