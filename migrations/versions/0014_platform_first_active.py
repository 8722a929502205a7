"""when the portal first knew a registration's platform to be active: an inactive one that never was
awaits activation; one that was has been deactivated

Revision ID: 0014_platform_first_active
Revises: 0013_notifications_by_recipient
Create Date: 2026-12-02 08:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import portal.models

revision = "0014_platform_first_active"
down_revision = "0013_notifications_by_recipient"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("registrations", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("platform_active_since", portal.models.UTCDateTime(timezone=True), nullable=True)
        )
    registrations = sa.table(
        "registrations",
        sa.column("platform_id", sa.String()),
        sa.column("platform_active", sa.Boolean()),
        sa.column("completed_at", portal.models.UTCDateTime(timezone=True)),
        sa.column("updated_at", portal.models.UTCDateTime(timezone=True)),
        sa.column("platform_active_since", portal.models.UTCDateTime(timezone=True)),
    )
    actions = sa.table(
        "platform_actions",
        sa.column("platform_id", sa.String()),
        sa.column("kind", sa.String()),
        sa.column("state", sa.String()),
    )
    # Active now, or activated or deactivated by staff once (so active then): it was active.
    touched_by_staff = sa.exists().where(
        actions.c.platform_id == registrations.c.platform_id,
        actions.c.kind.in_(["activate", "deactivate"]),
        actions.c.state == "done",
    )
    op.execute(
        registrations.update()
        .where(registrations.c.platform_id.is_not(None))
        .where(sa.or_(registrations.c.platform_active.is_(True), touched_by_staff))
        .values(
            platform_active_since=sa.func.coalesce(registrations.c.completed_at, registrations.c.updated_at)
        )
    )


def downgrade() -> None:
    with op.batch_alter_table("registrations", schema=None) as batch_op:
        batch_op.drop_column("platform_active_since")
