"""`/api/v1/reports`: citizens file reports and look them up without a key; managers list, answer
and close them.

Filing: the body is refused with 413 past `api_report_max_bytes` (the declared Content-Length
first, then the bytes actually read, before any parsing), 429 past `api_reports_per_hour` per
client address (Retry-After says when), 422 when it is not a report. A report of a registered
device (by id, or within `api_report_link_m` of lat/lon: lamps for a dark lamp, drains for a drain
or missing cover, either for `other`) is linked to it: a note on the device's open alert, or a new
`citizen_report` alert. The citizen gets a receipt code and looks the status up by it (also
limited per address, so receipts cannot be enumerated).

The client address is the TCP peer's, or the one named by X-Forwarded-For when the peer is a
proxy listed in settings `api_forwarded_allow_ips` (so that it is the citizen's and not the
proxy's).
"""

from __future__ import annotations

import logging
import threading
from dataclasses import replace
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from api import citizen_store as store
from api.address_limits import AddressLimiter
from api.auth import Manager
from api.citizen import (
    AnswerIn,
    CloseIn,
    ReportIn,
    ReportKind,
    ReportLimits,
    ReportStatus,
    ReportStatusName,
    ReportView,
    read_receipt,
)
from api.keys import Principal
from api.pagination import Cursor, Limit, Page, decode_cursor, next_cursor
from api.request_body import check_announced_size, read_within
from api.resources import Res, Resources
from rules.config import RuleConfig
from streetwatch.alerts.model import Condition, Place, rfc3339_ms
from streetwatch.logs import log_event
from streetwatch.schemas import ID_PATTERN

router = APIRouter(tags=["reports"])
Receipt = Annotated[str, Path(max_length=32, description="The receipt code of the report.")]
NOTE_CHARS = 500  # how much of the citizen's text goes into the alert's message and note
_log = logging.getLogger(__name__)
_limits_lock = threading.Lock()


def report_limits(request: Request, res: Res) -> ReportLimits:
    """The app's per-address limiters, made on first use; the counts are in SQL, shared by
    every API process (api/address_limits.py)."""
    state = request.app.state
    with _limits_lock:
        if getattr(state, "citizen_report_limits", None) is None:
            state.citizen_report_limits = ReportLimits.per_hour(
                res.engine, res.settings.api_reports_per_hour)
        return state.citizen_report_limits


Limits = Annotated[ReportLimits, Depends(report_limits)]
_TOO_LARGE = {"description": "The body is larger than api_report_max_bytes."}
_TOO_MANY = {"description": "Too many from this address in the past hour (see Retry-After)."}
_UNKNOWN = {"description": "No report has this receipt (or the key may not see it)."}
_CONFLICT = {"description": "The report is closed, or has no answer to close it with."}


# Citizens (no key) -----------------------------------------------------------------------------

@router.post(
    "/reports", status_code=201, response_model=ReportStatus,
    responses={413: _TOO_LARGE, 429: _TOO_MANY, 422: {"description": "Not a report."}},
    openapi_extra={"requestBody": {"required": True, "content": {
        "application/json": {"schema": ReportIn.model_json_schema()}}}})
async def file_report(request: Request, res: Res, limits: Limits) -> JSONResponse:
    """File a report (no key needed): kind, text, lat/lon or device_id, contact if you like.
    The answer holds the receipt code to look the report up by."""
    max_bytes = res.settings.api_report_max_bytes
    too_large = f"a report is at most {max_bytes} bytes"
    check_announced_size(request, max_bytes, too_large)
    await run_in_threadpool(_check_limit, limits.reports, request, res)
    report = _parse(ReportIn, await read_within(request, max_bytes, too_large))
    stored = await run_in_threadpool(_file, res, report, res.clock())
    location = str(request.url_for("report_status", receipt=stored.receipt))
    return JSONResponse(_status(stored).model_dump(), status_code=201,
                        headers={"Location": location})


@router.get("/reports/{receipt}", response_model=ReportStatus,
            responses={404: _UNKNOWN, 429: _TOO_MANY})
