"""`/api/v1/scores/monthly`, `/api/v1/ranking/quarterly`, `/api/v1/rectification` (viewer): the
zones' monthly scores, the quarter's ranking and the rectification list, as JSON or CSV.

How a score is made is in api/scores.py (and docs/api.md); `streetwatch report monthly|quarterly`
prints the same CSV. Zone-bound keys get their zones' rows only (ranks stay the town's).
"""

from __future__ import annotations

from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel

from api import query_params, score_board, score_inputs
from api.auth import Viewer
from api.formats import Format, csv_response, wants_csv
from api.resources import Res, Resources
from api.score_tables import (
    MONTHLY_COLUMNS,
    QUARTERLY_COLUMNS,
    RECTIFICATION_COLUMNS,
    monthly_rows,
    quarterly_rows,
    rectification_rows,
)
from api.scores import RankedZone, Rectification, ZoneMonthScore

router = APIRouter(tags=["scores"])
Month = Annotated[str | None, Query(pattern=query_params.MONTH_PATTERN,
                                    description="YYYY-MM, town local time (default: this month).")]
Quarter = Annotated[str | None, Query(pattern=query_params.QUARTER_PATTERN,
                                      description="YYYY-Qn (default: this quarter).")]


class MonthlyScores(BaseModel):
    month: str
    zones: list[ZoneMonthScore]


class QuarterlyRanking(BaseModel):
    quarter: str
    months: list[str]
    zones: list[RankedZone]


class RectificationList(BaseModel):
    month: str
    card_months: int
    card_severity: str
    zones: list[Rectification]


@router.get("/scores/monthly", response_model=MonthlyScores,
            responses={200: {"content": {"text/csv": {}}}})
def monthly(request: Request, principal: Viewer,
            res: Res, month: Month = None,
            fmt: Format = None) -> MonthlyScores | Response:
    """Each zone's score for the month, with every part and the figures behind it."""
    month = month or score_inputs.current_month(res.clock(), _tz(res))
    scores = [s for s in score_board.monthly_scores(res.settings, res.engine, _lighting(res),
                                                    month, res.clock())
              if principal.sees(s.zone)]
    if wants_csv(request, fmt):
        return csv_response(MONTHLY_COLUMNS, monthly_rows(scores), f"scores-{month}.csv")
    return MonthlyScores(month=month, zones=scores)


@router.get("/ranking/quarterly", response_model=QuarterlyRanking,
            responses={200: {"content": {"text/csv": {}}}})
def quarterly(request: Request, principal: Viewer,
              res: Res, quarter: Quarter = None,
              fmt: Format = None) -> QuarterlyRanking | Response:
    """Zones ranked by the mean of their monthly scores over the quarter."""
    quarter = quarter or score_inputs.current_quarter(res.clock(), _tz(res))
    months, ranked = score_board.quarterly_ranking(res.settings, res.engine, _lighting(res),
                                                   quarter, res.clock())
    ranked = [r for r in ranked if principal.sees(r.zone)]
    if wants_csv(request, fmt):
        return csv_response(QUARTERLY_COLUMNS, quarterly_rows(ranked), f"ranking-{quarter}.csv")
    return QuarterlyRanking(quarter=quarter, months=months, zones=ranked)


@router.get("/rectification", response_model=RectificationList,
            responses={200: {"content": {"text/csv": {}}}})
def rectification(request: Request, principal: Viewer,
                  res: Res, month: Month = None,
                  fmt: Format = None) -> RectificationList | Response:
    """Zones with alerts past deadline in the month; a yellow card for repeated overdue red."""
    month = month or score_inputs.current_month(res.clock(), _tz(res))
    rows = [r for r in score_board.rectification(res.settings, res.engine, month, res.clock())
            if principal.sees(r.zone)]
    if wants_csv(request, fmt):
        return csv_response(RECTIFICATION_COLUMNS, rectification_rows(rows),
                            f"rectification-{month}.csv")
    return RectificationList(month=month, card_months=res.settings.rectification_card_months,
                             card_severity=res.settings.rectification_card_severity,
                             zones=rows)


def _tz(res: Resources) -> ZoneInfo:
    return ZoneInfo(res.settings.town_timezone)


def _lighting(res: Resources) -> score_board.LightingMeans:
    return score_board.lighting_means(res.settings, res.influx)
