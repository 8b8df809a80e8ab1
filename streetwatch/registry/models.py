"""SQLAlchemy 2 models of the registry database: devices, and the alerts crews work on.

The migrations in `migrations/versions` are the source of truth for the schema; these classes must
match them (an integration test compares them).
"""

from __future__ import annotations

import re
from datetime import datetime

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Double,
    ForeignKey,
    Index,
    MetaData,
    String,
    Text,
    text,
    true,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from streetwatch.registry.timestamps import UtcDateTime
from streetwatch.schemas import ID_PATTERN

# Device, gateway, zone and cabinet ids: the MQTT topic alphabet of DESIGN.md section 3.
DEVICE_ID_PATTERN = re.compile(ID_PATTERN)  # the wire contract's id rule (schemas.py)
ID_LENGTH = 64
SUBJECT_LENGTH = 200  # `road:<road>:<position>` with a 64-character road fits with room to spare
KIND_LENGTH = 32
ACTOR_LENGTH = 64  # "rules", "cli" or a crew name
ADDRESS_LENGTH = 128  # a client address as the server saw it (IPv6 text is at most 45)
# Floats are 64-bit (Python float); spelled out because SQLAlchemy 2.0 and 2.1 map `float` apart.

# Stable constraint and index names, identical on SQLite and PostgreSQL, so later migrations can
# refer to them by name.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_name)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Declarative base of the registry tables, with the naming convention above."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def _keyset_indexes(table: str, *columns: str) -> tuple[Index, ...]:
    """(column, id) indexes: the API pages a zone's (gateway's ...) devices by id without a sort;
    and (lat, lon), for the device nearest a citizen's report."""
    return (*(Index(f"ix_{table}_{column}_id", column, "id") for column in columns),
            Index(f"ix_{table}_lat_lon", "lat", "lon"))


class Lamp(Base):
    """A streetlight: its gateway, zone (crew), place on a road and feeder cabinet."""

    __tablename__ = "lamps"
    __table_args__ = _keyset_indexes("lamps", "zone", "gateway", "road", "cabinet")

    id: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True)
    gateway: Mapped[str] = mapped_column(String(ID_LENGTH))
    zone: Mapped[str] = mapped_column(String(ID_LENGTH))
    road: Mapped[str | None] = mapped_column(String(ID_LENGTH))
    position_on_road: Mapped[int | None]
    cabinet: Mapped[str | None] = mapped_column(String(ID_LENGTH))
    lat: Mapped[float | None] = mapped_column(Double)
    lon: Mapped[float | None] = mapped_column(Double)
    # Out of service lamps are not expected to light (lighting rate); a planned-works window
    # takes a lamp out for [from, until); either end may be open.
    in_service: Mapped[bool] = mapped_column(default=True, server_default=true())
    out_of_service_from: Mapped[datetime | None] = mapped_column(UtcDateTime)
    out_of_service_until: Mapped[datetime | None] = mapped_column(UtcDateTime)
    out_of_service_reason: Mapped[str | None] = mapped_column(Text)  # why (API retire)


class Drain(Base):
    """A drain-level sensor: its gateway, zone, geometry and downstream neighbour.

    `downstream_id` is a plain column, not a foreign key: the downstream drain may come later.
    """

    __tablename__ = "drains"
    __table_args__ = _keyset_indexes("drains", "zone", "gateway")

    id: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True)
    gateway: Mapped[str] = mapped_column(String(ID_LENGTH))
    zone: Mapped[str] = mapped_column(String(ID_LENGTH))
    depth_cm: Mapped[float | None] = mapped_column(Double)
    overflow_cm: Mapped[float | None] = mapped_column(Double)
    downstream_id: Mapped[str | None] = mapped_column(String(ID_LENGTH))
    lat: Mapped[float | None] = mapped_column(Double)
    lon: Mapped[float | None] = mapped_column(Double)
    pipe_diameter_cm: Mapped[float | None] = mapped_column(Double)
    # A configured normal band; without one the rules learn a dry-weather baseline.
    normal_low_cm: Mapped[float | None] = mapped_column(Double)
    normal_high_cm: Mapped[float | None] = mapped_column(Double)
    # In or out of service as lamps are (a retired sensor, planned works on the sewer).
    in_service: Mapped[bool] = mapped_column(default=True, server_default=true())
    out_of_service_from: Mapped[datetime | None] = mapped_column(UtcDateTime)
    out_of_service_until: Mapped[datetime | None] = mapped_column(UtcDateTime)
    out_of_service_reason: Mapped[str | None] = mapped_column(Text)


class RainGauge(Base):
    """A rain gauge: its gateway, zone and place (rain tells a storm surge from a blockage)."""

    __tablename__ = "rain_gauges"
    __table_args__ = _keyset_indexes("rain_gauges", "zone", "gateway")

    id: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True)
    gateway: Mapped[str] = mapped_column(String(ID_LENGTH))
    zone: Mapped[str] = mapped_column(String(ID_LENGTH))
    lat: Mapped[float | None] = mapped_column(Double)
    lon: Mapped[float | None] = mapped_column(Double)
    in_service: Mapped[bool] = mapped_column(default=True, server_default=true())
    out_of_service_from: Mapped[datetime | None] = mapped_column(UtcDateTime)
    out_of_service_until: Mapped[datetime | None] = mapped_column(UtcDateTime)
    out_of_service_reason: Mapped[str | None] = mapped_column(Text)


