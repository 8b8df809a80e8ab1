"""What the alert store hands back: stored alerts, history entries and outbox deliveries.

Plain frozen data with times in epoch milliseconds, built from SQL rows in one place
(`*_from_row`), so callers (rule runner, API, CLI) never see SQL types.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import urlsplit

from streetwatch.alerts.model import (
    AlertEvent,
    AlertEventName,
    AlertKind,
    Condition,
    Place,
    Severity,
    rfc3339_ms,
)
from streetwatch.registry.timestamps import ms_from_datetime

AlertState = Literal["raised", "acknowledged", "resolved"]
StateFilter = Literal["raised", "acknowledged", "resolved", "open"]  # open: not resolved
HistoryEventName = Literal["raised", "repeated", "acknowledged", "resolved", "overdue",
                           "escalated", "assigned", "commented"]
# The outbox target of events the rule runner publishes on MQTT for others (crew actions made
# through the API or the CLI): `mqtt:` + the alert topic. The runner publishes its own events.
MQTT_TARGET_PREFIX = "mqtt:"


def alert_topic(zone: str, severity: str) -> str:
    """The MQTT topic of a zone's alert events of one severity (DESIGN s.3)."""
    return f"streetwatch/alerts/{zone}/{severity}"


def mqtt_target(event: AlertEvent) -> str:
    """The outbox target that has the rule runner publish `event` on its alert topic."""
    return MQTT_TARGET_PREFIX + alert_topic(event.zone, event.severity)


@dataclass(frozen=True, slots=True)
class StoredAlert:
    """One alert row: the condition it is about, where it stands, and who did what when."""

    id: int
    kind: AlertKind
    subject: str
    zone: str
    severity: Severity
    state: AlertState
    devices: tuple[str, ...]
    message: str
    place: Place
    raised_at_ms: int
    last_seen_at_ms: int
    seen_count: int
    deadline_ms: int
    overdue: bool
    acknowledged_at_ms: int | None = None
    acknowledged_by: str | None = None
    resolved_at_ms: int | None = None
    resolved_by: str | None = None
    resolve_note: str | None = None
    assigned_to: str | None = None
    assigned_at_ms: int | None = None

    @property
    def is_open(self) -> bool:
        return self.resolved_at_ms is None

    @property
    def condition(self) -> Condition:
        """The condition as last seen (the live runner's rebuild adopts it)."""
        return Condition(self.kind, self.subject, self.zone, self.devices, self.message,
                         self.place)

    def event(self, name: AlertEventName, ts_ms: int, message: str | None = None) -> AlertEvent:
        """This alert's event `name` at `ts_ms`; `message` replaces the alert's when given."""
        return AlertEvent(name, ts_ms, self.id, self.kind, self.severity, self.zone,
                          self.subject, self.devices, self.deadline_ms, message or self.message)

    def as_json(self) -> dict[str, object]:
        """Every field, times as RFC 3339 text (None stays null): the CLI's and API's shape."""
        return {
            "id": self.id, "kind": self.kind, "severity": self.severity, "state": self.state,
            "zone": self.zone, "subject": self.subject, "devices": list(self.devices),
            "message": self.message,
            "place": {"road": self.place.road, "position": self.place.position,
                      "lat": self.place.lat, "lon": self.place.lon},
            "raised_at": _rfc3339(self.raised_at_ms),
            "last_seen_at": _rfc3339(self.last_seen_at_ms), "seen_count": self.seen_count,
            "deadline": _rfc3339(self.deadline_ms), "overdue": self.overdue,
            "acknowledged_at": _rfc3339(self.acknowledged_at_ms),
            "acknowledged_by": self.acknowledged_by,
            "resolved_at": _rfc3339(self.resolved_at_ms), "resolved_by": self.resolved_by,
            "resolve_note": self.resolve_note,
            "assigned_to": self.assigned_to, "assigned_at": _rfc3339(self.assigned_at_ms),
        }


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    """One change of an alert: what happened, who or what did it, when, severity after it."""

    id: int
    alert_id: int
    ts_ms: int
    event: HistoryEventName
    actor: str
    severity: Severity
    detail: str | None


