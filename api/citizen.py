"""Citizen reports, the pure parts: what a report may say, receipt codes, distances, and the
per-address limiter (DESIGN: towns answer every opinion they collect).

A report arrives without a key, from anyone, so everything in it is hostile until checked here:
text is plain text (no control characters but newline and tab, bounded length, never rendered as
HTML by the API), coordinates are finite and on the globe, a device id follows the id rule.
"""

from __future__ import annotations

import math
import secrets
import unicodedata
from dataclasses import dataclass
from typing import Literal, Self

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from sqlalchemy import Engine

from api.address_limits import AddressLimiter
from streetwatch.schemas import ID_PATTERN

ReportKind = Literal["dark_lamp", "drain_overflow", "missing_cover", "other"]
ReportStatusName = Literal["open", "answered", "closed"]
DeviceTable = Literal["lamp", "drain"]
# Which registered devices a report of each kind may be linked to.
LINKABLE: dict[ReportKind, tuple[DeviceTable, ...]] = {
    "dark_lamp": ("lamp",), "drain_overflow": ("drain",), "missing_cover": ("drain",),
    "other": ("lamp", "drain"),
}
TEXT_MAX_CHARS = 2000
CONTACT_MAX_CHARS = 200
ANSWER_MAX_CHARS = 4000
# Receipts: 10 Crockford base32 characters = 50 random bits. With lookups limited per address
# (LOOKUPS_PER_REPORT x api_reports_per_hour an hour), guessing one takes ~10^13 attempts.
RECEIPT_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
RECEIPT_LENGTH = 10
LOOKUPS_PER_REPORT = 6
EARTH_RADIUS_M = 6_371_008.8  # mean radius (IUGG)
_RECEIPT_READS = str.maketrans({"O": "0", "I": "1", "L": "1", "-": None, " ": None})
_KEPT_CONTROLS = "\n\t"


# Text ------------------------------------------------------------------------------------------

def plain_text(value: str, max_chars: int, multiline: bool = True) -> str:
    """`value` as the plain text we keep: line ends as `\\n`, outer blanks stripped; ValueError
    for control characters (other than newline and tab where `multiline`), lone surrogates,
    empty text or more than `max_chars` characters."""
    text = value.replace("\r\n", "\n").replace("\r", "\n")
    allowed = _KEPT_CONTROLS if multiline else ""
    for char in text:
        category = unicodedata.category(char)
        if category == "Cs":
            raise ValueError("text is not valid Unicode (a lone surrogate)")
        if category == "Cc" and char not in allowed:
            raise ValueError(f"control character U+{ord(char):04X} is not allowed"
                             + ("" if multiline else " (one line only)"))
    text = text.strip()
    if not text:
        raise ValueError("must not be empty")
    if len(text) > max_chars:
        raise ValueError(f"at most {max_chars} characters")
    return text


# Requests and answers --------------------------------------------------------------------------

class ReportIn(BaseModel):
    """A citizen's report: what, where (lat and lon, or the id on a lamp post or drain cover),
    a text, and a contact if they want one."""

    model_config = ConfigDict(strict=True, extra="ignore", allow_inf_nan=False)

    kind: ReportKind
    text: str = Field(max_length=4 * TEXT_MAX_CHARS,
                      description=f"Plain text, at most {TEXT_MAX_CHARS} characters.")
    lat: float | None = Field(None, ge=-90, le=90)
    lon: float | None = Field(None, ge=-180, le=180)
    device_id: str | None = Field(None, pattern=ID_PATTERN,
                                  description="The id printed on the lamp post or drain.")
    contact: str | None = Field(None, max_length=4 * CONTACT_MAX_CHARS,
                                description="How the town may reach you (kept private).")

    @field_validator("text")
    @classmethod
    def _plain_text(cls, value: str) -> str:
        return plain_text(value, TEXT_MAX_CHARS)

    @field_validator("contact")
    @classmethod
    def _one_line(cls, value: str | None) -> str | None:
        return None if value is None else plain_text(value, CONTACT_MAX_CHARS, multiline=False)

    @model_validator(mode="after")
    def _a_place(self) -> Self:
        if (self.lat is None) != (self.lon is None):
            raise ValueError("lat and lon go together")
        if self.lat is None and self.device_id is None:
            raise ValueError("say where: lat and lon, or device_id")
        return self


