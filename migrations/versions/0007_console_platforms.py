"""console platforms: what the portal knows of each registration's platform, staff platform actions,
and withdrawn approval requests (a new value of a string column: no schema change)

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01 14:45:15.341376
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import portal.models


revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "platform_actions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token", sa.String(length=64), nullable=False),
        sa.Column("platform_id", sa.String(length=255), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("actor", sa.String(length=320), nullable=False),
        sa.Column("registration_id", sa.Integer(), nullable=True),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.Column("message", sa.Text(), nullable=True),
        sa.Column("created_at", portal.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("finished_at", portal.models.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["registration_id"], ["registrations.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("token"),
    )
    with op.batch_alter_table("platform_actions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_platform_actions_platform_id"), ["platform_id"], unique=False)

    with op.batch_alter_table("registrations", schema=None) as batch_op:
        batch_op.add_column(sa.Column("platform_active", sa.Boolean(), nullable=True))
        batch_op.add_column(sa.Column("platform_name", sa.String(length=255), nullable=True))
        batch_op.add_column(
            sa.Column("platform_deleted_at", portal.models.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.create_index(batch_op.f("ix_registrations_platform_id"), ["platform_id"], unique=False)

    _remember_activation_sent_at_completion()


def _remember_activation_sent_at_completion() -> None:
    """Completed registrations: `platform_active` is the autoActivate they were completed with."""
    registrations = sa.table(
        "registrations",
        sa.column("id", sa.Integer()),
        sa.column("state", sa.String()),
        sa.column("overrides", sa.JSON()),
        sa.column("platform_active", sa.Boolean()),
    )
    connection = op.get_bind()
    rows = connection.execute(
        sa.select(registrations.c.id, registrations.c.overrides).where(registrations.c.state == "completed")
    ).all()
    for row_id, overrides in rows:
        sent = (overrides or {}).get("autoActivate") if isinstance(overrides, dict) else None
        if isinstance(sent, bool):
            connection.execute(
                registrations.update().where(registrations.c.id == row_id).values(platform_active=sent)
            )


def downgrade() -> None:
    with op.batch_alter_table("registrations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_registrations_platform_id"))
        batch_op.drop_column("platform_deleted_at")
        batch_op.drop_column("platform_name")
        batch_op.drop_column("platform_active")

    with op.batch_alter_table("platform_actions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_platform_actions_platform_id"))

    op.drop_table("platform_actions")
