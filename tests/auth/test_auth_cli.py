"""The vendor's operator manages accounts from the command line."""

from __future__ import annotations

from flask import Flask
from flask.testing import FlaskClient

from tests.accounts import PASSWORD, create_user, sign_in
from tests.auth.helpers import audit_actions, find_user

NEW_PASSWORD = "a brand new passphrase"


def test_create_staff_with_a_password_option(app: Flask, client: FlaskClient) -> None:
    result = app.test_cli_runner().invoke(args=["create-staff", "Ops@Vendor.com", "--password", PASSWORD])

    assert result.exit_code == 0, result.output
    assert "staff user ops@vendor.com created" in result.output
    user = find_user(app, "ops@vendor.com")
    assert user is not None and user.role == "staff" and user.is_staff and user.organisation is None
    assert ("user:created", "cli") in audit_actions(app)
    sign_in(client, "ops@vendor.com", PASSWORD)
    assert client.get("/auth/account").status_code == 200


def test_create_staff_prompts_for_the_password_twice(app: Flask) -> None:
    result = app.test_cli_runner().invoke(
        args=["create-staff", "ops@vendor.com"], input=f"{PASSWORD}\n{PASSWORD}\n"
    )

    assert result.exit_code == 0, result.output
    assert find_user(app, "ops@vendor.com") is not None


def test_create_staff_refuses_a_taken_email_or_a_short_password(app: Flask) -> None:
    create_user(app, email="ops@vendor.com")
    runner = app.test_cli_runner()

    taken = runner.invoke(args=["create-staff", "OPS@vendor.com", "--password", PASSWORD])
    short = runner.invoke(args=["create-staff", "new@vendor.com", "--password", "short"])

    assert taken.exit_code == 1
    assert "An account with this email already exists" in taken.output
    assert short.exit_code == 1
    assert "at least 10 characters" in short.output
    assert find_user(app, "new@vendor.com") is None


def test_reset_password_replaces_the_old_one(app: Flask, client: FlaskClient) -> None:
    create_user(app)

    result = app.test_cli_runner().invoke(
        args=["reset-password", "admin@school.edu", "--password", NEW_PASSWORD]
    )

    assert result.exit_code == 0, result.output
    assert ("user:password-reset", "cli") in audit_actions(app)
    sign_in(client, "admin@school.edu", PASSWORD)
    assert client.get("/auth/account").status_code == 302
    sign_in(client, "admin@school.edu", NEW_PASSWORD)
    assert client.get("/auth/account").status_code == 200


def test_disable_user_stops_further_sign_ins(app: Flask, client: FlaskClient) -> None:
    create_user(app)

    result = app.test_cli_runner().invoke(args=["disable-user", "admin@school.edu"])

    assert result.exit_code == 0, result.output
    assert find_user(app, "admin@school.edu").is_disabled
    assert ("user:disabled", "cli") in audit_actions(app)
    sign_in(client, "admin@school.edu", PASSWORD)
    assert client.get("/auth/account").status_code == 302


def test_unknown_emails_are_reported(app: Flask) -> None:
    runner = app.test_cli_runner()

    reset = runner.invoke(args=["reset-password", "nobody@school.edu", "--password", NEW_PASSWORD])
    disable = runner.invoke(args=["disable-user", "nobody@school.edu"])

    assert reset.exit_code == disable.exit_code == 1
    assert "No user with the email nobody@school.edu." in reset.output
    assert "No user with the email nobody@school.edu." in disable.output
