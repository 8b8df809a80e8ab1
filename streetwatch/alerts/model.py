"""The rule engine's vocabulary: alert kinds, severities, subjects, conditions and events.

Plain frozen data, no I/O. Detectors (lighting, lamp alerts) say which conditions hold; the alert
lifecycle turns condition changes into events of the one shape of DESIGN s.5, which replay prints,
the live runner stores and publishes, and webhooks receive.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Literal

Severity = Literal["red", "yellow", "blue"]
SEVERITIES: tuple[Severity, ...] = ("red", "yellow", "blue")
ESCALATION: dict[Severity, Severity] = {"blue": "yellow", "yellow": "red", "red": "red"}

AlertKind = Literal[
    "lamp_out", "day_burner", "cycling", "lamp_fault", "lamp_silent", "gateway_offline",
    "blind_spot", "cabinet_failure", "zone_below_target",
    "blockage", "overflow_imminent", "cover_open", "sensor_fault", "low_battery", "drain_silent",
    "citizen_report", "patrol_mismatch",
]
LAMP_ALERT_KINDS: tuple[AlertKind, ...] = (
    "lamp_out", "day_burner", "cycling", "lamp_fault", "lamp_silent", "gateway_offline",
    "blind_spot", "cabinet_failure", "zone_below_target",
)
DRAIN_ALERT_KINDS: tuple[AlertKind, ...] = (
    "blockage", "overflow_imminent", "cover_open", "sensor_fault", "low_battery", "drain_silent",
)
# Raised by people (the API's citizen reports; a night patrol that saw dark a lamp whose telemetry
# says lit), never by the rules: no detector raises or clears them; the live runner adopts them on
# start, so their deadlines make them overdue as any.
PEOPLE_ALERT_KINDS: tuple[AlertKind, ...] = ("citizen_report", "patrol_mismatch")
ALERT_KINDS: tuple[AlertKind, ...] = LAMP_ALERT_KINDS + DRAIN_ALERT_KINDS + PEOPLE_ALERT_KINDS
DEFAULT_SEVERITY: dict[AlertKind, Severity] = {
    "blind_spot": "red", "cabinet_failure": "red", "zone_below_target": "red",
    "lamp_out": "yellow", "gateway_offline": "yellow",
    "day_burner": "blue", "cycling": "blue", "lamp_fault": "blue", "lamp_silent": "blue",
    "overflow_imminent": "red", "cover_open": "red", "blockage": "yellow",
    "sensor_fault": "blue", "low_battery": "blue", "drain_silent": "blue",
    "citizen_report": "yellow", "patrol_mismatch": "yellow",
}
# A kind's own time to fix, where its severity's deadline is not right (settings override both):
# CJJ 68, the sewer maintenance standard, wants a missing cover restored within 6 h.
DEFAULT_DEADLINE_S: dict[AlertKind, int] = {"cover_open": 6 * 3600}
NoticeKind = Literal["high_water"]

AlertEventName = Literal["raised", "acknowledged", "resolved", "overdue", "escalated",
                         "assigned", "commented"]  # the last two: crews' actions (API, CLI)
CITY_ZONE = "_city"  # the town as a whole in `lighting_rate` (DESIGN s.4)

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def rfc3339_ms(ts_ms: int) -> str:
    """Epoch ms as RFC 3339 UTC text with milliseconds (`2026-11-23T18:00:00.000Z`). The date
    is formatted once a day, the time of day by arithmetic: replay lines and API lists print
    many times each (3x faster than strftime per call)."""
    day, ms = divmod(ts_ms, 86_400_000)
    seconds, ms = divmod(ms, 1000)
    hours, seconds = divmod(seconds, 3600)
    minutes, seconds = divmod(seconds, 60)
    return f"{_date_text(day)}{hours:02d}:{minutes:02d}:{seconds:02d}.{ms:03d}Z"


@lru_cache(maxsize=4096)
def _date_text(day: int) -> str:
    """`YYYY-MM-DDT` of the UTC day `day` days after the epoch."""
    return (_EPOCH + timedelta(days=day)).strftime("%Y-%m-%dT")


def lamp_subject(lamp: str) -> str:
    return f"lamp:{lamp}"


def gateway_subject(gateway: str) -> str:
    return f"gateway:{gateway}"


def cabinet_subject(cabinet: str) -> str:
    return f"cabinet:{cabinet}"


def zone_subject(zone: str) -> str:
    return f"zone:{zone}"


def road_subject(road: str, first_position: int) -> str:
    return f"road:{road}:{first_position}"


def drain_subject(drain: str) -> str:
    return f"drain:{drain}"


@dataclass(frozen=True, slots=True)
class Place:
    """Where a crew goes: road and position of the (first) lamp, coordinates when known."""

    road: str | None = None
    position: int | None = None
    lat: float | None = None
    lon: float | None = None


@dataclass(frozen=True, slots=True)
class Condition:
    """A problem a detector sees: one per (subject, kind); `devices` are the lamps it covers."""

    kind: AlertKind
    subject: str
    zone: str
    devices: tuple[str, ...]
    message: str
    place: Place = Place()


@dataclass(frozen=True, slots=True)
class Raised:
    """`condition` began to hold (its hold included) at `at_ms`."""

    condition: Condition
    at_ms: int


@dataclass(frozen=True, slots=True)
class Cleared:
    """The condition (subject, kind) stopped holding at `at_ms`; `reason` says why, for history."""

    kind: AlertKind
    subject: str
    at_ms: int
    reason: str


Transition = Raised | Cleared


@dataclass(frozen=True, slots=True)
class AlertEvent:
    """One lifecycle change, in the one shape of DESIGN s.5 (`id` is None in replay)."""

    event: AlertEventName
    ts_ms: int
    id: int | None
    kind: AlertKind
    severity: Severity
    zone: str
    subject: str
    devices: tuple[str, ...]
    deadline_ms: int
    message: str

    def as_json(self) -> dict[str, object]:
        """The wire form, keys in the documented order."""
        return {
            "type": "alert", "event": self.event, "ts": rfc3339_ms(self.ts_ms), "id": self.id,
            "kind": self.kind, "severity": self.severity, "zone": self.zone,
            "subject": self.subject, "devices": list(self.devices),
            "deadline": rfc3339_ms(self.deadline_ms), "message": self.message,
        }

    def line(self) -> str:
        """One JSON line, byte-stable for the same event (replay's determinism rests on it)."""
        return json.dumps(self.as_json(), ensure_ascii=False, separators=(", ", ": "))


@dataclass(frozen=True, slots=True)
class Notice:
    """Something crews should know that is not a fault (a storm surge in a wet zone: high water,
    never a blockage). Printed by replay, stored in `alert_event`, published as blue."""

    kind: NoticeKind
    zone: str
    ts_ms: int
    drains: tuple[str, ...]
    message: str

    def as_json(self) -> dict[str, object]:
        return {"type": "notice", "kind": self.kind, "zone": self.zone,
                "ts": rfc3339_ms(self.ts_ms), "drains": list(self.drains),
                "message": self.message}

    def line(self) -> str:
        return json.dumps(self.as_json(), ensure_ascii=False, separators=(", ", ": "))
