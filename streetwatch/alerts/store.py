"""The alert store in SQL: lifecycle changes, full history and the webhook outbox, atomically.

Every change is one transaction that updates the alert, appends a history row and, for changes
that make an event, writes one outbox row per webhook target: a change is never announced
without being stored, nor stored without being announced. Changes people make (crew actions,
alerts not raised by the rules) also get an outbox row for MQTT, which the rule runner publishes
on the alert topic; the runner publishes its own decisions itself (docs/alerts.md). Each transaction writes first (UPDATE
... RETURNING, INSERT), so SQLite takes its write lock up front and PostgreSQL its row lock.

"One open alert per (subject, kind)" is the partial unique index `uq_alerts_open_subject_kind`:
`raise_alert` inserts and lets the index say no, so racing writers cannot both open an alert.
Times are epoch milliseconds in and out; no wall clock is read here.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, Connection, Engine, Row, and_, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from streetwatch.alerts.model import SEVERITIES, AlertEvent, AlertEventName, Condition, Severity
from streetwatch.alerts.records import (
    MQTT_TARGET_PREFIX,
    AlertFilter,
    Delivery,
    HistoryEntry,
    HistoryEventName,
    StoredAlert,
    alert_from_row,
    delivery_from_row,
    devices_text,
    history_from_row,
    mqtt_target,
    redact_webhook,
)
from streetwatch.logs import log_event
from streetwatch.registry.models import (
    ACTOR_LENGTH,
    SUBJECT_LENGTH,
    Alert,
    AlertHistory,
    AlertOutbox,
)
from streetwatch.registry.timestamps import datetime_from_ms

OPEN_ALERT_INDEX = "uq_alerts_open_subject_kind"
RAISE_ATTEMPTS = 3  # insert/repeat rounds before giving up (each loses only to a concurrent resolve)
ERROR_CHARS = 1000  # how much of a delivery error is kept
RULES_ACTOR = "rules"  # the rule engine: the live runner publishes what it does on MQTT itself

_ALERTS = Alert.__table__
_HISTORY = AlertHistory.__table__
_OUTBOX = AlertOutbox.__table__
_IS_OPEN = _ALERTS.c.resolved_at.is_(None)
_TO_MQTT = _OUTBOX.c.target.startswith(MQTT_TARGET_PREFIX, autoescape=True)

_log = logging.getLogger(__name__)


class AlertStore:
    """Alerts, their history and their webhook outbox on one SQLAlchemy engine."""

    def __init__(self, engine: Engine, webhooks: Sequence[str] = ()) -> None:
        self._engine = engine
        self._webhooks = tuple(webhooks)

    # Lifecycle ---------------------------------------------------------------------------------
    def raise_alert(self, condition: Condition, at_ms: int, severity: Severity,
                    deadline_ms: int, actor: str = RULES_ACTOR) -> AlertEvent | None:
        """Open an alert for `condition` and return its `raised` event; when one is already
        open for (subject, kind), record a repeat on it instead and return None."""
        _check_raise(condition, severity, actor)
        for _ in range(RAISE_ATTEMPTS):
            try:
                return self._insert_open(condition, at_ms, severity, deadline_ms, actor)
            except IntegrityError as exc:
                if not _is_open_alert_conflict(exc):
                    raise
            if self._repeat(condition.subject, condition.kind, at_ms, condition.devices,
                            condition.message, RULES_ACTOR):
                return None
            # The open alert was resolved between our two transactions: open a new one.
        raise RuntimeError(f"could not raise or repeat {condition.kind} {condition.subject!r} "
                           f"in {RAISE_ATTEMPTS} attempts: it keeps being resolved concurrently")

    def repeat(self, subject: str, kind: str, at_ms: int, devices: tuple[str, ...],
               message: str) -> None:
        """The open alert for (subject, kind) is seen again: last seen, count, devices, message.

        Nothing happens when no alert is open (a crew may have resolved it meanwhile)."""
        if not self._repeat(subject, kind, at_ms, devices, message, RULES_ACTOR):
            log_event(_log, "alerts.repeat_without_open_alert", subject=subject, kind=kind)

    def acknowledge(self, alert_id: int, at_ms: int, actor: str) -> AlertEvent | None:
        """A crew has taken the alert on; None when unknown, resolved or acknowledged already."""
        values = {"state": "acknowledged", "acknowledged_at": datetime_from_ms(at_ms),
                  "acknowledged_by": _actor(actor)}
        return self._change([_ALERTS.c.id == alert_id, _ALERTS.c.state == "raised"], values,
                            "acknowledged", at_ms, actor, None, on_mqtt=True)

    def assign(self, alert_id: int, at_ms: int, actor: str, crew: str) -> AlertEvent | None:
        """Give the open alert to `crew` (again, or to another crew); None when unknown or
        resolved. The event's message names the crew."""
        values = {"assigned_to": _actor(crew), "assigned_at": datetime_from_ms(at_ms)}
        return self._change([_ALERTS.c.id == alert_id, _IS_OPEN], values, "assigned", at_ms,
                            actor, crew, message=f"assigned to {crew}", on_mqtt=True)

    def comment(self, alert_id: int, at_ms: int, actor: str, text: str) -> AlertEvent | None:
        """A note on the alert (open or resolved), kept in its history and announced; None when
        the alert is unknown. The alert row itself does not change."""
        if not text:
            raise ValueError("a comment needs text")
        return self._change([_ALERTS.c.id == alert_id], {"id": _ALERTS.c.id}, "commented",
                            at_ms, actor, text, message=text, on_mqtt=True)

    def resolve(self, alert_id: int, at_ms: int, actor: str, note: str) -> AlertEvent | None:
        """Close the alert; None when unknown or resolved already. The event's message is the
        note (the alert's message when the note is empty)."""
        return self._resolve([_ALERTS.c.id == alert_id, _IS_OPEN], at_ms, actor, note)

    def resolve_open(self, subject: str, kind: str, at_ms: int, actor: str,
                     note: str) -> AlertEvent | None:
        """Close the open alert for (subject, kind), if there is one."""
        where = [_ALERTS.c.subject == subject, _ALERTS.c.kind == kind, _IS_OPEN]
        return self._resolve(where, at_ms, actor, note)

    def mark_overdue(self, alert_id: int, at_ms: int) -> AlertEvent | None:
        """The deadline has passed unresolved; None when unknown, resolved, overdue already or
        not yet past its deadline at `at_ms`."""
        where = [_ALERTS.c.id == alert_id, _IS_OPEN, ~_ALERTS.c.overdue,
                 _ALERTS.c.deadline <= datetime_from_ms(at_ms)]
        return self._change(where, {"overdue": True}, "overdue", at_ms, RULES_ACTOR,
                            "deadline passed")

    def escalate(self, alert_id: int, at_ms: int, severity: Severity,
                 deadline_ms: int) -> AlertEvent | None:
        """Set a (stronger) severity and a fresh deadline, no longer overdue; None when unknown
        or resolved."""
        _check_severity(severity)
        values = {"severity": severity, "deadline": datetime_from_ms(deadline_ms),
                  "overdue": False}
        return self._change([_ALERTS.c.id == alert_id, _IS_OPEN], values, "escalated", at_ms,
                            RULES_ACTOR, f"severity {severity}")

    # Reading -----------------------------------------------------------------------------------
    def open_alerts(self) -> list[StoredAlert]:
        """Every open alert, oldest first: what the live runner adopts after a restart."""
        return self.list_alerts(open_only=True)

    def list_alerts(self, open_only: bool = True, zone: str | None = None) -> list[StoredAlert]:
        """Alerts by id (oldest first), open ones only unless `open_only` is False."""
        query = select(_ALERTS).order_by(_ALERTS.c.id)
        if open_only:
            query = query.where(_IS_OPEN)
        if zone is not None:
            query = query.where(_ALERTS.c.zone == zone)
        with self._engine.connect() as conn:
            return [alert_from_row(row) for row in conn.execute(query)]

    def page(self, which: AlertFilter, after_id: int | None, limit: int,
             newest_first: bool = True) -> list[StoredAlert]:
        """Up to `limit` alerts matching `which`, by id (newest first unless told), starting
        after `after_id`: keyset pagination on the primary key (ix_alerts_zone, ix_alerts_open_zone
        narrow zone and open filters), no OFFSET scan however deep the page."""
        return [alert_from_row(row) for row in self.page_rows(which, after_id, limit,
                                                              newest_first)]

    def page_rows(self, which: AlertFilter, after_id: int | None, limit: int,
                  newest_first: bool = True,
                  columns: Sequence[ColumnElement[Any]] | None = None) -> Sequence[Row[Any]]:
        """The `alerts` rows of `page`, for a reader that builds its own answer from them (the
        API's JSON pages skip the StoredAlert in between): `columns` of them (default: every
        column, in table order)."""
        order = _ALERTS.c.id.desc() if newest_first else _ALERTS.c.id.asc()
        query = (select(*(_ALERTS.columns if columns is None else columns))
                 .where(*_matching(which)).order_by(order).limit(limit))
        if after_id is not None:
            query = query.where(_ALERTS.c.id < after_id if newest_first
                                else _ALERTS.c.id > after_id)
        with self._engine.connect() as conn:
            return conn.execute(query).all()

    def get(self, alert_id: int) -> StoredAlert | None:
        with self._engine.connect() as conn:
            row = conn.execute(select(_ALERTS).where(_ALERTS.c.id == alert_id)).one_or_none()
        return None if row is None else alert_from_row(row)

    def history(self, alert_id: int) -> list[HistoryEntry]:
        """Every change of the alert, in the order it happened."""
        query = select(_HISTORY).where(_HISTORY.c.alert_id == alert_id).order_by(_HISTORY.c.id)
        with self._engine.connect() as conn:
            return [history_from_row(row) for row in conn.execute(query)]

    # Outbox ------------------------------------------------------------------------------------
    def due_deliveries(self, now_ms: int, limit: int = 100,
                       mqtt: bool = False) -> list[Delivery]:
        """Undelivered events whose next attempt is due at `now_ms`, oldest first: those for
        webhooks, or (`mqtt`) those the rule runner publishes on the alert topic."""
        query = (select(_OUTBOX)
                 .where(_OUTBOX.c.delivered_at.is_(None),
                        _OUTBOX.c.next_attempt_at <= datetime_from_ms(now_ms),
                        _TO_MQTT if mqtt else ~_TO_MQTT)
                 .order_by(_OUTBOX.c.next_attempt_at, _OUTBOX.c.id).limit(limit))
        with self._engine.connect() as conn:
            return [delivery_from_row(row) for row in conn.execute(query)]

    def delivered(self, delivery_id: int, at_ms: int) -> None:
        """The target accepted the event: it leaves the queue."""
        with self._engine.begin() as conn:
            conn.execute(update(_OUTBOX)
                         .where(_OUTBOX.c.id == delivery_id, _OUTBOX.c.delivered_at.is_(None))
                         .values(delivered_at=datetime_from_ms(at_ms),
                                 attempts=_OUTBOX.c.attempts + 1))

    def delivery_failed(self, delivery_id: int, at_ms: int, error: str,
                        next_attempt_ms: int) -> None:
        """The attempt failed: count it, keep the error (target redacted), try again later."""
        with self._engine.begin() as conn:
            row = conn.execute(
                update(_OUTBOX)
                .where(_OUTBOX.c.id == delivery_id, _OUTBOX.c.delivered_at.is_(None))
                .values(attempts=_OUTBOX.c.attempts + 1,
                        next_attempt_at=datetime_from_ms(next_attempt_ms))
                .returning(_OUTBOX.c.target, _OUTBOX.c.attempts)).one_or_none()
            if row is None:
                return
            shown = _redacted_error(error, row.target)
            conn.execute(update(_OUTBOX).where(_OUTBOX.c.id == delivery_id)
                         .values(last_error=shown))
        log_event(_log, "alerts.delivery_failed", level=logging.WARNING, delivery=delivery_id,
                  target=redact_webhook(row.target), attempts=row.attempts, error=shown,
                  next_attempt_ms=next_attempt_ms, at_ms=at_ms)

    # Internals -----------------------------------------------------------------------------------
    def _insert_open(self, condition: Condition, at_ms: int, severity: Severity,
                     deadline_ms: int, actor: str) -> AlertEvent:
        """Insert the open alert, its history and outbox rows; IntegrityError when one is open."""
        at = datetime_from_ms(at_ms)
        place = condition.place
        values = {
            "kind": condition.kind, "subject": condition.subject, "zone": condition.zone,
            "severity": severity, "state": "raised", "devices": devices_text(condition.devices),
            "message": condition.message, "road": place.road, "position_on_road": place.position,
            "lat": place.lat, "lon": place.lon, "raised_at": at, "last_seen_at": at,
            "seen_count": 1, "deadline": datetime_from_ms(deadline_ms), "overdue": False,
        }
        with self._engine.begin() as conn:
            alert_id = conn.execute(insert(_ALERTS).values(values)).inserted_primary_key[0]
            event = AlertEvent("raised", at_ms, alert_id, condition.kind, severity,
                               condition.zone, condition.subject, condition.devices,
                               deadline_ms, condition.message)
            _history(conn, event, "raised", actor, condition.message)
            self._announce(conn, event, on_mqtt=actor != RULES_ACTOR)
        _log_change(event, actor)
        return event

    def _repeat(self, subject: str, kind: str, at_ms: int, devices: tuple[str, ...],
                message: str, actor: str) -> bool:
        """Record a repeat on the open alert (subject, kind); False when none is open."""
        values = {"last_seen_at": datetime_from_ms(at_ms), "seen_count": _ALERTS.c.seen_count + 1,
                  "devices": devices_text(devices), "message": message}
        where = [_ALERTS.c.subject == subject, _ALERTS.c.kind == kind, _IS_OPEN]
        with self._engine.begin() as conn:
            row = conn.execute(update(_ALERTS).where(*where).values(values)
                               .returning(*_ALERTS.c)).one_or_none()
            if row is None:
                return False
            # A repeat changes no state a crew acts on: history only, nothing announced.
            _history(conn, alert_from_row(row).event("raised", at_ms), "repeated", actor, message)
        return True

    def _resolve(self, where: list[ColumnElement[bool]], at_ms: int, actor: str,
                 note: str) -> AlertEvent | None:
        values = {"state": "resolved", "resolved_at": datetime_from_ms(at_ms),
                  "resolved_by": _actor(actor), "resolve_note": note}
        return self._change(where, values, "resolved", at_ms, actor, note, message=note,
                            on_mqtt=actor != RULES_ACTOR)

    def _change(self, where: list[ColumnElement[bool]], values: dict[str, Any],
                name: AlertEventName, at_ms: int, actor: str, detail: str | None,
                message: str | None = None, on_mqtt: bool = False) -> AlertEvent | None:
        """Update the one alert matching `where` and record event `name`; None if none matches.
        The conditions in `where` are the guard: of two concurrent changes that both need, say,
        state `raised`, the row lock lets one update and the other find no row."""
        with self._engine.begin() as conn:
            row = conn.execute(update(_ALERTS).where(*where).values(values)
                               .returning(*_ALERTS.c)).one_or_none()
            if row is None:
                return None
            event = alert_from_row(row).event(name, at_ms, message)
            _history(conn, event, name, actor, detail)
            self._announce(conn, event, on_mqtt)
        _log_change(event, actor)
        return event

    def _announce(self, conn: Connection, event: AlertEvent, on_mqtt: bool) -> None:
        """One outbox row per webhook target, and one for the MQTT alert topic when `on_mqtt`
        (a change the rule runner did not make, so will not publish itself), due at once, in
        the caller's transaction."""
        targets = [*self._webhooks, *([mqtt_target(event)] if on_mqtt else [])]
        if not targets:
            return
        at = datetime_from_ms(event.ts_ms)
        payload = event.line()
        conn.execute(insert(_OUTBOX), [
            {"created_at": at, "target": target, "payload": payload, "attempts": 0,
             "next_attempt_at": at, "delivered_at": None, "last_error": None}
            for target in targets
        ])


