"""Place indexes: a citizen's report finds the nearest device by a lat/lon box query.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01

`(lat, lon)` on lamps, drains and rain gauges, so the box around a report's place is an index
range scan instead of a walk over 100,000 devices (api/citizen_store.py).
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ("lamps", "drains", "rain_gauges")


def upgrade() -> None:
    for table in TABLES:
        op.create_index(f"ix_{table}_lat_lon", table, ["lat", "lon"])


def downgrade() -> None:
    for table in TABLES:
        op.drop_index(f"ix_{table}_lat_lon", table_name=table)
