"""`/console/patrol` pages: propose a route for a zone, start a patrol along it, mark each lamp
lit, dark or damaged (with a note), add a lamp seen on the way, finish; and the patrol as CSV.

A zone-bound key patrols its zones only (another zone's patrol is "not found"). A `dark` mark
on a lamp that telemetry calls lit raises a patrol_mismatch alert (api/console/patrol_marks.py).
"""

from __future__ import annotations

from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import RedirectResponse, Response

from api.console.access import SignedIn, language, remember_language
from api.console.catalogue import Language
from api.console.forms import Form, crew_text, csrf_ok
from api.console.mismatch import MARKS
from api.console.pages import page
from api.console.patrol_marks import record_mark
from api.console.patrol_route import Stop, stops, walking_order
from api.console.patrol_store import PatrolRecord, PatrolStore
from api.console.patrol_views import PATROL_COLUMNS, patrol_rows, proposed, walked
from api.console.sessions import Session
from api.formats import csv_response
from api.resources import Res, Resources
from streetwatch.schemas import ID_PATTERN

router = APIRouter(tags=["crew console"], include_in_schema=False)
MAX_STOPS = 300  # a night's walk; the most urgent reasons are not sorted first, so keep it long
RECENT = 10
PatrolId = Annotated[int, Path(ge=1, le=2**31 - 1)]
_DAY_MS = 86_400_000


def patrols(res: Resources) -> PatrolStore:
    return res.memo("console.patrols", lambda: PatrolStore(res.engine))


def route_for(res: Resources, zone: str) -> list[Stop]:
    """The lamps of `zone` to check now, in walking order (at most MAX_STOPS)."""
    store = patrols(res)
    now_ms = res.clock()
    since_ms = now_ms - res.settings.console_repaired_days * _DAY_MS
    found = stops(store.lamps_in_service(zone, now_ms), store.alert_traces(zone, since_ms))
    return walking_order(found)[:MAX_STOPS]


@router.get("/console/patrol")
def patrol_start_page(request: Request, res: Res, session: SignedIn,
                      zone: Annotated[str | None, Query(pattern=ID_PATTERN)] = None) -> Response:
    lang = language(request)
    zones = [z for z in patrols(res).zones_with_lamps() if session.principal.sees(z)]
    if zone is None and len(zones) == 1:
        zone = zones[0]
    route = proposed(route_for(res, zone), lang, res.settings.console_map_url) \
        if zone in zones else None
    tz = ZoneInfo(res.settings.town_timezone)
    answer = page("patrol_start.html", lang, session=session, csrf=session.csrf_token,
                  zones=zones, zone=zone if zone in zones else None, route=route,
                  recent=patrols(res).recent(session.principal.zones, RECENT), tz=tz)
    remember_language(request, answer)
    return answer


@router.post("/console/patrol")
def start_patrol(request: Request, res: Res, fields: Form, session: SignedIn) -> Response:
    if not csrf_ok(fields, session):
        return _problem(request, session, "error.csrf", 403)
    zone = fields.get("zone", "")
    if zone not in patrols(res).zones_with_lamps() or not session.principal.sees(zone):
        return _problem(request, session, "error.not_found", 404)
    patrol_id = patrols(res).start(zone, session.principal.name, route_for(res, zone),
                                   res.clock())
    return RedirectResponse(f"/console/patrol/{patrol_id}", 303)


@router.get("/console/patrol/{patrol_id}.csv")
def patrol_csv(request: Request, res: Res, session: SignedIn, patrol_id: PatrolId) -> Response:
    patrol = _visible(res, session, patrol_id)
    if patrol is None:
        return _problem(request, session, "error.not_found", 404)
    return csv_response(PATROL_COLUMNS, patrol_rows([patrol]), f"patrol-{patrol.id}.csv")


@router.get("/console/patrol/{patrol_id}")
def patrol_page(request: Request, res: Res, session: SignedIn, patrol_id: PatrolId,
                unchecked: Annotated[str | None, Query(max_length=64)] = None) -> Response:
    lang = language(request)
    answer = _patrol_page(res, session, patrol_id, lang, None, 200, unchecked)
    remember_language(request, answer)
    return answer


