"""registrations for the staff console: family, policy, customer, the list's indexes, platform names

Revision ID: 0008_console_regs
Revises: 0007
Create Date: 2026-12-02 09:00:00.000000

Existing rows are filled in from what the database already knows:
- family: the canonical slug of `family_code` (the aliases as of this revision, below);
- platform_name (added by 0007), where still empty: overrides' platformName, for the search;
- policy: live-approval where an approval request exists; otherwise unknown (NULL),
  since nothing recorded which policy was in force;
- customer_id: the account that asked for approval, else the one that paid, else the first
  account that saved choices (its email is the actor of the first `state:reviewed`).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008_console_regs"
down_revision = "0007"
branch_labels = None
depends_on = None

# portal.registration.labels as of this revision: slug -> the product_family_code values of that family.
_FAMILY_CODES = {
    "moodle": ("moodle",),
    "canvas": ("canvas",),
    "sakai": ("sakailms.org", "sakai"),
    "brightspace": ("desire2learn", "brightspace", "d2l"),
    "blackboard": ("blackboardlearn", "blackboard"),
    "schoology": ("schoology",),
}


def upgrade() -> None:
    # Plain ALTER TABLE ... ADD COLUMN, never a copy of the table (batch mode's way on SQLite): the copy
    # cannot drop the old table while payments, requests and the trail point at its rows.
    op.add_column(
        "registrations", sa.Column("family", sa.String(length=32), server_default="other", nullable=False)
    )
    op.add_column("registrations", sa.Column("policy", sa.String(length=20), nullable=True))
    if op.get_bind().dialect.name == "sqlite":
        op.execute("ALTER TABLE registrations ADD COLUMN customer_id INTEGER REFERENCES users (id)")
    else:
        op.add_column("registrations", sa.Column("customer_id", sa.Integer(), nullable=True))
        op.create_foreign_key(
            "fk_registrations_customer_id_users", "registrations", "users", ["customer_id"], ["id"]
        )
    with op.batch_alter_table("registrations", schema=None) as batch_op:
        batch_op.create_index("ix_registrations_customer_id", ["customer_id"], unique=False)
        batch_op.create_index("ix_registrations_created_at_id", ["created_at", "id"], unique=False)
        batch_op.create_index(
            "ix_registrations_state_created_at_id", ["state", "created_at", "id"], unique=False
        )
        batch_op.create_index(
            "ix_registrations_family_created_at_id", ["family", "created_at", "id"], unique=False
        )
    _backfill_family()
    _backfill_platform_name()
    _backfill_policy()
    _backfill_customer()


def _backfill_family() -> None:
    connection = op.get_bind()
    codes = connection.execute(sa.text("SELECT DISTINCT family_code FROM registrations")).scalars().all()
    slug_of = {code: slug for slug, aliases in _FAMILY_CODES.items() for code in aliases}
    for code in codes:
        slug = slug_of.get((code or "").strip().lower())
        if slug is not None:
            connection.execute(
                sa.text("UPDATE registrations SET family = :slug WHERE family_code = :code"),
                {"slug": slug, "code": code},
            )


def _backfill_platform_name() -> None:
    """A copy of overrides' platformName, read in Python: JSON functions differ between databases."""
    connection = op.get_bind()
    registrations = sa.table(
        "registrations",
        sa.column("id", sa.Integer),
        sa.column("overrides", sa.JSON),
        sa.column("platform_name"),
    )
    last_id = 0
    while True:
        rows = connection.execute(
            sa.select(registrations.c.id, registrations.c.overrides)
            .where(
                registrations.c.id > last_id,
                registrations.c.overrides.is_not(None),
                registrations.c.platform_name.is_(None),
            )
            .order_by(registrations.c.id)
            .limit(1000)
        ).all()
        if not rows:
            return
        named = [
            {"row_id": row_id, "name": overrides["platformName"][:255]}
            for row_id, overrides in rows
            if isinstance(overrides, dict) and isinstance(overrides.get("platformName"), str)
        ]
        if named:
            connection.execute(
                registrations.update()
                .where(registrations.c.id == sa.bindparam("row_id"))
                .values(platform_name=sa.bindparam("name")),
                named,
            )
        last_id = rows[-1][0]


def _backfill_policy() -> None:
    op.execute(
        "UPDATE registrations SET policy = 'live-approval' WHERE EXISTS "
        "(SELECT 1 FROM approval_requests WHERE approval_requests.registration_id = registrations.id)"
    )


def _backfill_customer() -> None:
    """The one who asked for approval, else the one who paid, else the first who saved its choices
    (a `state:reviewed` from received or reviewed, whose actor is the signed-in user's email)."""
    op.execute(
        "UPDATE registrations SET customer_id = (SELECT approval_requests.requested_by_id FROM approval_requests "
        "WHERE approval_requests.registration_id = registrations.id) WHERE customer_id IS NULL"
    )
    op.execute(
        "UPDATE registrations SET customer_id = (SELECT payments.user_id FROM payments "
        "WHERE payments.registration_id = registrations.id) WHERE customer_id IS NULL"
    )
    op.execute(
        "UPDATE registrations SET customer_id = (SELECT users.id FROM audit_events "
        "JOIN users ON users.email = audit_events.actor "
        "WHERE audit_events.registration_id = registrations.id AND audit_events.action = 'state:reviewed' "
        "AND audit_events.from_state IN ('received', 'reviewed') "
        "ORDER BY audit_events.id LIMIT 1) WHERE customer_id IS NULL"
    )


def downgrade() -> None:
    # On SQLite, batch mode copies the table to drop customer_id's foreign key: like every batch
    # downgrade of this table, that needs PRAGMA foreign_keys=OFF when other tables hold rows.
    with op.batch_alter_table("registrations", schema=None) as batch_op:
        batch_op.drop_index("ix_registrations_family_created_at_id")
        batch_op.drop_index("ix_registrations_state_created_at_id")
        batch_op.drop_index("ix_registrations_created_at_id")
        batch_op.drop_index("ix_registrations_customer_id")
        if op.get_bind().dialect.name != "sqlite":  # SQLite's is unnamed, and goes with its column
            batch_op.drop_constraint("fk_registrations_customer_id_users", type_="foreignkey")
        batch_op.drop_column("customer_id")
        batch_op.drop_column("policy")
        batch_op.drop_column("family")
