"""`/console/report`: the monthly report page (api/routes/report_page.py) for a signed-in
console session, so the town office opens or prints it in a plain browser: `/reports/monthly`
needs an `Authorization` header, which a browser's address bar cannot send. Same bytes, same
zone filter (the session's key), same 422 for a bad month."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

from api import score_inputs
from api.console.access import SignedIn
from api.report_page import read_monthly_report
from api.report_page_html import render_monthly_page
from api.resources import Res
from api.routes.report_page import PAGE_HEADERS
from api.routes.scores import Month

router = APIRouter(tags=["crew console"], include_in_schema=False)


@router.get("/console/report", response_class=HTMLResponse)
def console_report_page(session: SignedIn, res: Res, month: Month = None) -> HTMLResponse:
    now_ms = res.clock()
    month = month or score_inputs.current_month(now_ms, ZoneInfo(res.settings.town_timezone))
    report = read_monthly_report(res.settings, res.engine, res.influx, month, now_ms,
                                 session.principal)
    return HTMLResponse(render_monthly_page(report), headers=PAGE_HEADERS)
