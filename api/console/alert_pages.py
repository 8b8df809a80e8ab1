"""`/console` pages for alerts: sign in and out, the crew's alert list (and its polled
fragment), one alert with its history, and the crew's actions on it.

Actions go through the API's own `api.alerts.act` with the AlertStore's acknowledge, comment and
resolve (who: the key's name; when: the API clock; history and outbox rows in one transaction),
so the console and `/api/v1/alerts` cannot disagree. A zone-bound key sees and acts on its zones
only (another zone's alert is "not found", as in the API).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Annotated, Literal
from zoneinfo import ZoneInfo

from fastapi import APIRouter, HTTPException, Path, Request
from fastapi.responses import RedirectResponse, Response

from api.alerts import MAX_ALERT_ID, Action, act, visible_alert
from api.console.access import (
    COOKIE,
    SIGN_IN,
    SignedIn,
    SignedInOr401,
    clear_session_cookie,
    language,
    remember_language,
    sessions,
    set_session_cookie,
)
from api.console.alert_board import board
from api.console.alert_cards import card, history_lines, refusal
from api.console.catalogue import Language, text
from api.console.forms import Form, crew_text, csrf_ok
from api.console.pages import asset, page, render
from api.console.sessions import Session
from api.resources import Res, Resources
from streetwatch.alerts.model import AlertEvent

router = APIRouter(tags=["crew console"], include_in_schema=False)
AlertId = Annotated[int, Path(ge=1, le=MAX_ALERT_ID)]
CrewAction = Literal["ack", "comment", "resolve"]
_ACTIONS: dict[str, Action] = {"ack": "acknowledge", "comment": "comment", "resolve": "resolve"}


@router.get("/console/static/{name}")
def static_file(name: str) -> Response:
    try:
        return asset(name)
    except KeyError:
        raise HTTPException(404, "no such file") from None


@router.get("/console/signin")
def signin_page(request: Request) -> Response:
    lang = language(request)
    answer = page("signin.html", lang, session=None, problem=None)
    remember_language(request, answer)
    return answer


@router.post("/console/signin")
def sign_in(request: Request, res: Res, fields: Form) -> Response:
    """The key, posted once, checked as the API checks it; a crew-or-above key gets a session
    cookie and goes to its alerts. The key is never stored, echoed or logged."""
    lang = language(request)
    principal = res.keys.authenticate(fields.get("key", "").strip())
    if principal is None or not principal.has("crew"):
        problem = "signin.bad_key" if principal is None else "signin.low_role"
        return page("signin.html", lang, 401 if principal is None else 403, session=None,
                    problem=problem)
    lifetime_s = res.settings.console_session_s
    token = sessions(res).open(principal.key_id, res.clock(), lifetime_s)
    request.state.principal = principal
    answer = RedirectResponse("/console", 303)
    set_session_cookie(request, answer, token, lifetime_s)
    return answer


@router.post("/console/signout")
def sign_out(request: Request, res: Res, fields: Form, session: SignedIn) -> Response:
    if not csrf_ok(fields, session):
        return _problem(request, session, "error.csrf", 403)
    sessions(res).close(request.cookies.get(COOKIE))
    answer = RedirectResponse(SIGN_IN, 303)
    clear_session_cookie(request, answer)
    return answer


@router.get("/console")
def alerts_page(request: Request, res: Res, session: SignedIn) -> Response:
    lang = language(request)
    answer = page("alerts.html", lang, session=session, csrf=session.csrf_token,
                  board=board(res, session.principal, lang), poll_s=res.settings.console_poll_s)
    remember_language(request, answer)
    return answer


@router.get("/console/alerts/list")
def alert_list(request: Request, res: Res, session: SignedInOr401) -> Response:
    """The list alone (the page polls it): 304 when it has not changed since the ETag sent."""
    lang = language(request)
    html = render("board.html", lang, csrf=session.csrf_token,
                  board=board(res, session.principal, lang))
    etag = '"' + hashlib.sha256(html.encode()).hexdigest()[:32] + '"'
    headers = {"ETag": etag, "Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}
    if request.headers.get("if-none-match") == etag:
        return Response(status_code=304, headers=headers)
    return Response(html, media_type="text/html; charset=utf-8", headers=headers)


@router.get("/console/alerts/{alert_id}")
def alert_page(request: Request, res: Res, session: SignedIn, alert_id: AlertId) -> Response:
    lang = language(request)
    answer = _alert_page(res, session, alert_id, lang, None, 200)
    remember_language(request, answer)
    return answer


@router.post("/console/alerts/{alert_id}/{action}")
def alert_action(request: Request, res: Res, fields: Form, session: SignedIn,
                 alert_id: AlertId, action: CrewAction) -> Response:
    """Acknowledge, comment or resolve (with a note), then back to the list or the alert; a
    refused action shows the alert again with the reason (409)."""
    lang = language(request)
    if not csrf_ok(fields, session):
        return _problem(request, session, "error.csrf", 403)
    change = _change(res, alert_id, action, fields)
    if change is None:
        return _alert_page(res, session, alert_id, lang, "form.text_invalid", 422)
    try:
        act(res.alerts, session.principal, alert_id, _ACTIONS[action], change)
    except HTTPException as exc:
        if exc.status_code != 409:
            return _problem(request, session, "error.not_found", exc.status_code)
        return _alert_page(res, session, alert_id, lang, None, 409, refused=True)
    if action == "ack" and fields.get("back") == "list":
        return RedirectResponse(f"/console#alert-{alert_id}", 303)
    return RedirectResponse(f"/console/alerts/{alert_id}", 303)


def _change(res: Resources, alert_id: int, action: str,
            fields: dict[str, str]) -> Callable[[str], AlertEvent | None] | None:
    """The store call of `action` (called with the actor); None when its text is not plain text
    of at most TEXT_CHARS characters (`crew_text`)."""
    if action == "ack":
        return lambda who: res.alerts.acknowledge(alert_id, res.clock(), who)
    written = crew_text(fields.get("note" if action == "resolve" else "text", ""))
    if written is None:
        return None
    if action == "resolve":
        return lambda who: res.alerts.resolve(alert_id, res.clock(), who, written)
    return lambda who: res.alerts.comment(alert_id, res.clock(), who, written)


def _alert_page(res: Resources, session: Session, alert_id: int, lang: Language,
                problem_key: str | None, status: int, refused: bool = False) -> Response:
    try:
        alert = visible_alert(res.alerts, session.principal, alert_id)
    except HTTPException:
        return page("problem.html", lang, 404, session=session, problem="error.not_found")
    tz = ZoneInfo(res.settings.town_timezone)
    problem = refusal(alert, tz, lang) if refused else None
    if problem_key is not None:
        problem = text(lang, problem_key)
    return page("alert.html", lang, status, session=session, csrf=session.csrf_token,
                c=card(alert, res.clock(), tz, lang, res.settings.console_map_url),
                history=history_lines(res.alerts.history(alert_id), tz, lang), problem=problem)


def _problem(request: Request, session: Session | None, key: str, status: int) -> Response:
    return page("problem.html", language(request), status, session=session, problem=key)
