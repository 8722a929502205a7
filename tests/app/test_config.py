"""Settings: development defaults, the sandbox switch, and production's refusals."""

from __future__ import annotations

import pytest

from portal.config import DEV_SECRET_KEY, SANDBOX_API_KEY, ConfigError, finish_settings, settings_from_env

STRONG_SECRET = "s" * 48


def settings(**environ: str) -> dict:
    return finish_settings(settings_from_env(environ, "/srv/portal/instance"))


def production(**extra: str) -> dict[str, str]:
    environ = {
        "PORTAL_ENV": "production",
        "PORTAL_URL": "https://portal.vendor.example",
        "SECRET_KEY": STRONG_SECRET,
        "LTIAAS_URL": "https://vendor.ltiaas.com",
        "LTIAAS_API_KEY": "a1b2c3d4-e5f6-7890-abcd-ef1234567890",
        "DATABASE_URL": "postgresql+psycopg://portal@db/portal",
    }
    environ.update(extra)
    return environ


def test_a_fresh_checkout_runs_on_sqlite_with_the_sandbox() -> None:
    config = settings()
    assert config["DATABASE_URL"] == "sqlite:////srv/portal/instance/portal.db"
    assert config["SANDBOX_ENABLED"] is True
    assert config["LTIAAS_URL"] == "http://localhost:5000"
    assert config["LTIAAS_API_KEY"] == SANDBOX_API_KEY
    assert config["SANDBOX_LMS_URL"] == "http://127.0.0.1:5000"
    assert config["LTIAAS_PLATFORMS_PATH"] == "/api/platforms"


def test_the_sandbox_lms_is_another_site_and_may_frame_the_portal() -> None:
    config = settings(PORTAL_URL="http://127.0.0.1:8000")
    assert config["SANDBOX_LMS_URL"] == "http://localhost:8000"
    assert "http://localhost:8000" in config["FRAME_ANCESTORS"].split()


def test_a_configured_ltiaas_turns_the_sandbox_off() -> None:
    config = settings(LTIAAS_URL="https://vendor.ltiaas.com/", LTIAAS_API_KEY="k")
    assert config["SANDBOX_ENABLED"] is False
    assert config["LTIAAS_URL"] == "https://vendor.ltiaas.com"
    assert config["LTIAAS_API_KEY"] == "k"


def test_the_platforms_path_follows_ltiaas_docs_when_asked() -> None:
    asked = settings(LTIAAS_URL="https://v.ltiaas.com", LTIAAS_PLATFORMS_PATH="/admin/platforms/")
    assert asked["LTIAAS_PLATFORMS_PATH"] == "/admin/platforms"


def test_production_with_real_settings_starts_without_the_sandbox() -> None:
    config = settings(**production())
    assert config["SANDBOX_ENABLED"] is False


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"SECRET_KEY": DEV_SECRET_KEY}, "SECRET_KEY"),
        ({"SECRET_KEY": "short"}, "SECRET_KEY"),
        ({"LTIAAS_URL": ""}, "LTIAAS_URL"),
        ({"LTIAAS_API_KEY": ""}, "LTIAAS_API_KEY"),
        ({"LTIAAS_API_KEY": SANDBOX_API_KEY}, "LTIAAS_API_KEY"),
        ({"LTIAAS_URL": "http://vendor.ltiaas.com"}, "https"),
        ({"DATABASE_URL": "sqlite://"}, "in-memory"),
        ({"DATABASE_URL": "sqlite:///:memory:"}, "in-memory"),
        ({"PORTAL_URL": "http://portal.vendor.example"}, "PORTAL_URL must be an https:// URL"),
    ],
)
def test_production_refuses_to_start_with_a_one_line_reason(change: dict[str, str], reason: str) -> None:
    with pytest.raises(ConfigError) as refused:
        settings(**production(**change))
    message = str(refused.value)
    assert reason in message
    assert "\n" not in message


