"""Alerts for the API: the wire models, pages of alerts, and crew actions with their refusals.

The store does the work (keyset pages, conditional updates that record history and outbox rows
in one transaction); this module decides what a caller may see (zone-bound keys: other zones are
404 like missing alerts) and why a refused action is refused (409 naming the state, who, when).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from functools import lru_cache
from operator import itemgetter
from typing import Annotated, Any, Literal

import orjson
from fastapi import HTTPException
from pydantic import AfterValidator, BaseModel, ConfigDict, Field
from sqlalchemy import DateTime, type_coerce

from api.keys import Principal
from api.pagination import next_cursor, page_json
from streetwatch.alerts.model import AlertEvent, AlertKind, Severity, rfc3339_ms
from streetwatch.alerts.records import AlertFilter, AlertState, HistoryEntry, StoredAlert
from streetwatch.alerts.store import AlertStore
from streetwatch.registry.models import Alert
from streetwatch.registry.timestamps import UtcDateTime
from streetwatch.schemas import ID_PATTERN

TEXT_CHARS = 2000  # comments and resolve notes: plain text, kept as written
ALLOWED_CONTROLS = frozenset("\n\t")
MAX_ALERT_ID = 2**31 - 1  # the column is a 32-bit integer in PostgreSQL
# Alerts' JSON kept for lists: about 1.5 KB each with the row it is kept by (tests/unit/
# test_api_formats.py), so 25 MB per API process; a month of a 100-zone town's alerts is about
# 20,000, and its zones' first pages (what crews poll) about half of them.
ALERTS_KEPT = 16384
_ALERT_COLUMNS = Alert.__table__.c.keys()

Action = Literal["acknowledge", "assign", "comment", "resolve"]


def plain_text(text: str) -> str:
    """`text` without surrounding blanks, if it is plain text: not blank, no control characters
    but newlines and tabs, no lone surrogates (they cannot be stored as UTF-8)."""
    text = text.replace("\r\n", "\n").strip()
    if not text:
        raise ValueError("must not be blank")
    for char in text:
        if (unicodedata.category(char) in ("Cc", "Cs")) and char not in ALLOWED_CONTROLS:
            raise ValueError(f"must be plain text (found control character U+{ord(char):04X})")
    return text


PlainText = Annotated[str, Field(min_length=1, max_length=TEXT_CHARS), AfterValidator(plain_text)]


# Wire models -------------------------------------------------------------------------------------
class PlaceOut(BaseModel):
    road: str | None
    position: int | None
    lat: float | None
    lon: float | None


class AlertOut(BaseModel):
    """An alert as stored: what, where, how urgent, where it stands, who did what when."""

    id: int
    kind: AlertKind
    severity: Severity
    state: AlertState
    zone: str
    subject: str
    devices: list[str]
    message: str
    place: PlaceOut
    raised_at: str
    last_seen_at: str
    seen_count: int
    deadline: str
    overdue: bool
    acknowledged_at: str | None
    acknowledged_by: str | None
    resolved_at: str | None
    resolved_by: str | None
    resolve_note: str | None
    assigned_to: str | None
    assigned_at: str | None


class HistoryOut(BaseModel):
    """One change of an alert: when, what, by whom (a key's name, `rules`, `cli`), the detail
    (the note, comment or crew), the severity after it."""

    at: str
    event: str
    by: str
    severity: Severity
    detail: str | None


class AlertDetail(AlertOut):
    """An alert with its full history, oldest change first."""

    history: list[HistoryOut]


class CommentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: PlainText


class ResolveIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    note: PlainText = Field(description="What was done (required).")


class AssignIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    crew: str = Field(pattern=ID_PATTERN, description="The crew that takes the alert on.")


def alert_out(alert: StoredAlert) -> AlertOut:
    """The stored alert as the API shows it. Built without validation: a row the store read
    back is valid by construction, and validating 100 of them was a fifth of a page's time."""
    fields = alert.as_json()
    fields["place"] = PlaceOut.model_construct(**fields["place"])  # type: ignore[arg-type]
    return AlertOut.model_construct(**fields)


def history_out(entry: HistoryEntry) -> HistoryOut:
    return HistoryOut(at=rfc3339_ms(entry.ts_ms), event=entry.event, by=entry.actor,
                      severity=entry.severity, detail=entry.detail)


# Reading ---------------------------------------------------------------------------------------
def alert_page(store: AlertStore, which: AlertFilter, after_id: int | None,
               limit: int) -> bytes:
    """One page as `Page[AlertOut]` writes it (JSON), newest first (ids descend; the cursor is
    the last id shown), written from the rows."""
    rows = store.page_rows(which, after_id, limit + 1, columns=_READ)
    return page_json([_alert_bytes(tuple(row)) for row in rows[:limit]],
                     next_cursor([row.id for row in rows], limit))


@lru_cache(maxsize=ALERTS_KEPT)
def _alert_bytes(row: tuple[Any, ...]) -> bytes:
    """The JSON of the alert in `row`, kept by the row's whole content: lists show the same
    alerts over and over (crews' apps poll them), so a row unchanged since it was last shown
    costs a tuple's hash instead of a tenth of a millisecond."""
    return kept_bytes(orjson.dumps(alert_json(row)))


def kept_bytes(data: bytes) -> bytes:
    """`data` in a bytes object of its own size, for keeping: orjson's output holds on to its
    whole working buffer (4 KB or more for a 600-byte alert, measured), which a cache of
    thousands of them would keep alive."""
    return memoryview(data).tobytes()


# The `alerts` columns alert_json reads, picked from a row in this order.
_PICK = itemgetter(*(list(_ALERT_COLUMNS).index(name) for name in (
    "id", "kind", "severity", "state", "zone", "subject", "devices", "message", "road",
    "position_on_road", "lat", "lon", "raised_at", "last_seen_at", "seen_count", "deadline",
    "overdue", "acknowledged_at", "acknowledged_by", "resolved_at", "resolved_by",
    "resolve_note", "assigned_to", "assigned_at")))
# Every column in table order, times read as the driver's datetimes (UtcDateTime's wrapper
# around each cost a page of 100 alerts 0.4 ms; _text makes them UTC).
_READ = [type_coerce(column, DateTime(timezone=True)).label(column.name)
         if isinstance(column.type, UtcDateTime) else column for column in Alert.__table__.c]


def alert_json(row: Sequence[Any]) -> dict[str, object]:
    """An `alerts` row as AlertOut, in plain JSON values: what `alert_out(alert_from_row(row))`
    answers (tests/integration/test_api_answers.py), without the two objects in between, which
    cost a page of 100 alerts over a millisecond."""
    (alert_id, kind, severity, state, zone, subject, devices, message, road, position, lat, lon,
     raised, last_seen, seen_count, deadline, overdue, acknowledged, acknowledged_by, resolved,
     resolved_by, resolve_note, assigned_to, assigned) = _PICK(row)
    return {"id": alert_id, "kind": kind, "severity": severity, "state": state, "zone": zone,
            "subject": subject, "devices": orjson.loads(devices), "message": message,
            "place": {"road": road, "position": position, "lat": lat, "lon": lon},
            "raised_at": stored_time_text(raised), "last_seen_at": stored_time_text(last_seen),
            "seen_count": seen_count, "deadline": stored_time_text(deadline),
            "overdue": bool(overdue),
            "acknowledged_at": stored_time_text(acknowledged), "acknowledged_by": acknowledged_by,
            "resolved_at": stored_time_text(resolved), "resolved_by": resolved_by,
            "resolve_note": resolve_note, "assigned_to": assigned_to,
            "assigned_at": stored_time_text(assigned)}


def stored_time_text(moment: datetime | None) -> str | None:
    """A stored time as RFC 3339 UTC text with milliseconds (as `rfc3339_ms` writes it): aware
    from PostgreSQL (in the session's zone), naive UTC from SQLite. datetime's own isoformat,
    a third of the cost of going through epoch ms; stored times are whole milliseconds and
    isoformat truncates like the floor of ms_from_datetime."""
    if moment is None:
        return None
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return moment.isoformat(timespec="milliseconds") + "Z"


def visible_alert(store: AlertStore, principal: Principal, alert_id: int) -> StoredAlert:
    """The alert, or 404 when there is none or it is in a zone the key does not see."""
    alert = store.get(alert_id)
    if alert is None or not principal.sees(alert.zone):
        raise HTTPException(404, f"no alert with id {alert_id}")
    return alert


def alert_detail(store: AlertStore, alert: StoredAlert) -> AlertDetail:
    history = [history_out(entry) for entry in store.history(alert.id)]
    return AlertDetail(**alert_out(alert).model_dump(), history=history)


# Acting ----------------------------------------------------------------------------------------
def act(store: AlertStore, principal: Principal, alert_id: int, action: Action,
        change: Callable[[str], AlertEvent | None]) -> AlertDetail:
    """Apply `change` (called with the actor) to a visible alert; 409 with the reason when the
    alert's state refuses it. The store's conditional update decides races: of two crews
    acknowledging at once exactly one wins, the other is told who did."""
    visible_alert(store, principal, alert_id)
    event = change(principal.name)
    alert = store.get(alert_id)
    if alert is None:
        raise HTTPException(404, f"no alert with id {alert_id}")
    if event is None:
        raise HTTPException(409, refusal(alert, action))
    return alert_detail(store, alert)


def refusal(alert: StoredAlert, action: Action) -> str:
    """Why `action` does not apply to `alert` as it stands: its state, by whom, since when."""
    if alert.resolved_at_ms is not None:
        done = (f"alert {alert.id} is resolved (by {alert.resolved_by} at "
                f"{rfc3339_ms(alert.resolved_at_ms)})")
        if action == "resolve":
            return done.replace(" is resolved", " is already resolved")
        return f"{done}: it cannot be {_past[action]} any more"
    if action == "acknowledge" and alert.acknowledged_at_ms is not None:
        return (f"alert {alert.id} is already acknowledged (by {alert.acknowledged_by} at "
                f"{rfc3339_ms(alert.acknowledged_at_ms)})")
    return f"alert {alert.id} cannot be {_past[action]} while {alert.state}"


_past: dict[Action, str] = {"acknowledge": "acknowledged", "assign": "assigned",
                            "comment": "commented on", "resolve": "resolved"}


def alert_filter(principal: Principal, now_ms: int, state: str | None, zone: str | None,
                 severity: str | None, kind: str | None, overdue: bool | None) -> AlertFilter:
    """The list's filter for this caller: a zone-bound key sees its zones only."""
    return AlertFilter(state=state, zone=zone, severity=severity, kind=kind,  # type: ignore[arg-type]
                       overdue=overdue, zones=principal.zones, now_ms=now_ms)
