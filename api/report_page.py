"""The monthly report page's figures (`/reports/monthly`, `streetwatch report monthly --html`).

Nothing here computes a figure of its own: each one is the answer of the function behind an API
endpoint, for the same month, clock and key (zone-bound keys filtered as those endpoints filter):
scores (`/api/v1/scores/monthly`), the quarter's ranking (`/api/v1/ranking/quarterly`), the
rectification list (`/api/v1/rectification`), each zone's month and nights of lighting
(`/api/v1/lighting-rate/monthly` and `/nightly`). api/report_page_html.py draws the page.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from zoneinfo import ZoneInfo

from sqlalchemy import Engine

from api import lighting, score_board
from api.keys import Principal
from api.lighting import LightingNights
from api.scores import RankedZone, Rectification, ScoreRules, ZoneMonthScore
from rules.reports import ZoneMonth, month_bounds_ms
from streetwatch.influx import InfluxClient
from streetwatch.settings import Settings

# Who `streetwatch report monthly --html` reads as: the server's own shell sees every zone.
SERVER_SHELL = Principal(0, "server shell", "viewer", None)


@dataclass(frozen=True, slots=True)
class MonthlyReport:
    """Everything the page shows, as the API answers it."""

    month: str
    quarter: str
    quarter_months: tuple[str, ...]
    as_of_ms: int
    timezone: str
    zones: frozenset[str] | None  # the key's zones; None: every zone and the town
    weights: Mapping[str, float]
    card_months: int
    card_severity: str
    scores: Sequence[ZoneMonthScore]
    ranking: Sequence[RankedZone]
    lighting: Sequence[ZoneMonth]
    nights: Mapping[str, LightingNights]  # the zones of `lighting` with at least one night
    rectification: Sequence[Rectification]


def quarter_of(month: str) -> str:
    """"YYYY-Qn" of "YYYY-MM"."""
    return f"{month[:4]}-Q{(int(month[5:7]) - 1) // 3 + 1}"


def read_monthly_report(settings: Settings, engine: Engine, influx: InfluxClient, month: str,
                        now_ms: int, principal: Principal) -> MonthlyReport:
    """The page's figures for `month` ("YYYY-MM", town local time) as of `now_ms`, as
    `principal` may see them."""
    quarter = quarter_of(month)
    rows_of = cache(lambda chosen: lighting.month_rows(settings, influx, chosen))  # once a month
    means = score_board.lighting_means(settings, influx, rows_of)
    scores = score_board.monthly_scores(settings, engine, means, month, now_ms)
    months, ranked = score_board.quarterly_ranking(settings, engine, means, quarter, now_ms)
    rows = lighting.visible_months(rows_of(month), principal)
    start_ms, end_ms = month_bounds_ms(month, ZoneInfo(settings.town_timezone))
    nights = {row.zone: lighting.nightly(settings, influx, row.zone, start_ms, end_ms)
              for row in rows if row.nights}
    late = score_board.rectification(settings, engine, month, now_ms)
    rules = ScoreRules.from_settings(settings)
    return MonthlyReport(
        month=month, quarter=quarter, quarter_months=tuple(months), as_of_ms=now_ms,
        timezone=settings.town_timezone, zones=principal.zones, weights=dict(rules.weights),
        card_months=rules.card_months, card_severity=rules.card_severity,
        scores=[s for s in scores if principal.sees(s.zone)],
        ranking=[r for r in ranked if principal.sees(r.zone)],
        lighting=rows, nights=nights,
        rectification=[r for r in late if principal.sees(r.zone)])


__all__ = ["SERVER_SHELL", "MonthlyReport", "quarter_of", "read_monthly_report"]
