"""Wire schemas (DESIGN s.3): what a gateway may send, as strict pydantic v2 models.

Strict mode: a bool is JSON true/false, not "true" or 1; numbers are numbers. Unknown fields are
ignored (kept out of storage). Timestamps become integer epoch milliseconds at the boundary.
Physical bounds reject absurd values; the ingester turns errors into reject reasons.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
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
_ONE_MS = timedelta(milliseconds=1)


def parse_timestamp_ms(value: object) -> int:
    """RFC 3339 text with a zone, or integer epoch milliseconds -> epoch milliseconds."""
    if isinstance(value, bool):
        raise ValueError("ts must be RFC 3339 text with a zone or integer epoch milliseconds")
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        if len(value) > 40 or "T" not in value.upper():
            raise ValueError("ts text must be an RFC 3339 date-time")
        try:
            moment = datetime.fromisoformat(value)
        except ValueError as exc:
            raise ValueError("ts text must be an RFC 3339 date-time") from exc
        if moment.tzinfo is None:
            raise ValueError("ts text must carry a zone (Z or +hh:mm)")
        return (moment - _EPOCH) // _ONE_MS
    raise ValueError("ts must be RFC 3339 text with a zone or integer epoch milliseconds")


EpochMs = Annotated[int, BeforeValidator(parse_timestamp_ms)]

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
