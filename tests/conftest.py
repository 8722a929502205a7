"""Shared fixtures: an app on a throwaway database, its test client, a live server, Redis, the fake
LTIAAS, and the people of the registration flow.

`TEST_DATABASE_URL` (e.g. postgresql+psycopg://...) runs the suite on another
database; every test gets an empty schema either way.

`app` is built with the test defaults plus `app_settings`, which a folder's conftest
overrides (the flow's folders point the app's LTIAAS client at the fake LTIAAS:
`ltiaas_settings`). One fake LTIAAS serves the whole run; `ltiaas` resets it per test.

Every log record of the whole run is searched for tokens, keys and passwords
(`tests/log_secrets.py`): a test whose records give one away fails.
"""

from __future__ import annotations

import atexit
import functools
import logging
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import redis
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Engine, inspect, text
from werkzeug.serving import BaseWSGIServer, make_server

from portal import create_app
from portal.auth.service import PasswordHasher
from portal.config import DEMO_BRAND
from portal.db import Base
from portal.models import User, load_all
from tests.accounts import create_user, signed_in
from tests.fakes.ltiaas import API_KEY, FakeLtiaas, seed_lmses
from tests.log_secrets import SecretWatch, describe
from tests.url_builders import reuse_url_builders

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication


LOG_WATCH = SecretWatch()


def pytest_configure(config: pytest.Config) -> None:
    logging.getLogger().addHandler(LOG_WATCH)


def pytest_unconfigure(config: pytest.Config) -> None:
    logging.getLogger().removeHandler(LOG_WATCH)


@pytest.fixture(autouse=True)
def no_secret_in_any_log_line() -> Iterator[None]:
    """Fails the test if any log record written while it ran gives away a secret."""
    outside = LOG_WATCH.take()  # written between tests (a server thread finishing late)
    yield
    leaks = outside + LOG_WATCH.take()
    if leaks:
        pytest.fail(describe(leaks), pytrace=False)


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


def migrate(engine: Engine) -> None:
    """Build the schema from nothing with the project's migrations, as `flask db upgrade` does."""
    from alembic import command

    drop_schema(engine)
    command.upgrade(_alembic_config(engine), "head")


def _alembic_config(engine: Engine) -> Any:
    from alembic.config import Config

    from portal.migrations import MIGRATIONS_DIR

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["engine"] = engine
    return config


@functools.cache
def _head_revision() -> str:
    from alembic.script import ScriptDirectory

    from portal.migrations import MIGRATIONS_DIR

    head = ScriptDirectory(str(MIGRATIONS_DIR)).get_current_head()
    assert head is not None
    return head


@functools.cache
def _migrated_sqlite_file() -> Path:
    """A SQLite file the migrations built, once per run: each test starts from a copy of it."""
    from portal.db import build_engine

    folder = Path(tempfile.mkdtemp(prefix="portal-schema-"))
    atexit.register(shutil.rmtree, folder, True)
    path = folder / "migrated.db"
    engine = build_engine(f"sqlite:///{path}")
    migrate(engine)
    with engine.connect() as connection:
        connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    engine.dispose()
    return path


def _schema_is_current(engine: Engine) -> bool:
    with engine.connect() as connection:
        if not inspect(connection).has_table("alembic_version"):
            return False
        versions = connection.execute(text("SELECT version_num FROM alembic_version")).scalars().all()
    return versions == [_head_revision()]


def _empty_every_table(engine: Engine) -> None:
    with engine.begin() as connection:
        tables = [name for name in inspect(connection).get_table_names() if name != "alembic_version"]
        if engine.dialect.name == "postgresql":
            quoted = ", ".join(f'"{name}"' for name in tables)
            connection.execute(text(f"TRUNCATE {quoted} RESTART IDENTITY CASCADE"))
            return
        connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
        for name in tables:
            connection.execute(text(f'DELETE FROM "{name}"'))
        connection.exec_driver_sql("PRAGMA foreign_keys=ON")


