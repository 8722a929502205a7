"""A customer deletes their account from their account page, inside the LMS's dialog or not: a page
says what is deleted and what is kept, their current password confirms it (a wrong one counts toward
the lockout), and they are signed out everywhere, for good; the address may sign up again."""

from __future__ import annotations

from typing import Any

from flask import Flask
from flask.testing import FlaskClient

from portal.models import erased_address
from tests.accounts import PASSWORD, create_user, read_form, sign_in
from tests.auth.helpers import (
    add_flow_start,
    audit_actions,
    find_user,
    href_of,
    session_id_of,
    token_of,
    words,
)

EMAIL = "admin@school.edu"


def signed_in_browser(app: Flask, email: str = EMAIL) -> FlaskClient:
    browser = app.test_client()
    assert sign_in(browser, email).status_code == 302
    return browser


def delete(browser: FlaskClient, password: str = PASSWORD) -> Any:
    """Follow the account page's link and send the page's form, as a browser would."""
    page = href_of(browser.get("/auth/account"), "delete-account-link")
    action, hidden = read_form(browser.get(page))
    return browser.post(action, data={**hidden, "current": password})


def test_a_customer_deletes_their_account_and_is_signed_out_everywhere(csrf_on: Flask) -> None:
    app = csrf_on
    user = create_user(app, EMAIL, organisation="Springfield University")
    here, elsewhere = signed_in_browser(app), signed_in_browser(app)

    page = here.get("/auth/account/delete")
    deleted = delete(here)

    said = words(page)
    assert EMAIL in said and "Springfield University" in said and "It cannot be undone" in said
    assert "Your payments. The tool's vendor keeps its records of them" in said
    assert "The LMS platforms you registered stay registered." in said
    assert deleted.status_code == 200
    assert "Your account is deleted" in words(deleted) and "you are signed out" in words(deleted)
    assert here.get("/auth/account").status_code == 302
    assert elsewhere.get("/auth/account").status_code == 302
    assert "You were signed out because your account was deleted." in words(elsewhere.get("/auth/sign-in"))
    assert sign_in(app.test_client(), EMAIL).status_code == 200  # the generic error: no such account
    assert find_user(app, EMAIL) is None
    assert ("user:erased", erased_address(user.id)) in audit_actions(app)


def test_the_address_can_sign_up_again_afterwards(app: Flask) -> None:
    create_user(app, EMAIL)
    browser = signed_in_browser(app)
    delete(browser)

    signed_up = browser.post(
        "/auth/sign-up",
        data={"email": EMAIL, "organisation": "Springfield", "password": PASSWORD, "confirm": PASSWORD},
    )

    assert signed_up.status_code == 302
    assert browser.get("/auth/account").status_code == 200
    assert not find_user(app, EMAIL).is_erased


def test_a_wrong_password_deletes_nothing_and_counts_toward_the_lockout(app: Flask) -> None:
    app.config.update(LOGIN_FAILURE_LIMIT=3)
    create_user(app, EMAIL)
    browser = signed_in_browser(app)

    answers = [delete(browser, f"guess number {n}") for n in range(4)]

    assert [answer.status_code for answer in answers] == [400, 400, 400, 429]
    assert "This is not your current password." in words(answers[0])
    assert href_of(answers[-1], "try-again-link") == "/auth/account/delete"
    assert not find_user(app, EMAIL).is_erased
    assert browser.get("/auth/account").status_code == 200  # still signed in


def test_the_form_needs_its_csrf_token(csrf_on: Flask) -> None:
    create_user(csrf_on, EMAIL)
    browser = signed_in_browser(csrf_on)

    forged = browser.post("/auth/account/delete", data={"current": PASSWORD})

    assert forged.status_code == 400
    assert not find_user(csrf_on, EMAIL).is_erased


def test_the_page_lives_inside_the_lms_dialog_like_the_other_account_pages(app: Flask) -> None:
    create_user(app, EMAIL)
    browser = signed_in_browser(app)

    page = browser.get("/auth/account/delete")

    assert page.status_code == 200
    assert "X-Frame-Options" not in page.headers
    assert "frame-ancestors 'none'" not in page.headers["Content-Security-Policy"]


def test_without_cookies_the_token_carries_it_and_leads_nowhere_afterwards(csrf_on: Flask) -> None:
    app = csrf_on
    add_flow_start(app)
    create_user(app, EMAIL)
    browser = app.test_client(use_cookies=False)  # the LMS's dialog, where no cookie comes back
    action, hidden = read_form(browser.get(browser.get("/test/flow-start").location))
    token = token_of(browser.post(action, data={**hidden, "email": EMAIL, "password": PASSWORD}).location)

    action, hidden = read_form(browser.get(f"/auth/account/delete?_st={token}"))
    deleted = browser.post(action, data={**hidden, "current": PASSWORD})

    assert session_id_of(action) == session_id_of(f"/?_st={token}")
    assert deleted.status_code == 200 and "Your account is deleted" in words(deleted)
    assert browser.get(f"/test/flow-data?_st={token}").get_json() == {"registrations": None, "user": None}


def test_staff_have_no_such_page(app: Flask, staff_browser: FlaskClient) -> None:
    assert 'id="delete-account-link"' not in staff_browser.get("/auth/account").get_data(as_text=True)

    answer = staff_browser.post("/auth/account/delete", data={"current": PASSWORD})

    assert answer.status_code == 302 and answer.location.endswith("/auth/account")
    assert not find_user(app, "staff@vendor.example").is_erased


def test_someone_not_signed_in_is_sent_to_sign_in_first(client: FlaskClient) -> None:
    for answer in (client.get("/auth/account/delete"), client.post("/auth/account/delete")):
        assert answer.status_code == 302 and "/auth/sign-in" in answer.location
