"""Fixtures for the app as a whole: an app whose schema a test migrates itself."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from flask import Flask

from portal import create_app
from portal.migrations import upgrade_database
from tests.conftest import database_url, drop_schema


@pytest.fixture
def app_at_revision(tmp_path: Path) -> Iterator[Callable[[str], Flask]]:
    """Builds an app whose database (TEST_DATABASE_URL's, else a new SQLite file) the migrations
    took from nothing up to a revision, for a migration's test to add the rows it acts on; its
    schema is dropped again afterwards, since a shared server's next test expects the current one.

    Not `make_test_app`: that one resets the schema to the current revision.
    """
    built: list[Flask] = []

    def build(revision: str) -> Flask:
        app = create_app(
            {
                "PORTAL_ENV": "testing",
                "DATABASE_URL": database_url(tmp_path),
                "SECRET_KEY": "test-secret-key-that-is-long-enough-1234",
            }
        )
        built.append(app)
        drop_schema(app.extensions["db_engine"])
        upgrade_database(app, revision)
        return app

    yield build
    for app in built:
        drop_schema(app.extensions["db_engine"])
        app.extensions["db_engine"].dispose()
