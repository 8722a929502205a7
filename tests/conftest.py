"""Shared fixtures: an app on a throwaway database, its test client, and a live server.

`TEST_DATABASE_URL` (e.g. postgresql+psycopg://...) runs the suite on another
database; every test gets an empty schema either way.
"""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Engine, text
from werkzeug.serving import BaseWSGIServer, make_server

from portal import create_app
from portal.db import Base
from portal.models import load_all

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def database_url(tmp_path: Path) -> str:
    """TEST_DATABASE_URL when set, else a fresh SQLite file under `tmp_path`."""
    return os.environ.get("TEST_DATABASE_URL") or f"sqlite:///{tmp_path / 'portal.db'}"


def drop_schema(engine: Engine) -> None:
    """No tables at all (dropping what an earlier test left on a shared server)."""
    load_all()
    with engine.begin() as connection:
        Base.metadata.drop_all(connection)
        connection.execute(text("DROP TABLE IF EXISTS alembic_version"))


def reset_schema(engine: Engine) -> None:
    """An empty, current schema (dropping what an earlier test left on a shared server)."""
    from portal.migrations import MIGRATIONS_DIR

    drop_schema(engine)
    if any((MIGRATIONS_DIR / "versions").glob("*.py")):
        from alembic import command
        from alembic.config import Config

        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS_DIR))
        config.attributes["engine"] = engine
        command.upgrade(config, "head")
    else:
        Base.metadata.create_all(engine)


def make_test_app(tmp_path: Path, **overrides: Any) -> Flask:
    settings: dict[str, Any] = {
        "PORTAL_ENV": "testing",
        "TESTING": True,
        "SECRET_KEY": "test-secret-key-that-is-long-enough-1234",
        "DATABASE_URL": database_url(tmp_path),
        "PORTAL_URL": "http://localhost",
        "LTIAAS_RETRIES": 0,
        "STRIPE_PRICE_ID": "",
    }
    settings.update(overrides)
    app = create_app(settings)
    reset_schema(app.extensions["db_engine"])
    return app


@pytest.fixture
def app(tmp_path: Path) -> Iterator[Flask]:
    app = make_test_app(tmp_path)
    yield app
    app.extensions["db_engine"].dispose()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@dataclass
class LiveServer:
    """The whole app (portal, sandbox LTIAAS, sandbox LMS) served over real HTTP.

    The portal and LTIAAS answer at `url` (localhost), the sandbox LMS at
    `lms_url` (127.0.0.1): two different sites on one server, as in production.
    """

    app: Flask
    port: int
    server: BaseWSGIServer

    @property
    def url(self) -> str:
        return f"http://localhost:{self.port}"

    @property
    def lms_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def closing_responses(app: WSGIApplication) -> WSGIApplication:
    """`app`, closing every response body even when the browser drops the connection mid-response.

    Werkzeug's development server skips `close()` when the client goes away (Chromium cancels
    a script's download when its page navigates on), leaving a static file for the garbage
    collector to close: a ResourceWarning, which this suite turns into an error.
    """

    def wsgi(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        body = app(environ, start_response)

        def chunks() -> Iterator[bytes]:
            try:
                yield from body
            finally:  # also when the server drops this generator unfinished
                close = getattr(body, "close", None)
                if close is not None:
                    close()

        return chunks()

    return wsgi


def start_live_server(tmp_path: Path, **overrides: Any) -> LiveServer:
    port = free_port()
    app = make_test_app(tmp_path, PORTAL_URL=f"http://localhost:{port}", **overrides)
    server = make_server("127.0.0.1", port, closing_responses(app), threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return LiveServer(app=app, port=port, server=server)


@pytest.fixture
def live_server(tmp_path: Path) -> Iterator[LiveServer]:
    live = start_live_server(tmp_path)
    yield live
    live.server.shutdown()
    live.server.server_close()
    live.app.extensions["db_engine"].dispose()