def report_status(request: Request, receipt: Receipt, res: Res, limits: Limits) -> ReportStatus:
    """A report's status by its receipt (no key needed): status, kind, when, the answer."""
    _check_limit(limits.lookups, request, res)
    code = read_receipt(receipt)
    stored = None if code is None else store.by_receipt(res.engine, code)
    if stored is None:
        raise HTTPException(404, "no report has this receipt")
    return _status(stored)


# Managers --------------------------------------------------------------------------------------

@router.get("/reports", response_model=Page[ReportView])
def list_reports(principal: Manager, res: Res, limit: Limit = 100, cursor: Cursor = None,
                 status: Annotated[ReportStatusName | None, Query()] = None,
                 zone: Annotated[str | None, Query(pattern=ID_PATTERN)] = None,
                 kind: Annotated[ReportKind | None, Query()] = None) -> Page[ReportView]:
    """Reports, oldest first, with filters; a zone-bound key sees its zones' reports only."""
    after = decode_cursor(cursor, int)
    zones = None if principal.zones is None else sorted(principal.zones)
    rows = store.list_reports(res.engine, zones=zones, status=status, zone=zone, kind=kind,
                              after_id=after, limit=limit + 1)  # type: ignore[arg-type]
    return Page(items=[_view(row) for row in rows[:limit]],
                next_cursor=next_cursor([row.id for row in rows], limit))


@router.post("/reports/{receipt}/answer", response_model=ReportView,
             responses={404: _UNKNOWN, 409: _CONFLICT})
def answer_report(receipt: Receipt, body: AnswerIn, principal: Manager,
                  res: Res) -> ReportView:
    """Answer a report (again, if need be): it becomes `answered`; a closed one is 409. The
    answer is also a note on the report's alert, so the crew knows what the citizen was told."""
    report = _visible(res, principal, receipt)
    now_ms = res.clock()
    answered = _or_409(lambda: store.answer_report(res.engine, report.id, body.answer,
                                                   principal.name, now_ms))
    _note_answer(res, answered, body.answer, principal.name, now_ms)
    return _view(answered)


@router.post("/reports/{receipt}/close", response_model=ReportView,
             responses={404: _UNKNOWN, 409: _CONFLICT})
def close_report(receipt: Receipt, principal: Manager, res: Res,
                 body: CloseIn | None = None) -> ReportView:
    """Close a report, with its answer if it has none yet: never closed unanswered (409)."""
    report = _visible(res, principal, receipt)
    answer = None if body is None else body.answer
    now_ms = res.clock()
    closed = _or_409(lambda: store.close_report(res.engine, report.id, answer, principal.name,
                                                now_ms))
    if answer is not None:
        _note_answer(res, closed, answer, principal.name, now_ms)
    return _view(closed)


def _note_answer(res: Resources, report: store.StoredReport, answer: str, by: str,
                 now_ms: int) -> None:
    """The town's answer as a note on the report's alert (open or resolved), by the manager."""
    if report.alert_id is not None:
        note = f"answer to citizen report {report.id}: {answer}"[:NOTE_CHARS]
        res.alerts.comment(report.alert_id, now_ms, by, note)


# Filing ----------------------------------------------------------------------------------------

def _file(res: Resources, report: ReportIn, now_ms: int) -> store.StoredReport:
    """Store the report, then link it to its device's alert (a note, or a new alert). The report
    is stored first: if linking fails, it is still there to be answered."""
    device = _device_of(res, report)
    stored = store.insert_report(res.engine, report.kind, report.text, report.contact,
                                 report.lat, report.lon, device, now_ms)
    if device is not None:
        alert_id = _raise_or_reinforce(res, stored, device, now_ms)
        if alert_id is not None:
            store.link_alert(res.engine, stored.id, alert_id)
            stored = replace(stored, alert_id=alert_id)
    log_event(_log, "citizen.report_filed", report=stored.id, kind=stored.kind,
              zone=stored.zone, device=stored.device_id, alert=stored.alert_id)
    return stored


