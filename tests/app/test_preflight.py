"""`flask --app app check`: the vendor's preflight, against the stand-ins over real HTTP and against
services that are down or refuse. One line per check, with what to fix; non-zero exit on a failure."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result
from flask import Flask

from portal import create_app
from portal.config import SANDBOX_API_KEY, SANDBOX_STRIPE_SECRET_KEY, finish_settings, settings_from_env
from portal.preflight import Status, check_settings
from tests.conftest import LiveServer, a_closed_url, free_port
from tests.mail import SMTP_PASSWORD, SMTP_USER, MailServer, mail_server

__all__ = ["mail_server"]

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def checked_app(live_server: LiveServer) -> Iterator[Callable[..., Flask]]:
    """An installation whose LTIAAS and Stripe are the live server's stand-ins, on its database."""
    apps: list[Flask] = []

    def make(**overrides: Any) -> Flask:
        settings: dict[str, Any] = {
            "PORTAL_ENV": "testing",
            "SECRET_KEY": "test-secret-key-that-is-long-enough-1234",
            "DATABASE_URL": live_server.app.config["DATABASE_URL"],
            "PORTAL_URL": "https://portal.vendor.example",
            "LTIAAS_URL": live_server.url,
            "LTIAAS_API_KEY": SANDBOX_API_KEY,
            "LTIAAS_RETRIES": 0,
            "STRIPE_SECRET_KEY": SANDBOX_STRIPE_SECRET_KEY,
            "STRIPE_PUBLISHABLE_KEY": "pk_test_sandbox",
            "STRIPE_WEBHOOK_SECRET": "whsec_sandbox",
            "STRIPE_PRICE_ID": "price_registration",
            "STRIPE_API_BASE": f"{live_server.url}/sandbox/stripe",
            "STRIPE_MAX_RETRIES": 0,
            "STRIPE_TIMEOUT": 5,
        }
        settings.update(overrides)
        app = create_app(settings)
        apps.append(app)
        return app

    yield make
    for app in apps:
        app.extensions["db_engine"].dispose()


def run_check(app: Flask) -> Result:
    return app.test_cli_runner().invoke(args=["check"])


def lines_of(result: Result) -> dict[str, str]:
    """check name -> its whole line."""
    lines = [line for line in result.output.splitlines() if ": " in line and line[:4].strip()]
    return {line[6:].split(": ", 1)[0]: line for line in lines if not line[0].isdigit()}


def test_a_ready_installation_passes_with_one_line_per_check(checked_app: Callable[..., Flask]) -> None:
    result = run_check(checked_app())

    assert result.exit_code == 0, result.output
    lines = lines_of(result)
    assert lines["LTIAAS"].startswith("ok    LTIAAS: http://localhost:")
    assert "/api/platforms reached, API key accepted" in lines["LTIAAS"]
    assert lines["Stripe"] == "ok    Stripe: key accepted; price price_registration: one-time, 49.00 USD"
    assert lines["database"].startswith("ok    database: reached, at the newest migration")
    assert lines["PORTAL_URL"] == "ok    PORTAL_URL: https://portal.vendor.example"
    assert result.output.rstrip().endswith("failed, 2 to look at")  # PORTAL_ENV and memory://
    assert SANDBOX_API_KEY not in result.output and SANDBOX_STRIPE_SECRET_KEY not in result.output


@pytest.mark.parametrize(
    ("overrides", "said", "fix"),
    [
        ({"LTIAAS_URL": "closed"}, "could not be reached", "check LTIAAS_URL"),
        ({"LTIAAS_API_KEY": "not-the-key-at-all"}, "refused the API key", "check LTIAAS_API_KEY"),
        (
            {"LTIAAS_PLATFORMS_PATH": "/v2/platforms"},
            "no platforms endpoint at",
            "check LTIAAS_PLATFORMS_PATH",
        ),
    ],
)
def test_ltiaas_down_or_refusing_fails_the_check_with_what_to_fix(
    checked_app: Callable[..., Flask], overrides: dict[str, str], said: str, fix: str
) -> None:
    if overrides.get("LTIAAS_URL") == "closed":
        overrides = {"LTIAAS_URL": a_closed_url()}

    result = run_check(checked_app(**overrides))

    assert result.exit_code == 1
    line = lines_of(result)["LTIAAS"]
    assert line.startswith("FAIL  LTIAAS: ")
    assert said in line and f"Fix: {fix}" in line
    assert "not-the-key-at-all" not in result.output


