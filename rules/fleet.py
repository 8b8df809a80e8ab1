"""The lamps the rules judge, as plain indexed data: zones, roads in position order, cabinets, gateways.

Built once from the registry (or a scenario); the rule state refers to lamps by index into `sites`,
so per-lamp state can live in flat lists instead of a million small objects.
"""

from __future__ import annotations

from collections.abc import Iterable

from streetwatch.town import LampSite


class Fleet:
    """Lamps by index, with the groupings the rules need (built once; read-only afterwards)."""

    def __init__(self, sites: Iterable[LampSite]) -> None:
        self.sites: list[LampSite] = sorted(sites, key=lambda s: s.id)
        self.index: dict[str, int] = {site.id: i for i, site in enumerate(self.sites)}
        self.zones: list[str] = sorted({site.zone for site in self.sites})
        self.by_gateway: dict[str, list[int]] = _group(self.sites, lambda s: s.gateway)
        self.by_cabinet: dict[str, list[int]] = _group(self.sites, lambda s: s.cabinet)
        self.roads: dict[str, list[int]] = {
            road: sorted(members, key=lambda i: (self.sites[i].position, self.sites[i].id))
            for road, members in _group(
                self.sites, lambda s: s.road if s.position is not None else None).items()
        }
        self.road_rank: dict[int, int] = {
            i: rank for members in self.roads.values() for rank, i in enumerate(members)
        }

    def __len__(self) -> int:
        return len(self.sites)

    def neighbours(self, i: int) -> tuple[int | None, int | None]:
        """The lamps before and after lamp `i` on its road (None at the ends or off-road)."""
        rank = self.road_rank.get(i)
        if rank is None:
            return None, None
        members = self.roads[self.sites[i].road or ""]
        before = members[rank - 1] if rank > 0 else None
        after = members[rank + 1] if rank + 1 < len(members) else None
        return before, after


def _group(sites: list[LampSite], key) -> dict[str, list[int]]:  # noqa: ANN001 - a lambda
    groups: dict[str, list[int]] = {}
    for i, site in enumerate(sites):
        value = key(site)
        if value is not None:
            groups.setdefault(value, []).append(i)
    return groups


__all__ = ["Fleet", "LampSite"]
