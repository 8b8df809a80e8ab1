"""The HTTP API's tables: hashed API keys, alert assignment and comments, citizen reports.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30

An API key is stored as its public prefix (to find the row) and a slow hash of the whole key;
the key itself is shown once and never stored. Alerts gain the crew they are assigned to; their
history gains `assigned` and `commented` events. Citizen reports carry a receipt code a citizen
looks them up by, and are never closed without an answer (a check constraint says so).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.String(64)
TS = sa.DateTime(timezone=True)
OLD_EVENTS = "('raised', 'repeated', 'acknowledged', 'resolved', 'overdue', 'escalated')"
NEW_EVENTS = ("('raised', 'repeated', 'acknowledged', 'resolved', 'overdue', 'escalated', "
              "'assigned', 'commented')")


def _create_api_keys() -> None:
    op.create_table(
        "api_keys",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", ID, nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("zones", sa.Text(), nullable=True),
        sa.Column("prefix", sa.String(16), nullable=False),
        sa.Column("secret_hash", sa.String(200), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("revoked_at", TS, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_api_keys"),
        sa.UniqueConstraint("prefix", name="uq_api_keys_prefix"),
        sa.CheckConstraint("role IN ('viewer', 'crew', 'manager', 'admin')",
                           name="ck_api_keys_role"),
        sqlite_autoincrement=True,
    )


def _add_alert_assignment() -> None:
    with op.batch_alter_table("alerts") as batch:
        batch.add_column(sa.Column("assigned_to", ID, nullable=True))
        batch.add_column(sa.Column("assigned_at", TS, nullable=True))
    with op.batch_alter_table("alert_history") as batch:
        batch.drop_constraint("ck_alert_history_event", type_="check")
        batch.create_check_constraint("event", sa.text(f"event IN {NEW_EVENTS}"))


def _create_citizen_reports() -> None:
    op.create_table(
        "citizen_reports",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("receipt", sa.String(16), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("contact", sa.Text(), nullable=True),
        sa.Column("lat", sa.Double(), nullable=True),
        sa.Column("lon", sa.Double(), nullable=True),
        sa.Column("device_id", ID, nullable=True),
        sa.Column("zone", ID, nullable=True),
        sa.Column("alert_id", sa.Integer(), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("answer", sa.Text(), nullable=True),
        sa.Column("answered_by", ID, nullable=True),
        sa.Column("answered_at", TS, nullable=True),
        sa.Column("closed_at", TS, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_citizen_reports"),
        sa.UniqueConstraint("receipt", name="uq_citizen_reports_receipt"),
        sa.ForeignKeyConstraint(["alert_id"], ["alerts.id"],
                                name="fk_citizen_reports_alert_id_alerts"),
        sa.CheckConstraint("kind IN ('dark_lamp', 'drain_overflow', 'missing_cover', 'other')",
                           name="ck_citizen_reports_kind"),
        sa.CheckConstraint("status IN ('open', 'answered', 'closed')",
                           name="ck_citizen_reports_status"),
        sa.CheckConstraint("status = 'open' OR answer IS NOT NULL",
                           name="ck_citizen_reports_answered"),
    )
    op.create_index("ix_citizen_reports_zone", "citizen_reports", ["zone"])
    op.create_index("ix_citizen_reports_created_at", "citizen_reports", ["created_at"])


def upgrade() -> None:
    _create_api_keys()
    _add_alert_assignment()
    _create_citizen_reports()


def downgrade() -> None:
    op.drop_index("ix_citizen_reports_created_at", table_name="citizen_reports")
    op.drop_index("ix_citizen_reports_zone", table_name="citizen_reports")
    op.drop_table("citizen_reports")
    with op.batch_alter_table("alert_history") as batch:
        batch.drop_constraint(op.f("ck_alert_history_event"), type_="check")
        batch.create_check_constraint("event", sa.text(f"event IN {OLD_EVENTS}"))
    with op.batch_alter_table("alerts") as batch:
        batch.drop_column("assigned_at")
        batch.drop_column("assigned_to")
    op.drop_table("api_keys")