@pytest.mark.parametrize(
    ("overrides", "said", "fix"),
    [
        ({"STRIPE_API_BASE": "closed"}, "could not be reached", "may reach it"),
        (
            {"STRIPE_SECRET_KEY": "sk_test_someone_elses_key"},
            "Stripe refused STRIPE_SECRET_KEY",
            "secret key",
        ),
        ({"STRIPE_PRICE_ID": "plan_gold"}, "no price plan_gold in this account and mode", "price id"),
        (
            {"STRIPE_PRICE_ID": "price_recurring_monthly", "STRIPE_PRICE_MODE": "payment"},
            "is recurring but STRIPE_PRICE_MODE=payment",
            "STRIPE_PRICE_MODE=subscription",
        ),
        (
            {"STRIPE_PRICE_MODE": "subscription"},
            "is one-time but STRIPE_PRICE_MODE=subscription",
            "STRIPE_PRICE_MODE=payment",
        ),
    ],
)
def test_stripe_down_refusing_or_mismatched_fails_the_check(
    checked_app: Callable[..., Flask], overrides: dict[str, str], said: str, fix: str
) -> None:
    if overrides.get("STRIPE_API_BASE") == "closed":
        overrides = {"STRIPE_API_BASE": a_closed_url()}

    result = run_check(checked_app(**overrides))

    assert result.exit_code == 1
    line = lines_of(result)["Stripe"]
    assert line.startswith("FAIL  Stripe: ")
    assert said in line and fix in line
    assert "someone_elses" not in result.output


def test_a_recurring_price_fits_subscription_mode(checked_app: Callable[..., Flask]) -> None:
    result = run_check(
        checked_app(STRIPE_PRICE_ID="price_recurring_monthly", STRIPE_PRICE_MODE="subscription")
    )

    assert result.exit_code == 0, result.output
    assert "recurring, 49.00 USD per month" in lines_of(result)["Stripe"]


def test_without_a_price_stripe_is_not_called(checked_app: Callable[..., Flask]) -> None:
    result = run_check(checked_app(STRIPE_PRICE_ID="", STRIPE_API_BASE=a_closed_url()))

    assert result.exit_code == 0, result.output
    assert lines_of(result)["STRIPE_PRICE_ID"] == "ok    STRIPE_PRICE_ID: empty: no payment step"
    assert "Stripe" not in lines_of(result)


def test_a_database_without_the_newest_migration_fails(
    checked_app: Callable[..., Flask], tmp_path: Path
) -> None:
    result = run_check(checked_app(DATABASE_URL=f"sqlite:///{tmp_path / 'never-upgraded.db'}"))

    assert result.exit_code == 1
    line = lines_of(result)["database"]
    assert line.startswith("FAIL  database: at no schema, the newest migration is ")
    assert line.endswith("Fix: run: flask --app app db upgrade")


def test_an_unreachable_database_fails(checked_app: Callable[..., Flask]) -> None:
    url = f"postgresql+psycopg://portal:hunter2-not-shown@127.0.0.1:{free_port()}/portal"

    result = run_check(checked_app(DATABASE_URL=url))

    assert result.exit_code == 1
    assert lines_of(result)["database"].startswith("FAIL  database: cannot connect: ")
    assert "hunter2" not in result.output


def test_redis_that_answers_shares_the_limit(checked_app: Callable[..., Flask], redis_storage: str) -> None:
    result = run_check(checked_app(RATELIMIT_STORAGE_URI=redis_storage))

    assert result.exit_code == 0, result.output
    line = lines_of(result)["rate-limit storage"]
    assert line.startswith("ok    rate-limit storage: redis://127.0.0.1:")
    assert line.endswith("answers: one count for every worker and host")


def test_redis_that_does_not_answer_fails(checked_app: Callable[..., Flask]) -> None:
    uri = f"redis://:sesame-not-shown@127.0.0.1:{free_port()}/0"

    result = run_check(checked_app(RATELIMIT_STORAGE_URI=uri))

    assert result.exit_code == 1
    assert "did not answer" in lines_of(result)["rate-limit storage"]
    assert "sesame" not in result.output


# The settings, as plain functions (production's own refusals are portal.config's, tested there).


def production(**extra: str) -> dict[str, Any]:
    environ = {
        "PORTAL_ENV": "production",
        "SECRET_KEY": "s" * 48,
        "PORTAL_URL": "https://portal.vendor.example",
        "LTIAAS_URL": "https://vendor.ltiaas.com",
        "LTIAAS_API_KEY": "a1b2c3d4-e5f6-7890-abcd-ef1234567890",
        "DATABASE_URL": "postgresql+psycopg://portal@db/portal",
        "RATELIMIT_STORAGE_URI": "redis://cache:6379/0",
        "STRIPE_PRICE_ID": "price_1Registration",
        "STRIPE_SECRET_KEY": "sk_live_51Abc",
        "STRIPE_PUBLISHABLE_KEY": "pk_live_51Abc",
        "STRIPE_WEBHOOK_SECRET": "whsec_abc123",
    }
    environ.update(extra)
    return finish_settings(settings_from_env(environ, "/srv/portal/instance"))


