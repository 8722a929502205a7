"""Signing in: one generic error, the same cost whether or not the email exists."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from flask import Flask
from flask.testing import FlaskClient

from tests.accounts import create_user, sign_in
from tests.auth.helpers import CountingHasher, audit_actions, find_user, normalised


def test_an_admin_signs_in_and_lands_back_on_the_page_they_wanted(app: Flask, client: FlaskClient) -> None:
    create_user(app)
    asked = client.get("/auth/account")
    assert asked.status_code == 302
    assert urlsplit(asked.location).path == "/auth/sign-in"
    assert parse_qs(urlsplit(asked.location).query)["next"] == ["/auth/account"]
    page = client.get(asked.location).get_data(as_text=True)
    assert 'name="next" type="hidden" value="/auth/account"' in page
    assert "Please sign in to continue." in page

    response = sign_in(client, "Admin@School.edu", fields={"next": "/auth/account"})

    assert response.status_code == 302
    assert response.location == "/auth/account"
    assert client.get("/auth/account").status_code == 200
    user = find_user(app, "admin@school.edu")
    assert user is not None and user.last_login_at is not None
    assert ("user:signed-in", "admin@school.edu") in audit_actions(app)


def test_the_sign_in_page_helps_password_managers(client: FlaskClient) -> None:
    page = client.get("/auth/sign-in").get_data(as_text=True)

    assert 'autocomplete="username"' in page
    assert 'autocomplete="current-password"' in page


def test_a_wrong_password_and_an_unknown_email_get_the_same_answer(app: Flask, client: FlaskClient) -> None:
    create_user(app, email="admin@school.edu")

    wrong_password = sign_in(client, "admin@school.edu", "not the password")
    unknown_email = sign_in(client, "nobody@school.edu", "not the password")

    assert wrong_password.status_code == unknown_email.status_code == 200
    assert "The email or password is incorrect." in wrong_password.get_data(as_text=True)
    assert normalised(wrong_password, "admin@school.edu") == normalised(unknown_email, "nobody@school.edu")
    assert client.get("/auth/account").status_code == 302


def test_an_unknown_email_still_costs_one_password_check(
    app: Flask, client: FlaskClient, hasher: CountingHasher
) -> None:
    create_user(app, email="admin@school.edu")
    dummy_cost = hasher.dummy_hash().split("$")[0]

    sign_in(client, "nobody@school.edu")
    unknown_checks = hasher.checks
    sign_in(client, "admin@school.edu", "not the password")

    assert unknown_checks == 1
    assert hasher.checks == 2
    assert dummy_cost == find_user(app, "admin@school.edu").password_hash.split("$")[0]


def test_a_disabled_user_cannot_sign_in_and_is_told_nothing_more(app: Flask, client: FlaskClient) -> None:
    create_user(app, disabled=True)

    response = sign_in(client, "admin@school.edu")

    assert "The email or password is incorrect." in response.get_data(as_text=True)
    assert client.get("/auth/account").status_code == 302


def test_a_signed_in_admin_visiting_sign_in_goes_straight_on(app: Flask, client: FlaskClient) -> None:
    create_user(app)
    sign_in(client, "admin@school.edu")

    response = client.get("/auth/sign-in?next=/registration/x/review")

    assert response.status_code == 302
    assert response.location == "/registration/x/review"


def test_no_remember_me_cookie_is_ever_set(app: Flask, client: FlaskClient) -> None:
    create_user(app)

    response = sign_in(client, "admin@school.edu", fields={"remember": "y"})

    cookies = response.headers.getlist("Set-Cookie")
    assert cookies and all(cookie.startswith("__Host-portal_session=") for cookie in cookies)
    assert client.get_cookie("remember_token") is None
