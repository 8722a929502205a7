"""Who may frame an account's pages: a customer's live inside the LMS's dialog, with or without
cookies, so any site in `FRAME_ANCESTORS` may frame them; a staff member's are never framed, as the
console's are not, but for signing in and out, which staff do inside the dialog to register."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from portal.models import User
from tests.accounts import sign_in
from tests.auth.helpers import token_of
from tests.headers import content_security_policy

# Every page of one's own account, as shown and as sent (a form sent empty is shown again).
ACCOUNT_PAGES = [
    ("GET", "/auth/account"),
    ("GET", "/auth/password"),
    ("POST", "/auth/password"),
    ("GET", "/auth/email"),
    ("POST", "/auth/email"),
    ("GET", "/auth/organisation"),
    ("POST", "/auth/organisation"),
    ("GET", "/auth/account/delete"),
    ("POST", "/auth/account/delete"),
]


def assert_never_framed(response: TestResponse) -> None:
    assert content_security_policy(response)["frame-ancestors"] == ["'none'"]
    assert response.headers["X-Frame-Options"] == "DENY"


def assert_frameable_by_the_lms(app: Flask, response: TestResponse) -> None:
    assert content_security_policy(response)["frame-ancestors"] == app.config["FRAME_ANCESTORS"].split()
    assert "X-Frame-Options" not in response.headers


@pytest.mark.parametrize(("method", "url"), ACCOUNT_PAGES)
def test_a_staff_members_account_pages_are_never_framed(
    staff_browser: FlaskClient, method: str, url: str
) -> None:
    response = staff_browser.open(url, method=method)

    assert response.status_code in (200, 302, 400)
    assert_never_framed(response)


@pytest.mark.parametrize(("method", "url"), ACCOUNT_PAGES)
def test_a_customers_account_pages_stay_frameable_by_the_lms(
    app: Flask, customer_browser: FlaskClient, method: str, url: str
) -> None:
    response = customer_browser.open(url, method=method)

    assert response.status_code in (200, 303, 400)
    assert_frameable_by_the_lms(app, response)


def test_a_staff_members_account_pages_are_never_framed_without_cookies_either(
    app: Flask, staff: User
) -> None:
    browser = app.test_client(use_cookies=False)  # the LMS's dialog, where no cookie comes back
    token = token_of(sign_in(browser, staff.email).location)
    assert token

    for url in ("/auth/account", "/auth/password", "/auth/email"):
        page = browser.get(f"{url}?_st={token}")
        assert page.status_code == 200
        assert_never_framed(page)


def test_a_customers_account_pages_stay_frameable_without_cookies(app: Flask, customer: User) -> None:
    browser = app.test_client(use_cookies=False)
    token = token_of(sign_in(browser, customer.email).location)
    assert token

    for url in ("/auth/account", "/auth/password", "/auth/email", "/auth/account/delete"):
        page = browser.get(f"{url}?_st={token}")
        assert page.status_code == 200
        assert_frameable_by_the_lms(app, page)


def test_staff_sign_in_and_out_inside_the_lms_dialog_as_before(app: Flask, staff: User) -> None:
    browser = app.test_client()
    back_to_flow = "/registration/abc/configure"

    shown = browser.get(f"/auth/sign-in?next={back_to_flow}")
    signed_in = sign_in(browser, staff.email, page=f"/auth/sign-in?next={back_to_flow}")
    again = browser.get(f"/auth/sign-in?next={back_to_flow}")
    signed_out = browser.post("/auth/sign-out", data={"next": back_to_flow})

    assert signed_in.status_code == again.status_code == signed_out.status_code == 302
    for answer in (signed_in, again, signed_out):
        assert urlsplit(answer.location).path == back_to_flow
    for answer in (shown, signed_in, again, signed_out):
        assert_frameable_by_the_lms(app, answer)
