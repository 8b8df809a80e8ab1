"""SQLAlchemy 2 models of the device registry: what each device is, where it is, who serves it.

The migration in `migrations/versions` is the source of truth for the schema; these classes must
match it (an integration test compares them).
"""

from __future__ import annotations

import re

from sqlalchemy import Double, MetaData, String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from streetwatch.schemas import ID_PATTERN

# Device, gateway, zone and cabinet ids: the MQTT topic alphabet of DESIGN.md section 3.
DEVICE_ID_PATTERN = re.compile(ID_PATTERN)  # the wire contract's id rule (schemas.py)
ID_LENGTH = 64
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


class Lamp(Base):
    """A streetlight: its gateway, zone (crew), place on a road and feeder cabinet."""

    __tablename__ = "lamps"

    id: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True)
    gateway: Mapped[str] = mapped_column(String(ID_LENGTH), index=True)
    zone: Mapped[str] = mapped_column(String(ID_LENGTH), index=True)
    road: Mapped[str | None] = mapped_column(String(ID_LENGTH))
    position_on_road: Mapped[int | None]
    cabinet: Mapped[str | None] = mapped_column(String(ID_LENGTH))
    lat: Mapped[float | None] = mapped_column(Double)
    lon: Mapped[float | None] = mapped_column(Double)


class Drain(Base):
    """A drain-level sensor: its gateway, zone, geometry and downstream neighbour.

    `downstream_id` is a plain column, not a foreign key: the downstream drain may come later.
    """

    __tablename__ = "drains"

    id: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True)
    gateway: Mapped[str] = mapped_column(String(ID_LENGTH), index=True)
    zone: Mapped[str] = mapped_column(String(ID_LENGTH), index=True)
    depth_cm: Mapped[float | None] = mapped_column(Double)
    overflow_cm: Mapped[float | None] = mapped_column(Double)
    downstream_id: Mapped[str | None] = mapped_column(String(ID_LENGTH))
    lat: Mapped[float | None] = mapped_column(Double)
    lon: Mapped[float | None] = mapped_column(Double)


class RainGauge(Base):
    """A rain gauge: its gateway, zone and place (rain tells a storm surge from a blockage)."""

    __tablename__ = "rain_gauges"

    id: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True)
    gateway: Mapped[str] = mapped_column(String(ID_LENGTH), index=True)
    zone: Mapped[str] = mapped_column(String(ID_LENGTH), index=True)
    lat: Mapped[float | None] = mapped_column(Double)
    lon: Mapped[float | None] = mapped_column(Double)


__all__ = ["DEVICE_ID_PATTERN", "ID_LENGTH", "Base", "Drain", "Lamp", "RainGauge"]