@dataclass(frozen=True, slots=True)
class Delivery:
    """One event line due for one webhook target. `target` may hold a token: it stays out of
    repr; show `target_display` instead."""

    id: int
    target: str = field(repr=False)
    payload: str
    attempts: int
    created_at_ms: int

    @property
    def target_display(self) -> str:
        return self.target if self.mqtt_topic else redact_webhook(self.target)

    @property
    def mqtt_topic(self) -> str | None:
        """The alert topic when the rule runner publishes this row on MQTT, else None."""
        if self.target.startswith(MQTT_TARGET_PREFIX):
            return self.target.removeprefix(MQTT_TARGET_PREFIX)
        return None


@dataclass(frozen=True, slots=True)
class AlertFilter:
    """Which alerts a list shows; None means "any". `zones` are the zones the caller may see
    (None: all); `overdue` is judged at `now_ms`: open and past its deadline, or marked overdue."""

    state: StateFilter | None = None
    zone: str | None = None
    severity: Severity | None = None
    kind: AlertKind | None = None
    overdue: bool | None = None
    zones: frozenset[str] | None = None
    now_ms: int = 0


def redact_webhook(url: str) -> str:
    """`scheme://host[:port]/***`: webhook tokens hide in user info, path or query alike."""
    try:
        parts = urlsplit(url)
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "***"
    if not parts.hostname:
        return "***"
    hidden = any((parts.username, parts.password, parts.path.strip("/"), parts.query,
                  parts.fragment))
    return f"{parts.scheme}://{parts.hostname}{port}{'/***' if hidden else ''}"


# Rows -> records -------------------------------------------------------------------------------
def alert_from_row(row: Any) -> StoredAlert:
    """A StoredAlert from a row of the `alerts` table (all columns). The row is read into a
    dict once: a page of 100 alerts pays 100 x 25 attribute lookups on SQLAlchemy rows else."""
    r = dict(zip(row._fields, row, strict=True))
    return StoredAlert(
        id=r["id"], kind=r["kind"], subject=r["subject"], zone=r["zone"],
        severity=r["severity"], state=r["state"], devices=tuple(json.loads(r["devices"])),
        message=r["message"], place=Place(r["road"], r["position_on_road"], r["lat"], r["lon"]),
        raised_at_ms=_ms(r["raised_at"]), last_seen_at_ms=_ms(r["last_seen_at"]),
        seen_count=r["seen_count"], deadline_ms=_ms(r["deadline"]), overdue=bool(r["overdue"]),
        acknowledged_at_ms=ms_from_datetime(r["acknowledged_at"]),
        acknowledged_by=r["acknowledged_by"], resolved_at_ms=ms_from_datetime(r["resolved_at"]),
        resolved_by=r["resolved_by"], resolve_note=r["resolve_note"],
        assigned_to=r["assigned_to"], assigned_at_ms=ms_from_datetime(r["assigned_at"]),
    )


def history_from_row(row: Any) -> HistoryEntry:
    return HistoryEntry(row.id, row.alert_id, _ms(row.ts), row.event, row.actor, row.severity,
                        row.detail)


def delivery_from_row(row: Any) -> Delivery:
    return Delivery(row.id, row.target, row.payload, row.attempts, _ms(row.created_at))


def devices_text(devices: tuple[str, ...]) -> str:
    """The `devices` column: a compact JSON list of ids."""
    return json.dumps(list(devices), ensure_ascii=False, separators=(",", ":"))


def _ms(moment: Any) -> int:
    ms = ms_from_datetime(moment)
    assert ms is not None, "NOT NULL column"
    return ms


def _rfc3339(ts_ms: int | None) -> str | None:
    return None if ts_ms is None else rfc3339_ms(ts_ms)


__all__ = [
    "MQTT_TARGET_PREFIX",
    "AlertFilter",
    "AlertState",
    "Delivery",
    "HistoryEntry",
    "HistoryEventName",
    "StateFilter",
    "StoredAlert",
    "alert_from_row",
    "alert_topic",
    "delivery_from_row",
    "devices_text",
    "history_from_row",
    "mqtt_target",
    "redact_webhook",
]
