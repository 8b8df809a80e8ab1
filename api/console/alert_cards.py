"""What a crew sees of its alerts (pure): most urgent first, and each alert as a card of
labelled text in the crew's language and the town's time.

Urgency: red before yellow before blue; within a colour the nearest deadline first (overdue
ones, whose deadline has passed, come first of all of their colour); then the oldest id.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from api.console.catalogue import Language, duration, text
from streetwatch.alerts.records import HistoryEntry, StoredAlert

SEVERITY_RANK = {"red": 0, "yellow": 1, "blue": 2}
NEW_FOR_MS = 10 * 60_000  # an alert raised this recently is marked new
TIME_FORMAT = "%Y-%m-%d %H:%M"


@dataclass(frozen=True, slots=True)
class Card:
    """One alert as the console shows it: every text already in the crew's language."""

    id: int
    severity: str
    severity_label: str
    kind_label: str
    state: str
    state_label: str
    message: str
    place: str | None
    devices: str
    map_url: str | None
    overdue: bool
    new: bool
    due: str | None  # time left or overdue by; None once resolved
    deadline: str
    raised: str
    acknowledged: str | None
    assigned: str | None
    resolved: str | None
    resolve_note: str | None


@dataclass(frozen=True, slots=True)
class HistoryLine:
    time: str
    event: str
    by: str
    detail: str | None


def most_urgent_first(alerts: Iterable[StoredAlert]) -> list[StoredAlert]:
    return sorted(alerts, key=lambda a: (SEVERITY_RANK[a.severity], a.deadline_ms, a.id))


def is_overdue(alert: StoredAlert, now_ms: int) -> bool:
    return alert.is_open and (alert.overdue or alert.deadline_ms <= now_ms)


def local_time(ts_ms: int, tz: ZoneInfo) -> str:
    return datetime.fromtimestamp(ts_ms / 1000, UTC).astimezone(tz).strftime(TIME_FORMAT)


def map_link(url_pattern: str, lat: float | None, lon: float | None) -> str | None:
    """The configured map URL for a place (settings console_map_url), None without one."""
    if lat is None or lon is None:
        return None
    return url_pattern.format(lat=f"{lat:.6f}", lon=f"{lon:.6f}")


def card(alert: StoredAlert, now_ms: int, tz: ZoneInfo, lang: Language, map_url: str) -> Card:
    overdue = is_overdue(alert, now_ms)
    left = alert.deadline_ms - now_ms
    due = None if not alert.is_open else text(lang, "alert.overdue" if overdue else "alert.left",
                                              d=duration(lang, left))
    place = alert.place
    where = None
    if place.road is not None:
        where = (place.road if place.position is None else
                 text(lang, "alert.road_position", road=place.road, position=place.position))

    def by(key: str, who: str | None, at_ms: int | None) -> str | None:
        if who is None or at_ms is None:
            return None
        return text(lang, key, who=who, time=local_time(at_ms, tz))

    return Card(
        id=alert.id, severity=alert.severity,
        severity_label=text(lang, f"severity.{alert.severity}"),
        kind_label=text(lang, f"kind.{alert.kind}"), state=alert.state,
        state_label=text(lang, f"state.{alert.state}"), message=alert.message, place=where,
        devices=text(lang, "alert.devices", devices=", ".join(alert.devices) or alert.subject),
        map_url=map_link(map_url, place.lat, place.lon), overdue=overdue,
        new=alert.is_open and 0 <= now_ms - alert.raised_at_ms < NEW_FOR_MS, due=due,
        deadline=text(lang, "alert.deadline", time=local_time(alert.deadline_ms, tz)),
        raised=text(lang, "alert.raised", time=local_time(alert.raised_at_ms, tz)),
        acknowledged=by("alert.acknowledged_by", alert.acknowledged_by, alert.acknowledged_at_ms),
        assigned=None if alert.assigned_to is None else text(lang, "alert.assigned_to",
                                                             who=alert.assigned_to),
        resolved=by("alert.resolved_by", alert.resolved_by, alert.resolved_at_ms),
        resolve_note=alert.resolve_note)


def history_lines(entries: Iterable[HistoryEntry], tz: ZoneInfo,
                  lang: Language) -> list[HistoryLine]:
    return [HistoryLine(local_time(e.ts_ms, tz), text(lang, f"event.{e.event}"), e.actor,
                        e.detail) for e in entries]


def refusal(alert: StoredAlert, tz: ZoneInfo, lang: Language) -> str | None:
    """Why an ack or resolve did not apply, in the crew's words; None when the state does not
    explain it (then the generic message)."""
    if alert.resolved_at_ms is not None:
        return text(lang, "refused.resolved", who=alert.resolved_by,
                    time=local_time(alert.resolved_at_ms, tz))
    if alert.acknowledged_at_ms is not None:
        return text(lang, "refused.acknowledged", who=alert.acknowledged_by,
                    time=local_time(alert.acknowledged_at_ms, tz))
    return None
