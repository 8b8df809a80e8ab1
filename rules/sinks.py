"""The live runner's alert sink: the core's lifecycle decisions recorded in SQL (AlertStore).

The store's unique index on open (subject, kind) is the final word: a raise that meets an open
alert becomes a repeat there, whatever the book believed.
"""

from __future__ import annotations

from rules.lifecycle import OpenAlert
from streetwatch.alerts.model import AlertEvent, AlertKind, Condition, Severity
from streetwatch.alerts.store import AlertStore


class SqlSink:
    """AlertSink over AlertStore: ids come from SQL; events are what the store recorded."""

    def __init__(self, store: AlertStore) -> None:
        self.store = store

    def raise_alert(self, condition: Condition, at_ms: int, severity: Severity,
                    deadline_ms: int) -> AlertEvent | None:
        return self.store.raise_alert(condition, at_ms, severity, deadline_ms)

    def repeat(self, subject: str, kind: AlertKind, at_ms: int, devices: tuple[str, ...],
               message: str) -> None:
        self.store.repeat(subject, kind, at_ms, devices, message)

    def resolve_open(self, subject: str, kind: AlertKind, at_ms: int, actor: str,
                     note: str) -> AlertEvent | None:
        return self.store.resolve_open(subject, kind, at_ms, actor, note)

    def mark_overdue(self, alert: OpenAlert, at_ms: int) -> AlertEvent | None:
        return None if alert.id is None else self.store.mark_overdue(alert.id, at_ms)

    def escalate(self, alert: OpenAlert, at_ms: int) -> AlertEvent | None:
        if alert.id is None:
            return None
        return self.store.escalate(alert.id, at_ms, alert.severity, alert.deadline_ms)
