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
    """Lamps by index, with the groupings the rules need (built once; afterwards only a lamp's
    service state may change, through `set_service`: the groupings never do)."""

    def __init__(self, sites: Iterable[LampSite]) -> None:
        """One pass over `sites` (a generator of registry rows is fine: no LampSite is kept),
        then the columns are put in id order, so indices never depend on the input's order."""
        c = _Columns()
        for site in sites:
            c.add(site)
        order = c.id_order()
        self.ids: list[str] = [c.ids[i] for i in order]
        self.index = IdIndex(self.ids)
        self.gateway_of: list[str] = [c.gateway_of[i] for i in order]
        self.zone_of: list[str] = [c.zone_of[i] for i in order]
        self.cabinet_of = _Coded([c.cabinet_of[i] for i in order])  # off the per-reading path:
        self.road_of = _Coded([c.road_of[i] for i in order])  # 4 bytes a lamp, not 8
        fits = all(-1 <= p < 2**31 for p in c.position)  # int32 unless a position is huge
        self.position = array("i" if fits else "q", (c.position[i] for i in order))
        placed = any(v == v for v in c.lat) or any(v == v for v in c.lon)  # not all NaN
        self.lat = array("d", (c.lat[i] for i in order)) if placed else None
        self.lon = array("d", (c.lon[i] for i in order)) if placed else None
        self.in_service = bytearray(c.in_service[i] for i in order)
        rank_of = {old: new for new, old in enumerate(order)} if c.works else {}
        self.works: dict[int, tuple[int | None, int | None]] = {
            rank_of[old]: window for old, window in c.works.items()}
        del c, order
        self.sites = _SiteView(self)
        self.zones: list[str] = sorted(set(self.zone_of))
        self.by_gateway = _group(self.gateway_of)
        self.by_cabinet = _group(self.cabinet_of)
        self.by_zone = _group(self.zone_of)
        self.roads = {road: array("i", sorted(members, key=lambda i: (self.position[i],
                                                                       self.ids[i])))
                      for road, members in _group(self.road_of).items()}
        self.road_rank = array("i", [NO_RANK]) * len(self.ids)
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

    def set_service(self, i: int, in_service: bool, works_from_ms: int | None,
                    works_until_ms: int | None) -> None:
        """Lamp `i`'s service state as the registry now says (the live runner's follow)."""
        self.in_service[i] = in_service
        if works_from_ms is None and works_until_ms is None:
            self.works.pop(i, None)
        else:
            self.works[i] = (works_from_ms, works_until_ms)

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


class IdIndex:
    """id -> position in `ids`, as an open-addressing table of int32 (8 MB for a million lamps,
    where a dict costs ~70 MB: its table plus an int object per lamp). Lookups cost a hash and a
    probe or two; the table layout follows Python's per-process string hash, the answers do not."""

    def __init__(self, ids: list[str]) -> None:
        size = 1 << max(4, (2 * len(ids) - 1).bit_length())  # at most half full
        self._ids, self._mask = ids, size - 1
        self._table = array("i", [-1]) * size
        for i, lamp in enumerate(ids):
            slot = hash(lamp) & self._mask
            while self._table[slot] != -1:
                if ids[self._table[slot]] == lamp:
                    break  # a repeated id: the first one keeps it
                slot = (slot + 1) & self._mask
            else:
                self._table[slot] = i

    def get(self, lamp: str) -> int | None:
        table, ids, mask = self._table, self._ids, self._mask
        slot = hash(lamp) & mask
        while (i := table[slot]) != -1:
            if ids[i] == lamp:
                return i
            slot = (slot + 1) & mask
        return None

    def __getitem__(self, lamp: str) -> int:
        i = self.get(lamp)
        if i is None:
            raise KeyError(lamp)
        return i

    def __contains__(self, lamp: object) -> bool:
        return isinstance(lamp, str) and self.get(lamp) is not None

    def __len__(self) -> int:
        return len(self._ids)


class _Coded:
    """A column of few distinct names (cabinets, roads) as int32 codes: `column[i]` is a name or
    None."""

    __slots__ = ("_codes", "_names")

    def __init__(self, values: list[str | None]) -> None:
        codes: dict[str, int] = {}
        self._codes = array("i", (-1 if v is None else codes.setdefault(v, len(codes))
                                  for v in values))
        self._names = list(codes)

    def __getitem__(self, i: int) -> str | None:
        code = self._codes[i]
        return None if code < 0 else self._names[code]

    def __len__(self) -> int:
        return len(self._codes)

    def __iter__(self) -> Iterator[str | None]:
        names = self._names
        return (None if code < 0 else names[code] for code in self._codes)


class _Columns:
    """The fleet's columns in input order, while they are being read."""

    def __init__(self) -> None:
        self.ids: list[str] = []
        self.gateway_of: list[str] = []
        self.zone_of: list[str] = []
        self.cabinet_of: list[str | None] = []
        self.road_of: list[str | None] = []
        self.position = array("q")
        self.lat = array("d")
        self.lon = array("d")
        self.in_service = bytearray()
        self.works: dict[int, tuple[int | None, int | None]] = {}

    def add(self, s: LampSite) -> None:
        if s.works_from_ms is not None or s.works_until_ms is not None:
            self.works[len(self.ids)] = (s.works_from_ms, s.works_until_ms)
        self.ids.append(s.id)
        self.gateway_of.append(sys.intern(s.gateway))
        self.zone_of.append(sys.intern(s.zone))
        self.cabinet_of.append(_intern(s.cabinet))
        self.road_of.append(_intern(s.road) if s.position is not None else None)
        self.position.append(-1 if s.position is None else s.position)
        self.lat.append(_float(s.lat))
        self.lon.append(_float(s.lon))
        self.in_service.append(bool(s.in_service))

    def id_order(self) -> list[int]:
        """Input positions in id order (the identity when the input came sorted)."""
        ids = self.ids
        if all(ids[k] < ids[k + 1] for k in range(len(ids) - 1)):
            return list(range(len(ids)))
        return sorted(range(len(ids)), key=ids.__getitem__)


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


def _group(values: Iterable[str | None]) -> dict[str, array]:
    groups: dict[str, list[int]] = {}
    for i, value in enumerate(values):
        if value is not None:
            groups.setdefault(value, []).append(i)
    return {value: array("i", members) for value, members in groups.items()}


__all__ = ["Fleet", "LampSite"]
