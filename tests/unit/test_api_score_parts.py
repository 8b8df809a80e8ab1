"""api.scores: monthly zone scores, the quarterly ranking and the rectification list, by
hand-computed tables (no I/O)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from api.scores import (
    DEFAULT_WEIGHTS,
    AlertFacts,
    ReportFacts,
    ScoreRules,
    lighting_part,
    rank_quarter,
    rectification_list,
    score_month,
    was_overdue,
    weighted_score,
)

H = 3_600_000
DAY = 24 * H
NOV = (0, 30 * DAY)  # a 30-day month starting at 0 (the functions take any [start, end))
DEC = (30 * DAY, 61 * DAY)
OCT = (-31 * DAY, 0)
RULES = ScoreRules()


def alert(zone="north", severity="yellow", raised=0, deadline=DAY, resolved=None):
    return AlertFacts(zone, severity, raised, deadline, resolved)


@pytest.mark.parametrize(("rate", "part"), [(1.0, 1.0), (0.99, 1.0), (0.945, 0.5), (0.9, 0.0),
                                            (0.5, 0.0)])
def test_lighting_part_is_linear_between_floor_and_target(rate, part):
    assert lighting_part(rate, 0.99, 0.9) == pytest.approx(part)


@pytest.mark.parametrize(("a", "now", "overdue"), [
    (alert(deadline=DAY), 2 * DAY, True),                        # open past deadline
    (alert(deadline=DAY), DAY, False),                           # not yet past (now = deadline)
    (alert(deadline=DAY, resolved=DAY), 2 * DAY, False),         # resolved right on time
    (alert(deadline=DAY, resolved=DAY + 1), 2 * DAY, True),      # one ms late
    (alert(deadline=-5 * DAY), 2 * DAY, True),                   # overdue since October, still open
    (alert(deadline=-5 * DAY, resolved=-DAY), 2 * DAY, False),   # late, but fixed in October
    (alert(deadline=40 * DAY), 50 * DAY, False),                 # deadline in December
])
def test_an_alert_is_overdue_in_a_month_when_it_stood_past_deadline_in_it(a, now, overdue):
    assert was_overdue(a, NOV, now) is overdue


def test_a_month_by_hand():
    """north: rate 0.945 (part 0.5); 4 alerts due, 3 on time (0.75); 1 overdue (0.8); repaired
    in 12 h mean (part 1); 2 reports, 1 answered (0.5).
    Score = (40*.5 + 30*.75 + 10*.8 + 10*1 + 10*.5) / 100 = 65.5."""
    alerts = [alert(raised=0, deadline=DAY, resolved=6 * H),
              alert(raised=0, deadline=2 * DAY, resolved=18 * H),
              alert(raised=DAY, deadline=3 * DAY, resolved=DAY + 12 * H),
              alert(raised=DAY, deadline=4 * DAY, resolved=None)]
    reports = [ReportFacts("north", DAY, 2 * DAY), ReportFacts("north", 2 * DAY, None)]
    (north,) = score_month(NOV, 10 * DAY, ["north"], {"north": 0.945}, {"north": 0.99}, alerts,
                           reports, RULES)
    assert north.parts == pytest.approx({"lighting": 0.5, "on_time": 0.75, "overdue": 0.8,
                                         "repair": 1.0, "citizen": 0.5, "patrol": None})
    assert (north.alerts_due, north.resolved_on_time, north.overdue, north.repaired) == (4, 3, 1, 3)
    assert north.alerts_raised == 4  # raised on day 0 and day 1 of the month
    assert north.mean_time_to_repair_h == pytest.approx(12.0)
    assert (north.reports, north.reports_answered) == (2, 1)
    assert north.score == 65.5


def test_parts_without_data_are_left_out_not_given_away():
    (lit,) = score_month(NOV, 10 * DAY, ["lit"], {"lit": 0.945}, {"lit": 0.99}, [], [], RULES)
    assert lit.parts == pytest.approx({"lighting": 0.5, "on_time": None, "overdue": 1.0,
                                       "repair": None, "citizen": None, "patrol": None})
    assert lit.score == 60.0  # (40 x 0.5 + 10 x 1) / 50: no alert stood overdue
    assert weighted_score({"a": None}, DEFAULT_WEIGHTS) is None


@pytest.mark.parametrize(("month", "alerts", "score"), [
    (NOV, [], None),                                              # nothing known of the month
    (DEC, [alert(raised=0, deadline=DAY, resolved=DAY)], None),   # resolved before it began
    (NOV, [alert(raised=DAY, deadline=40 * DAY)], 100.0),  # open, not overdue: known, and fine
    (NOV, [alert(raised=DAY, deadline=2 * DAY)], 20.0),    # due, open past it: (30x0 + 10x.8)/40
])
def test_a_month_of_which_nothing_is_known_has_no_score_not_100(month, alerts, score):
    """Only the overdue part can have data with nothing else known (no lighting sample, no
    report, no patrol): then it needs an alert that stood open in the month up to now."""
    (zone,) = score_month(month, 10 * DAY if month == NOV else 35 * DAY, ["north"], {},
                          {"north": 0.99}, alerts, [], RULES)
    assert zone.score == score
    assert (zone.parts["overdue"] is None) == (score is None)


@given(st.dictionaries(st.sampled_from(list(DEFAULT_WEIGHTS)),
                       st.none() | st.floats(0, 1), min_size=5, max_size=5))
def test_a_score_stays_between_0_and_100(parts):
    score = weighted_score(parts, DEFAULT_WEIGHTS)
    assert score is None or 0.0 <= score <= 100.0


def test_quarter_ranks_by_mean_then_on_time_then_zone():
    def month(scores):
        return score_month(NOV, 40 * DAY, scores.keys(), scores, dict.fromkeys(scores, 0.99),
                           [], [], RULES)

    months = [month({"a": 0.99, "b": 0.945, "c": 0.99}), month({"a": 0.99, "b": 0.99})]
    ranked = rank_quarter(months)
    assert [(r.rank, r.zone) for r in ranked] == [(1, "a"), (1, "c"), (3, "b")]
    # b in November: lighting part 0.5 (weight 40) and no overdue (weight 10): 30/50 = 60 %
    assert ranked[2].monthly == (60.0, 100.0) and ranked[2].score == 80.0
    assert ranked[1].monthly == (100.0, None)


def test_a_yellow_card_needs_overdue_red_alerts_in_two_consecutive_months():
    alerts = [alert("north", "red", deadline=-20 * DAY, resolved=-10 * DAY),   # October, late
              alert("north", "red", deadline=5 * DAY),                        # November, open
              alert("south", "red", deadline=5 * DAY, resolved=6 * DAY),      # November only
              alert("west", "yellow", deadline=-20 * DAY, resolved=-10 * DAY),
              alert("west", "yellow", deadline=5 * DAY, resolved=7 * DAY),    # yellow: no card
              alert("east", "red", deadline=5 * DAY, resolved=5 * DAY)]       # on time
    rows = rectification_list([OCT, NOV], 20 * DAY, alerts, RULES)
    assert [(r.zone, r.overdue, r.yellow_card) for r in rows] == [
        ("north", 1, True), ("south", 1, False), ("west", 1, False)]
    assert rows[0].months_with_overdue_severe == 2
    assert rows[0].overdue_by_severity == {"red": 1, "yellow": 0, "blue": 0}
    strict = ScoreRules(card_months=3)
    assert not rectification_list([OCT, NOV], 20 * DAY, alerts, strict)[0].yellow_card


def test_score_settings_are_checked_and_carried():
    from pydantic import ValidationError

    from streetwatch.settings import Settings

    with pytest.raises(ValidationError, match="not a score part"):
        Settings(score_weights={"beauty": 10.0})
    rules = ScoreRules.from_settings(Settings(score_weights={"lighting": 1.0},
                                              rectification_card_months=3))
    assert rules.weights == {"lighting": 1.0} and rules.card_months == 3
