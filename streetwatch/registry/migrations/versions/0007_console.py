"""The crew console's tables: sign-in sessions, and night patrols with their lamps.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01

A console session keeps only the SHA-256 of its random cookie token, with the API key it was
exchanged for, a CSRF token and its expiry. A patrol is a zone, the patroller (a key's name),
start and finish; each lamp of its route has its walking order, why it is on the route, and the
patroller's mark (lit, dark or damaged), note and time, and the patrol_mismatch alert it raised.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.String(64)
TS = sa.DateTime(timezone=True)


def _create_console_sessions() -> None:
    op.create_table(
        "console_sessions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("key_id", sa.Integer(), nullable=False),
        sa.Column("csrf_token", sa.String(64), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("expires_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_console_sessions"),
        sa.UniqueConstraint("token_hash", name="uq_console_sessions_token_hash"),
        sa.ForeignKeyConstraint(["key_id"], ["api_keys.id"],
                                name="fk_console_sessions_key_id_api_keys"),
    )
    op.create_index("ix_console_sessions_key_id", "console_sessions", ["key_id"])
    op.create_index("ix_console_sessions_expires_at", "console_sessions", ["expires_at"])


def _create_patrols() -> None:
    op.create_table(
        "patrols",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("zone", ID, nullable=False),
        sa.Column("patroller", ID, nullable=False),
        sa.Column("started_at", TS, nullable=False),
        sa.Column("finished_at", TS, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_patrols"),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_patrols_zone_finished_at", "patrols", ["zone", "finished_at"])
    op.create_table(
        "patrol_lamps",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("patrol_id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("lamp_id", ID, nullable=False),
        sa.Column("reasons", sa.String(200), nullable=False),
        sa.Column("mark", sa.String(16), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("marked_at", TS, nullable=True),
        sa.Column("alert_id", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_patrol_lamps"),
        sa.ForeignKeyConstraint(["patrol_id"], ["patrols.id"],
                                name="fk_patrol_lamps_patrol_id_patrols"),
        sa.ForeignKeyConstraint(["alert_id"], ["alerts.id"],
                                name="fk_patrol_lamps_alert_id_alerts"),
        sa.CheckConstraint("mark IS NULL OR mark IN ('lit', 'dark', 'damaged')",
                           name="ck_patrol_lamps_mark"),
    )
    op.create_index("uq_patrol_lamps_patrol_id_lamp_id", "patrol_lamps",
                    ["patrol_id", "lamp_id"], unique=True)


def upgrade() -> None:
    _create_console_sessions()
    _create_patrols()


def downgrade() -> None:
    op.drop_index("uq_patrol_lamps_patrol_id_lamp_id", table_name="patrol_lamps")
    op.drop_table("patrol_lamps")
    op.drop_index("ix_patrols_zone_finished_at", table_name="patrols")
    op.drop_table("patrols")
    op.drop_index("ix_console_sessions_expires_at", table_name="console_sessions")
    op.drop_index("ix_console_sessions_key_id", table_name="console_sessions")
    op.drop_table("console_sessions")
