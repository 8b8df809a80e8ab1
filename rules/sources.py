"""Where the rule core's inputs come from: the registry (lamps, drains, gauges) and InfluxDB
(stored readings).

I/O adapter (the core stays pure): replay and the live runner's rebuild read stored `lamp`,
`rain` and `drain` readings and live `gateway_status` points in timestamp order, an hour at a
time, so a month never sits in memory at once.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Iterator

from sqlalchemy import Engine

from rules.drains import DrainNetwork
from rules.fleet import Fleet, LampSite
from rules.replay import (
    DrainObservation,
    LampObservation,
    Observation,
    RainObservation,
    StatusObservation,
)
from streetwatch.influx import InfluxClient
from streetwatch.registry.store import (
    DeviceInfo,
    LampRecord,
    iter_lamps,
    load_device_index,
    load_drains,
    load_gauges,
    registry_revision,
)

CHUNK_MS = 3_600_000


def fleet_of(records: Iterable[LampRecord]) -> Fleet:
    """The registry's lamps as the rule core's fleet."""
    return Fleet(map(lamp_site, records))


def lamp_site(r: LampRecord) -> LampSite:
    """A registry lamp as the rule core sees it."""
    return LampSite(r.id, r.gateway, r.zone, r.road, r.position_on_road, r.cabinet, r.lat, r.lon,
                    r.in_service, r.out_of_service_from_ms, r.out_of_service_until_ms)


class SqlRegistry:
    """The registry as the live runner follows it: a revision that moves with every write of
    the device tables, and what a rebuild reads (the device index, the lamps, the drains)."""

    def __init__(self, sql: Engine) -> None:
        self.sql = sql

    def revision(self) -> int:
        return registry_revision(self.sql)

    def device_index(self) -> dict[tuple[str, str], DeviceInfo]:
        return load_device_index(self.sql)

    def lamps(self) -> Iterator[LampRecord]:
        return iter_lamps(self.sql)

    def network(self) -> DrainNetwork:
        return network_of(self.sql)


def network_of(sql: Engine) -> DrainNetwork:
    """The registry's drains and rain gauges, but those retired for good (a planned-works window
    is not yet heeded for drains: they are judged, and may be silent, through it)."""
    return DrainNetwork(load_drains(sql, in_service_only=True),
                        load_gauges(sql, in_service_only=True))


def stored_observations(influx: InfluxClient, from_ms: int, to_ms: int) -> Iterator[Observation]:
    """Lamp, rain and drain readings and gateway statuses in [from_ms, to_ms), merged in
    timestamp order (at equal instants in that order, as streetwatch.town.OBSERVATION_ORDER says;
    each source in InfluxDB's order, which is stable)."""
    return heapq.merge(_lamps(influx, from_ms, to_ms), stored_rain(influx, from_ms, to_ms),
                       stored_drains(influx, from_ms, to_ms), _statuses(influx, from_ms, to_ms),
                       key=lambda o: o.ts_ms)


def stored_history(influx: InfluxClient, from_ms: int,
                   to_ms: int) -> Iterator[DrainObservation | RainObservation]:
    """Rain and drain readings in [from_ms, to_ms) in timestamp order: what baselines learn from."""
    return heapq.merge(stored_rain(influx, from_ms, to_ms), stored_drains(influx, from_ms, to_ms),
                       key=lambda o: o.ts_ms)


def _rows(influx: InfluxClient, measurement: str, columns: str, tag: str, from_ms: int,
          to_ms: int) -> Iterator[dict]:
    """Rows of `measurement` in [from_ms, to_ms), an hour per query, ordered by (time, tag)."""
    for start in range(from_ms, to_ms, CHUNK_MS):
        end = min(start + CHUNK_MS, to_ms)
        rows = influx.rows_chunked(f'SELECT {columns} FROM "{measurement}" WHERE time >= '
                                   f"{start}ms AND time < {end}ms ORDER BY time ASC")
        rows.sort(key=lambda row: (row["time"], row[tag]))
        yield from rows


def _lamps(influx: InfluxClient, from_ms: int, to_ms: int) -> Iterator[LampObservation]:
    for row in _rows(influx, "lamp", '"on", "fault", "lamp"', "lamp", from_ms, to_ms):
        if row.get("on") is not None:
            yield LampObservation(int(row["time"]), row["lamp"], bool(row["on"]),
                                  row.get("fault") or None)


def stored_drains(influx: InfluxClient, from_ms: int, to_ms: int) -> Iterator[DrainObservation]:
    """Stored `drain` readings in [from_ms, to_ms), in time order (then by sensor)."""
    columns = '"level_cm", "battery_v", "cover_open", "sensor"'
    for row in _rows(influx, "drain", columns, "sensor", from_ms, to_ms):
        if row.get("level_cm") is not None:
            cover = row.get("cover_open")
            yield DrainObservation(int(row["time"]), row["sensor"], float(row["level_cm"]),
                                   row.get("battery_v"), None if cover is None else bool(cover))


def stored_rain(influx: InfluxClient, from_ms: int, to_ms: int) -> Iterator[RainObservation]:
    """Stored `rain` readings in [from_ms, to_ms), in time order (then by gauge)."""
    for row in _rows(influx, "rain", '"rain_mm", "gauge"', "gauge", from_ms, to_ms):
        if row.get("rain_mm") is not None:
            yield RainObservation(int(row["time"]), row["gauge"], float(row["rain_mm"]))


def _statuses(influx: InfluxClient, from_ms: int, to_ms: int) -> Iterator[StatusObservation]:
    for row in _rows(influx, "gateway_status", '"online", "gateway"', "gateway", from_ms, to_ms):
        yield StatusObservation(int(row["time"]), row["gateway"], bool(row["online"]))
