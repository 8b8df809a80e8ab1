"""Where the rule core's inputs come from: the registry (lamps) and InfluxDB (stored readings).

I/O adapter (the core stays pure): replay and the live runner's rebuild read stored `lamp` readings
and live `gateway_status` points in timestamp order, an hour at a time, so a month never sits in
memory at once.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Iterator

from rules.fleet import Fleet, LampSite
from rules.replay import LampObservation, Observation, StatusObservation
from streetwatch.influx import InfluxClient
from streetwatch.registry.store import LampRecord

CHUNK_MS = 3_600_000


def fleet_of(records: Iterable[LampRecord]) -> Fleet:
    """The registry's lamps as the rule core's fleet."""
    return Fleet(LampSite(r.id, r.gateway, r.zone, r.road, r.position_on_road, r.cabinet, r.lat,
                          r.lon, r.in_service, r.out_of_service_from_ms,
                          r.out_of_service_until_ms) for r in records)


def stored_observations(influx: InfluxClient, from_ms: int, to_ms: int) -> Iterator[Observation]:
    """Lamp readings and gateway statuses in [from_ms, to_ms), merged in timestamp order (lamp
    readings first at equal instants; each source in InfluxDB's order, which is stable)."""
    return heapq.merge(_lamps(influx, from_ms, to_ms), _statuses(influx, from_ms, to_ms),
                       key=lambda o: o.ts_ms)


def _window(measurement: str, columns: str, start: int, end: int) -> str:
    return (f'SELECT {columns} FROM "{measurement}" WHERE time >= {start}ms AND time < {end}ms '
            "ORDER BY time ASC")


def _lamps(influx: InfluxClient, from_ms: int, to_ms: int) -> Iterator[LampObservation]:
    for start in range(from_ms, to_ms, CHUNK_MS):
        rows = influx.rows_chunked(_window("lamp", '"on", "fault", "lamp"', start,
                                           min(start + CHUNK_MS, to_ms)))
        rows.sort(key=lambda row: (row["time"], row["lamp"]))
        for row in rows:
            if row.get("on") is None:
                continue
            yield LampObservation(int(row["time"]), row["lamp"], bool(row["on"]),
                                  row.get("fault") or None)


def _statuses(influx: InfluxClient, from_ms: int, to_ms: int) -> Iterator[StatusObservation]:
    for start in range(from_ms, to_ms, CHUNK_MS):
        rows = influx.rows_chunked(_window("gateway_status", '"online", "gateway"', start,
                                           min(start + CHUNK_MS, to_ms)))
        rows.sort(key=lambda row: (row["time"], row["gateway"]))
        for row in rows:
            yield StatusObservation(int(row["time"]), row["gateway"], bool(row["online"]))
