"""registrations belong to the customer account that worked on them

Revision ID: 0007_hostile
Revises: 0006
Create Date: 2026-12-02 10:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = "0007_hostile"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("registrations", schema=None) as batch_op:
        batch_op.add_column(sa.Column("customer_id", sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f("ix_registrations_customer_id"), ["customer_id"], unique=False)
        batch_op.create_foreign_key("fk_registrations_customer_id_users", "users", ["customer_id"], ["id"])
    # A registration someone paid for, or asked the staff to approve, belongs to that customer.
    registrations = sa.table(
        "registrations", sa.column("id", sa.Integer), sa.column("customer_id", sa.Integer)
    )
    for table, user_column in (("payments", "user_id"), ("approval_requests", "requested_by_id")):
        source = sa.table(table, sa.column("registration_id", sa.Integer), sa.column(user_column, sa.Integer))
        owner = (
            sa.select(source.c[user_column])
            .where(source.c.registration_id == registrations.c.id)
            .scalar_subquery()
        )
        op.execute(
            registrations.update().where(registrations.c.customer_id.is_(None)).values(customer_id=owner)
        )


def downgrade() -> None:
    with op.batch_alter_table("registrations", schema=None) as batch_op:
        batch_op.drop_constraint("fk_registrations_customer_id_users", type_="foreignkey")
        batch_op.drop_index(batch_op.f("ix_registrations_customer_id"))
        batch_op.drop_column("customer_id")
