"""Fixtures for accounts: CSRF off unless a test asks for it, users made by a plain factory."""

from __future__ import annotations

import pytest
from flask import Flask

from tests.auth.helpers import CountingHasher


@pytest.fixture(autouse=True)
def _csrf_off(app: Flask) -> None:
    app.config["WTF_CSRF_ENABLED"] = False


@pytest.fixture
def csrf_on(app: Flask) -> Flask:
    app.config["WTF_CSRF_ENABLED"] = True
    return app


@pytest.fixture
def hasher(app: Flask) -> CountingHasher:
    counting = CountingHasher()
    app.extensions["password_hasher"] = counting
    return counting
