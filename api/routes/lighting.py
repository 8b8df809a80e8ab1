"""`/api/v1/lighting-rate`: the rate now, a series, nights and months (viewer and up).

Zone-bound keys see only their zones: the town (`_city`) adds up every zone's lamps, so it is
not theirs either (left out of lists, 404 when asked for by name, like a zone of someone else).
Monthly CSV is byte for byte what `streetwatch report lighting --month` prints (for an unbound
key; a bound key's CSV has only its rows).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from api import lighting
from api.auth import Viewer
from api.formats import Format, csv_response, wants_csv
from api.keys import Principal
from api.lighting_now import NowAnswers
from api.query_params import EVERY_PATTERN, MONTH_PATTERN, QueryError
from api.resources import Res
from rules.reports import lighting_csv
from streetwatch.alerts.model import CITY_ZONE
from streetwatch.schemas import ID_PATTERN

router = APIRouter(prefix="/lighting-rate", tags=["lighting-rate"])

Zone = Annotated[str, Query(pattern=ID_PATTERN, description="A zone id, or `_city` (the town).")]
From = Annotated[str, Query(alias="from", max_length=40,
                            description="Start: RFC 3339 with a zone, or epoch ms.")]
To = Annotated[str, Query(max_length=40, description="End (excluded): RFC 3339 or epoch ms.")]
Every = Annotated[str | None, Query(pattern=EVERY_PATTERN,
                                    description="Bucket length, e.g. `5m`, `1h`, `1d` (epoch "
                                                "aligned); without it, the stored points.")]
Month = Annotated[str, Query(pattern=MONTH_PATTERN,
                             description="Month in town local time, YYYY-MM.")]
CSV_ANSWER: dict[int | str, dict[str, Any]] = {
    200: {"content": {"text/csv": {"schema": {"type": "string"}}}}}


@router.get("", response_model=lighting.LightingNow)
async def rate_now(principal: Viewer, res: Res) -> Response:
    """Each zone's latest rate (and the town's), or why there is none now (day, switching, or
    no recent sample while it is night)."""
    # On the event loop while the shared points and answer hold (api/lighting_now.py); reading
    # InfluxDB or building the answer anew, in a worker thread.
    now_ms, tick_ms = res.clock(), res.settings.rules_every_s * 1000
    last = res.memo("lighting.last_points", lighting.LastPoints)
    answers = res.memo("lighting.now_answers", NowAnswers)
    points = last.ready(now_ms, tick_ms)
    if points is None:
        points = await run_in_threadpool(last.at, res.influx, now_ms, tick_ms)
    body = answers.body(points, now_ms, principal.zones)
    if body is None:
        body = await run_in_threadpool(answers.build, res.settings, points, now_ms, principal)
    return Response(body, media_type="application/json")


@router.get("/series", response_model=lighting.LightingSeries, responses=CSV_ANSWER)
def rate_series(request: Request, principal: Viewer, res: Res, zone: Zone, from_: From, to: To,
                every: Every = None, fmt: Format = None) -> Any:
    """The zone's stored points in [from, to), or `every` buckets (mean and lowest rate); at
    most 10,000 points."""
    _check_sees(principal, zone)
    answer = _or_422(lambda: lighting.series(res.settings, res.influx, zone,
                                             *lighting.time_range(from_, to), every))
    if wants_csv(request, fmt):
        return csv_response(lighting.SERIES_CSV_COLUMNS, lighting.series_rows(answer),
                            f"lighting-{zone}-series.csv")
    return answer


@router.get("/nightly", response_model=lighting.LightingNights, responses=CSV_ANSWER)
def rate_nightly(request: Request, principal: Viewer, res: Res, zone: Zone, from_: From, to: To,
                 fmt: Format = None) -> Any:
    """The zone's nights starting in [from, to) (at most 93 days), time-weighted as in
    `streetwatch report lighting`."""
    _check_sees(principal, zone)
    answer = _or_422(lambda: lighting.nightly(res.settings, res.influx, zone,
                                              *lighting.time_range(from_, to)))
    if wants_csv(request, fmt):
        return csv_response(lighting.NIGHT_CSV_COLUMNS, lighting.night_rows(answer),
                            f"lighting-{zone}-nightly.csv")
    return answer


@router.get("/monthly", response_model=lighting.LightingMonth, responses=CSV_ANSWER)
def rate_monthly(request: Request, principal: Viewer, res: Res, month: Month,
                 fmt: Format = None) -> Any:
    """Every zone's month (nights, mean rate, worst night, minutes below target); CSV is the
    one of `streetwatch report lighting --month`."""
    rows = lighting.visible_months(lighting.month_rows(res.settings, res.influx, month),
                                   principal)
    if wants_csv(request, fmt):
        return Response(lighting_csv(rows), media_type="text/csv; charset=utf-8",
                        headers={"Content-Disposition":
                                 f'attachment; filename="lighting-{month}.csv"'})
    return lighting.month_answer(month, rows)


def _check_sees(principal: Principal, zone: str) -> None:
    """404 for a zone the key may not see (the town is no bound key's), as for a missing one."""
    if not principal.sees(zone) or (zone == CITY_ZONE and principal.zones is not None):
        raise HTTPException(404, f"no zone {zone!r} for this key")


def _or_422(compute: Any) -> Any:
    try:
        return compute()
    except QueryError as exc:
        raise HTTPException(422, str(exc)) from None
