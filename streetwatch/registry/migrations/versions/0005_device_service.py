"""Every device kind can be taken out of service, with a reason; keyset indexes for the API.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01

Drains and rain gauges gain the lamps' service columns (`in_service`, a planned-works window
[from, until)); all three kinds gain `out_of_service_reason` (why a manager took the device out).
The single-column zone and gateway indexes become (column, id) indexes, so the API's device list
pages by id inside a zone, gateway, road or cabinet with an index range scan, never a sort.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TS = sa.DateTime(timezone=True)
TABLES = ("lamps", "drains", "rain_gauges")
KEYSET_COLUMNS = {"lamps": ("zone", "gateway", "road", "cabinet"),
                  "drains": ("zone", "gateway"), "rain_gauges": ("zone", "gateway")}


def upgrade() -> None:
    for table in ("drains", "rain_gauges"):
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("in_service", sa.Boolean(), nullable=False,
                                       server_default=sa.true()))
            batch.add_column(sa.Column("out_of_service_from", TS, nullable=True))
            batch.add_column(sa.Column("out_of_service_until", TS, nullable=True))
    for table in TABLES:
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("out_of_service_reason", sa.Text(), nullable=True))
        for column in ("zone", "gateway"):
            op.drop_index(f"ix_{table}_{column}", table_name=table)
        for column in KEYSET_COLUMNS[table]:
            op.create_index(f"ix_{table}_{column}_id", table, [column, "id"])


def downgrade() -> None:
    for table in TABLES:
        for column in KEYSET_COLUMNS[table]:
            op.drop_index(f"ix_{table}_{column}_id", table_name=table)
        for column in ("zone", "gateway"):
            op.create_index(f"ix_{table}_{column}", table, [column])
        with op.batch_alter_table(table) as batch:
            batch.drop_column("out_of_service_reason")
    for table in ("drains", "rain_gauges"):
        with op.batch_alter_table(table) as batch:
            for column in ("out_of_service_until", "out_of_service_from", "in_service"):
                batch.drop_column(column)