def _device_of(res: Resources, report: ReportIn) -> store.LinkedDevice | None:
    """The device the report is about: the one named, else the nearest of its kind in reach."""
    if report.device_id is not None:
        named = store.device_by_id(res.engine, report.device_id, report.kind)
        if named is not None:
            return named
        if report.lat is None:
            what = "lamp" if report.kind == "dark_lamp" else (
                "lamp or drain" if report.kind == "other" else "drain")
            raise HTTPException(422, f"no {what} has the id {report.device_id!r}: check it, "
                                     "or send lat and lon instead")
    assert report.lat is not None and report.lon is not None  # ReportIn says where
    return store.nearest_device(res.engine, report.lat, report.lon,
                                res.settings.api_report_link_m, report.kind)


def _raise_or_reinforce(res: Resources, report: store.StoredReport,
                        device: store.LinkedDevice, now_ms: int) -> int | None:
    """A note from `citizen` on the device's open alert, or a new `citizen_report` alert on it
    (severity and deadline as the rules configure them); the alert's id."""
    note = f"citizen report {report.id} ({report.kind}): {report.text}"[:NOTE_CHARS]
    alert_id = store.open_alert_of(res.engine, device)
    if alert_id is not None and res.alerts.comment(alert_id, now_ms, "citizen", note):
        return alert_id
    config = RuleConfig.from_settings(res.settings)
    severity = config.severity("citizen_report")
    deadline_ms = now_ms + config.deadline_after_ms("citizen_report", severity)
    condition = Condition("citizen_report", device.subject, device.zone, (device.id,), note,
                          Place(device.road, device.position, device.lat, device.lon))
    event = res.alerts.raise_alert(condition, now_ms, severity, deadline_ms, actor="citizen")
    if event is not None:
        return event.id
    return store.open_alert_of(res.engine, device)  # opened meanwhile: the repeat is on it


# Helpers ---------------------------------------------------------------------------------------

def _check_limit(limiter: AddressLimiter, request: Request, res: Resources) -> None:
    address = request.client.host if request.client else "unknown"
    retry_s = limiter.hit(address, res.clock())
    if retry_s is not None:
        raise HTTPException(429, f"too many requests from this address; try again in "
                                 f"{retry_s} s", headers={"Retry-After": str(retry_s)})


def _parse(model: type[ReportIn], body: bytes) -> ReportIn:
    """The body as `model`; 422 naming each problem (never echoing the input)."""
    try:
        return model.model_validate_json(body)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in error['loc']) or 'body'}: {error['msg']}"
            for error in exc.errors(include_url=False, include_input=False))
        raise HTTPException(422, problems) from None


def _visible(res: Resources, principal: Principal, receipt: str) -> store.StoredReport:
    """The report, if this key may see it (its zone); 404 as for a missing one otherwise."""
    code = read_receipt(receipt)
    found = None if code is None else store.by_receipt(res.engine, code)
    if found is None or not principal.sees(found.zone):
        raise HTTPException(404, "no report has this receipt")
    return found


def _or_409(change: Any) -> store.StoredReport:
    try:
        return change()
    except store.ReportConflict as exc:
        raise HTTPException(409, str(exc)) from None


def _status(report: store.StoredReport) -> ReportStatus:
    return ReportStatus(receipt=report.receipt, status=report.status,  # type: ignore[arg-type]
                        kind=report.kind, created_at=rfc3339_ms(report.created_at_ms),
                        answer=report.answer, answered_at=_time(report.answered_at_ms))


def _view(report: store.StoredReport) -> ReportView:
    return ReportView(
        receipt=report.receipt, status=report.status, kind=report.kind,  # type: ignore[arg-type]
        text=report.text, contact=report.contact, lat=report.lat, lon=report.lon,
        device_id=report.device_id, zone=report.zone, alert_id=report.alert_id,
        created_at=rfc3339_ms(report.created_at_ms), answer=report.answer,
        answered_by=report.answered_by, answered_at=_time(report.answered_at_ms),
        closed_at=_time(report.closed_at_ms))


def _time(ts_ms: int | None) -> str | None:
    return None if ts_ms is None else rfc3339_ms(ts_ms)
