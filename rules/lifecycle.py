"""Alert lifecycle: condition changes in, lifecycle events out (raised, resolved, overdue, escalated).

The book decides *when* (one open alert per (subject, kind), deadlines, overdue, escalation one step
per missed deadline); an `AlertSink` records. Replay records in memory (`MemorySink`, ids None);
the live runner records in SQL (`streetwatch.alerts.store.AlertStore`, whose unique index is the
final word on "one open alert per (subject, kind)").
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from rules.config import RuleConfig
from streetwatch.alerts.model import (
    ESCALATION,
    AlertEvent,
    AlertKind,
    Cleared,
    Condition,
    Notice,
    Raised,
    Severity,
    Transition,
)


class AlertSink(Protocol):
    """Where alert changes are recorded; each call returns the event it caused (None: no change)."""

    def raise_alert(self, condition: Condition, at_ms: int, severity: Severity,
                    deadline_ms: int) -> AlertEvent | None: ...
    def repeat(self, subject: str, kind: AlertKind, at_ms: int, devices: tuple[str, ...],
               message: str) -> None: ...
    def resolve_open(self, subject: str, kind: AlertKind, at_ms: int, actor: str,
                     note: str) -> AlertEvent | None: ...
    def mark_overdue(self, alert: OpenAlert, at_ms: int) -> AlertEvent | None: ...
    def escalate(self, alert: OpenAlert, at_ms: int) -> AlertEvent | None:
        """Record `alert`'s new (already raised) severity and deadline."""


@dataclass(slots=True)
class OpenAlert:
    """What the book keeps of an open alert: enough to build its events and find it overdue."""

    id: int | None
    condition: Condition
    severity: Severity
    deadline_ms: int
    overdue: bool = False


class AlertBook:
    """Open alerts by (subject, kind); turns transitions and ticks into sink calls and events."""

    def __init__(self, config: RuleConfig, sink: AlertSink) -> None:
        self.config = config
        self.sink = sink
        self.open: dict[tuple[str, AlertKind], OpenAlert] = {}
        self.events: list[AlertEvent | Notice] = []  # notices come from the drain rules

    def adopt(self, alert: OpenAlert) -> None:
        """Take an alert that is already open in storage (the live runner's rebuild)."""
        self.open[(alert.condition.subject, alert.condition.kind)] = alert

    def apply(self, transition: Transition) -> None:
        if isinstance(transition, Raised):
            self._raise(transition.condition, transition.at_ms)
        else:
            self._clear(transition)

    def _raise(self, condition: Condition, at_ms: int) -> None:
        key = (condition.subject, condition.kind)
        known = self.open.get(key)
        if known is not None:
            known.condition = condition
            self.sink.repeat(condition.subject, condition.kind, at_ms, condition.devices,
                             condition.message)
            return
        severity = self.config.severity(condition.kind)
        deadline = at_ms + self.config.deadline_after_ms(condition.kind, severity)
        event = self.sink.raise_alert(condition, at_ms, severity, deadline)
        if event is not None:
            self.open[key] = OpenAlert(event.id, condition, severity, deadline)
            self.events.append(event)

    def _clear(self, cleared: Cleared) -> None:
        if self.open.pop((cleared.subject, cleared.kind), None) is None:
            return
        event = self.sink.resolve_open(cleared.subject, cleared.kind, cleared.at_ms, "rules",
                                       cleared.reason)
        if event is not None:
            self.events.append(event)

    def tick(self, now_ms: int) -> None:
        """Overdue alerts: mark once, then escalate one step with a fresh deadline (red stays)."""
        for key in sorted(k for k, a in self.open.items() if a.deadline_ms <= now_ms
                          and not a.overdue):
            alert = self.open[key]
            at_ms = alert.deadline_ms
            self._record(self.sink.mark_overdue(alert, at_ms))
            alert.overdue = True
            stronger = ESCALATION[alert.severity]
            if stronger == alert.severity:
                continue
            alert.severity, alert.overdue = stronger, False
            alert.deadline_ms = at_ms + self.config.deadline_after_ms(alert.condition.kind, stronger)
            self._record(self.sink.escalate(alert, at_ms))

    def _record(self, event: AlertEvent | None) -> None:
        if event is not None:
            self.events.append(event)

    def drain_events(self) -> list[AlertEvent | Notice]:
        """Events since the last call, in the order they happened."""
        events, self.events = self.events, []
        return events


class MemorySink:
    """Replay's sink: open alerts in a dict, events with `id` None; writes nothing anywhere."""

    def __init__(self) -> None:
        self._open: dict[tuple[str, str], OpenAlert] = {}

    def raise_alert(self, condition: Condition, at_ms: int, severity: Severity,
                    deadline_ms: int) -> AlertEvent | None:
        key = (condition.subject, condition.kind)
        if key in self._open:
            return None
        alert = self._open[key] = OpenAlert(None, condition, severity, deadline_ms)
        return _event("raised", at_ms, alert)

    def repeat(self, subject: str, kind: AlertKind, at_ms: int, devices: tuple[str, ...],
               message: str) -> None:
        return None

    def resolve_open(self, subject: str, kind: AlertKind, at_ms: int, actor: str,
                     note: str) -> AlertEvent | None:
        alert = self._open.pop((subject, kind), None)
        return None if alert is None else _event("resolved", at_ms, alert, note)

    def mark_overdue(self, alert: OpenAlert, at_ms: int) -> AlertEvent | None:
        return _event("overdue", at_ms, alert)

    def escalate(self, alert: OpenAlert, at_ms: int) -> AlertEvent | None:
        return _event("escalated", at_ms, alert)


def _event(name: str, at_ms: int, alert: OpenAlert, message: str | None = None) -> AlertEvent:
    c = alert.condition
    return AlertEvent(name, at_ms, alert.id, c.kind, alert.severity, c.zone, c.subject, c.devices,
                      alert.deadline_ms, message or c.message)  # type: ignore[arg-type]
