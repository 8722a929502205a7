"""One-time set-password links: signed, short-lived, stored hashed, used once, replaced by the next;
and the page they open, top level and never framed."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from portal.auth import password_links, service
from portal.db import get_session
from portal.models import PasswordLink, PasswordLinkPurpose, User, utcnow
from tests.accounts import PASSWORD, create_user
from tests.auth.helpers import audit_actions

NEW_PASSWORD = "my very own passphrase"
STAFF = "boss@vendor.example"


@pytest.fixture
def newcomer(app: Flask) -> User:
    with app.app_context():
        db = get_session()
        user = service.create_staff(db, "new@vendor.example", None, actor=STAFF)
        db.commit()
        return user


def issue(app: Flask, user: User, purpose: PasswordLinkPurpose = PasswordLinkPurpose.NEW_ACCOUNT) -> str:
    with app.app_context():
        db = get_session()
        token = password_links.issue_link(db, db.get(User, user.id), purpose, actor=STAFF)
        db.commit()
        return token


def signs_in(app: Flask, email: str, password: str) -> bool:
    with app.app_context():
        return service.authenticate(get_session(), email, password) is not None


def choose(client: FlaskClient, token: str, password: str = NEW_PASSWORD, confirm: str | None = None):
    return client.post(
        f"/auth/set-password/{token}", data={"password": password, "confirm": confirm or password}
    )


def test_the_link_opens_a_top_level_page_that_sets_the_password_once(
    app: Flask, client: FlaskClient, newcomer: User
) -> None:
    token = issue(app, newcomer)

    page = client.get(f"/auth/set-password/{token}")
    assert page.status_code == 200
    assert "frame-ancestors 'none'" in page.headers["Content-Security-Policy"]
    assert page.headers["X-Frame-Options"] == "DENY"
    assert page.headers["Cache-Control"] == "no-store" and page.headers["Referrer-Policy"] == "same-origin"
    assert 'value="new@vendor.example"' in page.get_data(as_text=True)

    done = choose(client, token)
    again = choose(client, token, "someone else's password")

    assert done.status_code == 200 and 'data-page="password-set"' in done.get_data(as_text=True)
    assert again.status_code == 410 and 'data-page="set-password-invalid"' in again.get_data(as_text=True)
    assert signs_in(app, "new@vendor.example", NEW_PASSWORD)
    assert not signs_in(app, "new@vendor.example", "someone else's password")
    assert client.get(f"/auth/set-password/{token}").status_code == 410
    assert audit_actions(app)[-1] == ("user:password-set", "new@vendor.example")


def test_only_the_hash_of_the_links_secret_is_stored(app: Flask, newcomer: User) -> None:
    token = issue(app, newcomer)

    with app.app_context():
        (link,) = get_session().scalars(select(PasswordLink)).all()
        secret = password_links._serializer().loads(token)
        assert link.token_hash == hashlib.sha256(secret.encode()).hexdigest()
        stored = repr([getattr(link, column.key) for column in PasswordLink.__table__.columns])
        assert secret not in stored and token not in stored
        assert link.purpose == "new-account" and link.created_by == STAFF


def test_a_link_past_its_lifetime_does_not_work(app: Flask, client: FlaskClient, newcomer: User) -> None:
    token = issue(app, newcomer)
    with app.app_context():
        assert password_links.find_link(get_session(), token, now=utcnow() + timedelta(hours=5)) is None

    app.config["PASSWORD_LINK_MAX_AGE"] = -1  # its signature's timestamp is now too old as well
    assert client.get(f"/auth/set-password/{token}").status_code == 410
    assert choose(client, token).status_code == 410
    assert not signs_in(app, "new@vendor.example", NEW_PASSWORD)


def test_a_forged_or_tampered_link_does_not_work(app: Flask, client: FlaskClient, newcomer: User) -> None:
    token = issue(app, newcomer)

    for forged in (token[:-2] + ("AA" if not token.endswith("AA") else "BB"), "not-a-token", token + "x"):
        assert client.get(f"/auth/set-password/{forged}").status_code == 410


def test_a_newer_link_a_typed_reset_or_disabling_the_account_ends_a_link(
    app: Flask, client: FlaskClient, newcomer: User
) -> None:
    first = issue(app, newcomer)
    second = issue(app, newcomer, PasswordLinkPurpose.RESET)
    assert client.get(f"/auth/set-password/{first}").status_code == 410
    assert client.get(f"/auth/set-password/{second}").status_code == 200

    with app.app_context():
        db = get_session()
        service.reset_password(db, "new@vendor.example", PASSWORD, actor=STAFF)
        db.commit()
    assert client.get(f"/auth/set-password/{second}").status_code == 410

    third = issue(app, newcomer, PasswordLinkPurpose.RESET)
    create_user(app, "other@vendor.example", role="staff", organisation=None)
    with app.app_context():
        db = get_session()
        service.disable_user(db, "new@vendor.example", actor=STAFF)
        db.commit()
    assert client.get(f"/auth/set-password/{third}").status_code == 410


def test_a_weak_or_mistyped_password_keeps_the_link(app: Flask, client: FlaskClient, newcomer: User) -> None:
    token = issue(app, newcomer)

    short = choose(client, token, "short")
    differ = choose(client, token, NEW_PASSWORD, "another passphrase")

    assert short.status_code == differ.status_code == 400
    assert "at least 10 characters" in short.get_data(as_text=True)
    assert "The passwords differ." in differ.get_data(as_text=True)
    assert choose(client, token).status_code == 200


def test_the_page_needs_the_csrf_token(app: Flask, csrf_on: Flask, newcomer: User) -> None:
    token = issue(app, newcomer)

    response = app.test_client().post(
        f"/auth/set-password/{token}", data={"password": NEW_PASSWORD, "confirm": NEW_PASSWORD}
    )

    assert response.status_code == 400
    assert not signs_in(app, "new@vendor.example", NEW_PASSWORD)