def _history(conn: Connection, event: AlertEvent, name: HistoryEventName, actor: str,
             detail: str | None) -> None:
    """Append one history row: `name` happened to `event.id` at `event.ts_ms`, by `actor`."""
    conn.execute(insert(_HISTORY).values(
        alert_id=event.id, ts=datetime_from_ms(event.ts_ms), event=name, actor=actor,
        severity=event.severity, detail=detail))


def _matching(which: AlertFilter) -> list[ColumnElement[bool]]:
    """The WHERE conditions of `which` (an empty list: every alert)."""
    c = _ALERTS.c
    where: list[ColumnElement[bool]] = []
    if which.state in ("open", "raised", "acknowledged"):
        where.append(_IS_OPEN)  # lets the planner use the small partial indexes of open alerts
    if which.state not in (None, "open"):
        where.append(c.state == which.state)
    if which.zone is not None:
        where.append(c.zone == which.zone)
    if which.zones is not None:
        where.append(c.zone.in_(sorted(which.zones)))
    if which.severity is not None:
        where.append(c.severity == which.severity)
    if which.kind is not None:
        where.append(c.kind == which.kind)
    if which.overdue is not None:
        late = or_(c.overdue,
                   and_(_IS_OPEN, c.deadline <= datetime_from_ms(which.now_ms)))
        where.append(late if which.overdue else ~late)
    return where


