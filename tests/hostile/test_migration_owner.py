"""Migration 0008_hostile gives each registration worked on before it the customer who worked on it
(as `portal.customers` reads it): who asked for its approval, else who paid, else who saved its
choices last; staff own nothing."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import Connection, text

from portal import create_app
from portal.migrations import upgrade_database
from tests.conftest import database_url, drop_schema

BEFORE = "0007"
NOW = "2026-11-30 10:00:00+00:00"


@pytest.fixture
def app_before(tmp_path: Path) -> Iterator[Flask]:
    app = create_app(
        {
            "PORTAL_ENV": "testing",
            "DATABASE_URL": database_url(tmp_path),
            "SECRET_KEY": "test-secret-key-that-is-long-enough-1234",
        }
    )
    engine = app.extensions["db_engine"]
    drop_schema(engine)
    upgrade_database(app, BEFORE)
    yield app
    drop_schema(engine)
    engine.dispose()


def insert(connection: Connection, table: str, **values: object) -> int:
    columns = ", ".join(values)
    names = ", ".join(f":{name}" for name in values)
    connection.execute(text(f"INSERT INTO {table} ({columns}) VALUES ({names})"), values)
    return int(connection.execute(text(f"SELECT max(id) FROM {table}")).scalar_one())


def user(connection: Connection, email: str, role: str = "customer") -> int:
    return insert(
        connection, "users", email=email, password_hash="!", role=role, is_disabled=False, created_at=NOW
    )


def registration(connection: Connection, public_id: str) -> int:
    return insert(
        connection,
        "registrations",
        public_id=public_id,
        ltiaas_registration_id=public_id,
        platform_url="https://lms.example",
        family_code="",
        platform_version="",
        supported_scopes="[]",
        supported_messages="[]",
        state="reviewed",
        created_at=NOW,
        updated_at=NOW,
        expires_at=NOW,
    )


def chose(connection: Connection, registration_id: int, actor: str) -> None:
    insert(
        connection,
        "audit_events",
        registration_id=registration_id,
        actor=actor,
        action="state:reviewed",
        from_state="received",
        to_state="reviewed",
        details="{}",
        created_at=NOW,
    )


def test_the_customer_who_worked_on_a_registration_owns_it(app_before: Flask) -> None:
    engine = app_before.extensions["db_engine"]
    with engine.begin() as connection:
        asker, payer, chooser = (
            user(connection, f"{name}@school.edu") for name in ("asker", "payer", "chooser")
        )
        user(connection, "ops@vendor.example", role="staff")
        asked, paid, chosen, by_staff = (
            registration(connection, name) for name in ("asked", "paid", "chosen", "by-staff")
        )
        registration(connection, "untouched")
        insert(
            connection,
            "approval_requests",
            public_id="a1",
            registration_id=asked,
            requested_by_id=asker,
            requested_by_email="asker@school.edu",
            state="pending",
            requested_choices="{}",
            created_at=NOW,
        )
        for registration_id, payer_id in ((asked, payer), (paid, payer)):
            insert(
                connection,
                "payments",
                public_id=f"p{registration_id}",
                registration_id=registration_id,
                user_id=payer_id,
                status="paid",
                attempt=1,
                created_at=NOW,
                updated_at=NOW,
            )
        chose(connection, paid, "chooser@school.edu")
        chose(connection, chosen, "payer@school.edu")
        chose(connection, chosen, "chooser@school.edu")
        chose(connection, by_staff, "ops@vendor.example")

    upgrade_database(app_before)

    with engine.connect() as connection:
        owners = dict(connection.execute(text("SELECT public_id, customer_id FROM registrations")).all())
    assert owners == {"asked": asker, "paid": payer, "chosen": chooser, "by-staff": None, "untouched": None}
