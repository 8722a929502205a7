"""What a view of a flow page costs the database: an admin who reloads the confirm page (or whose
page polls) writes nothing unless something changed, and each request holds one connection.

The admin's browser keeps no cookie (token mode), as in an LMS iframe on older Safari.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask, flash, session
from flask.testing import FlaskClient
from sqlalchemy import event, select

from portal.db import get_session
from portal.models import User, WebSession, utcnow
from portal.sessions import EXTEND_EVERY, PortalSessionInterface, ServerSession
from tests.accounts import sign_in
from tests.fakes.ltiaas import FakeLtiaas
from tests.registration.helpers import csrf_token_in, links_in, public_id_from, start

WRITES = ("INSERT", "UPDATE", "DELETE")


@dataclass
class DatabaseWork:
    """The statements the app's engine ran, and the most connections checked out at once."""

    statements: list[str] = field(default_factory=list)
    checked_out: int = 0
    most_checked_out: int = 0

    @property
    def writes(self) -> list[str]:
        return [s for s in self.statements if s.lstrip().upper().startswith(WRITES)]


@contextmanager
def watching(app: Flask) -> Iterator[DatabaseWork]:
    engine = app.extensions["db_engine"]
    work = DatabaseWork()

    def executed(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        work.statements.append(statement)

    def checkout(*_: Any) -> None:
        work.checked_out += 1
        work.most_checked_out = max(work.most_checked_out, work.checked_out)

    def checkin(*_: Any) -> None:
        work.checked_out -= 1

    event.listen(engine, "before_cursor_execute", executed)
    event.listen(engine.pool, "checkout", checkout)
    event.listen(engine.pool, "checkin", checkin)
    try:
        yield work
    finally:
        event.remove(engine, "before_cursor_execute", executed)
        event.remove(engine.pool, "checkout", checkout)
        event.remove(engine.pool, "checkin", checkin)


@pytest.fixture
def cookieless(app: Flask) -> FlaskClient:
    return app.test_client(use_cookies=False)


def _note() -> str:
    flash("Saved.", "info")
    return "noted"


def _query_then_change_the_session() -> str:
    get_session().scalar(select(User.id))  # the view's own query, its transaction still open
    session["seen"] = session.get("seen", 0) + 1
    return "changed"


@pytest.fixture
def confirm_url(app: Flask, cookieless: FlaskClient, ltiaas: FakeLtiaas, customer: User) -> str:
    """A signed-in customer's confirm page, with its session token (the flow walked to it)."""
    app.add_url_rule("/_test/note", view_func=_note)
    app.add_url_rule("/_test/change", view_func=_query_then_change_the_session)
    review_url = start(cookieless)
    (sign_in_url,) = [
        link for link in links_in(cookieless.get(review_url).get_data(as_text=True)) if "sign-in" in link
    ]
    configure_url = sign_in(cookieless, customer.email, page=sign_in_url).location
    page = cookieless.get(configure_url).get_data(as_text=True)
    form = {
        "platform_name": "Springfield Moodle",
        "messages": ["LtiDeepLinkingRequest"],
        "placements_1": ["ContentArea"],
        "csrf_token": csrf_token_in(page),
    }
    saved = cookieless.post(configure_url, data=form)
    assert saved.status_code == 303, saved.get_data(as_text=True)
    confirm = saved.headers["Location"]
    assert cookieless.get(confirm).status_code == 200  # its first view may save a CSRF secret
    return confirm


def session_expiry(app: Flask) -> list[Any]:
    with app.app_context():
        return list(get_session().scalars(select(WebSession.expires_at)))


def test_reloading_a_page_writes_nothing_to_the_database(
    app: Flask, cookieless: FlaskClient, confirm_url: str
) -> None:
    status_url = confirm_url.replace("/confirm?", "/status?")
    with watching(app) as work:
        for url in (confirm_url, confirm_url, status_url, confirm_url.replace("/confirm?", "/configure?")):
            assert cookieless.get(url).status_code == 200
    assert work.statements  # the pages did read
    assert work.writes == []


def test_the_sessions_lifetime_is_extended_at_most_once_a_minute(
    app: Flask, cookieless: FlaskClient, confirm_url: str
) -> None:
    expiry_before = session_expiry(app)
    assert cookieless.get(confirm_url).status_code == 200
    assert session_expiry(app) == expiry_before  # extended less than a minute ago: left alone

    with app.app_context():  # a minute and a second later, as far as the row can tell
        db = get_session()
        (row,) = db.scalars(select(WebSession))
        row.expires_at -= EXTEND_EVERY + timedelta(seconds=1)
        db.commit()
    aged = session_expiry(app)
    with watching(app) as work:
        assert cookieless.get(confirm_url).status_code == 200
    (write,) = work.writes
    assert "web_sessions" in write and "data" not in write.split("WHERE")[0]  # the expiry alone
    (extended,) = session_expiry(app)
    assert extended > aged[0] and extended >= utcnow() + timedelta(seconds=app.config["SESSION_LIFETIME"] - 5)


def test_a_change_to_the_session_is_written_once(app: Flask, confirm_url: str) -> None:
    cookieless = app.test_client(use_cookies=False)
    token = confirm_url.split("_st=", 1)[1]
    with watching(app) as work:
        assert cookieless.get(f"/_test/note?_st={token}").status_code == 200
    (write,) = work.writes
    assert write.lstrip().upper().startswith("UPDATE") and "data" in write
    page = cookieless.get(confirm_url).get_data(as_text=True)
    assert "Saved." in page  # the message was kept, and shown once (which writes again)
    with watching(app) as work:
        assert "Saved." not in cookieless.get(confirm_url).get_data(as_text=True)
    assert work.writes == []


def test_a_request_holds_one_database_connection_even_when_it_saves_its_session(
    app: Flask, confirm_url: str
) -> None:
    cookieless = app.test_client(use_cookies=False)
    token = confirm_url.split("_st=", 1)[1]
    with watching(app) as work:
        assert cookieless.get(f"/_test/change?_st={token}").status_code == 200
    assert work.writes and work.most_checked_out == 1


class CountingSessions(PortalSessionInterface):
    """The real session store, counting the tokens it signs."""

    def __init__(self) -> None:
        self.signed = 0

    def make_token(self, app: Flask, session: ServerSession) -> str:
        self.signed += 1
        return super().make_token(app, session)


def test_a_page_signs_its_session_token_once_for_all_its_links(
    app: Flask, cookieless: FlaskClient, confirm_url: str
) -> None:
    counting = CountingSessions()
    app.session_interface = counting
    page = cookieless.get(confirm_url).get_data(as_text=True)
    with_token = [link for link in links_in(page) if "_st=" in link]
    assert len(with_token) >= 2
    assert counting.signed == 1
    assert public_id_from(confirm_url) in page
