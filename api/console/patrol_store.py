"""Night patrols in SQL: start one with its route, mark its lamps, finish it, read it back; and
what a route is made from (a zone's lamps in service, its alerts open or lately resolved).

A patrol's route is stored when it starts, so it stays put while alerts come and go. Marks are
kept while the patrol is under way (a conditional update: a finished patrol refuses them).
Times are epoch milliseconds.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from sqlalchemy import Engine, and_, exists, insert, or_, select, update

from api.console.mismatch import Mark
from api.console.patrol_route import AlertTrace, LampPlace, Stop
from api.devices import device_state
from streetwatch.registry.models import Alert, Lamp, Patrol, PatrolLamp
from streetwatch.registry.timestamps import datetime_from_ms, ms_from_datetime

_PATROLS = Patrol.__table__
_STOPS = PatrolLamp.__table__
_LAMPS = Lamp.__table__
_ALERTS = Alert.__table__
_UNDER_WAY = _PATROLS.c.finished_at.is_(None)


@dataclass(frozen=True, slots=True)
class PatrolStop:
    """A lamp on the route: its order, why it is there, and what the patroller saw."""

    seq: int
    lamp_id: str
    reasons: tuple[str, ...]
    mark: Mark | None
    note: str | None
    marked_at_ms: int | None
    alert_id: int | None


@dataclass(frozen=True, slots=True)
class PatrolRecord:
    id: int
    zone: str
    patroller: str
    started_at_ms: int
    finished_at_ms: int | None
    stops: tuple[PatrolStop, ...] = ()

    @property
    def under_way(self) -> bool:
        return self.finished_at_ms is None


class PatrolStore:
    """Patrols, their lamps, and the registry and alert facts a route is made from."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    # What a route is made from ---------------------------------------------------------------
    def lamps_in_service(self, zone: str, now_ms: int) -> dict[str, LampPlace]:
        c = _LAMPS.c
        query = select(c.id, c.road, c.position_on_road, c.lat, c.lon, c.in_service,
                       c.out_of_service_from, c.out_of_service_until).where(c.zone == zone)
        with self._engine.connect() as conn:
            rows = conn.execute(query).all()
        return {row.id: LampPlace(row.id, row.road, row.position_on_road, row.lat, row.lon)
                for row in rows
                if device_state(row.in_service, ms_from_datetime(row.out_of_service_from),
                                ms_from_datetime(row.out_of_service_until), now_ms)
                == "in_service"}

    def lamp(self, lamp_id: str) -> LampPlace | None:
        c = _LAMPS.c
        query = select(c.id, c.road, c.position_on_road, c.lat, c.lon).where(c.id == lamp_id)
        with self._engine.connect() as conn:
            row = conn.execute(query).one_or_none()
        return None if row is None else LampPlace(*row)

    def alert_traces(self, zone: str, resolved_since_ms: int) -> list[AlertTrace]:
        """The zone's open alerts and those resolved since `resolved_since_ms`."""
        c = _ALERTS.c
        query = select(c.kind, c.devices, c.resolved_at).where(
            c.zone == zone, or_(c.resolved_at.is_(None),
                                c.resolved_at >= datetime_from_ms(resolved_since_ms)))
        with self._engine.connect() as conn:
            return [AlertTrace(kind, tuple(json.loads(devices)), resolved is None)
                    for kind, devices, resolved in conn.execute(query)]

    def zones_with_lamps(self) -> list[str]:
        with self._engine.connect() as conn:
            return sorted(conn.execute(select(_LAMPS.c.zone).distinct()).scalars())

    # Patrols ---------------------------------------------------------------------------------
    def start(self, zone: str, patroller: str, route: list[Stop], now_ms: int) -> int:
        """A new patrol of `zone` by `patroller` along `route`: its id."""
        with self._engine.begin() as conn:
            patrol_id = conn.execute(insert(_PATROLS).values(
                zone=zone, patroller=patroller, started_at=datetime_from_ms(now_ms),
                finished_at=None)).inserted_primary_key[0]
            if route:
                conn.execute(insert(_STOPS), [
                    {"patrol_id": patrol_id, "seq": seq, "lamp_id": stop.lamp.id,
                     "reasons": ",".join(stop.reasons), "mark": None, "note": None,
                     "marked_at": None, "alert_id": None}
                    for seq, stop in enumerate(route, start=1)])
        return patrol_id

    def add_stop(self, patrol_id: int, lamp_id: str) -> bool:
        """Put a lamp the route did not hold at its end (reason `added`); False when the patrol
        is finished or unknown. A lamp already on the route stays where it is (True)."""
        with self._engine.begin() as conn:
            if conn.execute(select(_PATROLS.c.id).where(_PATROLS.c.id == patrol_id, _UNDER_WAY)
                            ).one_or_none() is None:
                return False
            known = conn.execute(select(_STOPS.c.id).where(_STOPS.c.patrol_id == patrol_id,
                                                           _STOPS.c.lamp_id == lamp_id))
            if known.one_or_none() is not None:
                return True
            last = conn.execute(select(_STOPS.c.seq).where(_STOPS.c.patrol_id == patrol_id)
                                .order_by(_STOPS.c.seq.desc()).limit(1)).scalar() or 0
            conn.execute(insert(_STOPS).values(
                patrol_id=patrol_id, seq=last + 1, lamp_id=lamp_id, reasons="added", mark=None,
                note=None, marked_at=None, alert_id=None))
        return True

    def mark(self, patrol_id: int, lamp_id: str, mark: Mark, note: str | None,
             now_ms: int) -> bool:
        """Record what was seen at a lamp of the route (again: the last mark counts); False when
        the patrol is finished or unknown, or the lamp is not on its route."""
        under_way = exists().where(_PATROLS.c.id == patrol_id, _UNDER_WAY)
        with self._engine.begin() as conn:
            done = conn.execute(
                update(_STOPS).where(_STOPS.c.patrol_id == patrol_id,
                                     _STOPS.c.lamp_id == lamp_id, under_way)
                .values(mark=mark, note=note, marked_at=datetime_from_ms(now_ms),
                        alert_id=None)).rowcount
        return bool(done)

    def link_alert(self, patrol_id: int, lamp_id: str, alert_id: int) -> None:
        with self._engine.begin() as conn:
            conn.execute(update(_STOPS).where(_STOPS.c.patrol_id == patrol_id,
                                              _STOPS.c.lamp_id == lamp_id)
                         .values(alert_id=alert_id))

    def finish(self, patrol_id: int, now_ms: int) -> bool:
        """The patrol is over; False when it is unknown or finished already."""
        with self._engine.begin() as conn:
            done = conn.execute(update(_PATROLS)
                                .where(_PATROLS.c.id == patrol_id, _UNDER_WAY)
                                .values(finished_at=datetime_from_ms(now_ms))).rowcount
        return bool(done)

    # Reading -----------------------------------------------------------------------------------
    def get(self, patrol_id: int) -> PatrolRecord | None:
        found = self._patrols(_PATROLS.c.id == patrol_id)
        return found[0] if found else None

    def recent(self, zones: frozenset[str] | None, limit: int) -> list[PatrolRecord]:
        """The latest patrols (newest first) of `zones` (None: every zone), without lamps."""
        where = [] if zones is None else [_PATROLS.c.zone.in_(sorted(zones))]
        query = select(_PATROLS).where(*where).order_by(_PATROLS.c.id.desc()).limit(limit)
        with self._engine.connect() as conn:
            return [_record(row) for row in conn.execute(query)]

    def started_within(self, from_ms: int, to_ms: int,
                       zones: frozenset[str] | None) -> list[PatrolRecord]:
        """Patrols started in [from_ms, to_ms) of `zones` (None: all), oldest first, with lamps."""
        where = [_PATROLS.c.started_at >= datetime_from_ms(from_ms),
                 _PATROLS.c.started_at < datetime_from_ms(to_ms)]
        if zones is not None:
            where.append(_PATROLS.c.zone.in_(sorted(zones)))
        return self._patrols(and_(*where))

    def _patrols(self, where) -> list[PatrolRecord]:  # noqa: ANN001 - a SQL condition
        with self._engine.connect() as conn:
            patrols = conn.execute(select(_PATROLS).where(where).order_by(_PATROLS.c.id)).all()
            if not patrols:
                return []
            ids = [row.id for row in patrols]
            lamps = conn.execute(select(_STOPS).where(_STOPS.c.patrol_id.in_(ids))
                                 .order_by(_STOPS.c.patrol_id, _STOPS.c.seq)).all()
        by_patrol: dict[int, list[PatrolStop]] = {}
        for row in lamps:
            by_patrol.setdefault(row.patrol_id, []).append(PatrolStop(
                row.seq, row.lamp_id, tuple(row.reasons.split(",")), row.mark, row.note,
                ms_from_datetime(row.marked_at), row.alert_id))
        return [_record(row, tuple(by_patrol.get(row.id, ()))) for row in patrols]


def _record(row, stops: tuple[PatrolStop, ...] = ()) -> PatrolRecord:  # noqa: ANN001 - a row
    started = ms_from_datetime(row.started_at)
    assert started is not None, "NOT NULL column"
    return PatrolRecord(row.id, row.zone, row.patroller, started,
                        ms_from_datetime(row.finished_at), stops)
