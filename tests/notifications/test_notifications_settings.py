"""Notification settings: off by default, refused when they cannot work, and safe in production."""

from __future__ import annotations

import pytest

from portal.config import ConfigError
from tests.app.test_config import production, settings


def test_by_default_staff_are_not_notified() -> None:
    config = settings()
    assert config["NOTIFY_EMAIL_TO"] == config["NOTIFY_WEBHOOK_URL"] == config["SMTP_HOST"] == ""
    assert config["SMTP_PORT"] == 587 and config["SMTP_TLS"] == "starttls"
    assert config["NOTIFY_DRAIN_INTERVAL"] == 15


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"SMTP_TLS": "maybe"}, "SMTP_TLS must be starttls, ssl or none, not 'maybe'"),
        ({"NOTIFY_EMAIL_TO": "ops@vendor.example"}, "e-mail to staff needs SMTP_HOST and SMTP_FROM"),
        (
            {"NOTIFY_EMAIL_TO": "ops@vendor.example", "SMTP_HOST": "mail.vendor.example"},
            "e-mail to staff needs SMTP_HOST and SMTP_FROM",
        ),
        ({"SMTP_PORT": "twenty-five"}, "SMTP_PORT must be a number"),
    ],
)
def test_settings_that_cannot_work_are_refused(environ: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        settings(**environ)


def test_production_refuses_a_plain_http_webhook_and_a_password_sent_in_clear() -> None:
    with pytest.raises(ConfigError, match="https:// NOTIFY_WEBHOOK_URL"):
        settings(**production(NOTIFY_WEBHOOK_URL="http://chat.vendor.example/hooks/abc"))
    with pytest.raises(ConfigError, match="SMTP_PASSWORD only over TLS"):
        settings(**production(SMTP_HOST="mail.vendor.example", SMTP_PASSWORD="pw", SMTP_TLS="none"))
    config = settings(
        **production(NOTIFY_WEBHOOK_URL="https://hooks.slack.com/services/T/B/x", SMTP_TLS="SSL")
    )
    assert config["SMTP_TLS"] == "ssl"