def reset_schema(engine: Engine) -> None:
    """An empty, current schema (emptying what an earlier test left on a shared server).

    The migrations build it: once per run for SQLite (each test's new file is a copy), and
    again on a shared server only when a test left it at another revision.
    """
    database = engine.url.database or ""
    if engine.dialect.name == "sqlite" and database and not inspect(engine).get_table_names():
        engine.dispose()
        for suffix in ("", "-wal", "-shm"):
            Path(database + suffix).unlink(missing_ok=True)
        shutil.copyfile(_migrated_sqlite_file(), database)
        return
    if _schema_is_current(engine):
        _empty_every_table(engine)
    else:
        migrate(engine)


reuse_url_builders()  # each test's app compiles its URL rules' builders: once per rule is enough

# The tests hash passwords with the portal's own hasher and algorithm (werkzeug's scrypt) at a small
# cost: the production cost (scrypt N=2^13, p=10, about 0.1 to 0.3 s of CPU a hash) in the few
# hundred sign-ups and sign-ins of a run took about 80 s of each pass. A stored hash names its
# parameters, so nothing else differs. The tests of the hashing itself use the real cost
# (tests/auth/test_auth_password_hashing.py), as do the servers the tests start as processes.
QUICK_PASSWORD_METHOD = "scrypt:1024:8:1"  # about 5 ms a hash


def make_test_app(tmp_path: Path, **overrides: Any) -> Flask:
    settings: dict[str, Any] = {
        "PORTAL_ENV": "testing",
        "TESTING": True,
        "SECRET_KEY": "test-secret-key-that-is-long-enough-1234",
        "DATABASE_URL": database_url(tmp_path),
        "PORTAL_URL": "http://localhost",
        "LTIAAS_RETRIES": 0,
        "STRIPE_PRICE_ID": "",
        "LOG_LEVEL": "DEBUG",  # so the secret watch reads every line the portal can write
    }
    settings.update(overrides)
    app = create_app(settings)
    app.extensions["password_hasher"] = PasswordHasher(QUICK_PASSWORD_METHOD)
    LOG_WATCH.remember(app.config)
    reset_schema(app.extensions["db_engine"])
    return app


@pytest.fixture
def app_settings() -> dict[str, Any]:
    """What `app` sets beyond the test defaults (none here; a folder's conftest may say more)."""
    return {}


@pytest.fixture
def app(tmp_path: Path, app_settings: dict[str, Any]) -> Iterator[Flask]:
    app = make_test_app(tmp_path, **app_settings)
    yield app
    app.extensions["ltiaas"].close()
    app.extensions["db_engine"].dispose()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    """A browser nobody signed in on."""
    return app.test_client()


# LTIAAS


@pytest.fixture(scope="session")
def fake_ltiaas() -> Iterator[FakeLtiaas]:
    """The fake LTIAAS server, one for the whole run (use `ltiaas`, which resets it)."""
    server = FakeLtiaas()
    yield server
    server.close()


@pytest.fixture
def ltiaas(fake_ltiaas: FakeLtiaas) -> FakeLtiaas:
    """The fake LTIAAS for this test: nothing received or scripted yet, no platform, and three
    LMSes' registrations waiting (reg-moodle, reg-old-moodle, reg-canvas: `seed_lmses`)."""
    fake_ltiaas.reset()
    seed_lmses(fake_ltiaas)
    return fake_ltiaas


@pytest.fixture
def ltiaas_settings(ltiaas: FakeLtiaas) -> dict[str, Any]:
    """Settings that make the app's own LtiaasClient talk to the fake LTIAAS over HTTP (which
    turns the sandbox off: the app is then configured as with a real LTIAAS)."""
    return {
        "LTIAAS_URL": ltiaas.url,
        "LTIAAS_API_KEY": API_KEY,
        "LTIAAS_CONNECT_TIMEOUT": 1.0,
        "LTIAAS_READ_TIMEOUT": 2.0,
    }


