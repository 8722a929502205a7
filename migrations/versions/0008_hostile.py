"""registrations belong to the customer account that worked on them

Revision ID: 0008_hostile
Revises: 0007
Create Date: 2026-12-02 10:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = "0008_hostile"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        # SQLite adds a column with its foreign key in place; alembic's batch mode would copy the
        # table instead, and dropping the old copy fails while payments refer to it.
        op.execute("ALTER TABLE registrations ADD COLUMN customer_id INTEGER REFERENCES users (id)")
    else:
        op.add_column("registrations", sa.Column("customer_id", sa.Integer(), nullable=True))
        op.create_foreign_key(
            "fk_registrations_customer_id_users", "registrations", "users", ["customer_id"], ["id"]
        )
    op.create_index("ix_registrations_customer_id", "registrations", ["customer_id"], unique=False)
    # Who worked on it before the column existed (as portal.customers reads it): the customer who
    # asked for its approval, else who paid for it, else the last customer who saved its choices.
    registrations = sa.table(
        "registrations", sa.column("id", sa.Integer), sa.column("customer_id", sa.Integer)
    )
    approvals = sa.table(
        "approval_requests",
        sa.column("registration_id", sa.Integer),
        sa.column("requested_by_id", sa.Integer),
    )
    payments = sa.table(
        "payments", sa.column("registration_id", sa.Integer), sa.column("user_id", sa.Integer)
    )
    events = sa.table(
        "audit_events",
        sa.column("id", sa.Integer),
        sa.column("registration_id", sa.Integer),
        sa.column("actor", sa.String),
        sa.column("action", sa.String),
        sa.column("from_state", sa.String),
    )
    users = sa.table(
        "users", sa.column("id", sa.Integer), sa.column("email", sa.String), sa.column("role", sa.String)
    )
    chose = (
        sa.select(users.c.id)
        .select_from(events.join(users, users.c.email == events.c.actor))
        .where(
            events.c.registration_id == registrations.c.id,
            events.c.action == "state:reviewed",
            events.c.from_state.in_(["received", "reviewed"]),
            users.c.role == "customer",
        )
        .order_by(events.c.id.desc())
        .limit(1)
    )
    owners = [
        sa.select(approvals.c.requested_by_id).where(approvals.c.registration_id == registrations.c.id),
        sa.select(payments.c.user_id).where(payments.c.registration_id == registrations.c.id),
        chose,
    ]
    for owner in owners:
        op.execute(
            registrations.update()
            .where(registrations.c.customer_id.is_(None))
            .values(customer_id=owner.scalar_subquery())
        )


def downgrade() -> None:
    op.drop_index("ix_registrations_customer_id", table_name="registrations")
    if op.get_bind().dialect.name != "sqlite":
        op.drop_constraint("fk_registrations_customer_id_users", "registrations", type_="foreignkey")
    # On SQLite, the batch copy drops the column's key with it.
    with op.batch_alter_table("registrations", schema=None) as batch_op:
        batch_op.drop_column("customer_id")
