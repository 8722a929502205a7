"""the outbox can e-mail one person a link to choose a new password

Revision ID: 0012_password_emails
Revises: 0011_receipt
Create Date: 2026-12-02 02:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012_password_emails"
down_revision = "0011_receipt"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("staff_notifications", schema=None) as batch_op:
        batch_op.add_column(sa.Column("recipient", sa.String(length=320), nullable=True))
        batch_op.add_column(sa.Column("secret_seed", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("staff_notifications", schema=None) as batch_op:
        batch_op.drop_column("secret_seed")
        batch_op.drop_column("recipient")
