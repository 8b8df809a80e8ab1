"""Alerts: lamp service state, alerts with history, and the webhook outbox.

Revision ID: 0002
Revises: 0001
Create Date: 2025-02-01

Existing lamps become in service (server default true). One open alert per (subject, kind) is a
partial unique index (`WHERE resolved_at IS NULL`), so storage enforces it against racing writers.
Names follow models.NAMING_CONVENTION.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.String(64)
ACTOR = sa.String(64)
TS = sa.DateTime(timezone=True)
OPEN_ALERT = sa.text("resolved_at IS NULL")
UNDELIVERED = sa.text("delivered_at IS NULL")


def _add_lamp_service_columns() -> None:
    with op.batch_alter_table("lamps") as batch:
        batch.add_column(sa.Column("in_service", sa.Boolean(), nullable=False,
                                   server_default=sa.true()))
        batch.add_column(sa.Column("out_of_service_from", TS, nullable=True))
        batch.add_column(sa.Column("out_of_service_until", TS, nullable=True))


def _create_alerts() -> None:
    op.create_table(
        "alerts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("subject", sa.String(200), nullable=False),
        sa.Column("zone", ID, nullable=False),
        sa.Column("severity", sa.String(8), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("devices", sa.Text(), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("road", ID, nullable=True),
        sa.Column("position_on_road", sa.Integer(), nullable=True),
        sa.Column("lat", sa.Double(), nullable=True),
        sa.Column("lon", sa.Double(), nullable=True),
        sa.Column("raised_at", TS, nullable=False),
        sa.Column("last_seen_at", TS, nullable=False),
        sa.Column("seen_count", sa.Integer(), nullable=False),
        sa.Column("deadline", TS, nullable=False),
        sa.Column("overdue", sa.Boolean(), nullable=False),
        sa.Column("acknowledged_at", TS, nullable=True),
        sa.Column("acknowledged_by", ACTOR, nullable=True),
        sa.Column("resolved_at", TS, nullable=True),
        sa.Column("resolved_by", ACTOR, nullable=True),
        sa.Column("resolve_note", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_alerts"),
        sa.CheckConstraint("severity IN ('red', 'yellow', 'blue')", name="ck_alerts_severity"),
        sa.CheckConstraint("state IN ('raised', 'acknowledged', 'resolved')",
                           name="ck_alerts_state"),
        sqlite_autoincrement=True,
    )
    op.create_index("uq_alerts_open_subject_kind", "alerts", ["subject", "kind"], unique=True,
                    sqlite_where=OPEN_ALERT, postgresql_where=OPEN_ALERT)
    op.create_index("ix_alerts_open_zone", "alerts", ["zone"], sqlite_where=OPEN_ALERT,
                    postgresql_where=OPEN_ALERT)
    op.create_index("ix_alerts_zone", "alerts", ["zone"])


def _create_alert_history() -> None:
    op.create_table(
        "alert_history",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("alert_id", sa.Integer(), nullable=False),
        sa.Column("ts", TS, nullable=False),
        sa.Column("event", sa.String(16), nullable=False),
        sa.Column("actor", ACTOR, nullable=False),
        sa.Column("severity", sa.String(8), nullable=False),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_alert_history"),
        sa.ForeignKeyConstraint(["alert_id"], ["alerts.id"],
                                name="fk_alert_history_alert_id_alerts"),
        sa.CheckConstraint("event IN ('raised', 'repeated', 'acknowledged', 'resolved', "
                           "'overdue', 'escalated')", name="ck_alert_history_event"),
    )
    op.create_index("ix_alert_history_alert_id", "alert_history", ["alert_id"])


def _create_alert_outbox() -> None:
    op.create_table(
        "alert_outbox",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("target", sa.Text(), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", TS, nullable=False),
        sa.Column("delivered_at", TS, nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_alert_outbox"),
    )
    op.create_index("ix_alert_outbox_due", "alert_outbox", ["next_attempt_at"],
                    sqlite_where=UNDELIVERED, postgresql_where=UNDELIVERED)


def upgrade() -> None:
    _add_lamp_service_columns()
    _create_alerts()
    _create_alert_history()
    _create_alert_outbox()


def downgrade() -> None:
    op.drop_index("ix_alert_outbox_due", table_name="alert_outbox")
    op.drop_table("alert_outbox")
    op.drop_index("ix_alert_history_alert_id", table_name="alert_history")
    op.drop_table("alert_history")
    for index in ("ix_alerts_zone", "ix_alerts_open_zone", "uq_alerts_open_subject_kind"):
        op.drop_index(index, table_name="alerts")
    op.drop_table("alerts")
    with op.batch_alter_table("lamps") as batch:
        for column in ("out_of_service_until", "out_of_service_from", "in_service"):
            batch.drop_column(column)
