"""Scores, ranking and rectification list for the API and `report monthly|quarterly`: the facts
read (api/score_inputs.py), the lighting means computed as `report lighting` does, and the pure
scoring of api/scores.py applied. One function per answer; the same for the HTTP and the CLI.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from zoneinfo import ZoneInfo

from sqlalchemy import Engine

from api import score_inputs as inputs
from api.lighting import month_rows
from api.scores import (
    RankedZone,
    Rectification,
    ScoreRules,
    ZoneMonthScore,
    rank_quarter,
    rectification_list,
    score_month,
)
from rules.reports import ZoneMonth
from streetwatch.influx import InfluxClient
from streetwatch.settings import Settings

# month -> {zone: time-weighted mean lighting rate of the month, None where no data}
LightingMeans = Callable[[str], Mapping[str, float | None]]


def lighting_means(settings: Settings, influx: InfluxClient,
                   rows_of: Callable[[str], list[ZoneMonth]] | None = None) -> LightingMeans:
    """The month's mean lighting rate per zone, from the rows `report lighting` prints (read by
    `rows_of` when given: a caller that shows those rows too reads them once)."""
    read = rows_of or (lambda month: month_rows(settings, influx, month))
    return lambda month: {row.zone: row.mean_rate for row in read(month)}


def monthly_scores(settings: Settings, engine: Engine, lighting: LightingMeans, month: str,
                   now_ms: int) -> list[ZoneMonthScore]:
    """Every known zone's score for `month` ("YYYY-MM", town local time) as of `now_ms`."""
    tz = ZoneInfo(settings.town_timezone)
    (period,) = inputs.periods([month], tz)
    means = lighting(month)
    zones = set(inputs.known_zones(engine)) | {z for z in means if not z.startswith("_")}
    targets = {zone: float(settings.zone_target(zone)) for zone in zones}
    return score_month(period, now_ms, zones, means, targets,
                       inputs.alert_facts(engine, period), inputs.report_facts(engine, period),
                       ScoreRules.from_settings(settings), inputs.patrol_facts(engine, period))


def quarterly_ranking(settings: Settings, engine: Engine, lighting: LightingMeans, quarter: str,
                      now_ms: int) -> tuple[list[str], list[RankedZone]]:
    """The quarter's months and its zones ranked by their mean monthly score."""
    months = inputs.quarter_months(quarter)
    scored = [monthly_scores(settings, engine, lighting, month, now_ms) for month in months]
    return months, rank_quarter(scored)


def rectification(settings: Settings, engine: Engine, month: str,
                  now_ms: int) -> list[Rectification]:
    """Zones with alerts past deadline in `month`, with their yellow cards."""
    rules = ScoreRules.from_settings(settings)
    tz = ZoneInfo(settings.town_timezone)
    months = inputs.periods(inputs.previous_months(month, rules.card_months), tz)
    facts = inputs.alert_facts(engine, (months[0][0], months[-1][1]))
    return rectification_list(months, now_ms, facts, rules)
