"""`/reports/monthly` (viewer): the monthly report page, HTML with charts drawn on the server
as SVG (no JavaScript; prints on A4), for the town office's monthly scoring meeting.

The figures are the API's own answers (api/report_page.py); `streetwatch report monthly --html`
writes the same bytes. A zone-bound key sees its zones only; a bad month is 422, as in the API.
"""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

from api import score_inputs
from api.auth import Viewer
from api.report_page import read_monthly_report
from api.report_page_html import CONTENT_SECURITY_POLICY, render_monthly_page
from api.resources import Res
from api.routes.scores import Month

router = APIRouter(tags=["report page"])
PAGE_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",  # the figures are behind a key: no shared cache keeps them
}
ANSWERS: dict[int | str, dict[str, Any]] = {
    200: {"content": {"text/html": {"schema": {"type": "string"}}},
          "description": "The page (HTML)."},
    401: {"description": "no API key, or not a valid one"},
    403: {"description": "the key's role does not allow this"},
    503: {"description": "storage (SQL or InfluxDB) is unavailable; retry later"},
}


@router.get("/reports/monthly", response_class=HTMLResponse, responses=ANSWERS)
def monthly_report_page(principal: Viewer, res: Res, month: Month = None) -> HTMLResponse:
    """The month's zone scores and ranking, lighting-rate curves per zone against the target,
    alerts, rectification list and citizen reports, as one printable page."""
    now_ms = res.clock()
    month = month or score_inputs.current_month(now_ms, ZoneInfo(res.settings.town_timezone))
    report = read_monthly_report(res.settings, res.engine, res.influx, month, now_ms, principal)
    return HTMLResponse(render_monthly_page(report), headers=PAGE_HEADERS)
