"""Device registry: lamps, drains, rain gauges.

Revision ID: 0001
Revises:
Create Date: 2025-01-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.String(64)


def _device_columns() -> list[sa.Column]:
    """Columns every device has: id, gateway, zone."""
    return [
        sa.Column("id", ID, nullable=False),
        sa.Column("gateway", ID, nullable=False),
        sa.Column("zone", ID, nullable=False),
    ]


def _place_columns() -> list[sa.Column]:
    """Latitude and longitude in degrees (WGS 84), optional."""
    return [sa.Column(name, sa.Double(), nullable=True) for name in ("lat", "lon")]


def _create_device_table(table: str, *columns: sa.Column) -> None:
    """One device table; constraint and index names follow models.NAMING_CONVENTION."""
    op.create_table(
        table,
        *_device_columns(),
        *columns,
        *_place_columns(),
        sa.PrimaryKeyConstraint("id", name=f"pk_{table}"),
    )
    op.create_index(f"ix_{table}_gateway", table, ["gateway"])
    op.create_index(f"ix_{table}_zone", table, ["zone"])


def upgrade() -> None:
    _create_device_table(
        "lamps",
        sa.Column("road", ID, nullable=True),
        sa.Column("position_on_road", sa.Integer(), nullable=True),
        sa.Column("cabinet", ID, nullable=True),
    )
    _create_device_table(
        "drains",
        sa.Column("depth_cm", sa.Double(), nullable=True),
        sa.Column("overflow_cm", sa.Double(), nullable=True),
        sa.Column("downstream_id", ID, nullable=True),
    )
    _create_device_table("rain_gauges")


def downgrade() -> None:
    for table in ("rain_gauges", "drains", "lamps"):
        op.drop_index(f"ix_{table}_zone", table_name=table)
        op.drop_index(f"ix_{table}_gateway", table_name=table)
        op.drop_table(table)