_OPEN_ALERT = text("resolved_at IS NULL")
_UNDELIVERED = text("delivered_at IS NULL")


class Alert(Base):
    """One alert from raise to resolve; at most one open per (subject, kind), by a unique index.

    `devices` is a JSON list of device ids; `road` .. `lon` say where the crew goes.
    """

    __tablename__ = "alerts"
    __table_args__ = (
        CheckConstraint("severity IN ('red', 'yellow', 'blue')", name="severity"),
        CheckConstraint("state IN ('raised', 'acknowledged', 'resolved')", name="state"),
        # A resolved alert leaves the index, so a recurrence is a new row with a new id.
        Index("uq_alerts_open_subject_kind", "subject", "kind", unique=True,
              sqlite_where=_OPEN_ALERT, postgresql_where=_OPEN_ALERT),
        Index("ix_alerts_open_zone", "zone", sqlite_where=_OPEN_ALERT,
              postgresql_where=_OPEN_ALERT),
        Index("ix_alerts_zone", "zone"),
        {"sqlite_autoincrement": True},  # ids are what crews quote: never reuse one
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(KIND_LENGTH))
    subject: Mapped[str] = mapped_column(String(SUBJECT_LENGTH))
    zone: Mapped[str] = mapped_column(String(ID_LENGTH))
    severity: Mapped[str] = mapped_column(String(8))
    state: Mapped[str] = mapped_column(String(16))
    devices: Mapped[str] = mapped_column(Text)
    message: Mapped[str] = mapped_column(Text)
    road: Mapped[str | None] = mapped_column(String(ID_LENGTH))
    position_on_road: Mapped[int | None]
    lat: Mapped[float | None] = mapped_column(Double)
    lon: Mapped[float | None] = mapped_column(Double)
    raised_at: Mapped[datetime] = mapped_column(UtcDateTime)
    last_seen_at: Mapped[datetime] = mapped_column(UtcDateTime)
    seen_count: Mapped[int]
    deadline: Mapped[datetime] = mapped_column(UtcDateTime)
    overdue: Mapped[bool]
    acknowledged_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    acknowledged_by: Mapped[str | None] = mapped_column(String(ACTOR_LENGTH))
    resolved_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    resolved_by: Mapped[str | None] = mapped_column(String(ACTOR_LENGTH))
    resolve_note: Mapped[str | None] = mapped_column(Text)
    assigned_to: Mapped[str | None] = mapped_column(String(ID_LENGTH))  # the crew (API, CLI)
    assigned_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class AlertHistory(Base):
    """One change of an alert: what happened, who did it, when, and the severity after it."""

    __tablename__ = "alert_history"
    __table_args__ = (
        CheckConstraint("event IN ('raised', 'repeated', 'acknowledged', 'resolved', "
                        "'overdue', 'escalated', 'assigned', 'commented')", name="event"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    alert_id: Mapped[int] = mapped_column(ForeignKey("alerts.id"), index=True)
    ts: Mapped[datetime] = mapped_column(UtcDateTime)
    event: Mapped[str] = mapped_column(String(16))
    actor: Mapped[str] = mapped_column(String(ACTOR_LENGTH))
    severity: Mapped[str] = mapped_column(String(8))
    detail: Mapped[str | None] = mapped_column(Text)


class AlertOutbox(Base):
    """One alert event waiting for (or done with) delivery to one webhook target.

    Written in the transaction of the change it announces, so no change goes unannounced and no
    announcement tells of a change that was rolled back.
    """

    __tablename__ = "alert_outbox"
    __table_args__ = (
        Index("ix_alert_outbox_due", "next_attempt_at", sqlite_where=_UNDELIVERED,
              postgresql_where=_UNDELIVERED),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    target: Mapped[str] = mapped_column(Text)
    payload: Mapped[str] = mapped_column(Text)
    attempts: Mapped[int]
    next_attempt_at: Mapped[datetime] = mapped_column(UtcDateTime)
    delivered_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)


class ApiKey(Base):
    """An API key: its owner's name, role and zones (None: all), found by its public prefix.

    Only a slow hash of the whole key is kept (api/keys.py); the key is shown once at creation.
    """

    __tablename__ = "api_keys"
    __table_args__ = (
        CheckConstraint("role IN ('viewer', 'crew', 'manager', 'admin')", name="role"),
        {"sqlite_autoincrement": True},  # a revoked key's id is never handed out again
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(ID_LENGTH))
    role: Mapped[str] = mapped_column(String(16))
    zones: Mapped[str | None] = mapped_column(Text)  # comma-separated zone ids
    prefix: Mapped[str] = mapped_column(String(16), unique=True)
    secret_hash: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class CitizenReport(Base):
    """A citizen's report of a dark lamp, an overflowing drain, a missing cover or else.

    Looked up by its receipt code; linked to a device (and its alert) when one is near. A report
    is never answered or closed without an answer (check constraint).
    """

    __tablename__ = "citizen_reports"
    __table_args__ = (
        CheckConstraint("kind IN ('dark_lamp', 'drain_overflow', 'missing_cover', 'other')",
                        name="kind"),
        CheckConstraint("status IN ('open', 'answered', 'closed')", name="status"),
        CheckConstraint("status = 'open' OR answer IS NOT NULL", name="answered"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    receipt: Mapped[str] = mapped_column(String(16), unique=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    kind: Mapped[str] = mapped_column(String(32))
    text: Mapped[str] = mapped_column(Text)
    contact: Mapped[str | None] = mapped_column(Text)
    lat: Mapped[float | None] = mapped_column(Double)
    lon: Mapped[float | None] = mapped_column(Double)
    device_id: Mapped[str | None] = mapped_column(String(ID_LENGTH))
    zone: Mapped[str | None] = mapped_column(String(ID_LENGTH), index=True)
    alert_id: Mapped[int | None] = mapped_column(ForeignKey("alerts.id"))
    status: Mapped[str] = mapped_column(String(16))
    answer: Mapped[str | None] = mapped_column(Text)
    answered_by: Mapped[str | None] = mapped_column(String(ID_LENGTH))
    answered_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


__all__ = [
    "ACTOR_LENGTH",
    "ADDRESS_LENGTH",
    "DEVICE_ID_PATTERN",
    "ID_LENGTH",
    "SUBJECT_LENGTH",
    "AddressHit",
    "Alert",
    "ApiKey",
    "CitizenReport",
    "AlertHistory",
    "AlertOutbox",
    "Base",
    "RegistryRevision",
    "Drain",
    "Lamp",
    "RainGauge",
]


class ConsoleSession(Base):
    """A crew console sign-in (api/console/sessions.py): a random token's SHA-256 (the cookie
    holds the token, never stored), the API key it was exchanged for, its CSRF token and expiry.
    A revoked key ends its sessions (they are read joined with a key that is not revoked)."""

    __tablename__ = "console_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    key_id: Mapped[int] = mapped_column(ForeignKey("api_keys.id"), index=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)


class Patrol(Base):
    """A night patrol of a zone (api/console/patrols.py): who walked it, when it started and
    finished (None: under way). Finished patrols count in the monthly score."""

    __tablename__ = "patrols"
    __table_args__ = (Index("ix_patrols_zone_finished_at", "zone", "finished_at"),
                      {"sqlite_autoincrement": True})

    id: Mapped[int] = mapped_column(primary_key=True)
    zone: Mapped[str] = mapped_column(String(ID_LENGTH))
    patroller: Mapped[str] = mapped_column(String(ACTOR_LENGTH))  # the API key's name
    started_at: Mapped[datetime] = mapped_column(UtcDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class PatrolLamp(Base):
    """A lamp on a patrol's route, in walking order (`seq`), why it is there, and what the
    patroller saw (`mark` lit/dark/damaged, a note, when; None until marked); `alert_id` is the
    patrol_mismatch alert the mark raised."""

    __tablename__ = "patrol_lamps"
    __table_args__ = (
        CheckConstraint("mark IS NULL OR mark IN ('lit', 'dark', 'damaged')", name="mark"),
        Index("uq_patrol_lamps_patrol_id_lamp_id", "patrol_id", "lamp_id", unique=True),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    patrol_id: Mapped[int] = mapped_column(ForeignKey("patrols.id"))
    seq: Mapped[int]
    lamp_id: Mapped[str] = mapped_column(String(ID_LENGTH))
    reasons: Mapped[str] = mapped_column(String(200))  # comma-separated: dark, silent, ...
    mark: Mapped[str | None] = mapped_column(String(16))
    note: Mapped[str | None] = mapped_column(Text)
    marked_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    alert_id: Mapped[int | None] = mapped_column(ForeignKey("alerts.id"))


class AddressHit(Base):
    """One counted request of a client address (`purpose` report or lookup): the citizen
    channel's limits per address (api/address_limits.py), counted here so that every API
    process shares them. Rows older than the limit's window are deleted as they are met."""

    __tablename__ = "address_hits"
    __table_args__ = (Index("ix_address_hits_purpose_address_at", "purpose", "address", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    purpose: Mapped[str] = mapped_column(String(16))
    address: Mapped[str] = mapped_column(String(ADDRESS_LENGTH))
    at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)


class RegistryRevision(Base):
    """One row: a number every write of the device tables adds one to, in the same transaction
    (streetwatch.registry.store.bump_registry_revision), so that the live rule runner sees a
    device added, changed or taken out of service by a cheap read, and takes the change
    (docs/alerts.md "Restarts")."""

    __tablename__ = "registry_revision"

    id: Mapped[int] = mapped_column(primary_key=True)
    revision: Mapped[int] = mapped_column(BigInteger)
