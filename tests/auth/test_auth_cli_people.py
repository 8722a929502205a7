"""The CLI keeps the console's rules (the same functions), and the sandbox's staff account."""

from __future__ import annotations

from pathlib import Path

import pytest
from flask import Flask

from portal.db import get_session
from portal.sandbox.staff_account import (
    SANDBOX_STAFF_EMAIL,
    SANDBOX_STAFF_PASSWORD,
    NoSandbox,
    ensure_sandbox_staff,
)
from tests.accounts import create_user
from tests.auth.helpers import audit_actions, find_user
from tests.conftest import make_test_app


def test_disable_user_refuses_the_last_active_staff_account(app: Flask) -> None:
    create_user(app, "ops@vendor.example", role="staff", organisation=None)

    result = app.test_cli_runner().invoke(args=["disable-user", "ops@vendor.example"])

    assert result.exit_code == 1
    assert (
        "ops@vendor.example is the last active staff account that has signed in: it cannot be disabled."
        in (result.output)
    )
    assert not find_user(app, "ops@vendor.example").is_disabled


def test_the_sandbox_staff_account_is_made_once_and_restored_when_changed(app: Flask) -> None:
    runner = app.test_cli_runner()

    first = runner.invoke(args=["sandbox", "staff"])
    again = runner.invoke(args=["sandbox", "staff"])
    runner.invoke(args=["reset-password", SANDBOX_STAFF_EMAIL, "--password", "changed by someone"])
    create_user(app, "ops@vendor.example", role="staff", organisation=None)
    runner.invoke(args=["disable-user", SANDBOX_STAFF_EMAIL])
    restored = runner.invoke(args=["sandbox", "staff"])

    for result in (first, again, restored):
        assert result.exit_code == 0, result.output
        assert result.output.strip() == (
            f"Staff console:  http://localhost/admin/  (sign in as {SANDBOX_STAFF_EMAIL}, "
            f"password {SANDBOX_STAFF_PASSWORD})"
        )
    user = find_user(app, SANDBOX_STAFF_EMAIL)
    assert user.is_staff and not user.is_disabled
    client = app.test_client()
    client.post("/auth/sign-in", data={"email": SANDBOX_STAFF_EMAIL, "password": SANDBOX_STAFF_PASSWORD})
    assert client.get("/admin/people/").status_code == 200
    actions = [action for action, actor in audit_actions(app) if actor == "sandbox"]
    assert actions == ["user:created", "user:enabled", "user:password-reset"]


def test_there_is_no_sandbox_staff_account_without_the_sandbox(tmp_path: Path) -> None:
    app = make_test_app(tmp_path, LTIAAS_URL="https://vendor.ltiaas.com", LTIAAS_API_KEY="real-key")

    result = app.test_cli_runner().invoke(args=["sandbox", "staff"])
    with app.app_context(), pytest.raises(NoSandbox, match="the sandbox is off"):
        ensure_sandbox_staff(get_session())

    assert result.exit_code == 2 and "No such command 'sandbox'" in result.output
    assert find_user(app, SANDBOX_STAFF_EMAIL) is None
    app.extensions["db_engine"].dispose()


def test_a_staff_member_disabled_by_mistake_is_enabled_again_from_the_command_line(app: Flask) -> None:
    create_user(app, "ops@vendor.example", role="staff", organisation=None)
    create_user(app, "ann@vendor.example", role="staff", organisation=None)
    runner = app.test_cli_runner()
    runner.invoke(args=["disable-user", "ops@vendor.example"])

    reset = runner.invoke(args=["reset-password", "ops@vendor.example", "--password", "a new long password"])
    enabled = runner.invoke(args=["enable-user", "ops@vendor.example"])

    assert reset.exit_code == 0 and reset.output.splitlines() == [
        "password of ops@vendor.example reset",
        "ops@vendor.example is disabled, so it cannot sign in yet: "
        "`flask enable-user ops@vendor.example` lets it",
    ]
    assert enabled.exit_code == 0 and enabled.output.strip() == "user ops@vendor.example enabled"
    client = app.test_client()
    signed_in = client.post(
        "/auth/sign-in", data={"email": "ops@vendor.example", "password": "a new long password"}
    )
    assert signed_in.status_code == 302
    assert ("user:enabled", "cli") in audit_actions(app)


def test_enabling_an_unknown_account_says_so(app: Flask) -> None:
    result = app.test_cli_runner().invoke(args=["enable-user", "nobody@vendor.example"])
    assert result.exit_code == 1 and "nobody@vendor.example" in result.output
