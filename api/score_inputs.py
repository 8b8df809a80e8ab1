"""What scores are computed from, read from SQL: zones, alert facts, citizen-report facts and
finished night patrols of a range of months; and the month and quarter arithmetic in town local
time.

The lighting part's monthly rates come from the same computation as `streetwatch report
lighting` (api/lighting.py); api/routes/scores.py and `report monthly|quarterly` put them together.
"""

from __future__ import annotations

import re
from datetime import date
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, or_, select, union

from api.query_params import QUARTER_PATTERN
from api.scores import AlertFacts, PatrolFacts, ReportFacts
from rules.reports import month_bounds_ms
from streetwatch.registry.models import Alert, CitizenReport, Drain, Lamp, Patrol, RainGauge
from streetwatch.registry.timestamps import datetime_from_ms, ms_from_datetime

Period = tuple[int, int]


def current_month(now_ms: int, tz: ZoneInfo) -> str:
    """"YYYY-MM" of the local month holding `now_ms`."""
    from datetime import UTC, datetime

    local = datetime.fromtimestamp(now_ms / 1000, UTC).astimezone(tz)
    return f"{local.year:04d}-{local.month:02d}"


def previous_months(month: str, count: int) -> list[str]:
    """`count` months ending with `month`, oldest first ("2026-01", 2 -> 2025-12, 2026-01)."""
    first = date.fromisoformat(f"{month}-01")
    index = first.year * 12 + first.month - 1
    return [f"{i // 12:04d}-{i % 12 + 1:02d}" for i in range(index - count + 1, index + 1)]


def quarter_months(quarter: str) -> list[str]:
    """The three "YYYY-MM" of "YYYY-Qn"; ValueError for anything else."""
    if not re.fullmatch(QUARTER_PATTERN, quarter):
        raise ValueError(f"quarter {quarter!r} must be YYYY-Q1 .. YYYY-Q4")
    year, q = int(quarter[:4]), int(quarter[-1])
    return [f"{year:04d}-{m:02d}" for m in range(3 * q - 2, 3 * q + 1)]


def current_quarter(now_ms: int, tz: ZoneInfo) -> str:
    month = current_month(now_ms, tz)
    return f"{month[:4]}-Q{(int(month[5:]) - 1) // 3 + 1}"


def periods(months: list[str], tz: ZoneInfo) -> list[Period]:
    return [month_bounds_ms(month, tz) for month in months]


def known_zones(engine: Engine) -> list[str]:
    """Every zone with a device or an alert, sorted."""
    query = union(select(Lamp.zone), select(Drain.zone), select(RainGauge.zone),
                  select(Alert.zone))
    with engine.connect() as conn:
        return sorted(zone for (zone,) in conn.execute(query))


def alert_facts(engine: Engine, span: Period) -> list[AlertFacts]:
    """The alerts that matter to months within `span`: raised before its end, and open or
    resolved after its start."""
    start, end = (datetime_from_ms(ms) for ms in span)
    query = (select(Alert.zone, Alert.severity, Alert.raised_at, Alert.deadline, Alert.resolved_at)
             .where(Alert.raised_at < end,
                    or_(Alert.resolved_at.is_(None), Alert.resolved_at >= start)))
    with engine.connect() as conn:
        return [AlertFacts(zone, severity, _ms(raised), _ms(deadline), ms_from_datetime(resolved))
                for zone, severity, raised, deadline, resolved in conn.execute(query)]


def report_facts(engine: Engine, span: Period) -> list[ReportFacts]:
    """Citizen reports received within `span` and linked to a zone."""
    start, end = (datetime_from_ms(ms) for ms in span)
    query = (select(CitizenReport.zone, CitizenReport.created_at, CitizenReport.answered_at)
             .where(CitizenReport.created_at >= start, CitizenReport.created_at < end,
                    CitizenReport.zone.is_not(None)))
    with engine.connect() as conn:
        return [ReportFacts(zone, _ms(created), ms_from_datetime(answered))
                for zone, created, answered in conn.execute(query)]


def patrol_facts(engine: Engine, span: Period) -> list[PatrolFacts]:
    """Night patrols (the crew console's) finished within `span`."""
    start, end = (datetime_from_ms(ms) for ms in span)
    query = select(Patrol.zone, Patrol.finished_at).where(Patrol.finished_at >= start,
                                                          Patrol.finished_at < end)
    with engine.connect() as conn:
        return [PatrolFacts(zone, _ms(finished)) for zone, finished in conn.execute(query)]


def _ms(moment: object) -> int:
    ms = ms_from_datetime(moment)  # type: ignore[arg-type]
    assert ms is not None, "NOT NULL column"
    return ms
