"""The sign-in page speaks to whoever is on the way in: staff on their way into the console (or out
of it), LMS admins on their way through the registration, and LMS admins signing in for anything
else (their account page), who are not told a registration of theirs is kept."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
from flask import Flask
from flask.testing import FlaskClient

from portal.models import User
from tests.accounts import PASSWORD, read_form, sign_in
from tests.auth.helpers import words
from tests.conftest import STAFF_EMAIL

STAFF_WORDS = "Sign in to the staff console"
CUSTOMER_WORDS = "Sign in to continue registering the tool."
NEUTRAL_WORDS = "Sign in with the email address and password of your account."


def sign_out_from(browser: FlaskClient, page: str) -> str:
    """Press the page's Sign out button; where the browser lands."""
    html = browser.get(page).get_data(as_text=True)
    forms = [read_form(html, index) for index in range(html.count("<form"))]
    action, hidden = next(form for form in forms if form[0].startswith("/auth/sign-out"))
    return browser.post(action, data=hidden).location


@pytest.mark.parametrize("console_page", ["/admin/", "/admin/people/?page=2", "/admin"])
def test_the_way_into_the_console_speaks_to_staff(client: FlaskClient, console_page: str) -> None:
    page = client.get(f"/auth/sign-in?next={console_page}")

    assert STAFF_WORDS in words(page)
    assert "Staff accounts are made by staff" in words(page)
    assert CUSTOMER_WORDS not in words(page)
    assert 'id="sign-up-link"' not in page.get_data(as_text=True)


@pytest.mark.parametrize(
    "next_page", ["/registration/abc/review", "/registration/abc/configure?x=1", "/billing/checkout/abc"]
)
def test_the_way_through_a_registration_tells_the_lms_admin_their_work_is_kept(
    client: FlaskClient, next_page: str
) -> None:
    page = client.get(f"/auth/sign-in?next={next_page}")

    assert CUSTOMER_WORDS in words(page) and STAFF_WORDS not in words(page)
    assert 'id="sign-up-link"' in page.get_data(as_text=True)


@pytest.mark.parametrize("next_page", [None, "/administrator/", "/auth/account", "/registrations"])
def test_every_other_way_speaks_to_the_lms_admin_without_a_registration(
    client: FlaskClient, next_page: str | None
) -> None:
    page = client.get("/auth/sign-in" + (f"?next={next_page}" if next_page else ""))

    assert NEUTRAL_WORDS in words(page)
    assert CUSTOMER_WORDS not in words(page) and STAFF_WORDS not in words(page)
    assert 'id="sign-up-link"' in page.get_data(as_text=True)


@pytest.mark.parametrize("page", ["/auth/account", "/auth/password"])
def test_a_signed_out_customer_opening_their_account_is_not_told_of_a_registration(
    client: FlaskClient, page: str
) -> None:
    to_sign_in = client.get(page).location

    shown = words(client.get(to_sign_in))

    assert NEUTRAL_WORDS in shown and CUSTOMER_WORDS not in shown
    assert "What you have done so far" not in shown


def test_a_staff_member_sent_from_the_console_signs_in_and_lands_back_there(
    client: FlaskClient, staff: User
) -> None:
    to_sign_in = client.get("/admin/people/").location
    page = client.get(to_sign_in)
    assert STAFF_WORDS in words(page)

    signed_in = sign_in(client, STAFF_EMAIL, page=to_sign_in)

    assert urlsplit(signed_in.location).path == "/admin/people/"


def test_a_wrong_password_on_the_way_to_the_console_still_speaks_to_staff(
    client: FlaskClient, staff: User
) -> None:
    answer = sign_in(client, STAFF_EMAIL, "not the password", page="/auth/sign-in?next=/admin/")

    assert "The email or password is incorrect." in words(answer) and STAFF_WORDS in words(answer)


@pytest.mark.parametrize("page", ["/admin/", "/auth/account"])
def test_staff_signing_out_land_on_the_staff_sign_in(client: FlaskClient, staff: User, page: str) -> None:
    assert sign_in(client, STAFF_EMAIL).status_code == 302

    landing = sign_out_from(client, page)

    assert parse_qs(urlsplit(landing).query)["next"] == ["/admin/"]
    signed_out = words(client.get(landing))
    assert "You have signed out." in signed_out and STAFF_WORDS in signed_out
    assert urlsplit(sign_in(client, STAFF_EMAIL, PASSWORD, page=landing).location).path == "/admin/"


def test_a_customer_signing_out_of_their_account_page_lands_on_the_customer_sign_in(
    client: FlaskClient, customer: User
) -> None:
    assert sign_in(client, customer.email).status_code == 302

    landing = client.get(sign_out_from(client, "/auth/account"))

    assert NEUTRAL_WORDS in words(landing) and STAFF_WORDS not in words(landing)


def test_without_email_the_staff_are_not_offered_an_account_either(app: Flask, client: FlaskClient) -> None:
    staff_page = client.get("/auth/forgot-password?next=/admin/").get_data(as_text=True)
    customer_page = client.get("/auth/forgot-password?next=/registration/abc/review").get_data(as_text=True)

    assert 'id="sign-up-link"' not in staff_page
    assert 'id="sign-up-link"' in customer_page
