"""Alembic owns the schema: it builds it from empty and matches the models exactly."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from portal import create_app
from portal.db import load_all_models
from portal.migrations import downgrade_database, upgrade_database

Base = load_all_models()


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
    assert set(Base.metadata.tables) <= tables
    assert "alembic_version" in tables


def test_the_migrations_match_the_models(empty_sqlite_app) -> None:
    upgrade_database(empty_sqlite_app)
    with empty_sqlite_app.extensions["db_engine"].connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert differences == []


def test_the_schema_can_be_taken_down_and_up_again(empty_sqlite_app) -> None:
    upgrade_database(empty_sqlite_app)
    downgrade_database(empty_sqlite_app, "base")
    assert set(inspect(empty_sqlite_app.extensions["db_engine"]).get_table_names()) <= {"alembic_version"}
    upgrade_database(empty_sqlite_app)
    engine = empty_sqlite_app.extensions["db_engine"]
    assert set(Base.metadata.tables) <= set(inspect(engine).get_table_names())


def test_flask_db_upgrade_command(empty_sqlite_app) -> None:
    result = empty_sqlite_app.test_cli_runner().invoke(args=["db", "upgrade"])
    assert result.exit_code == 0, result.output
    assert "database at head" in result.output
