"""Drive the pure rule core through replay with generated readings (no I/O, no clock).

`FixedNights` is a plain schedule (night 18:00-06:00 UTC, optional grace) so these tests do not
depend on sunset tables; rules.schedule.LightsOnSchedule has its own tests.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from rules.config import Phase, RuleConfig
from rules.engine import RuleEngine
from rules.fleet import Fleet, LampSite
from rules.lifecycle import MemorySink
from rules.replay import LampObservation, Observation, StatusObservation, replay_lines

MIN = 60_000
HOUR = 60 * MIN
DAY = 24 * HOUR
DAY0 = 1_795_392_000_000  # 2026-11-23T00:00:00Z


@dataclass(frozen=True)
class FixedNights:
    """Night from `dusk_h` to `dawn_h` UTC every day, `grace_ms` switching windows around both."""

    dusk_h: int = 18
    dawn_h: int = 6
    grace_ms: int = 0

    def _edges(self, day: int) -> list[tuple[int, Phase]]:
        dusk, dawn, g = day + self.dusk_h * HOUR, day + self.dawn_h * HOUR, self.grace_ms
        edges = [(dawn - g, "switching"), (dawn + g, "day"), (dusk - g, "switching"),
                 (dusk + g, "night")]
        return [(t, p) for t, p in edges if g or p != "switching"]

    def _timeline(self, ts_ms: int) -> list[tuple[int, Phase]]:
        day = ts_ms - ts_ms % DAY
        return [e for d in (day - DAY, day, day + DAY) for e in self._edges(d)]

    def phase(self, zone: str, ts_ms: int) -> Phase:
        return [p for t, p in self._timeline(ts_ms) if t <= ts_ms][-1]

    def next_change_ms(self, zone: str, ts_ms: int) -> int:
        return next(t for t, _ in self._timeline(ts_ms) if t > ts_ms)


def road_lamps(n: int, zone: str = "Z1", road: str = "R1", gateway: str = "gw1",
               cabinet_size: int = 0, prefix: str = "L") -> list[LampSite]:
    """n lamps at positions 1..n on one road; cabinets of `cabinet_size` lamps (0: none)."""
    return [LampSite(f"{prefix}{p:03d}", gateway, zone, road, p,
                     f"C{(p - 1) // cabinet_size + 1}" if cabinet_size else None)
            for p in range(1, n + 1)]


LampState = Callable[[str, int], tuple[bool, str | None] | None]


def lit_at_night(lamp: str, ts_ms: int) -> tuple[bool, str | None]:
    """A healthy lamp: on between 18:00 and 06:00 UTC."""
    hour = (ts_ms % DAY) // HOUR
    return (hour >= 18 or hour < 6), None


def readings(sites: list[LampSite], state: LampState, start_ms: int, end_ms: int,
             every_ms: int = 5 * MIN) -> Iterator[LampObservation]:
    """Every lamp reports every `every_ms` (None from `state`: no reading), in time order."""
    for ts in range(start_ms, end_ms, every_ms):
        for site in sites:
            said = state(site.id, ts)
            if said is not None:
                yield LampObservation(ts, site.id, said[0], said[1])


def run(sites: list[LampSite], observations: list[Observation] | Iterator[Observation],
        start_ms: int, from_ms: int, to_ms: int, config: RuleConfig | None = None,
        every_ms: int = MIN, schedule: FixedNights | None = None) -> list[dict]:
    engine = RuleEngine(Fleet(sites), config or RuleConfig(), schedule or FixedNights(),
                        MemorySink(), start_ms)
    return [json.loads(line) for line in
            replay_lines(engine, observations, from_ms, to_ms, every_ms)]


def alerts(lines: list[dict]) -> list[tuple[str, str, str, str]]:
    """(event, kind, subject, ts) of every alert line, in order."""
    return [(x["event"], x["kind"], x["subject"], x["ts"]) for x in lines if x["type"] == "alert"]


def rates(lines: list[dict], zone: str = "Z1") -> list[dict]:
    return [x for x in lines if x["type"] == "lighting_rate" and x["zone"] == zone]


def merge(*streams: Iterator[Observation]) -> list[Observation]:
    """Observations of several streams in timestamp order (stable)."""
    return sorted((o for s in streams for o in s), key=lambda o: o.ts_ms)


__all__ = ["StatusObservation"]
