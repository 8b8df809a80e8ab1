"""A revision number of the device registry, for the live rule runner to follow it.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01

One row (id 1): every write of the lamps, drains and rain_gauges tables adds one to `revision`
in its own transaction. The rule runner reads it every `rules_registry_check_s` and takes the
change when it moved (in place, or by a rebuild), where it used to read the registry only at
start.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    table = op.create_table(
        "registry_revision",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("revision", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_registry_revision"),
    )
    op.bulk_insert(table, [{"id": 1, "revision": 0}])


def downgrade() -> None:
    op.drop_table("registry_revision")