@router.post("/console/patrol/{patrol_id}/mark")
def mark_lamp(request: Request, res: Res, fields: Form, session: SignedIn,
              patrol_id: PatrolId) -> Response:
    """Store the mark; a dark one is compared with telemetry (a mismatch raises an alert)."""
    lang = language(request)
    patrol = _posted_to(request, res, fields, session, patrol_id)
    if isinstance(patrol, Response):
        return patrol
    mark, note = fields.get("mark"), _note(fields.get("note", ""))
    if mark not in MARKS or note is False:
        return _patrol_page(res, session, patrol_id, lang, "form.text_invalid", 422)
    lamp = fields.get("lamp", "")
    outcome = record_mark(res, patrols(res), patrol, lamp, mark,  # type: ignore[arg-type]
                          note or None, session.principal.name)
    if not outcome.stored:
        return _patrol_page(res, session, patrol_id, lang, "patrol.finished", 409)
    query = "" if outcome.compared else f"?unchecked={lamp}"
    return RedirectResponse(f"/console/patrol/{patrol_id}{query}#stop-{lamp}", 303)


@router.post("/console/patrol/{patrol_id}/add")
def add_lamp(request: Request, res: Res, fields: Form, session: SignedIn,
             patrol_id: PatrolId) -> Response:
    lang = language(request)
    patrol = _posted_to(request, res, fields, session, patrol_id)
    if isinstance(patrol, Response):
        return patrol
    lamp = fields.get("lamp", "").strip()
    if lamp not in patrols(res).lamps_in_service(patrol.zone, res.clock()):
        return _patrol_page(res, session, patrol_id, lang, "patrol.no_lamp", 422, lamp=lamp)
    if not patrols(res).add_stop(patrol_id, lamp):
        return _patrol_page(res, session, patrol_id, lang, "patrol.finished", 409)
    return RedirectResponse(f"/console/patrol/{patrol_id}#stop-{lamp}", 303)


@router.post("/console/patrol/{patrol_id}/finish")
def finish_patrol(request: Request, res: Res, fields: Form, session: SignedIn,
                  patrol_id: PatrolId) -> Response:
    patrol = _posted_to(request, res, fields, session, patrol_id)
    if isinstance(patrol, Response):
        return patrol
    patrols(res).finish(patrol_id, res.clock())
    return RedirectResponse(f"/console/patrol/{patrol_id}", 303)


def _posted_to(request: Request, res: Resources, fields: dict[str, str], session: Session,
               patrol_id: int) -> PatrolRecord | Response:
    """The patrol a form posts to, or the page refusing the post (403 without the session's
    CSRF token, 404 for a patrol not in the key's zones)."""
    if not csrf_ok(fields, session):
        return _problem(request, session, "error.csrf", 403)
    patrol = _visible(res, session, patrol_id)
    if patrol is None:
        return _problem(request, session, "error.not_found", 404)
    return patrol


def _visible(res: Resources, session: Session, patrol_id: int) -> PatrolRecord | None:
    patrol = patrols(res).get(patrol_id)
    return patrol if patrol is not None and session.principal.sees(patrol.zone) else None


def _note(written: str) -> str | bool:
    """The note as plain text ("" for none), False when it is not plain text or too long."""
    if not written.strip():
        return ""
    note = crew_text(written)
    return False if note is None else note


def _patrol_page(res: Resources, session: Session, patrol_id: int, lang: Language,
                 problem: str | None, status: int, unchecked: str | None = None,
                 lamp: str | None = None) -> Response:
    patrol = _visible(res, session, patrol_id)
    if patrol is None:
        return page("problem.html", lang, 404, session=session, problem="error.not_found")
    tz = ZoneInfo(res.settings.town_timezone)
    lamps = patrols(res).lamps_in_service(patrol.zone, res.clock())
    shown = walked(patrol, lamps, tz, lang, res.settings.console_map_url)
    return page("patrol.html", lang, status, session=session, csrf=session.csrf_token,
                patrol=patrol, stops=shown, marks=MARKS, tz=tz, problem=problem,
                problem_lamp=lamp, unchecked=unchecked,
                done=sum(stop.mark is not None for stop in shown))


def _problem(request: Request, session: Session | None, key: str, status: int) -> Response:
    return page("problem.html", language(request), status, session=session, problem=key)
