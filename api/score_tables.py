"""Scores, ranking and rectification list as CSV rows: the API's `?format=csv` and
`streetwatch report monthly|quarterly` print these same columns."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from api.scores import PARTS, RankedZone, Rectification, ZoneMonthScore

MONTHLY_COLUMNS = ("zone", "score", *(f"part_{p}" for p in PARTS), "lighting_rate", "target",
                   "alerts_raised", "alerts_due", "resolved_on_time", "on_time_rate", "overdue", "overdue_red",
                   "mean_time_to_repair_h", "reports", "reports_answered", "patrols")
QUARTERLY_COLUMNS = ("rank", "zone", "score", "month_1", "month_2", "month_3", "on_time_rate")
RECTIFICATION_COLUMNS = ("zone", "overdue", "overdue_red", "overdue_yellow", "overdue_blue",
                         "yellow_card", "months_with_overdue_severe")


def monthly_rows(scores: Iterable[ZoneMonthScore]) -> Iterator[tuple]:
    for s in scores:
        yield (s.zone, s.score, *(_round(s.parts[p]) for p in PARTS), _round(s.lighting_rate),
               s.target, s.alerts_raised, s.alerts_due, s.resolved_on_time, _round(s.on_time_rate), s.overdue,
               s.overdue_by_severity["red"], _round(s.mean_time_to_repair_h), s.reports,
               s.reports_answered, s.patrols)


def quarterly_rows(ranked: Iterable[RankedZone]) -> Iterator[tuple]:
    for r in ranked:
        yield (r.rank, r.zone, r.score, *r.monthly, _round(r.on_time_rate))


def rectification_rows(rows: Iterable[Rectification]) -> Iterator[tuple]:
    for r in rows:
        counts = r.overdue_by_severity
        yield (r.zone, r.overdue, counts["red"], counts["yellow"], counts["blue"], r.yellow_card,
               r.months_with_overdue_severe)


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 6)
