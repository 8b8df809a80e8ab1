"""A night patrol's route (pure): which lamps of a zone to look at, and in what order to walk.

A lamp is on the route for each reason it has: `dark` (an open lamp_out, blind_spot or
cabinet_failure covers it), `silent` (lamp_silent, gateway_offline), `reported` (an open
citizen_report), `mismatch` (an open patrol_mismatch: look again), `repaired` (any alert about it
resolved in the last days: is it really lit?). Lamps are walked road by road, each road in
position order; the next road is the one whose nearer end is closest to where the last one
ended (walked backwards when its far end is nearer). Roads without coordinates come after, by
name; lamps without a road each count as a road of one.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

Reason = str  # one of REASONS
REASONS = ("dark", "silent", "reported", "mismatch", "repaired", "added")
OPEN_REASON: dict[str, Reason] = {
    "lamp_out": "dark", "blind_spot": "dark", "cabinet_failure": "dark",
    "lamp_silent": "silent", "gateway_offline": "silent",
    "citizen_report": "reported", "patrol_mismatch": "mismatch",
}
_EARTH_M = 6_371_000.0


@dataclass(frozen=True, slots=True)
class LampPlace:
    """A lamp in service: where it stands."""

    id: str
    road: str | None
    position: int | None
    lat: float | None
    lon: float | None


@dataclass(frozen=True, slots=True)
class AlertTrace:
    """What the route needs of an alert: its kind, its devices, whether it is still open."""

    kind: str
    devices: tuple[str, ...]
    open: bool


@dataclass(frozen=True, slots=True)
class Stop:
    lamp: LampPlace
    reasons: tuple[Reason, ...]


def stops(lamps: Mapping[str, LampPlace], alerts: Iterable[AlertTrace]) -> list[Stop]:
    """Every lamp of `lamps` that some alert gives a reason to check, with its reasons in
    REASONS order (unordered along the roads: see `walking_order`)."""
    found: dict[str, set[Reason]] = {}
    for alert in alerts:
        reason = OPEN_REASON.get(alert.kind) if alert.open else "repaired"
        if reason is None:
            continue
        for device in alert.devices:
            if device in lamps:
                found.setdefault(device, set()).add(reason)
    return [Stop(lamps[lamp], tuple(r for r in REASONS if r in reasons))
            for lamp, reasons in found.items()]


def walking_order(route: Iterable[Stop]) -> list[Stop]:
    """The stops road by road (see the module's docstring)."""
    roads: dict[tuple[int, str], list[Stop]] = {}
    for stop in route:
        key = (0, stop.lamp.road) if stop.lamp.road is not None else (1, stop.lamp.id)
        roads.setdefault(key, []).append(stop)
    segments = {key: sorted(members, key=_along) for key, members in roads.items()}
    placed = {key: seg for key, seg in segments.items() if _ends(seg) is not None}
    unplaced = [segments[key] for key in sorted(segments) if key not in placed]
    ordered: list[Stop] = []
    here: tuple[float, float] | None = None
    while placed:
        key, reverse = _nearest(placed, here)
        segment = placed.pop(key)
        segment = segment[::-1] if reverse else segment
        ordered.extend(segment)
        here = _ends(segment)[1]  # type: ignore[index]
    for segment in unplaced:
        ordered.extend(segment)
    return ordered


def _along(stop: Stop) -> tuple[bool, int, str]:
    return (stop.lamp.position is None, stop.lamp.position or 0, stop.lamp.id)


def _ends(segment: list[Stop]) -> tuple[tuple[float, float], tuple[float, float]] | None:
    """(first, last) coordinates of a segment's lamps that have them; None when none has."""
    points = [(s.lamp.lat, s.lamp.lon) for s in segment
              if s.lamp.lat is not None and s.lamp.lon is not None]
    return (points[0], points[-1]) if points else None  # type: ignore[return-value]


def _nearest(segments: dict[tuple[int, str], list[Stop]],
             here: tuple[float, float] | None) -> tuple[tuple[int, str], bool]:
    """The segment to walk next and whether to walk it backwards; the first by name to start."""
    if here is None:
        return min(segments), False
    best = None
    for key, segment in segments.items():
        first, last = _ends(segment)  # type: ignore[misc]
        for reverse, end in ((False, first), (True, last)):
            candidate = (distance_m(here, end), key, reverse)
            if best is None or candidate < best:
                best = candidate
    assert best is not None
    return best[1], best[2]


def distance_m(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Metres between two (lat, lon) points, equirectangular: exact enough across a town."""
    mean_lat = math.radians((a[0] + b[0]) / 2)
    dx = math.radians(b[1] - a[1]) * math.cos(mean_lat)
    dy = math.radians(b[0] - a[0])
    return _EARTH_M * math.hypot(dx, dy)
