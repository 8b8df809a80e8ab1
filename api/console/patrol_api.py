"""`/api/v1/patrols` (manager; api/app.py includes it with the other `/api/v1` routers): a
month's night patrols with every lamp marked, as JSON or as the CSV the console gives for one
patrol (api/console/patrol_views.py), for the town office's spreadsheets. A zone-bound key gets
its zones' patrols only."""

from __future__ import annotations

from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel

from api.auth import Manager
from api.console.patrol_store import PatrolRecord, PatrolStore
from api.console.patrol_views import PATROL_COLUMNS, patrol_rows
from api.formats import Format, csv_response, wants_csv
from api.resources import Res
from api.routes.scores import Month
from api.score_inputs import current_month
from rules.reports import month_bounds_ms
from streetwatch.alerts.model import rfc3339_ms
from streetwatch.schemas import ID_PATTERN

router = APIRouter(tags=["patrols"])


class PatrolLampOut(BaseModel):
    seq: int
    lamp: str
    reasons: list[str]
    mark: str | None
    note: str | None
    marked_at: str | None
    alert_id: int | None


class PatrolOut(BaseModel):
    id: int
    zone: str
    patroller: str
    started_at: str
    finished_at: str | None
    lamps: list[PatrolLampOut]


class PatrolMonth(BaseModel):
    month: str
    patrols: list[PatrolOut]


@router.get("/patrols", response_model=PatrolMonth,
            responses={200: {"content": {"text/csv": {}}}})
def month_patrols(request: Request, principal: Manager, res: Res, month: Month = None,
                  zone: Annotated[str | None, Query(pattern=ID_PATTERN)] = None,
                  fmt: Format = None) -> PatrolMonth | Response:
    """Patrols started in the month (town local time; default this month), oldest first."""
    tz = ZoneInfo(res.settings.town_timezone)
    month = month or current_month(res.clock(), tz)
    zones = principal.zones
    if zone is not None:
        zones = frozenset({zone}) if principal.sees(zone) else frozenset()
    start, end = month_bounds_ms(month, tz)
    found = res.memo("console.patrols", lambda: PatrolStore(res.engine)).started_within(
        start, end, zones)
    if wants_csv(request, fmt):
        return csv_response(PATROL_COLUMNS, patrol_rows(found), f"patrols-{month}.csv")
    return PatrolMonth(month=month, patrols=[_out(p) for p in found])


def _out(patrol: PatrolRecord) -> PatrolOut:
    return PatrolOut(
        id=patrol.id, zone=patrol.zone, patroller=patrol.patroller,
        started_at=rfc3339_ms(patrol.started_at_ms),
        finished_at=None if patrol.finished_at_ms is None else rfc3339_ms(patrol.finished_at_ms),
        lamps=[PatrolLampOut(seq=s.seq, lamp=s.lamp_id, reasons=list(s.reasons), mark=s.mark,
                             note=s.note, alert_id=s.alert_id,
                             marked_at=None if s.marked_at_ms is None
                             else rfc3339_ms(s.marked_at_ms))
               for s in patrol.stops])
