"""Test helpers for the registration flow: walking its first steps, reading its pages, its people."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from html.parser import HTMLParser
from typing import Any
from uuid import uuid4

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from werkzeug.test import TestResponse

from portal.db import get_session
from portal.ltiaas import LtiaasClient
from portal.models import Registration, User
from tests.accounts import create_user, signed_in

CANVAS = "https://canvas.instructure.com/lti/"


_CSRF = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"|name="csrf_token" value="([^"]+)"')
_HREF = re.compile(r'(?:href|action|data-status-url)="([^"]+)"')


def csrf_token_in(html: str) -> str:
    match = _CSRF.search(html)
    assert match, "the page has no CSRF token"
    return match.group(1) or match.group(2)


def tokens_of(page: str) -> dict[str, str]:
    """The CSRF token of `page`, and the one-time `action_token` of its form if it has one."""
    one_time = re.search(r'name="action_token" type="hidden" value="([^"]+)"', page)
    return {"csrf_token": csrf_token_in(page), **({"action_token": one_time.group(1)} if one_time else {})}


def links_in(html: str) -> list[str]:
    return [link.replace("&amp;", "&") for link in _HREF.findall(html)]


def start(client: FlaskClient, registration_id: str = "reg-moodle") -> str:
    """Open the intermediate target like LTIAAS does; returns the review page's URL."""
    response = client.get(f"/intermediate-target?registrationId={registration_id}")
    assert response.status_code == 303, response.get_data(as_text=True)
    return response.headers["Location"]


def public_id_from(url: str) -> str:
    return url.split("/registration/", 1)[1].split("/", 1)[0]


class _Checkboxes(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.offered: dict[str, list[str]] = {}
        self.checked: dict[str, list[str]] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag != "input" or values.get("type") != "checkbox":
            return
        name, value = values.get("name") or "", values.get("value") or ""
        self.offered.setdefault(name, []).append(value)
        if "checked" in values:
            self.checked.setdefault(name, []).append(value)


def checkboxes(html: str) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    """(offered, checked) checkbox values by field name."""
    reader = _Checkboxes()
    reader.feed(html)
    return reader.offered, reader.checked


# Who is at the keyboard

ROLES = ("anonymous", "customer", "staff", "disabled")
POLICIES = ("self-service", "review-later", "live-approval")
SPRINGFIELD = {
    "platform_name": "Springfield Moodle",
    "auto_activate": "y",
    "messages": ["LtiResourceLinkRequest", "LtiDeepLinkingRequest"],
    "placements_1": ["ContentArea"],
}


def add_person(app: Flask, role: str) -> User:
    """A user for `role` (a disabled one is a customer whose account is disabled later)."""
    if role == "staff":
        return create_user(app, f"staff-{uuid4().hex[:8]}@vendor.example", role="staff", organisation=None)
    return create_user(app, f"{role}-{uuid4().hex[:8]}@school.example")


def become(app: Flask, client: FlaskClient, role: str) -> None:
    """Make the person at `client` `role`: sign in a new user, sign out, or disable whoever is signed in."""
    if role == "anonymous":
        with client.session_transaction() as session:
            session.pop("_user_id", None)
    elif role == "disabled":
        with client.session_transaction() as session:
            user_id = int(session["_user_id"].partition(":")[0])
        with app.app_context():
            db = get_session()
            db.get(User, user_id).is_disabled = True  # type: ignore[union-attr]
            db.commit()
    else:
        signed_in(client, add_person(app, role))


def configured_by(
    client: FlaskClient, form: dict[str, Any] | None = None, registration_id: str = "reg-moodle"
) -> str:
    """Start a registration and save the configure form (CSRF off) as whoever is signed in; its public id."""
    public_id = public_id_from(start(client, registration_id))
    response = client.post(f"/registration/{public_id}/configure", data=form or SPRINGFIELD)
    assert response.status_code == 303, response.get_data(as_text=True)
    return public_id


def press_register(browser: FlaskClient, public_id: str) -> TestResponse:
    """The confirm page's "Register the tool" button (CSRF off): POST complete."""
    return browser.post(f"/registration/{public_id}/complete")


def audit_trail(app: Flask, registration_public_id: str) -> list[tuple[str, str, dict[str, Any]]]:
    """(action, actor, details) of every event of the registration, in order."""
    with app.app_context():
        db = get_session()
        registration = db.scalar(select(Registration).where(Registration.public_id == registration_public_id))
        assert registration is not None
        return [(event.action, event.actor, event.details) for event in registration.audit_events]


def registration_row(app: Flask, public_id: str) -> Registration:
    """The registration as the database holds it now."""
    with app.app_context():
        return get_session().scalars(select(Registration).where(Registration.public_id == public_id)).one()


def wait_for_ltiaas_at_most(app: Flask, seconds: float) -> None:
    """From here on, the app's LTIAAS client gives up on an answer after `seconds` (a client built
    from settings saying so): short for the call under test, while the set-up before it kept the
    tests' usual timeout, which a busy machine cannot miss."""
    app.extensions["ltiaas"].close()
    app.config["LTIAAS_READ_TIMEOUT"] = seconds
    app.extensions["ltiaas"] = LtiaasClient.from_config(app.config)


@contextmanager
def ltiaas_moved_to(app: Flask, url: str) -> Iterator[None]:
    """While inside, the app's LTIAAS client is built from settings naming `url` as LTIAAS (e.g. a
    port nothing listens on): a real client failing for real, before anything is sent."""
    before, client = app.config["LTIAAS_URL"], app.extensions["ltiaas"]
    app.config["LTIAAS_URL"] = url
    app.extensions["ltiaas"] = LtiaasClient.from_config(app.config)
    try:
        yield
    finally:
        app.extensions["ltiaas"].close()
        app.config["LTIAAS_URL"], app.extensions["ltiaas"] = before, client