def findings_of(config: dict[str, Any]) -> dict[str, tuple[Status, str]]:
    return {finding.check: (finding.status, finding.line()) for finding in check_settings(config)}


def test_a_live_production_configuration_has_nothing_to_fix() -> None:
    statuses = {check: status for check, (status, _) in findings_of(production()).items()}
    assert set(statuses.values()) == {Status.OK}, statuses


@pytest.mark.parametrize(
    ("change", "check", "said"),
    [
        ({"PORTAL_URL": "https://portal.vendor.example/portal"}, "PORTAL_URL", "has a path"),
        (
            {"STRIPE_SECRET_KEY": "sk_test_51Abc"},
            "STRIPE_SECRET_KEY",
            "a test-mode key with PORTAL_ENV=production",
        ),
        ({"STRIPE_SECRET_KEY": "pk_live_51Abc"}, "STRIPE_SECRET_KEY", "not a Stripe secret key"),
        ({"STRIPE_PUBLISHABLE_KEY": "pk_test_51Abc"}, "STRIPE_PUBLISHABLE_KEY", "another mode"),
        ({"STRIPE_WEBHOOK_SECRET": "we_1Abc"}, "STRIPE_WEBHOOK_SECRET", "whsec_"),
        ({"COMPLETION_STALE_AFTER": "10"}, "COMPLETION_STALE_AFTER", "not above LTIAAS's connect + read"),
    ],
)
def test_each_bad_setting_fails_in_its_own_line(change: dict[str, str], check: str, said: str) -> None:
    status, line = findings_of(production(**change))[check]
    assert status is Status.FAIL
    assert said in line and "Fix: " in line


def test_cards_only_are_known_paid_at_once() -> None:
    status, line = findings_of(production())["STRIPE_PAYMENT_METHOD_TYPES"]
    assert (status, line) == (Status.OK, "ok    STRIPE_PAYMENT_METHOD_TYPES: card: known paid at once")


def test_a_method_not_known_to_settle_late_is_not_said_to_be_paid_at_once() -> None:
    findings = findings_of(production(STRIPE_PAYMENT_METHOD_TYPES="card ideal"))
    status, line = findings["STRIPE_PAYMENT_METHOD_TYPES"]
    assert status is Status.OK
    assert "card, ideal: none is one known to settle days later" in line
    assert "paid at once" not in line


@pytest.mark.parametrize(
    ("types", "said", "fix"),
    [
        (
            "card us_bank_account",
            "us_bank_account (ACH Direct Debit, up to 4 business days) settles after the registration "
            "closed (60 minutes): such a payment registers nothing and is refunded",
            "remove us_bank_account from STRIPE_PAYMENT_METHOD_TYPES",
        ),
        ("card,sepa_debit,bacs_debit", "sepa_debit (SEPA Direct Debit", "remove sepa_debit, bacs_debit from"),
        (
            "dashboard",
            "dashboard: Checkout offers what Stripe's Dashboard enables, which may include payments that "
            "settle days later",
            "set STRIPE_PAYMENT_METHOD_TYPES=card",
        ),
    ],
)
def test_payment_methods_that_may_settle_after_the_registration_closed_are_to_look_at(
    types: str, said: str, fix: str
) -> None:
    status, line = findings_of(production(STRIPE_PAYMENT_METHOD_TYPES=types))["STRIPE_PAYMENT_METHOD_TYPES"]
    assert status is Status.WARN
    assert said in line and f"Fix: {fix}" in line


def test_a_restricted_live_key_is_a_secret_key() -> None:
    assert findings_of(production(STRIPE_SECRET_KEY="rk_live_51Abc"))["STRIPE_SECRET_KEY"][0] is Status.OK


def test_development_with_a_live_key_fails() -> None:
    config = finish_settings(
        settings_from_env(
            {
                "STRIPE_PRICE_ID": "price_1",
                "STRIPE_SECRET_KEY": "sk_live_1",
                "STRIPE_PUBLISHABLE_KEY": "pk_live_1",
            },
            "/srv/portal/instance",
        )
    )
    status, line = findings_of(config)["STRIPE_SECRET_KEY"]
    assert status is Status.FAIL and "use your test-mode key" in line


@pytest.mark.parametrize(
    ("change", "check", "said"),
    [
        ({"RATELIMIT_STORAGE_URI": "memory://"}, "RATELIMIT_STORAGE_URI", "each process counts"),
        ({"DATABASE_URL": "sqlite:////srv/portal/portal.db"}, "DATABASE_URL", "one host only"),
    ],
)
def test_what_works_but_is_not_for_live_is_a_warning(change: dict[str, str], check: str, said: str) -> None:
    status, line = findings_of(production(**change))[check]
    assert status is Status.WARN
    assert said in line


