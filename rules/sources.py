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


def _statuses(influx: InfluxClient, from_ms: int, to_ms: int) -> Iterator[StatusObservation]:
    for row in _rows(influx, "gateway_status", '"online", "gateway"', "gateway", from_ms, to_ms):
        yield StatusObservation(int(row["time"]), row["gateway"], bool(row["online"]))
