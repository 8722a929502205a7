"""A signed-in admin changes their password from their account page: the current one first, then
the new one twice. They stay signed in where they changed it, and are signed out everywhere else."""

from __future__ import annotations

import html
import re
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.accounts import PASSWORD, create_user, read_form, sign_in
from tests.auth.helpers import audit_actions, href_of

NEW_PASSWORD = "a new and longer passphrase"


def words(page: Any) -> str:
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", page.get_data(as_text=True))).split())


def signed_in_browser(app: Flask, email: str = "admin@school.edu") -> FlaskClient:
    browser = app.test_client()
    assert sign_in(browser, email).status_code == 302
    return browser


def change(browser: FlaskClient, current: str, new: str = NEW_PASSWORD, confirm: str | None = None) -> Any:
    action, hidden = read_form(browser.get("/auth/password"))
    form = {**hidden, "current": current, "password": new, "confirm": new if confirm is None else confirm}
    return browser.post(action, data=form)


def test_an_admin_changes_their_password_and_is_signed_out_everywhere_else(csrf_on: Flask) -> None:
    app = csrf_on
    create_user(app)
    here, elsewhere = signed_in_browser(app), signed_in_browser(app)
    assert 'id="change-password-link"' in here.get("/auth/account").get_data(as_text=True)

    changed = change(here, PASSWORD)

    assert changed.status_code == 302 and changed.location.endswith("/auth/account")
    account = here.get("/auth/account")
    assert account.status_code == 200
    assert "Your password is changed, and you are signed out everywhere else." in words(account)
    assert elsewhere.get("/auth/account").status_code == 302
    assert sign_in(app.test_client(), "admin@school.edu", PASSWORD).status_code == 200
    assert sign_in(app.test_client(), "admin@school.edu", NEW_PASSWORD).status_code == 302
    assert ("user:password-changed", "admin@school.edu") in audit_actions(app)


@pytest.mark.parametrize(
    ("current", "new", "confirm", "field", "said"),
    [
        ("not my password at all", NEW_PASSWORD, None, "current", "This is not your current password."),
        (PASSWORD, "short", None, "password", "at least 10 characters"),
        (PASSWORD, NEW_PASSWORD, "something else entirely", "confirm", "The passwords differ."),
        ("", NEW_PASSWORD, None, "current", "Enter your current password."),
        (PASSWORD, NEW_PASSWORD + "\x00", None, "password", "control character"),
    ],
    ids=["wrong current", "too short", "repeated differently", "no current", "nul byte"],
)
def test_a_change_that_cannot_be_made_says_why_beside_the_field_and_changes_nothing(
    app: Flask, current: str, new: str, confirm: str | None, field: str, said: str
) -> None:
    create_user(app)
    browser = signed_in_browser(app)

    answer = change(browser, current, new, confirm)

    assert answer.status_code == 400
    page = answer.get_data(as_text=True)
    assert f'id="{field}-errors"' in page and said in words(answer)
    assert browser.get("/auth/account").status_code == 200  # still signed in
    assert sign_in(app.test_client(), "admin@school.edu", PASSWORD).status_code == 302


def test_guessing_the_current_password_counts_toward_the_accounts_lockout(app: Flask) -> None:
    app.config.update(LOGIN_FAILURE_LIMIT=3)
    create_user(app)
    browser = signed_in_browser(app)

    answers = [change(browser, f"guess number {n}") for n in range(4)]

    assert [answer.status_code for answer in answers] == [400, 400, 400, 429]
    assert "Signing in is paused for this email address" in words(answers[-1])
    assert href_of(answers[-1], "try-again-link") == "/auth/password"
    assert sign_in(app.test_client(), "admin@school.edu", PASSWORD).status_code == 429


def test_someone_not_signed_in_is_sent_to_sign_in_first(app: Flask, client: FlaskClient) -> None:
    for answer in (client.get("/auth/password"), client.post("/auth/password", data={"current": PASSWORD})):
        assert answer.status_code == 302 and "/auth/sign-in" in answer.location
