"""The bench's workload: a registered lamp fleet and its readings, as MQTT messages and as points.

The fleet is the simulator's (`simulators.fleet`), registered in the SQLite registry so that
readings get their zone and road tags as in production. The readings are the bench's own: cheap to
generate, unique per (lamp, ts), all within the last hour. Payloads are encoded as gateways send
them (`simulators.publisher.encode`, per DESIGN s.3) and points as the ingester writes them
(`streetwatch.lineproto.lamp_line`), so the InfluxDB ceiling writes exactly the ingester's bytes.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator, Sequence
from typing import Any

from simulators.fleet import Fleet, Lamp, build_fleet
from simulators.publisher import Batcher, encode
from streetwatch.lineproto import SeriesTags, lamp_line
from streetwatch.registry.migrate import upgrade
from streetwatch.registry.store import make_engine, upsert_devices
from streetwatch.schemas import LampReading
from streetwatch.topics import batch_topic, reading_topic

FLEET_SEED = 1
HOUR_MS = 3_600_000

Messages = dict[str, list[tuple[str, bytes]]]  # per gateway: (topic, payload), in publish order


def lamp_fleet(lamps: int, gateways: int) -> Fleet:
    """`lamps` lamps (one series each) spread over `gateways` gateways, one zone per gateway."""
    return build_fleet(FLEET_SEED, gateways, lamps, drains=0, gauges=0)


def register_fleet(sql_url: str, fleet: Fleet) -> None:
    """Migrate the SQLite registry and register every lamp, so readings get zone and road tags."""
    upgrade(sql_url)
    engine = make_engine(sql_url)
    try:
        upsert_devices(engine, *fleet.registry_rows())
    finally:
        engine.dispose()


def now_ms() -> int:
    return int(time.time() * 1000)


def samples(
    lamps: Sequence[Lamp], count: int, now_ms: int
) -> Iterator[tuple[Lamp, dict[str, Any]]]:
    """`count` lamp payloads (DESIGN s.3, without kind/id), round by round (every lamp at t, then
    at t + step), all within the last hour, as gateways report them; (lamp, ts) is unique."""
    rounds = math.ceil(count / len(lamps))
    step_ms = min(60_000, (HOUR_MS - 300_000) // rounds)
    start_ms = now_ms - HOUR_MS + 240_000
    for i in range(count):
        fault = "lamp_failure" if i % 97 == 0 else None
        reading = {
            "ts": start_ms + (i // len(lamps)) * step_ms + i % 1000,
            "on": fault is None,
            "dim": (i * 7) % 101,
            "power_w": round(20 + (i % 300) / 10, 1),
            "voltage_v": round(225 + (i % 100) / 10, 1),
            "fault": fault,
        }
        yield lamps[i % len(lamps)], reading


def single_messages(lamps: Sequence[Lamp], count: int, now_ms: int) -> Messages:
    """One reading per message on `streetwatch/<gw>/lamp/<id>`, per gateway."""
    out: Messages = {}
    for lamp, reading in samples(lamps, count, now_ms):
        topic = reading_topic(lamp.gateway, "lamp", lamp.id)
        out.setdefault(lamp.gateway, []).append((topic, encode(reading)))
    return out


def batch_messages(lamps: Sequence[Lamp], count: int, size: int, now_ms: int) -> Messages:
    """Per gateway, `streetwatch/<gw>/batch` arrays of `size` of its lamps' readings (the last
    one may be shorter)."""
    batcher = Batcher(size)
    out: Messages = {}

    def add(gateway: str, items: list[dict[str, Any]]) -> None:
        out.setdefault(gateway, []).append((batch_topic(gateway), encode(items)))

    for lamp, reading in samples(lamps, count, now_ms):
        full = batcher.add(lamp.gateway, {"kind": "lamp", "id": lamp.id, **reading})
        if full is not None:
            add(lamp.gateway, full)
    for gateway, items in batcher.drain():
        add(gateway, items)
    return out


def lamp_lines(lamps: Sequence[Lamp], count: int, now_ms: int) -> list[str]:
    """`count` lamp points, encoded by the ingester's own encoder (with the registry's tags)."""
    tags = {lamp.id: SeriesTags(lamp.gateway, lamp.zone, lamp.road) for lamp in lamps}
    return [
        lamp_line(lamp.id, tags[lamp.id], LampReading.model_validate(reading))
        for lamp, reading in samples(lamps, count, now_ms)
    ]