def test_production_without_a_database_url_uses_a_sqlite_file() -> None:
    environ = production()
    del environ["DATABASE_URL"]
    assert settings(**environ)["DATABASE_URL"].startswith("sqlite:////srv/portal/instance/")


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("PORTAL_ENV", "staging"),
        ("LTIAAS_READ_TIMEOUT", "soon"),
        ("DEFAULT_PLACEMENTS", "{not json"),
        ("DEFAULT_PLACEMENTS", '["ContentArea"]'),
        ("DEFAULT_PLACEMENTS", '{"moodle": ["ContentArea"]}'),
        ("DEFAULT_PLACEMENTS", '{"moodle": {"LtiDeepLinkingRequest": "ContentArea"}}'),
        ("DEFAULT_PLACEMENTS", '{"moodle": {"LtiDeepLinkingRequest": [1]}}'),
        ("STRIPE_PRICE_MODE", "subscriptions"),
        ("STRIPE_PRICE_MODE", "setup"),
    ],
)
def test_nonsense_settings_are_refused_by_name(name: str, value: str) -> None:
    with pytest.raises(ConfigError, match=name):
        settings(**{name: value})


def test_a_price_mode_is_read_in_any_case_and_placements_per_family() -> None:
    assert settings(STRIPE_PRICE_MODE=" Subscription ")["STRIPE_PRICE_MODE"] == "subscription"
    assert settings()["STRIPE_PRICE_MODE"] == ""
    placements = '{"moodle": {"LtiDeepLinkingRequest": ["ContentArea"]}, "canvas": {}}'
    assert settings(DEFAULT_PLACEMENTS=placements)["DEFAULT_PLACEMENTS"] == {
        "moodle": {"LtiDeepLinkingRequest": ["ContentArea"]},
        "canvas": {},
    }


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("LOGIN_FAILURE_LIMIT", "0"),
        ("LOGIN_FAILURE_WINDOW", "0"),
        ("SESSION_LIFETIME", "5"),
        ("REGISTRATION_LIFETIME", "-1"),
        ("DATABASE_POOL_SIZE", "0"),
        ("LTIAAS_RETRIES", "-1"),
        ("LTIAAS_READ_TIMEOUT", "0"),
        ("LTIAAS_READ_BUDGET", "0"),
        ("NOTIFY_RETRY_AFTER", "-5"),
        ("STRIPE_RECHECK_AFTER", "-1"),
        ("SMTP_PORT", "0"),
        ("SMTP_PORT", "70000"),
    ],
)
def test_a_setting_that_cannot_work_is_refused_with_its_floor(name: str, value: str) -> None:
    with pytest.raises(ConfigError, match=f"^{name} must be .* not {value}"):
        settings(**{name: value})


@pytest.mark.parametrize(
    ("name", "value", "reason"),
    [
        ("SESSION_LIFETIME", "nan", "must be a number"),
        ("LTIAAS_READ_TIMEOUT", "inf", "must be a number"),
        ("LOGIN_FAILURE_LIMIT", "2.7", "must be a whole number"),
        ("PORTAL_URL", "localhost:5384", "must be an http\\(s\\):// URL"),
        ("AUTH_RATE_LIMIT", "twenty a minute", "must be a rate such as '20 per minute'"),
        ("RATELIMIT_STORAGE_URI", "redi://127.0.0.1:6379", "must be memory:// or a storage URI"),
        ("RATELIMIT_STORAGE_URI", "redis//127.0.0.1:6379", "must be memory:// or a storage URI"),
        ("LOG_LEVEL", "verbose", "must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL"),
        ("STRIPE_PAYMENT_METHOD_TYPES", "card;link", "must be Stripe payment method types"),
        ("STRIPE_PAYMENT_METHOD_TYPES", "us-bank-account", "must be Stripe payment method types"),
        ("STRIPE_PAYMENT_METHOD_TYPES", "card dashboard", "must be Stripe payment method types"),
    ],
)
def test_a_value_of_the_wrong_kind_is_refused_in_one_line_naming_the_setting(
    name: str, value: str, reason: str
) -> None:
    with pytest.raises(ConfigError, match=f"^{name} {reason}"):
        settings(**{name: value})


