"""A patrol as the console shows it and as CSV (pure): labelled stops in the crew's language
and the town's time; one CSV row per lamp of a patrol (times RFC 3339 UTC, as the API's)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from api.console.alert_cards import local_time, map_link
from api.console.catalogue import Language, text
from api.console.patrol_route import LampPlace, Stop
from api.console.patrol_store import PatrolRecord
from streetwatch.alerts.model import rfc3339_ms

PATROL_COLUMNS = ("patrol", "zone", "patroller", "started_at", "finished_at", "seq", "lamp",
                  "reasons", "mark", "note", "marked_at", "alert_id")


@dataclass(frozen=True, slots=True)
class StopView:
    seq: int
    lamp_id: str
    place: str | None
    reasons: str
    map_url: str | None
    mark: str | None
    marked: str | None
    note: str | None
    alert_id: int | None


def place_text(lamp: LampPlace | None, lang: Language) -> str | None:
    if lamp is None or lamp.road is None:
        return None
    if lamp.position is None:
        return lamp.road
    return text(lang, "alert.road_position", road=lamp.road, position=lamp.position)


def reasons_text(reasons: Iterable[str], lang: Language) -> str:
    return ", ".join(text(lang, f"reason.{reason}") for reason in reasons)


def proposed(route: Iterable[Stop], lang: Language, map_url: str) -> list[StopView]:
    """A route not yet walked."""
    return [StopView(seq, stop.lamp.id, place_text(stop.lamp, lang),
                     reasons_text(stop.reasons, lang),
                     map_link(map_url, stop.lamp.lat, stop.lamp.lon), None, None, None, None)
            for seq, stop in enumerate(route, start=1)]


def walked(patrol: PatrolRecord, lamps: Mapping[str, LampPlace], tz: ZoneInfo, lang: Language,
           map_url: str) -> list[StopView]:
    """A patrol's stops with what was seen."""
    views = []
    for stop in patrol.stops:
        lamp = lamps.get(stop.lamp_id)
        marked = None
        if stop.mark is not None and stop.marked_at_ms is not None:
            marked = text(lang, "patrol.marked", mark=text(lang, f"mark.{stop.mark}"),
                          time=local_time(stop.marked_at_ms, tz))
        views.append(StopView(stop.seq, stop.lamp_id, place_text(lamp, lang),
                              reasons_text(stop.reasons, lang),
                              None if lamp is None else map_link(map_url, lamp.lat, lamp.lon),
                              stop.mark, marked, stop.note, stop.alert_id))
    return views


def patrol_rows(patrols: Iterable[PatrolRecord]) -> Iterator[tuple]:
    """PATROL_COLUMNS rows: one per lamp of each patrol (a patrol without lamps: one row)."""
    for p in patrols:
        head = (p.id, p.zone, p.patroller, rfc3339_ms(p.started_at_ms), _time(p.finished_at_ms))
        if not p.stops:
            yield (*head, None, None, None, None, None, None, None)
        for s in p.stops:
            yield (*head, s.seq, s.lamp_id, ";".join(s.reasons), s.mark, s.note,
                   _time(s.marked_at_ms), s.alert_id)


def _time(ts_ms: int | None) -> str | None:
    return None if ts_ms is None else rfc3339_ms(ts_ms)
