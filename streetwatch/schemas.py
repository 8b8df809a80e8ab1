"""Wire schemas (DESIGN s.3): what a gateway may send, as strict pydantic v2 models.

Strict mode: a bool is JSON true/false, not "true" or 1; numbers are numbers. Unknown fields are
ignored (kept out of storage). Timestamps become integer epoch milliseconds at the boundary.
Physical bounds reject absurd values; the ingester turns errors into reject reasons.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone
from typing import Annotated, Literal, NewType

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, TypeAdapter

ID_PATTERN = r"^[A-Za-z0-9_.-]{1,64}$"

GatewayId = NewType("GatewayId", str)
DeviceId = NewType("DeviceId", str)
ZoneId = NewType("ZoneId", str)

ReadingKind = Literal["lamp", "drain", "rain"]
READING_KINDS: tuple[ReadingKind, ...] = ("lamp", "drain", "rain")

LampFault = Literal[
    "lamp_failure", "driver_failure", "power_supply", "cycling", "low_power_factor", "tilt"
]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# Epoch ms of 9999-12-31T23:59:59.999Z. Bounding ts keeps every later arithmetic on it (age,
# future skew, log details) in plain 64-bit range: a 313-digit ts once made the ingester raise.
MAX_TS_MS = 253_402_300_799_999
_ONE_MS = timedelta(milliseconds=1)


# RFC 3339 s.5.6 date-time, exactly: ASCII digits, "T"/"t", a fraction of any length, "Z"/"z" or
# +hh:mm. Python's fromisoformat takes ISO 8601 forms the contract does not (week dates, basic
# format, comma fractions, offsets with seconds, hour-only), so it is not the parser here.
_RFC3339 = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})[Tt]([0-9]{2}):([0-9]{2}):([0-9]{2})(?:\.([0-9]{1,9}))?"
    r"(?:[Zz]|([+-])([0-9]{2}):([0-9]{2}))"
)
_TS_TEXT_MAX = 40  # the longest RFC 3339 form with a 9-digit fraction and an offset is 35 chars
_TS_TYPES = "ts must be RFC 3339 text with a zone or integer epoch milliseconds"
_TS_TEXT = "ts text must be an RFC 3339 date-time with a zone (Z or +hh:mm)"


def parse_timestamp_ms(value: object) -> int:
    """RFC 3339 text with a zone, or integer epoch milliseconds -> epoch milliseconds."""
    if isinstance(value, bool):
        raise ValueError(_TS_TYPES)
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        return _rfc3339_ms(value)
    raise ValueError(_TS_TYPES)


def _rfc3339_ms(text: str) -> int:
    """Epoch ms of an RFC 3339 date-time (floored to the millisecond); ValueError otherwise."""
    found = _RFC3339.fullmatch(text) if len(text) <= _TS_TEXT_MAX else None
    if found is None:
        raise ValueError(_TS_TEXT)
    year, month, day, hour, minute, second, fraction, sign, off_h, off_m = found.groups()
    try:
        moment = datetime(int(year), int(month), int(day), int(hour), int(minute), int(second),
                          tzinfo=_zone(sign, off_h, off_m))
    except ValueError as exc:  # 2026-02-30, hour 24, second 60, offset +24:00 ...
        raise ValueError(_TS_TEXT) from exc
    millis = int((fraction or "").ljust(3, "0")[:3])
    return (moment - _EPOCH) // _ONE_MS + millis


def _zone(sign: str | None, hours: str | None, minutes: str | None) -> timezone:
    if sign is None:
        return UTC
    if int(minutes) > 59:
        raise ValueError("offset minutes above 59")
    offset = timedelta(hours=int(hours), minutes=int(minutes))
    return timezone(-offset if sign == "-" else offset)  # timezone() refuses 24:00 and above


EpochMs = Annotated[int, BeforeValidator(parse_timestamp_ms), Field(ge=0, le=MAX_TS_MS)]

_STRICT = ConfigDict(strict=True, extra="ignore", frozen=True, allow_inf_nan=False)


class LampReading(BaseModel):
    """One lamp controller report; `on` and `ts` are required, the rest optional."""

    model_config = _STRICT

    ts: EpochMs
    on: bool
    dim: int | None = Field(None, ge=0, le=100)
    power_w: float | None = Field(None, ge=0, le=5_000)
    voltage_v: float | None = Field(None, ge=0, le=1_000)
    fault: LampFault | None = None


class DrainReading(BaseModel):
    """One drain-level sensor report; level is water depth above the invert, in cm."""

    model_config = _STRICT

    ts: EpochMs
    # Small negative levels are calibration noise worth keeping; beyond these bounds is absurd.
    level_cm: float = Field(ge=-100, le=10_000)
    battery_v: float | None = Field(None, ge=0, le=60)
    rssi_dbm: float | None = Field(None, ge=-200, le=0)
    cover_open: bool | None = None


class RainReading(BaseModel):
    """One rain-gauge report: rain since the gauge's previous report, in mm."""

    model_config = _STRICT

    ts: EpochMs
    rain_mm: float = Field(ge=0, le=500)


Reading = LampReading | DrainReading | RainReading

READING_MODELS: dict[str, type[LampReading] | type[DrainReading] | type[RainReading]] = {
    "lamp": LampReading,
    "drain": DrainReading,
    "rain": RainReading,
}

IdText = Annotated[str, Field(pattern=ID_PATTERN)]


class LampItem(LampReading):
    """A lamp reading inside a gateway batch."""

    kind: Literal["lamp"]
    id: IdText


class DrainItem(DrainReading):
    """A drain reading inside a gateway batch."""

    kind: Literal["drain"]
    id: IdText


class RainItem(RainReading):
    """A rain reading inside a gateway batch."""

    kind: Literal["rain"]
    id: IdText


BatchItem = Annotated[LampItem | DrainItem | RainItem, Field(discriminator="kind")]
BATCH_ITEM = TypeAdapter(BatchItem)

GatewayState = Literal["online", "offline"]
