"""One SQLAlchemy engine per app, one session per request (closed at teardown)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar, cast

from flask import Flask, current_app, g
from sqlalchemy import ColumnElement, CursorResult, Engine, create_engine, event, inspect, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker


class Base(DeclarativeBase):
    """Declarative base of every table, the sandbox's included (`portal.models.load_all` loads them)."""


Row = TypeVar("Row", bound=Base)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # WAL lets the threaded dev server read while another request writes;
    # the busy timeout makes a second writer wait instead of failing.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=15000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()
    # SQLite's own lower() knows only ASCII, so a search for "Ü" would miss "Ünïcødé" (PostgreSQL's
    # knows Unicode): Python's, which the searches also apply to the words searched for.
    dbapi_connection.create_function("lower", 1, _lower, deterministic=True)


def _lower(value: Any) -> Any:
    return value.lower() if isinstance(value, str) else value


def build_engine(url: str, **engine_options: Any) -> Engine:
    """An engine for `url`; SQLite files get their folder created and safe pragmas.

    Statement parameters (session data, tokens, hashes) stay out of error messages and SQL echo,
    and so out of the logs (`hide_parameters`). `engine_options` go to `create_engine` (e.g. another
    pool class).
    """
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1] if "///" in url else ""
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": 15},
            hide_parameters=True,
            **engine_options,
        )
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(url, pool_pre_ping=True, hide_parameters=True, **engine_options)


def _pool_options(url: str, pool_size: int) -> dict[str, Any]:
    """The connection pool of a web worker: one connection per thread serving requests (each
    request uses one at a time, session included), a few more for the sandbox's own calls."""
    in_memory = url.startswith("sqlite") and ("///" not in url or ":memory:" in url)
    return {} if in_memory else {"pool_size": pool_size, "max_overflow": 10}


def init_db(app: Flask) -> None:
    url = app.config["DATABASE_URL"]
    engine = build_engine(url, **_pool_options(url, app.config["DATABASE_POOL_SIZE"]))
    app.extensions["db_engine"] = engine
    app.extensions["db_sessionmaker"] = sessionmaker(engine, expire_on_commit=False)
    app.teardown_appcontext(close_session)


def get_engine() -> Engine:
    return cast(Engine, current_app.extensions["db_engine"])


def get_session() -> Session:
    """The request's database session, opened on first use."""
    if "db_session" not in g:
        g.db_session = current_app.extensions["db_sessionmaker"]()
    return cast(Session, g.db_session)


def close_session(_error: BaseException | None = None) -> None:
    session: Session | None = g.pop("db_session", None)
    if session is not None:
        session.close()


def add_unless_raced(db: Session, row: Row, find_twin: Callable[[], Row | None]) -> tuple[Row, bool]:
    """Add `row` and flush it; when a unique constraint says a racing request (a double click, a
    second tab) added its twin first, roll back and return that twin instead.

    Returns (the row that stands, whether this call added it). The rollback drops whatever else
    was pending, as the race's loser must.
    """
    db.add(row)
    try:
        db.flush()
    except IntegrityError:
        db.rollback()
        twin = find_twin()
        if twin is None:
            raise
        return twin, False
    return row, True


def update_if(
    db: Session, row: Base, *conditions: ColumnElement[bool], rollback_on_loss: bool = True, **values: Any
) -> bool:
    """Write `values` to `row` only if `conditions` still hold in the database; True if this call won.

    One conditional UPDATE decides races between requests, tabs and processes in
    the database itself (the usual "move this row from state A to B"). `row` is
    refreshed either way, so a loser sees what the winner wrote. A loser's
    transaction is rolled back (on SQLite even an UPDATE that matched nothing
    holds the write lock until then), so commit whatever must survive a loss
    before calling this. The winner's caller audits and commits.

    A caller that moves many rows in one transaction that must stand whatever each of
    them does (erasing an account closes what it can) passes `rollback_on_loss=False`.
    """
    model = type(row)
    key = inspect(row).identity or ()
    identity = [column == value for column, value in zip(inspect(model).primary_key, key, strict=True)]
    statement = (
        update(model)
        .where(*identity, *conditions)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    result = cast(CursorResult[Any], db.execute(statement))
    won = result.rowcount == 1
    if not won and rollback_on_loss:
        db.rollback()
    db.refresh(row)
    return won
