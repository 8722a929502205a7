"""An institution's admin creates an account from inside the registration flow."""

from __future__ import annotations

from flask import Flask
from flask.testing import FlaskClient

from tests.accounts import PASSWORD, create_user
from tests.auth.helpers import audit_actions, find_user

NEW_ADMIN = {
    "email": "  Admin@School.EDU ",
    "organisation": "Example University",
    "password": PASSWORD,
    "confirm": PASSWORD,
}


def test_an_admin_signs_up_and_is_signed_in_on_the_step_they_left(app: Flask, client: FlaskClient) -> None:
    response = client.post("/auth/sign-up", data={**NEW_ADMIN, "next": "/registration/x/configure"})

    assert response.status_code == 302
    assert response.location.startswith("/registration/x/configure")
    assert "admin@school.edu" in client.get("/auth/account").get_data(as_text=True)
    user = find_user(app, "admin@school.edu")
    assert user is not None
    assert (user.role, user.organisation, user.is_disabled) == ("customer", "Example University", False)
    assert user.password_hash.startswith("scrypt:")
    assert PASSWORD not in user.password_hash
    assert ("user:signed-up", "admin@school.edu") in audit_actions(app)


def test_an_email_already_taken_in_any_case_is_refused_with_a_clear_message(
    app: Flask, client: FlaskClient
) -> None:
    create_user(app, email="admin@school.edu")

    response = client.post("/auth/sign-up", data={**NEW_ADMIN, "email": "ADMIN@school.edu"})

    assert response.status_code == 200
    assert "An account with this email already exists. Sign in instead." in response.get_data(as_text=True)
    assert client.get("/auth/account").status_code == 302


def test_sign_up_asks_for_a_long_enough_password_typed_twice(client: FlaskClient) -> None:
    short = client.post("/auth/sign-up", data={**NEW_ADMIN, "password": "short", "confirm": "short"})
    differ = client.post("/auth/sign-up", data={**NEW_ADMIN, "confirm": PASSWORD + "!"})

    assert "at least 10 characters" in short.get_data(as_text=True)
    assert "The passwords differ." in differ.get_data(as_text=True)
    assert client.get("/auth/account").status_code == 302


def test_the_sign_up_page_helps_password_managers(client: FlaskClient) -> None:
    page = client.get("/auth/sign-up").get_data(as_text=True)

    assert 'autocomplete="email"' in page
    assert page.count('autocomplete="new-password"') == 2
    assert 'name="organisation"' in page


def test_invite_only_vendors_turn_sign_up_off(app: Flask, client: FlaskClient) -> None:
    app.config["SIGNUP_ENABLED"] = False

    page = client.get("/auth/sign-up?next=/registration/x/configure")
    refused = client.post("/auth/sign-up", data=NEW_ADMIN)

    assert page.status_code == 200
    assert "Accounts are by invitation" in page.get_data(as_text=True)
    assert "/auth/sign-in?next=/registration/x/configure" in page.get_data(as_text=True)
    assert refused.status_code == 403
    assert find_user(app, "admin@school.edu") is None
    assert "sign-up-link" not in client.get("/auth/sign-in").get_data(as_text=True)


def test_an_address_or_organisation_that_would_read_as_something_else_is_refused(
    app: Flask, client: FlaskClient
) -> None:
    """A direction override shows "\u202eude.dleifgnirps@nimda" as "admin@springfield.edu"."""
    turned = client.post("/auth/sign-up", data={**NEW_ADMIN, "email": "\u202eude.dleifgnirps@nimda.a"})
    hidden = client.post("/auth/sign-up", data={**NEW_ADMIN, "email": "ad\u200bmin@school.edu"})
    organisation = client.post("/auth/sign-up", data={**NEW_ADMIN, "organisation": "Acme \u202eytisrevinU"})
    persian = client.post(
        "/auth/sign-up",
        data={
            **NEW_ADMIN,
            "organisation": "\u062f\u0627\u0646\u0634\u06af\u0627\u0647\u200c\u062a\u0647\u0631\u0627\u0646",
        },
    )

    assert "Enter an email address like name@example.edu." in turned.get_data(as_text=True)
    assert "Enter an email address like name@example.edu." in hidden.get_data(as_text=True)
    assert "text-direction controls" in organisation.get_data(as_text=True)
    assert persian.status_code == 302  # a joiner is spelling, not a trick
