"""Migration 0017 gives accounts `erased_at`: every account there is stays as it was (none erased),
and taking it down again keeps them all (on PostgreSQL too, with `TEST_DATABASE_URL`)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from flask import Flask
from sqlalchemy import inspect, text

from portal.migrations import downgrade_database, upgrade_database

BEFORE = "0016_email_change_links"
ACCOUNT = (
    "INSERT INTO users (email, password_hash, role, organisation, is_disabled, created_at)"
    " VALUES ('admin@school.edu', 'scrypt:1:1:1$s$h', 'customer', 'Springfield', :disabled, :now)"
)


@pytest.fixture
def app_at_0016(app_at_revision: Callable[[str], Flask]) -> Flask:
    app = app_at_revision(BEFORE)
    with app.extensions["db_engine"].begin() as connection:
        connection.execute(text(ACCOUNT), {"disabled": False, "now": "2026-12-01 10:00:00+00:00"})
    return app


def user_columns(app: Flask) -> set[str]:
    return {column["name"] for column in inspect(app.extensions["db_engine"]).get_columns("users")}


def test_upgrading_leaves_every_account_unerased_and_downgrading_keeps_them(app_at_0016: Flask) -> None:
    engine = app_at_0016.extensions["db_engine"]

    upgrade_database(app_at_0016)

    assert "erased_at" in user_columns(app_at_0016)
    with engine.connect() as connection:
        accounts = connection.execute(text("SELECT email, erased_at FROM users")).all()
    assert accounts == [("admin@school.edu", None)]

    downgrade_database(app_at_0016, BEFORE)

    assert "erased_at" not in user_columns(app_at_0016)
    with engine.connect() as connection:
        assert connection.execute(text("SELECT email, organisation FROM users")).all() == [
            ("admin@school.edu", "Springfield")
        ]
