"""Drain model for the drain rules: pipe diameter and an optional configured normal band.

Revision ID: 0003
Revises: 0002
Create Date: 2025-03-01

Depth, overflow level and the downstream neighbour exist since 0001. A configured normal band
(`normal_low_cm`-`normal_high_cm`) replaces the learned dry-weather baseline for that drain.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NEW_COLUMNS = ("pipe_diameter_cm", "normal_low_cm", "normal_high_cm")


def upgrade() -> None:
    with op.batch_alter_table("drains") as batch:
        for column in NEW_COLUMNS:
            batch.add_column(sa.Column(column, sa.Double(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("drains") as batch:
        for column in reversed(NEW_COLUMNS):
            batch.drop_column(column)
