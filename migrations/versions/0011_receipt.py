"""payments keep the Stripe receipt URL of their charge

Revision ID: 0011_receipt
Revises: 0010_perf
Create Date: 2026-12-02 10:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011_receipt"
down_revision = "0010_perf"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("payments", schema=None) as batch_op:
        batch_op.add_column(sa.Column("receipt_url", sa.String(length=2048), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("payments", schema=None) as batch_op:
        batch_op.drop_column("receipt_url")
