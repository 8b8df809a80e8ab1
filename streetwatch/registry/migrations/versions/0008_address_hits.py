"""The citizen channel's limits per client address, counted in SQL.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01

Each counted request (a report filed, a receipt looked up) is a row: purpose, the client
address, when. Every API process counts in the same table, so a limit holds for the town
however many processes (or machines) serve it; rows older than the window are deleted.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "address_hits",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("purpose", sa.String(16), nullable=False),
        sa.Column("address", sa.String(128), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_address_hits"),
    )
    op.create_index("ix_address_hits_purpose_address_at", "address_hits",
                    ["purpose", "address", "at"])
    op.create_index("ix_address_hits_at", "address_hits", ["at"])


def downgrade() -> None:
    op.drop_index("ix_address_hits_at", table_name="address_hits")
    op.drop_index("ix_address_hits_purpose_address_at", table_name="address_hits")
    op.drop_table("address_hits")
