"""Alembic owns the schema: it builds it from empty and matches the models exactly."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text

from portal import create_app
from portal.db import build_engine
from portal.migrations import downgrade_database, upgrade_database
from portal.models import load_all
from tests.conftest import database_url, drop_schema

ALL_TABLES = load_all()


@pytest.fixture
def empty_sqlite_app(tmp_path: Path):
    app = create_app(
        {
            "PORTAL_ENV": "testing",
            "DATABASE_URL": f"sqlite:///{tmp_path / 'fresh.db'}",
            "SECRET_KEY": "test-secret-key-that-is-long-enough-1234",
        }
    )
    yield app
    app.extensions["db_engine"].dispose()


def test_upgrade_from_empty_on_sqlite_creates_every_table(empty_sqlite_app) -> None:
    upgrade_database(empty_sqlite_app)
    tables = set(inspect(empty_sqlite_app.extensions["db_engine"]).get_table_names())
    assert set(ALL_TABLES.tables) <= tables
    assert "alembic_version" in tables


def test_the_migrations_match_the_models(empty_sqlite_app) -> None:
    upgrade_database(empty_sqlite_app)
    with empty_sqlite_app.extensions["db_engine"].connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), ALL_TABLES)
    assert differences == []


def test_the_schema_can_be_taken_down_and_up_again(empty_sqlite_app) -> None:
    upgrade_database(empty_sqlite_app)
    downgrade_database(empty_sqlite_app, "base")
    assert set(inspect(empty_sqlite_app.extensions["db_engine"]).get_table_names()) <= {"alembic_version"}
    upgrade_database(empty_sqlite_app)
    engine = empty_sqlite_app.extensions["db_engine"]
    assert set(ALL_TABLES.tables) <= set(inspect(engine).get_table_names())


def test_flask_db_upgrade_command(empty_sqlite_app) -> None:
    result = empty_sqlite_app.test_cli_runner().invoke(args=["db", "upgrade"])
    assert result.exit_code == 0, result.output
    assert "database at head" in result.output


def test_flask_db_check_fails_on_a_database_behind_the_models(empty_sqlite_app) -> None:
    upgrade_database(empty_sqlite_app, "0002")

    result = empty_sqlite_app.test_cli_runner().invoke(args=["db", "check"])

    assert result.exit_code == 1
    assert "Target database is not up to date" in result.output


REPO_ROOT = Path(__file__).resolve().parents[2]

# The sandbox (the default with no LTIAAS configured): LTIAAS, LMS and Stripe stand-ins on.
SANDBOX_SETTINGS = {"PORTAL_ENV": "development", "LTIAAS_URL": "", "STRIPE_SECRET_KEY": ""}
# A real deployment: real-looking LTIAAS and Stripe settings, so no stand-in is registered.
PRODUCTION_SETTINGS = {
    "PORTAL_ENV": "production",
    "SECRET_KEY": "a-production-secret-key-that-is-long-enough",
    "PORTAL_URL": "https://portal.vendor.example",
    "LTIAAS_URL": "https://vendor.ltiaas.com",
    "LTIAAS_API_KEY": "ltiaas-live-api-key-0123456789",
    "STRIPE_SECRET_KEY": "sk_live_0123456789abcdefghijklmn",
    "STRIPE_PUBLISHABLE_KEY": "pk_live_0123456789abcdefghijklmn",
    "STRIPE_WEBHOOK_SECRET": "whsec_0123456789abcdefghijklmn",
    "STRIPE_PRICE_ID": "price_1RegistrationFee",
}


def run_python(settings: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """`python ARGS` in a fresh process configured only by `settings`, as an operator runs the app.

    A fresh process matters: this one has imported every module already, so a table that
    only some settings load would be in its metadata anyway.
    """
    environment = {"PATH": os.environ["PATH"], "PYTHONPATH": str(REPO_ROOT), **settings}
    return subprocess.run(
        [sys.executable, *args], cwd=REPO_ROOT, env=environment, capture_output=True, text=True, check=False
    )


@pytest.fixture
def empty_database(tmp_path: Path) -> str:
    """The URL of a database with no tables: TEST_DATABASE_URL's when set, else a new SQLite file."""
    url = database_url(tmp_path)
    engine = build_engine(url)
    drop_schema(engine)
    engine.dispose()
    return url


both_settings = pytest.mark.parametrize(
    "settings", [SANDBOX_SETTINGS, PRODUCTION_SETTINGS], ids=["sandbox", "production"]
)


@both_settings
def test_after_upgrade_autogenerate_finds_nothing_to_do_whatever_the_settings(
    empty_database: str, settings: dict[str, str]
) -> None:
    settings = {**settings, "DATABASE_URL": empty_database}
    upgrade = run_python(settings, "-m", "flask", "--app", "app", "db", "upgrade")
    assert upgrade.returncode == 0, upgrade.stderr

    check = run_python(settings, "-m", "flask", "--app", "app", "db", "check")

    assert check.returncode == 0, check.stderr
    assert "database matches the models" in check.stdout


@both_settings
def test_the_app_knows_every_table_whatever_the_settings(tmp_path: Path, settings: dict[str, str]) -> None:
    settings = {**settings, "DATABASE_URL": f"sqlite:///{tmp_path / 'unused.db'}"}
    script = "from portal import create_app, db; create_app(); print(*sorted(db.Base.metadata.tables))"

    listed = run_python(settings, "-c", script)

    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.split() == sorted(ALL_TABLES.tables)


def test_upgrading_marks_the_platforms_known_to_have_been_active_and_no_others(empty_sqlite_app) -> None:
    upgrade_database(empty_sqlite_app, "0013_notifications_by_recipient")
    registration = (
        "INSERT INTO registrations (public_id, ltiaas_registration_id, platform_url, family_code, family,"
        " platform_version, supported_scopes, supported_messages, state, platform_id, platform_active,"
        " created_at, updated_at, expires_at, completed_at) VALUES (:id, :id, 'https://lms.example', '',"
        " 'other', '', '[]', '[]', 'completed', :id, :active, :at, :at, :at, :at)"
    )
    with empty_sqlite_app.extensions["db_engine"].begin() as connection:
        for public_id, active in (("active", True), ("deactivated", False), ("waiting", False)):
            at = "2026-11-30 10:00:00.000000"
            connection.execute(text(registration), {"id": public_id, "active": active, "at": at})
        connection.execute(
            text(
                "INSERT INTO platform_actions (token, platform_id, kind, state, actor, details, created_at)"
                " VALUES ('t-1', 'deactivated', 'deactivate', 'done', 'staff@vendor.example', '{}',"
                " '2026-12-01 10:00:00.000000')"
            )
        )

    upgrade_database(empty_sqlite_app)

    with empty_sqlite_app.extensions["db_engine"].connect() as connection:
        since = dict(
            connection.execute(text("SELECT public_id, platform_active_since FROM registrations")).all()
        )
    assert since["active"] is not None and since["deactivated"] is not None
    assert since["waiting"] is None
