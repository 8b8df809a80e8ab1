"""`/api/v1/alerts`: list and read alerts (viewer); acknowledge, comment, resolve (crew); assign
(manager). Every action is recorded with the key's name and the API's clock, and announced as
the alert's lifecycle event (webhooks, and MQTT through the rule runner: docs/alerts.md)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Response

from api.alerts import (
    MAX_ALERT_ID,
    AlertDetail,
    AlertOut,
    AssignIn,
    CommentIn,
    ResolveIn,
    act,
    alert_detail,
    alert_filter,
    alert_page,
    visible_alert,
)
from api.auth import Crew, Manager, Viewer
from api.pagination import DEFAULT_LIMIT, Cursor, Limit, Page, decode_cursor
from api.resources import Res
from streetwatch.alerts.model import AlertKind, Severity
from streetwatch.alerts.records import StateFilter
from streetwatch.schemas import ID_PATTERN

router = APIRouter(tags=["alerts"])
AlertId = Annotated[int, Path(ge=1, le=MAX_ALERT_ID, description="The alert's id.")]


@router.get("/alerts", summary="Alerts, newest first, filtered", response_model=Page[AlertOut])
def list_alerts(
    principal: Viewer, res: Res,
    state: Annotated[StateFilter | None, Query(
        description="`open` is raised or acknowledged")] = None,
    zone: Annotated[str | None, Query(pattern=ID_PATTERN)] = None,
    severity: Annotated[Severity | None, Query()] = None,
    kind: Annotated[AlertKind | None, Query()] = None,
    overdue: Annotated[bool | None, Query(
        description="true: open and past its deadline now, or marked overdue by the rules")] = None,
    limit: Limit = DEFAULT_LIMIT, cursor: Cursor = None,
) -> Response:
    """Newest first (by id); a zone-bound key sees its zones only."""
    after = decode_cursor(cursor, int)
    which = alert_filter(principal, res.clock(), state, zone, severity, kind, overdue)
    return Response(alert_page(res.alerts, which, after, limit),  # type: ignore[arg-type]
                    media_type="application/json")


@router.get("/alerts/{alert_id}", summary="One alert with its full history")
def get_alert(principal: Viewer, res: Res, alert_id: AlertId) -> AlertDetail:
    """The alert (as `streetwatch alerts list --json` shows it) and every change, oldest first."""
    return alert_detail(res.alerts, visible_alert(res.alerts, principal, alert_id))


@router.post("/alerts/{alert_id}/ack", summary="Acknowledge: a crew takes the alert on")
def acknowledge(principal: Crew, res: Res, alert_id: AlertId) -> AlertDetail:
    """A raised alert becomes acknowledged by the key's name; 409 once acknowledged or resolved."""
    return act(res.alerts, principal, alert_id, "acknowledge",
               lambda who: res.alerts.acknowledge(alert_id, res.clock(), who))


@router.post("/alerts/{alert_id}/comment", summary="A note on the alert (open or resolved)")
def comment(principal: Crew, res: Res, alert_id: AlertId, body: CommentIn) -> AlertDetail:
    """Plain text (at most 2,000 characters), kept in the history and announced."""
    return act(res.alerts, principal, alert_id, "comment",
               lambda who: res.alerts.comment(alert_id, res.clock(), who, body.text))


@router.post("/alerts/{alert_id}/resolve", summary="Resolve with a note saying what was done")
def resolve(principal: Crew, res: Res, alert_id: AlertId, body: ResolveIn) -> AlertDetail:
    """Close the alert with a note (required); 409 when it is resolved already."""
    return act(res.alerts, principal, alert_id, "resolve",
               lambda who: res.alerts.resolve(alert_id, res.clock(), who, body.note))


@router.post("/alerts/{alert_id}/assign", summary="Give the open alert to a crew")
def assign(principal: Manager, res: Res, alert_id: AlertId, body: AssignIn) -> AlertDetail:
    """Give the alert to a crew (again, or to another); 409 when it is resolved."""
    return act(res.alerts, principal, alert_id, "assign",
               lambda who: res.alerts.assign(alert_id, res.clock(), who, body.crew))
