"""Replay: run the rule core over stored observations with a simulated clock; JSON lines out.

The same core as the live runner; time comes from the data. Observations arrive in timestamp
order; ticks fall at whole multiples of `every_ms`, and a reading stamped exactly at a tick counts
for that tick ("latest reading at or before the tick"). Output is byte-identical for the same
input: events in the order the core made them, then the tick's lighting-rate samples.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator

from rules.engine import RuleEngine
from rules.lighting import LightingRate
from streetwatch.alerts.model import AlertEvent, Notice
from streetwatch.town import (
    DrainObservation,
    LampObservation,
    Observation,
    RainObservation,
    StatusObservation,
)


def replay_lines(engine: RuleEngine, observations: Iterable[Observation], from_ms: int,
                 to_ms: int, every_ms: int) -> Iterator[str]:
    """JSON lines for [from_ms, to_ms): alert events, notices, and lighting rates at night ticks. What
    happens before `from_ms` (the warm-up since the engine's start) shapes state but is not printed."""
    for item in replay_items(engine, observations, from_ms, to_ms, every_ms):
        yield _line(item.as_json()) if isinstance(item, LightingRate) else item.line()


def replay_items(engine: RuleEngine, observations: Iterable[Observation], from_ms: int,
                 to_ms: int, every_ms: int) -> Iterator[AlertEvent | Notice | LightingRate]:
    """`replay_lines` as objects (the live runner's rebuild stores and publishes them)."""
    next_tick = -(-engine.now // every_ms) * every_ms
    drain_reading, book = engine.drain_reading, engine.book
    drains = engine.drain_core()  # a town of drains alone: readings go straight to the core
    reading = drains.reading if drains is not None else None
    for observation in observations:
        ts = observation.ts_ms
        if ts >= to_ms:
            break
        while next_tick < ts:
            yield from _tick(engine, next_tick, from_ms)
            next_tick += every_ms
        if type(observation) is DrainObservation:  # most of a town's readings: no `feed` call
            _, drain, level, battery, cover = observation
            if reading is None:
                drain_reading(drain, ts, level, battery, cover)
            else:  # `drain_reading` in line (RuleEngine.drain_core)
                reading(drain, ts, level, battery, cover)
                if drains.transitions or drains.notices:
                    engine.apply()
        else:
            feed(engine, observation)
        if book.events:
            yield from _events(engine, from_ms, to_ms)
    while next_tick < to_ms:
        yield from _tick(engine, next_tick, from_ms)
        next_tick += every_ms
    engine.settle()
    yield from _events(engine, from_ms, to_ms)


def feed(engine: RuleEngine, observation: Observation) -> None:
    """One observation into the core."""
    if isinstance(observation, LampObservation):
        engine.lamp_reading(observation.lamp, observation.ts_ms, observation.on, observation.fault)
    elif isinstance(observation, DrainObservation):
        engine.drain_reading(observation.drain, observation.ts_ms, observation.level_cm,
                             observation.battery_v, observation.cover_open)
    elif isinstance(observation, RainObservation):
        engine.rain_reading(observation.gauge, observation.ts_ms, observation.rain_mm)
    else:
        engine.gateway_status(observation.gateway, observation.online, observation.ts_ms)


def remember(engine: RuleEngine, history: Iterable[DrainObservation | RainObservation]) -> None:
    """Readings from before the engine's start, in time order: each drain's baseline is learned
    from them (and which of those days were dry), nothing is judged."""
    remember_drain, remember_rain = engine.remember_drain, engine.remember_rain
    for observation in history:
        if type(observation) is DrainObservation:
            ts, drain, level, _, _ = observation
            remember_drain(drain, ts, level)
        else:
            remember_rain(observation.gauge, observation.ts_ms, observation.rain_mm)


def history_start_ms(engine: RuleEngine, start_ms: int) -> int:
    """How far before `start_ms` the baseline history reaches: the learning window, a day for the
    local day boundary, and the rain that can still keep the first of those days wet."""
    config = engine.drains.config
    return (start_ms - (config.baseline.window_days + 1) * 86_400_000
            - config.weather.window_ms - config.weather.drain_out_ms)

def _tick(engine: RuleEngine, ts_ms: int,
          from_ms: int) -> Iterator[AlertEvent | Notice | LightingRate]:
    samples = engine.tick(ts_ms)
    yield from _events(engine, from_ms, ts_ms + 1)
    if ts_ms >= from_ms:
        yield from samples


def _events(engine: RuleEngine, from_ms: int, to_ms: int) -> Iterator[AlertEvent | Notice]:
    if not engine.book.events:
        return  # the usual case, after most readings
    for event in engine.take_events():
        if from_ms <= event.ts_ms < to_ms:
            yield event


def _line(document: dict[str, object]) -> str:
    return json.dumps(document, ensure_ascii=False, separators=(", ", ": "))


__all__ = ["DrainObservation", "LampObservation", "Observation", "RainObservation",
           "StatusObservation", "feed", "history_start_ms", "remember", "replay_items",
           "replay_lines"]
