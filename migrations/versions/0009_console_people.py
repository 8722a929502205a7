"""people, staff notifications, audit trail indexes

Revision ID: 0009
Revises: 0008_console_regs
Create Date: 2026-12-02 09:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import portal.models


revision = "0009"
down_revision = "0008_console_regs"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "password_links",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("purpose", sa.String(length=20), nullable=False),
        sa.Column("created_by", sa.String(length=320), nullable=False),
        sa.Column("created_at", portal.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", portal.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("used_at", portal.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", portal.models.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("token_hash"),
    )
    with op.batch_alter_table("password_links", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_password_links_user_id"), ["user_id"], unique=False)

    op.create_table(
        "staff_notifications",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("event_key", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("channel", sa.String(length=20), nullable=False),
        sa.Column("subject", sa.String(length=255), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", portal.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("claimed_at", portal.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("sent_at", portal.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", portal.models.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("event_key", "channel", name="uq_staff_notifications_event_channel"),
    )
    with op.batch_alter_table("staff_notifications", schema=None) as batch_op:
        batch_op.create_index("ix_staff_notifications_state_due", ["state", "next_attempt_at"], unique=False)

    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.create_index("ix_audit_events_actor_id", ["actor", "id"], unique=False)
        batch_op.create_index("ix_audit_events_action_id", ["action", "id"], unique=False)
        batch_op.create_index("ix_audit_events_created_at", ["created_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.drop_index("ix_audit_events_created_at")
        batch_op.drop_index("ix_audit_events_action_id")
        batch_op.drop_index("ix_audit_events_actor_id")

    with op.batch_alter_table("staff_notifications", schema=None) as batch_op:
        batch_op.drop_index("ix_staff_notifications_state_due")
    op.drop_table("staff_notifications")

    with op.batch_alter_table("password_links", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_password_links_user_id"))
    op.drop_table("password_links")
