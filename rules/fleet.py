"""The lamps the rules judge, as columns: ids, gateways, zones, roads in position order, cabinets.

Built once from the registry (or a scenario). A town of a million lamps must fit in a few hundred
MB, so nothing here is an object per lamp: per-lamp values are arrays or lists of shared (interned)
strings, and `sites[i]` builds a `LampSite` only when a message needs one.
"""

from __future__ import annotations

import sys
from array import array
from collections.abc import Iterable, Iterator

from streetwatch.town import LampSite

NO_RANK = -1


class Fleet:
    """Lamps by index, with the groupings the rules need (built once; read-only afterwards)."""

    def __init__(self, sites: Iterable[LampSite]) -> None:
        ordered = sorted(sites, key=lambda s: s.id)
        self.ids: list[str] = [s.id for s in ordered]
        self.index: dict[str, int] = {lamp: i for i, lamp in enumerate(self.ids)}
        self.gateway_of: list[str] = [sys.intern(s.gateway) for s in ordered]
        self.zone_of: list[str] = [sys.intern(s.zone) for s in ordered]
        self.cabinet_of: list[str | None] = [_intern(s.cabinet) for s in ordered]
        self.road_of: list[str | None] = [_intern(s.road) if s.position is not None else None
                                          for s in ordered]
        self.position = array("q", (-1 if s.position is None else s.position for s in ordered))
        placed = any(s.lat is not None or s.lon is not None for s in ordered)
        self.lat = array("d", (_float(s.lat) for s in ordered)) if placed else None
        self.lon = array("d", (_float(s.lon) for s in ordered)) if placed else None
        self.in_service = bytearray(s.in_service for s in ordered)
        self.works: dict[int, tuple[int | None, int | None]] = {
            i: (s.works_from_ms, s.works_until_ms) for i, s in enumerate(ordered)
            if s.works_from_ms is not None or s.works_until_ms is not None}
        self.sites = _SiteView(self)
        self.zones: list[str] = sorted(set(self.zone_of))
        self.by_gateway = _group(self.gateway_of)
        self.by_cabinet = _group(self.cabinet_of)
        self.by_zone = _group(self.zone_of)
        self.roads = {road: array("q", sorted(members, key=lambda i: (self.position[i],
                                                                       self.ids[i])))
                      for road, members in _group(self.road_of).items()}
        self.road_rank = array("q", [NO_RANK]) * len(self.ids)
        for members in self.roads.values():
            for rank, i in enumerate(members):
                self.road_rank[i] = rank

    def __len__(self) -> int:
        return len(self.ids)

    def site(self, i: int) -> LampSite:
        """Lamp `i` as a LampSite (built on demand: messages and places, not the hot path)."""
        works_from, works_until = self.works.get(i, (None, None))
        return LampSite(self.ids[i], self.gateway_of[i], self.zone_of[i], self.road_of[i],
                        None if self.position[i] < 0 else self.position[i], self.cabinet_of[i],
                        _coordinate(self.lat, i), _coordinate(self.lon, i),
                        bool(self.in_service[i]), works_from, works_until)

    def in_service_at(self, i: int, ts_ms: int) -> bool:
        """In service and not inside its planned-works window at `ts_ms`."""
        if not self.in_service[i]:
            return False
        return i not in self.works or self.site(i).in_service_at(ts_ms)

    def service_changes_after(self, i: int, ts_ms: int) -> int | None:
        """The next works-window boundary after `ts_ms`, if any."""
        return self.site(i).service_changes_after(ts_ms) if i in self.works else None

    def neighbours(self, i: int) -> tuple[int | None, int | None]:
        """The lamps before and after lamp `i` on its road (None at the ends or off-road)."""
        rank = self.road_rank[i]
        if rank == NO_RANK:
            return None, None
        members = self.roads[self.road_of[i] or ""]
        before = members[rank - 1] if rank > 0 else None
        after = members[rank + 1] if rank + 1 < len(members) else None
        return before, after


class _SiteView:
    """`fleet.sites[i]` and iteration, without keeping a LampSite per lamp."""

    def __init__(self, fleet: Fleet) -> None:
        self._fleet = fleet

    def __len__(self) -> int:
        return len(self._fleet)

    def __getitem__(self, i: int) -> LampSite:
        return self._fleet.site(i)

    def __iter__(self) -> Iterator[LampSite]:
        return (self._fleet.site(i) for i in range(len(self._fleet)))


def _float(value: float | None) -> float:
    return float("nan") if value is None else float(value)


def _coordinate(column: array | None, i: int) -> float | None:
    if column is None or column[i] != column[i]:  # NaN: unknown
        return None
    return column[i]


def _intern(text: str | None) -> str | None:
    return None if text is None else sys.intern(text)


def _group(values: list[str | None]) -> dict[str, array]:
    groups: dict[str, list[int]] = {}
    for i, value in enumerate(values):
        if value is not None:
            groups.setdefault(value, []).append(i)
    return {value: array("q", members) for value, members in groups.items()}


__all__ = ["Fleet", "LampSite"]
