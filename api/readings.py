"""A device's readings from InfluxDB: the latest one, and its history raw or downsampled.

InfluxQL is built here from validated parts only, never from a client's text: the measurement,
tag and field names are this module's constants (DESIGN s.4), the device id has passed the id
rule and goes in as a quoted string literal (`influxql_string`), times are integers parsed
before, and `every` is a whole number of seconds.

Downsampling (`every`) groups readings into buckets of GROUP BY time(every), each bucket at its
start time, empty buckets left out. Numeric fields are the bucket's mean, except `rain_mm` (rain
since the previous reading), which is the bucket's sum; booleans (`on`, `cover_open`) and
strings (`fault`) cannot be averaged and are the bucket's last value; `readings` counts the
readings in the bucket.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from api.query_params import QueryError, every_s, moment_ms
from streetwatch.influx import InfluxClient, influxql_ident, influxql_string

# kind -> (measurement, the tag naming the device)
SERIES = {"lamp": ("lamp", "lamp"), "drain": ("drain", "sensor"), "rain": ("rain", "gauge")}
# kind -> field -> how a bucket rolls it up
FIELDS: dict[str, dict[str, str]] = {
    "lamp": {"on": "last", "dim": "mean", "power_w": "mean", "voltage_v": "mean",
             "fault": "last"},
    "drain": {"level_cm": "mean", "battery_v": "mean", "rssi_dbm": "mean", "cover_open": "last"},
    "rain": {"rain_mm": "sum"},
}
COUNTED = {"lamp": "on", "drain": "level_cm", "rain": "rain_mm"}  # a field every reading has
DEFAULT_SPAN_MS = 24 * 3600 * 1000
MAX_SPAN_MS = 366 * 24 * 3600 * 1000
MAX_POINTS = 10_000  # raw points per answer (then `next_from`), buckets per downsampled answer
MAX_EVERY_S = 31 * 24 * 3600
# The latest reading is looked for in the last day first: a reporting device has one there, and
# the query then opens that day's shard only. Without a time bound InfluxDB opens every shard of
# the retention policy for the series (57 weekly shards in 400 days), which cost a month of
# readings 3 times the influxd time of the bounded query (bench/api.py).
RECENT_MS = 24 * 3600 * 1000


@dataclass(frozen=True, slots=True)
class ReadingRange:
    """[from_ms, to_ms) and the bucket size in seconds (None: raw readings)."""

    from_ms: int
    to_ms: int
    every_s: int | None = None


# Parsing (pure) ----------------------------------------------------------------------------------
def parse_every(text: str) -> int:
    """`5m` -> 300 seconds; units s, m, h, d; between 1 s and 31 d."""
    return every_s(text, MAX_EVERY_S)


def parse_time(text: str, name: str) -> int:
    """RFC 3339 with a zone, or epoch milliseconds, between 1970 and 2100 -> epoch ms."""
    return moment_ms(name, text)


def reading_range(start: str | None, end: str | None, every: str | None,
                  now_ms: int) -> ReadingRange:
    """The range asked for: `to` defaults to now, `from` to 24 h before `to`; at most 366 days
    and, downsampled, at most MAX_POINTS buckets."""
    to_ms = now_ms if end is None else parse_time(end, "to")
    from_ms = to_ms - DEFAULT_SPAN_MS if start is None else parse_time(start, "from")
    if from_ms >= to_ms:
        raise QueryError("from must be earlier than to")
    if to_ms - from_ms > MAX_SPAN_MS:
        raise QueryError("the range from .. to may span at most 366 days")
    every_s = None if every is None else parse_every(every)
    if every_s is not None and (to_ms - from_ms) // (every_s * 1000) > MAX_POINTS:
        raise QueryError(f"from .. to holds more than {MAX_POINTS} buckets of {every}; "
                                f"ask for a larger every or a shorter range")
    return ReadingRange(max(from_ms, 0), to_ms, every_s)


# InfluxQL (pure) ---------------------------------------------------------------------------------
def _source(kind: str, device_id: str) -> str:
    measurement, tag = SERIES[kind]
    return f"FROM {influxql_ident(measurement)} WHERE {influxql_ident(tag)} = " \
           f"{influxql_string(device_id)}"


def latest_query(kind: str, device_id: str, since_ms: int | None = None) -> str:
    """The newest reading, at or after `since_ms` when given (no upper bound: a reading stamped
    ahead of the clock is still the newest)."""
    fields = ", ".join(influxql_ident(name) for name in FIELDS[kind])
    since = "" if since_ms is None else f" AND time >= {int(since_ms)}ms"
    return f"SELECT {fields} {_source(kind, device_id)}{since} ORDER BY time DESC LIMIT 1"


def history_query(kind: str, device_id: str, span: ReadingRange) -> str:
    """Raw readings in the range, oldest first, one more than MAX_POINTS (to see if more)."""
    fields = ", ".join(influxql_ident(name) for name in FIELDS[kind])
    return (f"SELECT {fields} {_source(kind, device_id)} AND time >= {int(span.from_ms)}ms "
            f"AND time < {int(span.to_ms)}ms ORDER BY time ASC LIMIT {MAX_POINTS + 1}")


def downsampled_query(kind: str, device_id: str, span: ReadingRange) -> str:
    """Buckets of `every` seconds: mean, sum or last per field, and the readings counted."""
    parts = [f"{how}({influxql_ident(name)}) AS {influxql_ident(name)}"
             for name, how in FIELDS[kind].items()]
    parts.append(f"count({influxql_ident(COUNTED[kind])}) AS \"readings\"")
    return (f"SELECT {', '.join(parts)} {_source(kind, device_id)} "
            f"AND time >= {int(span.from_ms)}ms AND time < {int(span.to_ms)}ms "
            f"GROUP BY time({int(span.every_s or 1)}s) fill(none)")


# InfluxDB ----------------------------------------------------------------------------------------
def latest_reading(influx: InfluxClient, kind: str, device_id: str,
                   now_ms: int) -> dict[str, Any] | None:
    """The device's newest reading (time in epoch ms and its fields), or None: looked for in
    the last RECENT_MS before `now_ms`, then (for a device silent that long) in all time."""
    rows = (influx.rows(latest_query(kind, device_id, max(now_ms - RECENT_MS, 0)))
            or influx.rows(latest_query(kind, device_id)))
    return _reading(kind, rows[0]) if rows else None


def reading_history(influx: InfluxClient, kind: str, device_id: str,
                    span: ReadingRange) -> tuple[list[dict[str, Any]], int | None]:
    """Readings (or buckets) in `span`, oldest first, and the time to continue from when the
    answer stopped at MAX_POINTS raw readings (else None)."""
    if span.every_s is not None:
        rows = influx.rows(downsampled_query(kind, device_id, span))
        return [_reading(kind, row, bucket=True) for row in rows if row.get("readings")], None
    rows = influx.rows(history_query(kind, device_id, span))
    more = rows[MAX_POINTS]["time"] if len(rows) > MAX_POINTS else None
    return [_reading(kind, row) for row in rows[:MAX_POINTS]], more


def _reading(kind: str, row: dict[str, Any], bucket: bool = False) -> dict[str, Any]:
    reading = {"time": row["time"], **{name: row.get(name) for name in FIELDS[kind]}}
    if bucket:
        reading["readings"] = row.get("readings")
    return reading
