"""Plain helpers for the account tests: a counting hasher, audit and session readers, a test flow."""

from __future__ import annotations

import base64
import html
import json
import re
from urllib.parse import parse_qs, urlsplit

from flask import Flask, redirect, session, url_for
from flask.testing import FlaskClient
from flask_login import current_user, login_required
from sqlalchemy import select
from werkzeug.test import TestResponse

from portal.auth.service import PasswordHasher
from portal.db import get_session
from portal.models import AuditEvent, User
from tests.accounts import read_form

SESSION_COOKIE = "__Host-portal_session"


class CountingHasher(PasswordHasher):
    """The real hasher, counting how many password checks each request costs."""

    def __init__(self) -> None:
        super().__init__()
        self.checks = 0

    def verify(self, password_hash: str, password: str) -> bool:
        self.checks += 1
        return super().verify(password_hash, password)


FLOW_REGISTRATIONS = ["reg-public-1", "reg-public-2"]


def find_user(app: Flask, email: str) -> User | None:
    with app.app_context():
        return get_session().scalar(select(User).where(User.email == email))


def audit_actions(app: Flask) -> list[tuple[str, str]]:
    with app.app_context():
        return [(event.action, event.actor) for event in get_session().scalars(select(AuditEvent))]


def submit(client: FlaskClient, page_url: str, **fields: str) -> TestResponse:
    """Open `page_url` and post its first form with `fields`, as a browser would."""
    action, hidden = read_form(client.get(page_url))
    return client.post(action, data={**hidden, **fields})


def token_of(url: str) -> str | None:
    return parse_qs(urlsplit(url).query).get("_st", [None])[0]


def session_id_of(url: str) -> str | None:
    """The session id a URL's token carries (tokens for one session differ by their timestamp)."""
    token = token_of(url)
    if token is None:
        return None
    payload = token.split(".", 1)[0]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def add_flow_start(app: Flask) -> None:
    """Stand-ins for the registration flow: its first step keeps the registrations in the
    session and sends the admin to sign in, carrying the session token as the flow does;
    a later step needs a signed-in admin."""

    @app.get("/test/flow-start")
    def flow_start() -> object:
        session["registrations"] = list(FLOW_REGISTRATIONS)
        return redirect(url_for("auth.sign_in", next="/test/flow-step"))

    @app.get("/test/flow-step")
    @login_required
    def flow_step() -> str:
        return f"flow step for {current_user.email}"

    @app.get("/test/flow-data")
    def flow_data() -> dict[str, object]:
        return {
            "registrations": session.get("registrations"),
            "user": current_user.email if current_user.is_authenticated else None,
        }


def normalised(page: TestResponse, *values: str) -> str:
    """The page's HTML with `values` and per-response nonces blanked, for byte comparisons."""
    html = page.get_data(as_text=True)
    for value in values:
        html = html.replace(value, "VALUE")
    return re.sub(r'nonce="[^"]*"', 'nonce=""', html)


def words(page: TestResponse) -> str:
    """The page's text as a person reads it: no tags, entities decoded, spaces collapsed."""
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", page.get_data(as_text=True))).split())


def href_of(page: TestResponse, element_id: str) -> str:
    """Where the link with `element_id` leads (its href, entities decoded)."""
    found = re.search(rf'<a\b[^>]*\bid="{element_id}"[^>]*>', page.get_data(as_text=True))
    assert found, f"no link #{element_id}"
    href = re.search(r'\bhref="([^"]*)"', found.group(0))
    assert href, f"link #{element_id} has no href"
    return html.unescape(href.group(1))