def test_a_setting_the_portal_refuses_stops_the_check_in_one_line(tmp_path: Path) -> None:
    environ = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(tmp_path),
        "PORTAL_ENV": "production",
        "SECRET_KEY": "short",
    }
    done = subprocess.run(
        [sys.executable, "-m", "flask", "--app", "app", "check"],
        cwd=ROOT,
        env=environ,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert done.returncode == 1
    assert done.stderr.strip() == (
        "configuration error: production needs SECRET_KEY: a random value of at least 32 characters"
    )


def mail_settings(port: int, **extra: Any) -> dict[str, Any]:
    return {
        "SMTP_HOST": "127.0.0.1",
        "SMTP_PORT": port,
        "SMTP_TLS": "none",
        "SMTP_FROM": "portal@vendor.example",
        "SMTP_USER": SMTP_USER,
        "SMTP_PASSWORD": SMTP_PASSWORD,
        "NOTIFY_TIMEOUT": 5,
        **extra,
    }


def test_a_mail_server_that_takes_the_login_passes_and_nothing_is_sent(
    checked_app: Callable[..., Flask], mail_server: MailServer
) -> None:
    result = run_check(checked_app(**mail_settings(mail_server.port)))

    assert result.exit_code == 0, result.output
    assert lines_of(result)["mail server"] == (
        f"ok    mail server: 127.0.0.1:{mail_server.port} answered, without TLS, logged in as "
        f"{SMTP_USER}: staff e-mail and forgotten-password links can go out"
    )
    assert mail_server.logins == [SMTP_USER] and mail_server.messages == []
    assert SMTP_PASSWORD not in result.output


@pytest.mark.parametrize(
    ("change", "said"),
    [
        ({"SMTP_PASSWORD": "not-the-password"}, "refused the login: 535"),
        ({"SMTP_TLS": "starttls"}, "could not start TLS with 127.0.0.1:{port}: SMTPNotSupportedError"),
        ({"SMTP_PORT": "closed"}, "could not connect to 127.0.0.1:{port}: ConnectionRefusedError"),
    ],
    ids=["wrong password", "no STARTTLS offered", "nobody listening"],
)
def test_a_mail_server_that_refuses_or_is_down_fails_with_what_to_fix(
    checked_app: Callable[..., Flask], mail_server: MailServer, change: dict[str, Any], said: str
) -> None:
    settings = mail_settings(mail_server.port, **change)
    if settings["SMTP_PORT"] == "closed":
        settings["SMTP_PORT"] = free_port()

    result = run_check(checked_app(**settings))

    assert result.exit_code == 1
    line = lines_of(result)["mail server"]
    assert line.startswith("FAIL  mail server:") and said.format(port=settings["SMTP_PORT"]) in line
    assert "check SMTP_HOST, SMTP_PORT, SMTP_TLS, SMTP_USER and SMTP_PASSWORD" in result.output
    assert "not-the-password" not in result.output and SMTP_PASSWORD not in result.output
    assert mail_server.messages == []


def test_without_a_mail_server_there_is_no_mail_line(checked_app: Callable[..., Flask]) -> None:
    assert "mail server" not in lines_of(run_check(checked_app()))


@pytest.mark.parametrize(
    ("change", "said"),
    [
        ({"SMTP_FROM": ""}, "SMTP_HOST is set but SMTP_FROM is not, so the portal sends no e-mail at all"),
        ({"SMTP_FROM": "portal at vendor"}, "'portal at vendor' is not an e-mail address"),
        (
            {"NOTIFY_EMAIL_TO": "ops@vendor.example, billing-vendor.example"},
            "'billing-vendor.example' is not an e-mail address",
        ),
    ],
    ids=["no sender", "a sender that is no address", "a staff address that is no address"],
)
def test_mail_settings_that_send_nothing_fail_before_the_server_is_asked(
    checked_app: Callable[..., Flask], mail_server: MailServer, change: dict[str, Any], said: str
) -> None:
    result = run_check(checked_app(**mail_settings(mail_server.port, **change)))

    assert result.exit_code == 1
    line = lines_of(result)["mail server"]
    assert line.startswith("FAIL  mail server:") and said in line, line
    assert mail_server.logins == []


def test_a_sender_with_a_display_name_is_an_address(
    checked_app: Callable[..., Flask], mail_server: MailServer
) -> None:
    settings = mail_settings(mail_server.port, SMTP_FROM="Vendor Co <portal@vendor.example>")
    assert lines_of(run_check(checked_app(**settings)))["mail server"].startswith("ok    mail server:")