def _is_open_alert_conflict(exc: IntegrityError) -> bool:
    """Whether `exc` is the one-open-alert index refusing a second open alert."""
    diag = getattr(exc.orig, "diag", None)
    if diag is not None:  # psycopg names the index
        return getattr(diag, "constraint_name", None) == OPEN_ALERT_INDEX
    return "UNIQUE constraint failed: alerts.subject, alerts.kind" in str(exc.orig)  # SQLite


def _check_raise(condition: Condition, severity: Severity, actor: str) -> None:
    _check_severity(severity)
    _actor(actor)
    if not 0 < len(condition.subject) <= SUBJECT_LENGTH:
        raise ValueError(f"alert subject must be 1-{SUBJECT_LENGTH} characters, "
                         f"got {len(condition.subject)}")


def _check_severity(severity: str) -> None:
    if severity not in SEVERITIES:
        raise ValueError(f"severity must be one of {', '.join(SEVERITIES)}, not {severity!r}")


def _actor(actor: str) -> str:
    """`actor` when it is 1-64 printable characters ("rules", "cli", a crew name)."""
    if 0 < len(actor) <= ACTOR_LENGTH and actor.isprintable():
        return actor
    raise ValueError(f"actor must be 1-{ACTOR_LENGTH} printable characters")


def _redacted_error(error: str, target: str) -> str:
    """The error text without the target URL (HTTP client errors quote it), cut short."""
    return error.replace(target, redact_webhook(target))[:ERROR_CHARS]


def _log_change(event: AlertEvent, actor: str) -> None:
    log_event(_log, "alerts.changed", alert_event=event.event, alert_id=event.id,
              kind=event.kind, subject=event.subject, zone=event.zone, severity=event.severity,
              actor=actor)


__all__ = ["OPEN_ALERT_INDEX", "RULES_ACTOR", "AlertStore"]