def test_production_without_portal_url_is_refused_rather_than_linking_to_localhost() -> None:
    environ = production()
    del environ["PORTAL_URL"]
    with pytest.raises(ConfigError) as refused:
        settings(**environ)
    assert str(refused.value) == "PORTAL_URL must be an https:// URL, not 'http://localhost:5000'"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("AUTH_RATE_LIMIT", "5 per minute; 100 per day"),
        ("RATELIMIT_STORAGE_URI", "redis://127.0.0.1:6379/0"),
        ("RATELIMIT_STORAGE_URI", "rediss://user:secret@redis.vendor.example:6380"),
        ("LOG_LEVEL", "warning"),
    ],
)
def test_the_documented_shapes_of_these_settings_are_accepted(name: str, value: str) -> None:
    assert settings(**{name: value})[name] == value.upper() if name == "LOG_LEVEL" else value


def test_no_retries_is_a_setting_that_works() -> None:
    assert settings(LTIAAS_RETRIES="0", STRIPE_MAX_RETRIES="0")["LTIAAS_RETRIES"] == 0


def test_the_approval_policy_defaults_to_self_service() -> None:
    assert settings()["APPROVAL_POLICY"] == "self-service"


@pytest.mark.parametrize("policy", ["self-service", "review-later", "live-approval", " Live-Approval "])
def test_each_approval_policy_is_accepted(policy: str) -> None:
    assert settings(APPROVAL_POLICY=policy)["APPROVAL_POLICY"] == policy.strip().lower()


def test_an_unknown_approval_policy_is_refused_in_one_line() -> None:
    with pytest.raises(ConfigError) as refused:
        settings(APPROVAL_POLICY="open")
    message = str(refused.value)
    assert message == "APPROVAL_POLICY must be self-service, review-later or live-approval, not 'open'"
    assert "\n" not in message


def test_the_sandbox_refuses_a_platforms_path_that_would_land_in_the_staff_console() -> None:
    with pytest.raises(ConfigError, match=r"^LTIAAS_PLATFORMS_PATH: the sandbox serves"):
        settings(LTIAAS_PLATFORMS_PATH="/admin/platforms")
    assert (
        settings(LTIAAS_URL="https://v.ltiaas.com", LTIAAS_PLATFORMS_PATH="/admin/platforms")[
            "LTIAAS_PLATFORMS_PATH"
        ]
        == "/admin/platforms"
    )


@pytest.mark.parametrize(
    ("value", "offered"),
    [
        (None, ("card",)),
        ("", ("card",)),
        ("card", ("card",)),
        ("Card, US_bank_account card", ("card", "us_bank_account")),
        (" dashboard ", ()),
    ],
)
def test_checkout_takes_cards_only_unless_the_vendor_names_other_payment_methods(
    value: str | None, offered: tuple[str, ...]
) -> None:
    environ = {} if value is None else {"STRIPE_PAYMENT_METHOD_TYPES": value}
    assert settings(**environ)["STRIPE_PAYMENT_METHOD_TYPES"] == offered


def test_the_sandbox_offers_what_a_vendor_s_default_offers() -> None:
    """The demo shows what a new installation takes: cards. Its bank debits settle in seconds, so
    offering them would make look harmless a payment that at Stripe settles after the registration
    closed."""
    assert settings()["STRIPE_PAYMENT_METHOD_TYPES"] == ("card",)
    assert settings(STRIPE_PAYMENT_METHOD_TYPES="card us_bank_account")["STRIPE_PAYMENT_METHOD_TYPES"] == (
        "card",
        "us_bank_account",
    )
