"""a one-time link can confirm a new e-mail address for an account (password_links.new_email)

Revision ID: 0016_email_change_links
Revises: 0015_form_submissions
Create Date: 2026-12-02 18:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016_email_change_links"
down_revision = "0015_form_submissions"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("password_links", schema=None) as batch_op:
        batch_op.add_column(sa.Column("new_email", sa.String(length=320), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("password_links", schema=None) as batch_op:
        batch_op.drop_column("new_email")
