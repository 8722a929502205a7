"""a customer account can be erased: when its personal data was removed (users.erased_at)

Revision ID: 0017_erased_accounts
Revises: 0016_email_change_links
Create Date: 2026-12-03 10:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import portal.models

revision = "0017_erased_accounts"
down_revision = "0016_email_change_links"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(sa.Column("erased_at", portal.models.UTCDateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_column("erased_at")
