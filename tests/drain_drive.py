"""Drive the drain rules through the pure core with generated readings (no I/O, no clock).

A town of drains on one chain (D1 -> D2 -> ... in zone Z1) with a daily flow curve and small
deterministic noise; `history_days` of dry readings are learned from (not judged), then the days
under test are replayed and the output lines returned as dicts.
"""

from __future__ import annotations

import json
import math
import zlib
from collections.abc import Callable, Iterator

from rules.drains import DrainNetwork
from rules.engine import RuleEngine
from rules.fleet import Fleet
from rules.lifecycle import MemorySink
from rules.replay import DrainObservation, RainObservation, remember, replay_lines
from streetwatch.settings import Settings
from streetwatch.town import DrainSite, GaugeSite

MIN = 60_000
HOUR = 60 * MIN
DAY = 24 * HOUR
DAY0 = 1_795_392_000_000  # 2026-11-23T00:00:00Z
HISTORY_DAYS = 3
START = DAY0 + HISTORY_DAYS * DAY  # the first judged instant
TOWN = Settings.model_construct().model_copy(update={
    "baseline_window_days": HISTORY_DAYS, "baseline_min_samples": 3})


def chain(n: int = 5, zone: str = "Z1", **geometry: float | None) -> list[DrainSite]:
    """D1 -> D2 -> ... -> Dn, 200 cm deep, overflowing at 180 cm unless told otherwise."""
    shape = {"depth_cm": 200.0, "overflow_cm": 180.0, **geometry}
    return [DrainSite(f"D{i}", "gw1", zone, downstream=f"D{i + 1}" if i < n else None, **shape)
            for i in range(1, n + 1)]


def dry_level(drain: str, ts_ms: int, noise_cm: float = 0.5) -> float:
    """20 cm at 04:00, 30 cm at 16:00 (a smooth daily curve), plus noise in +-noise_cm."""
    hours = ts_ms % DAY / HOUR
    curve = 20.0 + 10.0 * (0.5 - 0.5 * math.cos(2 * math.pi * (hours - 4) / 24))
    unit = zlib.crc32(f"{drain}:{ts_ms}".encode()) / 0xFFFFFFFF
    return round(curve + noise_cm * (2 * unit - 1), 1)


Level = Callable[[str, int], float | None]  # None: the drain says nothing at that instant


def observations(drains: list[DrainSite], level: Level, from_ms: int, to_ms: int,
                 every_ms: int = 10 * MIN, rain: Callable[[int], float] = lambda t: 0.0,
                 gauges: tuple[str, ...] = ("R1",), battery: Callable[[str, int], float | None]
                 = lambda d, t: 3.6, cover: Callable[[str, int], bool | None] = lambda d, t: False,
                 ) -> Iterator[DrainObservation | RainObservation]:
    """Every gauge's rain then every drain's reading at each step, in replay order."""
    for ts in range(from_ms, to_ms, every_ms):
        for gauge in gauges:
            yield RainObservation(ts, gauge, rain(ts))
        for site in drains:
            value = level(site.id, ts)
            if value is not None:
                yield DrainObservation(ts, site.id, value, battery(site.id, ts), cover(site.id, ts))


def run(drains: list[DrainSite], level: Level, until_ms: int, every_ms: int = 10 * MIN,
        rain: Callable[[int], float] = lambda t: 0.0, town: Settings = TOWN,
        **options: Callable) -> list[dict]:
    """History (dry curve) learned, then [START, until_ms) judged: the replay's lines as dicts."""
    network = DrainNetwork(drains, [GaugeSite("R1", "gw1", drains[0].zone)])
    engine = RuleEngine.from_settings(Fleet([]), town, MemorySink(), START, network)
    remember(engine, observations(drains, dry_level, DAY0, START, every_ms))
    lines = replay_lines(engine, observations(drains, level, START, until_ms, every_ms, rain,
                                              **options), START, until_ms, 60_000)
    return [json.loads(line) for line in lines]


def events(lines: list[dict]) -> list[tuple[str, str, str, str]]:
    """(event, kind, subject, clock time on the judged day) of each alert line."""
    return [(d["event"], d["kind"], d["subject"], d["ts"][11:16])
            for d in lines if d["type"] == "alert"]


def at(hh_mm: str, day: int = 0) -> int:
    """An instant on the judged day (`day` days after START)."""
    h, m = map(int, hh_mm.split(":"))
    return START + day * DAY + h * HOUR + m * MIN
