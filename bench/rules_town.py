"""The rule bench's town: a lamp fleet laid out like a real one, its lights-on schedule, and every
lamp's readings in timestamp order, one minute window at a time.

Layout (deterministic, no randomness): lamp `i` belongs to gateway `i // 500`, roads of 20 lamps
and cabinets of 25 lamps inside each gateway, zones of 20,000 lamps (at least 4 zones). Lamp
`i % 1000 == 7` is dark (`on: false`, `lamp_failure`: a `lamp_out` once its hold passes) and lamp
`i % 1000 == 507` is lit but tilted (`lamp_fault`); every other lamp is healthy, on from 18:00 to
06:00 UTC. The schedule is the production `LightsOnSchedule` with a fixed lights-on period
"18:00-06:00" (UTC) and the default 900 s grace: night (what the rules judge) is 18:15-05:45.

Readings: every lamp reports every 5 minutes at its own offset in the round, and lamps report in a
scrambled order (consecutive readings hop across gateways, roads and zones, as when many gateways
publish at once). Before the regular rounds, a warm-up gives every lamp one reading, spread over
the 14 minutes before the first round: by the time the measured window starts, each lamp's stale
and silence timers sit at their steady-state phase (without it, every lamp's first stale timer
would fire in the same 5 minutes). No reading falls on a whole minute, so a tick at T never shares
its instant with a reading and the timers due at T fire inside `tick(T)`.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property

from rules.fleet import Fleet, LampSite
from rules.schedule import LightsOnSchedule

MIN_MS = 60_000
HOUR_MS = 60 * MIN_MS
DAY_MS = 24 * HOUR_MS
DAY0_MS = 1_795_392_000_000  # 2026-11-23T00:00:00Z (as tests/rule_drive.py)

LAMPS_PER_GATEWAY = 500
LAMPS_PER_ROAD = 20
LAMPS_PER_CABINET = 25
LAMPS_PER_ZONE = 20_000
MIN_ZONES = 4
REPORT_EVERY_MS = 5 * MIN_MS
WARM_UP_SPAN_MS = 14 * MIN_MS  # < stale_after (15 min): no lamp goes stale between warm-up and round 1
LIGHTS_ON = "18:00-06:00"
DUSK_H, DAWN_H = 18, 6
GRACE_S = 900  # the settings' default lights_on_grace_s
TOWN_LAT_LON = (31.2304, 121.4737)  # the settings' default town

HEALTHY, DARK, TILTED = 0, 1, 2
Reading = tuple[str, int, bool, str | None]  # lamp id, ts (ms), on, fault


def lamp_kind(i: int) -> int:
    """Which of the three behaviours lamp `i` has (0.2 % of lamps are faulty)."""
    rest = i % 1000
    return DARK if rest == 7 else TILTED if rest == 507 else HEALTHY


def lights_on(ts_ms: int) -> bool:
    hour = ts_ms % DAY_MS // HOUR_MS
    return hour >= DUSK_H or hour < DAWN_H


def lamp_says(kind: int, ts_ms: int) -> tuple[bool, str | None]:
    if kind == DARK:
        return False, "lamp_failure"
    on = lights_on(ts_ms)
    return on, ("tilt" if kind == TILTED else None)


@dataclass(frozen=True)
class Town:
    """`lamps` lamps, `lamps_per_gateway` to a gateway; sites are generated, not stored, so the
    memory figure counts the engine, not the bench's input (a registry is read as a stream too)."""

    lamps: int
    lamps_per_gateway: int = LAMPS_PER_GATEWAY

    def iter_sites(self) -> Iterator[LampSite]:
        gateway_count = -(-self.lamps // self.lamps_per_gateway)
        zone_count = max(MIN_ZONES, self.lamps // LAMPS_PER_ZONE)
        per_zone = max(1, -(-gateway_count // zone_count))
        width = len(str(self.lamps))
        for i in range(self.lamps):
            g, k = divmod(i, self.lamps_per_gateway)
            yield LampSite(f"L{i:0{width}d}", f"gw{g:05d}", f"Z{g // per_zone:03d}",
                           f"R{g:05d}-{k // LAMPS_PER_ROAD:03d}", k % LAMPS_PER_ROAD + 1,
                           f"C{g:05d}-{k // LAMPS_PER_CABINET:03d}")

    @cached_property
    def sites(self) -> list[LampSite]:
        """All sites as a list (the live item registers them; the pure items never build it)."""
        return list(self.iter_sites())

    @cached_property
    def gateways(self) -> list[str]:
        return sorted({s.gateway for s in self.iter_sites()})

    @cached_property
    def zones(self) -> list[str]:
        return sorted({s.zone for s in self.iter_sites()})

    def ids(self) -> list[str]:
        return [s.id for s in self.iter_sites()]

    def fleet(self) -> Fleet:
        return Fleet(self.iter_sites())

    def schedule(self) -> LightsOnSchedule:
        return lights_on_schedule(self.zones)

    def registry_rows(self) -> list[dict]:
        """The lamps as `streetwatch.registry.store.upsert_devices` takes them."""
        return [{"id": s.id, "gateway": s.gateway, "zone": s.zone, "road": s.road,
                 "position_on_road": s.position, "cabinet": s.cabinet} for s in self.sites]


def lights_on_schedule(zones: list[str]) -> LightsOnSchedule:
    """The production schedule class, every zone on the fixed lights-on period."""
    return LightsOnSchedule(*TOWN_LAT_LON, "UTC", GRACE_S, {zone: LIGHTS_ON for zone in zones})


def build_town(lamps: int, lamps_per_gateway: int = LAMPS_PER_GATEWAY) -> Town:
    return Town(lamps, lamps_per_gateway)


class Readings:
    """Every lamp's readings, one warm-up pass then 5-minute rounds from `first_round_ms` (a whole
    minute), handed out per window in timestamp order. Nothing is precomputed per reading, so
    generating a window costs no memory beyond the window itself."""

    def __init__(self, ids: list[str], first_round_ms: int) -> None:
        self.ids = ids  # the fleet's own id strings: nothing extra per lamp
        self.n = len(self.ids)
        self.first_round_ms = first_round_ms
        self.warm_up_ms = first_round_ms - WARM_UP_SPAN_MS
        self.stride = _scramble_stride(self.n)

    def lamp_at(self, j: int) -> int:
        """The lamp that reports `j`-th in every pass."""
        return j * self.stride % self.n

    def window(self, from_ms: int, to_ms: int) -> list[Reading]:
        """Every reading with from_ms <= ts < to_ms (both whole minutes), in timestamp order."""
        out: list[Reading] = []
        if from_ms < self.first_round_ms:
            out += self._pass(self.warm_up_ms, WARM_UP_SPAN_MS, from_ms, min(to_ms, self.first_round_ms))
        start = max(from_ms, self.first_round_ms)
        first_round = (start - self.first_round_ms) // REPORT_EVERY_MS
        base = self.first_round_ms + first_round * REPORT_EVERY_MS
        while base < to_ms:
            out += self._pass(base, REPORT_EVERY_MS, max(start, base), min(to_ms, base + REPORT_EVERY_MS))
            base += REPORT_EVERY_MS
        return out

    def iterate(self, from_ms: int, to_ms: int, step_ms: int = MIN_MS) -> Iterator[Reading]:
        for start in range(from_ms, to_ms, step_ms):
            yield from self.window(start, min(start + step_ms, to_ms))

    def _pass(self, base_ms: int, span_ms: int, from_ms: int, to_ms: int) -> list[Reading]:
        """Readings of one pass (lamp at position j reports at base + j * span // n, moved 1 ms
        off a whole minute) with ts in [from_ms, to_ms)."""
        if to_ms <= from_ms:
            return []
        n, ids = self.n, self.ids
        lo = -(-(from_ms - base_ms) * n // span_ms)  # first j with base + j * span // n >= from
        hi = -(-(to_ms - base_ms) * n // span_ms)
        out = []
        for j in range(max(lo, 0), min(hi, n)):
            ts = base_ms + j * span_ms // n
            if ts % MIN_MS == 0:
                ts += 1
            i = j * self.stride % n
            on, fault = lamp_says(lamp_kind(i), ts)
            out.append((ids[i], ts, on, fault))
        return out


def _scramble_stride(n: int) -> int:
    """A stride near n / golden ratio, coprime to n: j -> j * stride % n visits every lamp once,
    and consecutive positions land far apart in the fleet."""
    stride = max(1, int(n * 0.6180339887)) | 1
    while math.gcd(stride, n) != 1:
        stride += 2
    return stride % n if n > 1 else 0
