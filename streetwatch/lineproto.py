"""InfluxDB line protocol for every measurement of DESIGN s.4, encoded with influxdb-client's Point.

Point is the encoder of record; tests pin its output as exact strings. Field types never vary
(float fields always get floats, int fields ints) because InfluxDB rejects a write whose field type
conflicts with the shard's, which would stall ingestion. Tags are only ever values that are the
same on redelivery (gateway, device, zone, road), so a redelivered message overwrites itself.
"""

from __future__ import annotations

from dataclasses import dataclass

from influxdb_client import Point

from streetwatch.schemas import DrainReading, LampReading, RainReading, Reading

PRECISION = "ms"
UNASSIGNED_ZONE = "unassigned"
REJECT_PAYLOAD_CHARS = 1024


@dataclass(frozen=True, slots=True)
class SeriesTags:
    """Where a reading belongs: its gateway, its zone (registry or 'unassigned') and road."""

    gateway: str
    zone: str = UNASSIGNED_ZONE
    road: str | None = None


def _float(value: float | None) -> float | None:
    return None if value is None else float(value)


def lamp_line(lamp_id: str, tags: SeriesTags, reading: LampReading) -> str:
    point = (
        Point("lamp")
        .tag("gateway", tags.gateway)
        .tag("lamp", lamp_id)
        .tag("zone", tags.zone)
        .tag("road", tags.road)
        .field("on", reading.on)
        .field("dim", reading.dim)
        .field("power_w", _float(reading.power_w))
        .field("voltage_v", _float(reading.voltage_v))
        .field("fault", reading.fault or "")
        .time(reading.ts, PRECISION)
    )
    return point.to_line_protocol()


def drain_line(sensor_id: str, tags: SeriesTags, reading: DrainReading) -> str:
    rssi = None if reading.rssi_dbm is None else round(reading.rssi_dbm)
    point = (
        Point("drain")
        .tag("gateway", tags.gateway)
        .tag("sensor", sensor_id)
        .tag("zone", tags.zone)
        .field("level_cm", float(reading.level_cm))
        .field("battery_v", _float(reading.battery_v))
        .field("rssi_dbm", rssi)
        .field("cover_open", reading.cover_open)
        .time(reading.ts, PRECISION)
    )
    return point.to_line_protocol()


def rain_line(gauge_id: str, tags: SeriesTags, reading: RainReading) -> str:
    point = (
        Point("rain")
        .tag("gateway", tags.gateway)
        .tag("gauge", gauge_id)
        .tag("zone", tags.zone)
        .field("rain_mm", float(reading.rain_mm))
        .time(reading.ts, PRECISION)
    )
    return point.to_line_protocol()


def reading_line(device_id: str, tags: SeriesTags, reading: Reading) -> str:
    """The line for any reading, chosen by its model."""
    if isinstance(reading, LampReading):
        return lamp_line(device_id, tags, reading)
    if isinstance(reading, DrainReading):
        return drain_line(device_id, tags, reading)
    return rain_line(device_id, tags, reading)


def reject_line(
    reason: str, gateway: str | None, topic: str, detail: str, payload: str, ts_ms: int
) -> str:
    """An `ingest_reject` point; the payload is cut to its first 1 KiB of text."""
    point = (
        Point("ingest_reject")
        .tag("reason", reason)
        .tag("gateway", gateway or "_invalid")
        .field("topic", _printable(topic[:256]))
        .field("detail", _printable(detail[:512]))
        .field("payload", _printable(payload[:REJECT_PAYLOAD_CHARS]))
        .time(ts_ms, PRECISION)
    )
    return point.to_line_protocol()


def gateway_status_line(gateway: str, online: bool, ts_ms: int) -> str:
    """A `gateway_status` point: a gateway said online, or its will said offline."""
    point = Point("gateway_status").tag("gateway", gateway).field("online", online)
    return point.time(ts_ms, PRECISION).to_line_protocol()


def _printable(text: str) -> str:
    """Control characters as visible escapes, so hostile text stays one line and readable."""
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() else ascii(ch)[1:-1] for ch in text)
