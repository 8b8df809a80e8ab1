"""A patroller's mark on a lamp, and the patrol_mismatch alert it may raise.

The mark is stored first (the patrol's record matters whatever telemetry says); a `dark` mark
is then compared with the lamp's latest reading (api.readings.latest_reading, the API's own
read) and, when telemetry calls the lamp lit, a `patrol_mismatch` alert is raised through the
AlertStore (severity and deadline as the rules configure them; the actor is the patroller's
key name; an alert already open for the lamp records a repeat and is the one linked).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from api.console.mismatch import Mark, is_mismatch, telemetry_lit
from api.console.patrol_store import PatrolRecord, PatrolStore
from api.devices import open_alerts_about
from api.readings import latest_reading
from api.resources import Resources
from rules.config import RuleConfig
from streetwatch.alerts.model import Condition, Place, lamp_subject, rfc3339_ms
from streetwatch.errors import InfluxError
from streetwatch.logs import log_event

KIND = "patrol_mismatch"
_log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class MarkOutcome:
    """Stored or not (a finished patrol, a lamp not on the route); whether telemetry could be
    compared; the mismatch alert raised or repeated."""

    stored: bool
    compared: bool = True
    alert_id: int | None = None


def record_mark(res: Resources, store: PatrolStore, patrol: PatrolRecord, lamp_id: str,
                mark: Mark, note: str | None, patroller: str) -> MarkOutcome:
    now_ms = res.clock()
    if not store.mark(patrol.id, lamp_id, mark, note, now_ms):
        return MarkOutcome(stored=False)
    if mark != "dark":
        return MarkOutcome(stored=True)
    try:
        reading = latest_reading(res.influx, "lamp", lamp_id, now_ms)
    except InfluxError as exc:
        log_event(_log, "console.telemetry_unavailable", level=logging.WARNING,
                  patrol=patrol.id, lamp=lamp_id, error=type(exc).__name__)
        return MarkOutcome(stored=True, compared=False)
    if not is_mismatch(mark, telemetry_lit(reading, now_ms, res.settings.stale_after_s * 1000)):
        return MarkOutcome(stored=True)
    assert reading is not None  # lit by telemetry
    alert_id = _raise(res, store, patrol, lamp_id, int(reading["time"]), note, patroller,
                      now_ms)
    if alert_id is not None:
        store.link_alert(patrol.id, lamp_id, alert_id)
    log_event(_log, "console.patrol_mismatch", patrol=patrol.id, lamp=lamp_id, alert=alert_id)
    return MarkOutcome(stored=True, alert_id=alert_id)


def _raise(res: Resources, store: PatrolStore, patrol: PatrolRecord, lamp_id: str, reading_ms: int,
           note: str | None, patroller: str, now_ms: int) -> int | None:
    config = RuleConfig.from_settings(res.settings)
    severity = config.severity(KIND)
    deadline_ms = now_ms + config.deadline_after_ms(KIND, severity)
    message = (f"night patrol {patrol.id} ({patroller}) saw lamp {lamp_id} dark at "
               f"{rfc3339_ms(now_ms)}; its latest reading ({rfc3339_ms(reading_ms)}) says lit: "
               f"check its controller and its registry entry")
    if note:
        message += f". Note: {note}"
    condition = Condition(KIND, lamp_subject(lamp_id), patrol.zone, (lamp_id,), message,
                          _place(store, lamp_id))
    event = res.alerts.raise_alert(condition, now_ms, severity, deadline_ms, actor=patroller)
    if event is not None:
        return event.id
    open_now = open_alerts_about(res.engine, "lamp", lamp_id, patrol.zone)
    return next((a.id for a in open_now if a.kind == KIND), None)  # repeated on the open one


def _place(store: PatrolStore, lamp_id: str) -> Place:
    lamp = store.lamp(lamp_id)
    return Place() if lamp is None else Place(lamp.road, lamp.position, lamp.lat, lamp.lon)
