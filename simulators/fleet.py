"""A seeded, synthetic device fleet: gateways, zones, lamps on roads and cabinets, drains, gauges.

Pure and deterministic: the same arguments always build the same fleet, so scenarios, the
registry and the simulator agree on every id without sharing state.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import ClassVar

TOWN_CENTRE = (31.23, 121.47)
ROAD_LAMPS = (15, 25)  # lamps per road, drawn per road: "~20"
CABINET_LAMPS = (25, 35)  # lamps per feeder cabinet: "~30"
LAMP_SPACING_DEG = 0.0003  # ~30 m between neighbouring lamps
ZONE_SPREAD_DEG = 0.03  # zone centres lie within this of the town centre
DEPTH_CM = (150.0, 400.0)
OVERFLOW_SHARE = 0.9  # overflow level as a share of the drain's depth


@dataclass(frozen=True)
class Lamp:
    """A streetlight: its place on a road, its cabinet and its coordinates."""

    kind: ClassVar[str] = "lamp"
    id: str
    gateway: str
    zone: str
    road: str
    position_on_road: int
    cabinet: str
    lat: float
    lon: float


@dataclass(frozen=True)
class Drain:
    """A drain-level sensor: depth, overflow level and the drain its water flows to."""

    kind: ClassVar[str] = "drain"
    id: str
    gateway: str
    zone: str
    depth_cm: float
    overflow_cm: float
    downstream_id: str | None


@dataclass(frozen=True)
class RainGauge:
    """A rain gauge reporting rainfall since its previous reading."""

    kind: ClassVar[str] = "rain"
    id: str
    gateway: str
    zone: str
    lat: float
    lon: float


Device = Lamp | Drain | RainGauge


@dataclass(frozen=True)
class Fleet:
    """Every simulated device; gateway `gateways[i]` serves zone `zones[i]`."""

    seed: int
    gateways: tuple[str, ...]
    zones: tuple[str, ...]
    lamps: tuple[Lamp, ...]
    drains: tuple[Drain, ...]
    gauges: tuple[RainGauge, ...]

    @property
    def devices(self) -> tuple[Device, ...]:
        return (*self.lamps, *self.drains, *self.gauges)

    def zone_of(self, gateway: str) -> str:
        return self.zones[self.gateways.index(gateway)]

    def registry_rows(self) -> tuple[list[dict], list[dict], list[dict]]:
        """Lamp, drain and gauge rows in the shape `registry.store.upsert_devices` takes."""
        lamps = [
            {
                "id": x.id, "gateway": x.gateway, "zone": x.zone, "road": x.road,
                "position_on_road": x.position_on_road, "cabinet": x.cabinet,
                "lat": x.lat, "lon": x.lon,
            }
            for x in self.lamps
        ]
        drains = [
            {
                "id": x.id, "gateway": x.gateway, "zone": x.zone, "depth_cm": x.depth_cm,
                "overflow_cm": x.overflow_cm, "downstream_id": x.downstream_id,
            }
            for x in self.drains
        ]
        gauges = [
            {"id": x.id, "gateway": x.gateway, "zone": x.zone, "lat": x.lat, "lon": x.lon}
            for x in self.gauges
        ]
        return lamps, drains, gauges


def build_fleet(
    seed: int, gateways: int, lamps: int, drains: int, gauges: int | None = None
) -> Fleet:
    """Build the fleet for `seed`: one zone per gateway, devices split evenly over gateways.

    `gauges` defaults to one rain gauge per gateway.
    """
    if gateways < 1:
        raise ValueError("a fleet needs at least one gateway")
    if min(lamps, drains, gauges or 0) < 0:
        raise ValueError("device counts must not be negative")
    rng = random.Random(seed)
    gateway_ids = tuple(f"gw{i}" for i in range(1, gateways + 1))
    zone_width = max(2, len(str(gateways)))
    zone_ids = tuple(f"Z{i:0{zone_width}d}" for i in range(1, gateways + 1))
    centres = [_zone_centre(rng) for _ in gateway_ids]
    sites = list(zip(gateway_ids, zone_ids, centres, strict=False))
    return Fleet(
        seed=seed,
        gateways=gateway_ids,
        zones=zone_ids,
        lamps=_build_lamps(rng, sites, lamps),
        drains=_build_drains(rng, sites, drains),
        gauges=_build_gauges(rng, sites, gateways if gauges is None else gauges),
    )


_LatLon = tuple[float, float]
_Site = tuple[str, str, _LatLon]  # gateway, zone, zone centre


def split_evenly(total: int, parts: int) -> list[int]:
    """Split `total` into `parts` counts differing by at most one (the first ones larger)."""
    base, extra = divmod(total, parts)
    return [base + (1 if i < extra else 0) for i in range(parts)]


def _id_width(count: int, minimum: int) -> int:
    return max(minimum, len(str(count)))


def _zone_centre(rng: random.Random) -> _LatLon:
    lat, lon = TOWN_CENTRE
    return (lat + rng.uniform(-ZONE_SPREAD_DEG, ZONE_SPREAD_DEG),
            lon + rng.uniform(-ZONE_SPREAD_DEG, ZONE_SPREAD_DEG))


def _near(rng: random.Random, centre: tuple[float, float], spread_deg: float) -> _LatLon:
    return (round(centre[0] + rng.uniform(-spread_deg, spread_deg), 6),
            round(centre[1] + rng.uniform(-spread_deg, spread_deg), 6))


def _chunk_lengths(rng: random.Random, total: int, bounds: tuple[int, int]) -> list[int]:
    """Cut `total` consecutive items into runs whose lengths are drawn from `bounds`."""
    lengths: list[int] = []
    while total > 0:
        length = min(total, rng.randint(*bounds))
        lengths.append(length)
        total -= length
    return lengths


def _build_lamps(rng: random.Random, sites: list[_Site], count: int) -> tuple[Lamp, ...]:
    width = _id_width(count, 6)
    road_width, cabinet_width = _id_width(count, 4), _id_width(count, 4)
    lamps: list[Lamp] = []
    roads = cabinets = 0
    for (gateway, zone, centre), share in zip(sites, split_evenly(count, len(sites)), strict=False):
        cabinet_ids: list[str] = []
        for length in _chunk_lengths(rng, share, CABINET_LAMPS):
            cabinets += 1
            cabinet_ids += [f"C{cabinets:0{cabinet_width}d}"] * length
        zone_lamps: list[Lamp] = []
        for length in _chunk_lengths(rng, share, ROAD_LAMPS):
            roads += 1
            lat, lon = _near(rng, centre, ZONE_SPREAD_DEG / 3)
            step = rng.choice(((LAMP_SPACING_DEG, 0.0), (0.0, LAMP_SPACING_DEG)))
            for position in range(1, length + 1):
                zone_lamps.append(Lamp(
                    id=f"L{len(lamps) + len(zone_lamps) + 1:0{width}d}",
                    gateway=gateway, zone=zone, road=f"R{roads:0{road_width}d}",
                    position_on_road=position, cabinet=cabinet_ids[len(zone_lamps)],
                    lat=round(lat + step[0] * position, 6), lon=round(lon + step[1] * position, 6),
                ))
        lamps += zone_lamps
    return tuple(lamps)


def _build_drains(rng: random.Random, sites: list[_Site], count: int) -> tuple[Drain, ...]:
    width = _id_width(count, 5)
    drains: list[Drain] = []
    for (gateway, zone, _), share in zip(sites, split_evenly(count, len(sites)), strict=False):
        first = len(drains) + 1
        for number in range(first, first + share):
            depth_cm = round(rng.uniform(*DEPTH_CM), 1)
            last = number == first + share - 1
            drains.append(Drain(
                id=f"D{number:0{width}d}", gateway=gateway, zone=zone, depth_cm=depth_cm,
                overflow_cm=round(depth_cm * OVERFLOW_SHARE, 1),
                downstream_id=None if last else f"D{number + 1:0{width}d}",
            ))
    return tuple(drains)


def _build_gauges(rng: random.Random, sites: list[_Site], count: int) -> tuple[RainGauge, ...]:
    width = _id_width(count, 3)
    gauges: list[RainGauge] = []
    for (gateway, zone, centre), share in zip(sites, split_evenly(count, len(sites)), strict=False):
        for _ in range(share):
            lat, lon = _near(rng, centre, ZONE_SPREAD_DEG / 3)
            gauges.append(RainGauge(
                id=f"G{len(gauges) + 1:0{width}d}", gateway=gateway, zone=zone, lat=lat, lon=lon,
            ))
    return tuple(gauges)
