"""Reading the `lighting_rate` series the rule engine writes (DESIGN s.4): one place that knows
its shape, for `streetwatch report lighting` and the HTTP API.

A point: tag `zone` (a zone id, or `_city` for the town), fields `rate`, `lit`, `expected`,
`stale`, `target`, stamped at a tick. Queries quote identifiers and strings and take integer
epoch milliseconds only, so no caller's text reaches InfluxQL unquoted.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from streetwatch.influx import InfluxClient, influxql_ident, influxql_string

MEASUREMENT = "lighting_rate"
FIELDS = ("rate", "lit", "expected", "stale", "target")
T = TypeVar("T")
# make(ts_ms, rate, lit, expected, target): rules.reports.RateSample fits.
SampleMaker = Callable[[int, float, int, int, "float | None"], T]


@dataclass(frozen=True, slots=True)
class LightingPoint:
    """One stored `lighting_rate` point, every field (the API's latest value and raw series)."""

    zone: str
    ts_ms: int
    rate: float
    lit: int
    expected: int
    stale: int
    target: float | None


@dataclass(frozen=True, slots=True)
class RateBucket:
    """One `every` bucket of a zone's series: the plain mean and the lowest of its samples."""

    ts_ms: int
    mean_rate: float
    min_rate: float
    samples: int


def zones(influx: InfluxClient) -> list[str]:
    """Every zone (and `_city`) that has ever had a sample, sorted."""
    return influx.tag_values(MEASUREMENT, "zone")


def read_rate_samples(influx: InfluxClient, zone: str, from_ms: int, to_ms: int,
                      make: SampleMaker[T]) -> list[T]:
    """The `lighting_rate` samples of `zone` in [from_ms, to_ms), in time order, each built by
    `make(ts_ms, rate, lit, expected, target)` (reports pass rules.reports.RateSample)."""
    return [make(p.ts_ms, p.rate, p.lit, p.expected, p.target)
            for p in read_points(influx, zone, from_ms, to_ms)]


def samples_by_zone(influx: InfluxClient, from_ms: int, to_ms: int,
                    make: SampleMaker[T]) -> dict[str, list[T]]:
    """Every zone's samples in [from_ms, to_ms) (as `read_rate_samples`), zones without any left
    out."""
    found = {zone: read_rate_samples(influx, zone, from_ms, to_ms, make) for zone in zones(influx)}
    return {zone: samples for zone, samples in found.items() if samples}


def read_points(influx: InfluxClient, zone: str, from_ms: int, to_ms: int
                ) -> list[LightingPoint]:
    """Every point of `zone` in [from_ms, to_ms), in time order."""
    query = (f"SELECT {_fields()} FROM {influxql_ident(MEASUREMENT)} "
             f"WHERE {influxql_ident('zone')} = {influxql_string(zone)} "
             f"AND time >= {int(from_ms)}ms AND time < {int(to_ms)}ms")
    rows = influx.rows_chunked(query)
    return [_point(zone, row) for row in rows if row.get("rate") is not None]


def latest_points(influx: InfluxClient, from_ms: int, to_ms: int) -> dict[str, LightingPoint]:
    """The latest point of each zone in [from_ms, to_ms) (zones without one are absent)."""
    query = (f"SELECT {_fields()} FROM {influxql_ident(MEASUREMENT)} "
             f"WHERE time >= {int(from_ms)}ms AND time < {int(to_ms)}ms "
             f"GROUP BY {influxql_ident('zone')} ORDER BY time DESC LIMIT 1")
    return {row["zone"]: _point(row["zone"], row) for row in influx.rows(query)
            if row.get("rate") is not None and row.get("zone")}


def read_buckets(influx: InfluxClient, zone: str, from_ms: int, to_ms: int,
                 every_s: int) -> list[RateBucket]:
    """`zone`'s samples in [from_ms, to_ms) in buckets of `every_s` seconds (aligned to the
    epoch, as InfluxDB's GROUP BY time does); empty buckets are left out."""
    rate = influxql_ident("rate")
    query = (f"SELECT mean({rate}) AS mean_rate, min({rate}) AS min_rate, "
             f"count({rate}) AS samples FROM {influxql_ident(MEASUREMENT)} "
             f"WHERE {influxql_ident('zone')} = {influxql_string(zone)} "
             f"AND time >= {int(from_ms)}ms AND time < {int(to_ms)}ms "
             f"GROUP BY time({int(every_s)}s) fill(none)")
    return [RateBucket(int(row["time"]), float(row["mean_rate"]), float(row["min_rate"]),
                       int(row["samples"]))
            for row in influx.rows_chunked(query) if row.get("mean_rate") is not None]


def _fields() -> str:
    return ", ".join(influxql_ident(name) for name in FIELDS)


def _point(zone: str, row: dict) -> LightingPoint:
    return LightingPoint(zone, int(row["time"]), float(row["rate"]), int(row.get("lit") or 0),
                         int(row.get("expected") or 0), int(row.get("stale") or 0),
                         None if row.get("target") is None else float(row["target"]))


__all__ = ["FIELDS", "MEASUREMENT", "LightingPoint", "RateBucket", "latest_points",
           "read_buckets", "read_points", "read_rate_samples", "samples_by_zone", "zones"]