class AnswerIn(BaseModel):
    """The town's answer to a report (plain text)."""

    model_config = ConfigDict(strict=True, extra="ignore")

    answer: str = Field(max_length=4 * ANSWER_MAX_CHARS,
                        description=f"Plain text, at most {ANSWER_MAX_CHARS} characters.")

    @field_validator("answer")
    @classmethod
    def _plain_text(cls, value: str) -> str:
        return plain_text(value, ANSWER_MAX_CHARS)


class CloseIn(BaseModel):
    """Closing a report; the answer may be given here if it was not before."""

    model_config = ConfigDict(strict=True, extra="ignore")

    answer: str | None = Field(None, max_length=4 * ANSWER_MAX_CHARS)

    @field_validator("answer")
    @classmethod
    def _plain_text(cls, value: str | None) -> str | None:
        return None if value is None else plain_text(value, ANSWER_MAX_CHARS)


class ReportStatus(BaseModel):
    """What a citizen sees of their report by its receipt: never the contact or the text of
    anyone else."""

    receipt: str
    status: ReportStatusName
    kind: ReportKind
    created_at: str
    answer: str | None
    answered_at: str | None


class ReportView(BaseModel):
    """A report as managers see it (contact included)."""

    receipt: str
    status: ReportStatusName
    kind: ReportKind
    text: str
    contact: str | None
    lat: float | None
    lon: float | None
    device_id: str | None = Field(description="The registered device it is linked to.")
    zone: str | None
    alert_id: int | None = Field(description="The alert it raised or added a note to.")
    created_at: str
    answer: str | None
    answered_by: str | None
    answered_at: str | None
    closed_at: str | None


# Receipts --------------------------------------------------------------------------------------

def new_receipt() -> str:
    """A fresh receipt code: 10 random Crockford base32 characters (50 bits)."""
    return "".join(secrets.choice(RECEIPT_ALPHABET) for _ in range(RECEIPT_LENGTH))


def read_receipt(text: str) -> str | None:
    """A receipt as typed (any case, hyphens or spaces, O for 0, I or L for 1) in its stored
    form, or None when it cannot be one."""
    if len(text) > 2 * RECEIPT_LENGTH:
        return None
    code = text.upper().translate(_RECEIPT_READS)
    if len(code) != RECEIPT_LENGTH or any(char not in RECEIPT_ALPHABET for char in code):
        return None
    return code


# Distance --------------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Box:
    """A lat/lon box holding every point within some distance of a centre (for an index-friendly
    SQL filter before the exact distance)."""

    min_lat: float
    max_lat: float
    min_lon: float
    max_lon: float


def haversine_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in metres on a sphere of the Earth's mean radius."""
    phi1, phi2 = math.radians(lat1), math.radians(lat2)
    dphi, dlam = phi2 - phi1, math.radians(lon2 - lon1)
    a = math.sin(dphi / 2) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(dlam / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(a)))


def bounding_box(lat: float, lon: float, radius_m: float) -> Box:
    """A box around (lat, lon) holding every point within `radius_m`; longitudes widen to the
    whole circle near a pole or across the antimeridian (rare, and still correct)."""
    dlat = math.degrees(radius_m / EARTH_RADIUS_M)
    min_lat, max_lat = max(-90.0, lat - dlat), min(90.0, lat + dlat)
    widest = math.cos(math.radians(max(abs(min_lat), abs(max_lat))))
    if widest < 1e-9:
        return Box(min_lat, max_lat, -180.0, 180.0)
    dlon = math.degrees(radius_m / (EARTH_RADIUS_M * widest))
    if dlon >= 180 or lon - dlon < -180 or lon + dlon > 180:
        return Box(min_lat, max_lat, -180.0, 180.0)
    return Box(min_lat, max_lat, lon - dlon, lon + dlon)


# Limits per client address ---------------------------------------------------------------------

@dataclass
class ReportLimits:
    """The limiters of one app: reports filed, and receipts looked up, per client address
    (counted in SQL, shared by every API process: api/address_limits.py)."""

    reports: AddressLimiter
    lookups: AddressLimiter

    @classmethod
    def per_hour(cls, engine: Engine, reports: int) -> ReportLimits:
        return cls(AddressLimiter(engine, "report", reports),
                   AddressLimiter(engine, "lookup", reports * LOOKUPS_PER_REPORT))


__all__ = ["LINKABLE", "AnswerIn", "Box", "CloseIn", "ReportIn",
           "ReportKind", "ReportLimits", "ReportStatus", "ReportView", "bounding_box",
           "haversine_m", "new_receipt", "plain_text", "read_receipt"]
