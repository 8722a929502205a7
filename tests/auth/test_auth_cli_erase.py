"""The vendor's operator honours an erasure request from the command line, beside `disable-user`:
`flask erase-user EMAIL` says what it will close and keep, and asks first (unless `--yes`)."""

from __future__ import annotations

from flask import Flask

from portal.models import erased_address
from tests.accounts import create_user
from tests.auth.helpers import audit_actions, find_user


def test_erase_user_asks_first_and_erases_on_yes(app: Flask) -> None:
    user = create_user(app, "admin@school.edu")

    result = app.test_cli_runner().invoke(args=["erase-user", "Admin@School.edu"], input="y\n")

    assert result.exit_code == 0, result.output
    assert "withdraws 0 pending request(s) and closes 0 unfinished registration(s)" in result.output
    assert "payment(s) are kept" in result.output
    placeholder = erased_address(user.id)
    assert f"personal data of admin@school.edu erased; the account is now {placeholder}" in result.output
    assert find_user(app, "admin@school.edu") is None
    assert find_user(app, placeholder).is_erased
    assert ("user:erased", "cli") in audit_actions(app)


def test_erase_user_erases_nothing_when_the_operator_says_no(app: Flask) -> None:
    create_user(app, "admin@school.edu")

    result = app.test_cli_runner().invoke(args=["erase-user", "admin@school.edu"], input="n\n")

    assert result.exit_code == 1
    assert "Aborted" in result.output
    assert not find_user(app, "admin@school.edu").is_erased


def test_erase_user_with_yes_does_not_ask_and_a_second_run_does_nothing(app: Flask) -> None:
    user = create_user(app, "admin@school.edu")
    runner = app.test_cli_runner()

    first = runner.invoke(args=["erase-user", "admin@school.edu", "--yes"])
    by_old_address = runner.invoke(args=["erase-user", "admin@school.edu", "--yes"])
    by_placeholder = runner.invoke(args=["erase-user", erased_address(user.id)])

    assert first.exit_code == 0, first.output
    assert "Erase its personal data?" not in first.output
    assert by_old_address.exit_code == 1  # the address is gone: nothing can find the account by it
    assert "No user with the email admin@school.edu." in by_old_address.output
    assert by_placeholder.exit_code == 0
    assert "was erased already; nothing changed" in by_placeholder.output
    assert audit_actions(app).count(("user:erased", "cli")) == 1


def test_erase_user_refuses_a_staff_account_before_asking(app: Flask) -> None:
    create_user(app, "ops@vendor.example", role="staff", organisation=None)

    result = app.test_cli_runner().invoke(args=["erase-user", "ops@vendor.example"])

    assert result.exit_code == 1
    assert "staff accounts are not erased" in result.output and "Disable it instead" in result.output
    assert "Erase its personal data?" not in result.output
    assert not find_user(app, "ops@vendor.example").is_disabled


def test_erase_user_reports_an_unknown_email(app: Flask) -> None:
    result = app.test_cli_runner().invoke(args=["erase-user", "nobody@school.edu", "--yes"])

    assert result.exit_code == 1
    assert "No user with the email nobody@school.edu." in result.output
