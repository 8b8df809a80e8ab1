"""A generated town of drains for bench/rules.py (items 6 and 7): zones of drains chained in fives,
one rain gauge a zone, 10-minute readings of a daily flow curve with noise, a storm now and then,
and a few drains silting up. Deterministic and cheap to generate (a noise table, no hashing), so
the figures are the rule core's, not the generator's.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

from rules.drains import DrainNetwork
from streetwatch.town import DrainObservation, DrainSite, GaugeSite, RainObservation

MIN_MS = 60_000
HOUR_MS = 60 * MIN_MS
DAY_MS = 24 * HOUR_MS
DAY0_MS = 1_795_392_000_000  # 2026-11-23T00:00:00Z
EVERY_MS = 10 * MIN_MS
PER_ZONE = 20
CHAIN = 5
_NOISE = [((k * 2654435761) % 1000) / 1000 - 0.5 for k in range(4096)]  # +-0.5 cm
_CURVE = [20.0 + 10.0 * (0.5 - 0.5 * math.cos(2 * math.pi * (m / 60 - 4) / 24))
          for m in range(1440)]  # cm, by minute of the day


def network(drains: int) -> DrainNetwork:
    """`drains` drains in zones of 20 (chains of 5: Z0001-D00001 -> ... -> Z0001-D00005)."""
    sites = []
    for i in range(drains):
        zone = f"Z{i // PER_ZONE + 1:04d}"
        last = (i + 1) % CHAIN == 0 or i + 1 == drains
        sites.append(DrainSite(f"D{i + 1:05d}", f"G{i // PER_ZONE + 1:04d}", zone, 200.0, 180.0,
                               None if last else f"D{i + 2:05d}"))
    zones = sorted({s.zone for s in sites})
    return DrainNetwork(sites, [GaugeSite(f"R{z[1:]}", f"G{z[1:]}", z) for z in zones])


def _storming(zone_index: int, day: int) -> bool:
    """Every zone has a storm on one day in eleven (zones at different days)."""
    return (day + zone_index) % 11 == 5


def observations(net: DrainNetwork, from_ms: int, to_ms: int,
                 silting: int = 20) -> Iterator[DrainObservation | RainObservation]:
    """Rain then drain readings every 10 min in [from_ms, to_ms), in replay order. Storm days
    rain 1 mm a reading from 12:00 to 15:00 and lift the zone's drains; `silting` drains (every
    100th) creep up 1 cm a day (the dredging list's case); one drain in 250 blocks one day a week
    (8 cm/h from 09:00 to 15:00: a blockage raised, then resolved)."""
    drains = list(net.drains)
    zone_of = {z: k for k, z in enumerate(sorted({g.zone for g in net.gauges}))}
    for ts in range(from_ms, to_ms, EVERY_MS):
        day, minute = (ts - DAY0_MS) // DAY_MS, ts % DAY_MS // MIN_MS
        wet = {z for z, k in zone_of.items() if _storming(k, day)}
        raining = 720 <= minute < 900
        for gauge in net.gauges:
            yield RainObservation(ts, gauge.id, 1.0 if raining and gauge.zone in wet else 0.0)
        step = ts // EVERY_MS
        base = _CURVE[minute]
        lift = 30.0 * math.exp(-max(0, minute - 900) / 60) if minute >= 720 else 0.0
        for i, site in enumerate(drains):
            level = base + _NOISE[(i * 31 + step) & 4095]
            if site.zone in wet:
                level += lift
            if i % 100 == 0 and i // 100 < silting:
                level += (ts - DAY0_MS) / DAY_MS
            if i % 250 == 7 and day % 7 == 3 and 540 <= minute < 900:
                level += 8.0 * (minute - 540) / 60
            yield DrainObservation(ts, site.id, round(level, 1), 3.6, False)
