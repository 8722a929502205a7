"""registration outcomes: the problem an attempt ran into, the school's name, the platforms known at receipt

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01 15:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

REFUSAL_START = "LTIAAS refused the registration"


def upgrade() -> None:
    with op.batch_alter_table("registrations", schema=None) as batch_op:
        batch_op.add_column(sa.Column("problem", sa.String(length=40), nullable=True))
        batch_op.add_column(sa.Column("account_name", sa.String(length=255), nullable=True))
        batch_op.add_column(sa.Column("known_platforms", sa.JSON(), nullable=True))
    # Before this column, only LTIAAS's refusal was a known outcome among failures; every other
    # failure (interrupted, unreadable answer, unexpected error) may have registered the tool.
    registrations = sa.table(
        "registrations",
        sa.column("state", sa.String),
        sa.column("last_error", sa.Text),
        sa.column("problem", sa.String),
    )
    failed = registrations.c.state == "failed"
    op.execute(
        registrations.update()
        .where(failed, registrations.c.last_error.like(REFUSAL_START + "%"))
        .values(problem="refused")
    )
    op.execute(
        registrations.update()
        .where(failed, registrations.c.problem.is_(None))
        .values(problem="outcome_unknown")
    )


def downgrade() -> None:
    with op.batch_alter_table("registrations", schema=None) as batch_op:
        batch_op.drop_column("known_platforms")
        batch_op.drop_column("account_name")
        batch_op.drop_column("problem")
