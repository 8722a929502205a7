"""When the portal signs someone out (their account disabled, their password changed elsewhere,
their session ended), their sign-in page says why, once; nobody else's does."""

from __future__ import annotations

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import update

from portal.auth.service import disable_user, reset_password
from portal.db import get_session
from portal.models import WebSession, utcnow
from tests.accounts import PASSWORD, create_user, sign_in
from tests.auth.helpers import words
from tests.conftest import STAFF_EMAIL

DISABLED = "You were signed out because your account was disabled."
PASSWORD_CHANGED = "You were signed out because your password was changed after you signed in here."
ENDED = "You are signed out: your session ended after 2 hours without activity."
NEW_PASSWORD = "a new and longer passphrase"


def signed_in_browser(app: Flask, email: str = "admin@school.edu") -> FlaskClient:
    browser = app.test_client()
    assert sign_in(browser, email).status_code == 302
    return browser


def staff_disables(app: Flask, email: str) -> None:
    with app.app_context():
        db = get_session()
        disable_user(db, email, actor="boss@vendor.example")
        db.commit()


def staff_resets_password(app: Flask, email: str) -> None:
    with app.app_context():
        db = get_session()
        reset_password(db, email, NEW_PASSWORD, actor="boss@vendor.example")
        db.commit()


def sign_in_page_on_the_way(browser: FlaskClient, page: str) -> str:
    """Open `page`, which sends the browser to sign in; that page's words."""
    asked = browser.get(page)
    assert asked.status_code == 302 and "/auth/sign-in" in asked.location
    return words(browser.get(asked.location))


def test_a_disabled_admin_is_told_why_they_were_signed_out_once(app: Flask) -> None:
    create_user(app)
    browser = signed_in_browser(app)
    staff_disables(app, "admin@school.edu")

    page = sign_in_page_on_the_way(browser, "/auth/account")

    assert DISABLED in page
    assert DISABLED not in words(browser.get("/auth/sign-in"))
    assert DISABLED not in words(app.test_client().get("/auth/sign-in"))


def test_an_admin_whose_password_changed_elsewhere_is_told_why(app: Flask) -> None:
    create_user(app)
    here, elsewhere = signed_in_browser(app), signed_in_browser(app)
    staff_resets_password(app, "admin@school.edu")

    page = sign_in_page_on_the_way(elsewhere, "/auth/account")

    assert PASSWORD_CHANGED in page
    assert sign_in(elsewhere, "admin@school.edu", NEW_PASSWORD).status_code == 302
    assert PASSWORD_CHANGED in sign_in_page_on_the_way(here, "/auth/account")


def test_a_disabled_staff_member_is_told_why_on_the_staff_sign_in(app: Flask) -> None:
    create_user(app, STAFF_EMAIL, role="staff", organisation=None)
    create_user(app, "boss@vendor.example", role="staff", organisation=None)
    browser = signed_in_browser(app, STAFF_EMAIL)
    assert browser.get("/admin/people/").status_code == 200
    staff_disables(app, STAFF_EMAIL)

    page = sign_in_page_on_the_way(browser, "/admin/people/")

    assert DISABLED in page and "Sign in to the staff console" in page


def test_signing_in_again_forgets_why_the_last_session_ended(app: Flask) -> None:
    create_user(app)
    browser = signed_in_browser(app)
    staff_resets_password(app, "admin@school.edu")
    assert browser.get("/auth/account").status_code == 302  # signed out; the reason kept, not yet shown

    again = browser.post("/auth/sign-in", data={"email": "admin@school.edu", "password": NEW_PASSWORD})
    assert again.status_code == 302
    browser.post("/auth/sign-out")

    assert PASSWORD_CHANGED not in words(browser.get("/auth/sign-in"))


def test_the_reason_is_not_said_again_beside_a_wrong_password(app: Flask) -> None:
    create_user(app)
    browser = signed_in_browser(app)
    staff_resets_password(app, "admin@school.edu")

    answer = sign_in(browser, "admin@school.edu", PASSWORD)

    assert "The email or password is incorrect." in words(answer)
    assert PASSWORD_CHANGED not in words(answer)


def end_every_session(app: Flask) -> None:
    """Every session past its lifetime, as after SESSION_LIFETIME without a request."""
    with app.app_context():
        db = get_session()
        db.execute(update(WebSession).values(expires_at=utcnow()))
        db.commit()


@pytest.mark.parametrize(
    ("email", "role", "page"),
    [("admin@school.edu", "customer", "/auth/account"), (STAFF_EMAIL, "staff", "/admin/")],
)
def test_a_session_that_ended_says_so_on_the_way_to_sign_in_once(
    app: Flask, email: str, role: str, page: str
) -> None:
    create_user(app, email, role=role)
    browser = signed_in_browser(app, email)
    end_every_session(app)

    said = sign_in_page_on_the_way(browser, page)

    assert ENDED in said
    assert ENDED not in words(browser.get("/auth/sign-in"))
    assert ENDED not in words(app.test_client().get("/auth/sign-in"))


def test_signing_in_after_a_session_ended_forgets_it(app: Flask) -> None:
    create_user(app)
    browser = signed_in_browser(app)
    end_every_session(app)

    again = browser.post("/auth/sign-in", data={"email": "admin@school.edu", "password": PASSWORD})
    assert again.status_code == 302
    browser.post("/auth/sign-out")

    assert ENDED not in words(browser.get("/auth/sign-in"))
