"""a person's page finds the newest e-mail to them by an index, not by reading every notification

Revision ID: 0013_notifications_by_recipient
Revises: 0012_password_emails
Create Date: 2026-12-02 07:00:00.000000
"""

from __future__ import annotations

from alembic import op

revision = "0013_notifications_by_recipient"
down_revision = "0012_password_emails"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_staff_notifications_recipient", "staff_notifications", ["recipient", "id"])


def downgrade() -> None:
    op.drop_index("ix_staff_notifications_recipient", table_name="staff_notifications")