def a_closed_url() -> str:
    """A loopback URL on which nothing listens: connections are refused at once."""
    return f"http://127.0.0.1:{free_port()}"


@pytest.fixture
def closed_url() -> str:
    return a_closed_url()


@pytest.fixture
def unconnectable_url() -> Iterator[str]:
    """A loopback URL whose listener never accepts and whose queue is full: connects time out."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    fillers = []
    for _ in range(4):
        filler = socket.socket()
        filler.setblocking(False)
        filler.connect_ex(("127.0.0.1", port))
        fillers.append(filler)
    yield f"http://127.0.0.1:{port}"
    for filler in fillers:
        filler.close()
    listener.close()


# The people of the registration flow

CUSTOMER_EMAIL = "admin@springfield.edu"
STAFF_EMAIL = "staff@vendor.example"


@pytest.fixture
def no_csrf(app: Flask) -> Flask:
    app.config["WTF_CSRF_ENABLED"] = False
    return app


@pytest.fixture
def customer(app: Flask) -> User:
    return create_user(app, CUSTOMER_EMAIL, organisation="Springfield University")


@pytest.fixture
def staff(app: Flask) -> User:
    return create_user(app, STAFF_EMAIL, role="staff", organisation=None)


@pytest.fixture
def customer_browser(app: Flask, customer: User) -> FlaskClient:
    """The LMS admin's browser, signed in as a customer (self-service, the default policy)."""
    return signed_in(app.test_client(), customer)


@pytest.fixture
def staff_browser(app: Flask, staff: User) -> FlaskClient:
    """A browser signed in as the vendor's staff."""
    return signed_in(app.test_client(), staff)


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
    """The app served on a free port; it shows the sandbox's demo vendor, as `scripts/run` does."""
    port = free_port()
    settings = {**DEMO_BRAND, "PORTAL_URL": f"http://localhost:{port}", **overrides}
    app = make_test_app(tmp_path, **settings)
    server = make_server("127.0.0.1", port, closing_responses(app), threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return LiveServer(app=app, port=port, server=server)


def stop_live_server(live: LiveServer) -> None:
    """Stop serving, and the app's background sender if a request started it (before the database
    it drains goes)."""
    live.app.extensions["staff_notification_sender"].stop()
    live.server.shutdown()
    live.server.server_close()
    live.app.extensions["db_engine"].dispose()


@pytest.fixture
def live_server(tmp_path: Path) -> Iterator[LiveServer]:
    live = start_live_server(tmp_path)
    yield live
    stop_live_server(live)


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A throwaway Debian `redis-server` on a free port, for the whole run (scripts/test installs it)."""
    binary = shutil.which("redis-server") or "/usr/bin/redis-server"
    if not Path(binary).exists():
        pytest.skip("Debian's redis-server is not installed here (scripts/test installs it)")
    port = free_port()
    folder = tmp_path_factory.mktemp("redis")
    process = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        cwd=folder,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/0"
    try:
        wait_until_serving(process, lambda: _redis_answers(url), "redis-server")
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)


def wait_until_serving(process: subprocess.Popen[bytes], ready: Callable[[], bool], what: str) -> None:
    """Wait (15 s at most) until `ready()` says the server `process` started answers."""
    deadline = time.monotonic() + 15
    while not ready():
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"{what} did not start (exit status {process.poll()})")
        time.sleep(0.05)


def _redis_answers(url: str) -> bool:
    try:
        with redis.Redis.from_url(url, socket_connect_timeout=1) as client:
            client.ping()
    except redis.ConnectionError:
        return False
    return True


@pytest.fixture
def redis_storage(redis_url: str) -> str:
    """The run's Redis, emptied for this test: its URL."""
    with redis.Redis.from_url(redis_url) as client:
        client.flushdb()
    return redis_url
