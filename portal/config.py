"""Settings: read once from the environment, then the test overrides, then checked.

Every setting is listed in the README's configuration table. Code reads
`current_app.config`, never this module.
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Mapping
from enum import StrEnum
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from portal.colours import Colour

DEV_SECRET_KEY = "dev-only-insecure-secret-key"  # noqa: S105 - refused in production
SANDBOX_API_KEY = "sandbox-api-key"  # only ever accepted by the sandbox
SANDBOX_STRIPE_SECRET_KEY = "sk_test_sandbox"  # noqa: S105 - only ever accepted by the stand-in
STRIPE_JS_BASE = "https://js.stripe.com"
DEFAULT_ACCENT = "#1f5fbf"
# STRIPE_PAYMENT_METHOD_TYPES: what Checkout may offer when the setting is unset or empty (cards, with
# Apple Pay and Google Pay where the browser allows: the one type every Stripe account has
# activated, and one that is paid at once), and the word that leaves the choice to Stripe's Dashboard.
DEFAULT_PAYMENT_METHOD_TYPES = ("card",)
DASHBOARD_PAYMENT_METHODS = "dashboard"
_PAYMENT_METHOD_TYPE = re.compile(r"[a-z][a-z0-9_]*")
LOGO_TYPES = frozenset({".svg", ".png", ".jpg", ".jpeg", ".webp", ".gif"})
# The sandbox's demo vendor, shown when the sandbox runs in development and no BRAND_* setting is
# set (the browser tests' live servers show it too: tests/conftest.py).
DEMO_BRAND = {
    "BRAND_NAME": "Acme Learning",
    "BRAND_LOGO": "/static/img/acme-learning.svg",
    "BRAND_ACCENT": "#0f766e",
    "BRAND_SUPPORT_EMAIL": "support@acme-learning.example",
    "BRAND_SUPPORT_URL": "",
}


class ApprovalPolicy(StrEnum):
    """Who may complete a registration (`APPROVAL_POLICY`): see the README's "Approval policy"."""

    SELF_SERVICE = "self-service"  # a signed-in customer registers the tool
    REVIEW_LATER = "review-later"  # ... but a customer's platform always starts inactive
    LIVE_APPROVAL = "live-approval"  # a customer asks; a staff member approves, which registers it

    @property
    def customer_platforms_start_inactive(self) -> bool:
        return self is ApprovalPolicy.REVIEW_LATER

    @property
    def staff_approve_each_request(self) -> bool:
        return self is ApprovalPolicy.LIVE_APPROVAL


DEFAULT_PLACEMENTS: dict[str, dict[str, list[str]]] = {
    "moodle": {"LtiDeepLinkingRequest": ["ContentArea", "AddContentMenu"]},
    "canvas": {
        "LtiResourceLinkRequest": ["https://canvas.instructure.com/lti/course_navigation"],
        "LtiDeepLinkingRequest": [
            "https://canvas.instructure.com/lti/editor_button",
            "https://canvas.instructure.com/lti/link_selection",
        ],
    },
}


class ConfigError(RuntimeError):
    """The settings cannot run the portal; the message is one line saying why."""


def _flag(value: str | None, default: bool) -> bool:
    if value is None or value.strip() == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _number(environ: Mapping[str, str], name: str, default: float) -> float:
    raw = environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError as error:
        raise ConfigError(f"{name} must be a number, not {raw!r}") from error
    if not math.isfinite(value):
        raise ConfigError(f"{name} must be a number, not {raw!r}")
    return value


def _whole(environ: Mapping[str, str], name: str, default: int) -> int:
    value = _number(environ, name, default)
    if value != int(value):
        raise ConfigError(f"{name} must be a whole number, not {environ.get(name, '').strip()!r}")
    return int(value)


def _placements_shaped(placements: object) -> bool:
    """Whether `placements` is DEFAULT_PLACEMENTS's shape: families to message types to names."""
    return isinstance(placements, dict) and all(
        isinstance(types, dict) and all(_names(names) for names in types.values())
        for types in placements.values()
    )


def _names(names: object) -> bool:
    return isinstance(names, list) and all(isinstance(name, str) for name in names)


def settings_from_env(environ: Mapping[str, str], instance_path: str) -> dict[str, Any]:
    """Read every setting from `environ`, with the development defaults."""
    database_url = environ.get("DATABASE_URL") or f"sqlite:///{Path(instance_path) / 'portal.db'}"
    # gunicorn.conf.py sets it to the threads per worker when it is not set.
    placements_raw = environ.get("DEFAULT_PLACEMENTS", "").strip()
    try:
        placements = json.loads(placements_raw) if placements_raw else DEFAULT_PLACEMENTS
    except json.JSONDecodeError as error:
        raise ConfigError(f"DEFAULT_PLACEMENTS is not valid JSON: {error.msg}") from error
    if not _placements_shaped(placements):
        raise ConfigError(
            'DEFAULT_PLACEMENTS must be {"family": {"messageType": ["placement", ...]}}, '
            f"not {placements_raw[:80]!r}"
        )
    return {
        "PORTAL_ENV": environ.get("PORTAL_ENV", "development").strip().lower(),
        "SECRET_KEY": environ.get("SECRET_KEY", DEV_SECRET_KEY),
        "DATABASE_URL": database_url,
        "DATABASE_POOL_SIZE": _whole(environ, "DATABASE_POOL_SIZE", 10),
        "PORTAL_URL": environ.get("PORTAL_URL", "http://localhost:5000").rstrip("/"),
        "LTIAAS_URL": environ.get("LTIAAS_URL", "").strip().rstrip("/"),
        "LTIAAS_API_KEY": environ.get("LTIAAS_API_KEY", "").strip(),
        "LTIAAS_PLATFORMS_PATH": environ.get("LTIAAS_PLATFORMS_PATH", "/api/platforms").rstrip("/"),
        "LTIAAS_CONNECT_TIMEOUT": _number(environ, "LTIAAS_CONNECT_TIMEOUT", 3.05),
        "LTIAAS_READ_TIMEOUT": _number(environ, "LTIAAS_READ_TIMEOUT", 15),
        "LTIAAS_RETRIES": _whole(environ, "LTIAAS_RETRIES", 2),
        "LTIAAS_BACKOFF_FACTOR": _number(environ, "LTIAAS_BACKOFF_FACTOR", 0.5),
        "LTIAAS_READ_BUDGET": _number(environ, "LTIAAS_READ_BUDGET", 10),
        "REGISTRATION_LIFETIME": _whole(environ, "REGISTRATION_LIFETIME", 3600),
        "COMPLETION_STALE_AFTER": _whole(environ, "COMPLETION_STALE_AFTER", 120),
        "SIGNUP_ENABLED": _flag(environ.get("SIGNUP_ENABLED"), True),
        "RATELIMIT_STORAGE_URI": environ.get("RATELIMIT_STORAGE_URI", "memory://"),
        "RATELIMIT_ENABLED": _flag(environ.get("RATELIMIT_ENABLED"), True),
        "AUTH_RATE_LIMIT": environ.get("AUTH_RATE_LIMIT", "20 per minute"),
        "LOGIN_FAILURE_LIMIT": _whole(environ, "LOGIN_FAILURE_LIMIT", 5),
        "LOGIN_FAILURE_WINDOW": _whole(environ, "LOGIN_FAILURE_WINDOW", 900),
        "SANDBOX_LMS_URL": environ.get("SANDBOX_LMS_URL", "").strip().rstrip("/"),
        "SANDBOX_INTERMEDIATE_TARGET": environ.get("SANDBOX_INTERMEDIATE_TARGET", "").strip(),
        "SANDBOX_REGISTRATION_LIFETIME": _whole(environ, "SANDBOX_REGISTRATION_LIFETIME", 3600),
        "SANDBOX_LTIAAS_DELAY_MS": _whole(environ, "SANDBOX_LTIAAS_DELAY_MS", 0),
        "SANDBOX_STRIPE_DELAY_MS": _whole(environ, "SANDBOX_STRIPE_DELAY_MS", 0),
        "SANDBOX_LTIAAS_AUTO_ACTIVATE": _flag(environ.get("SANDBOX_LTIAAS_AUTO_ACTIVATE"), True),
        "SANDBOX_STRIPE_WEBHOOK_URL": environ.get("SANDBOX_STRIPE_WEBHOOK_URL", "").strip(),
        "SANDBOX_MAILDIR": environ.get("SANDBOX_MAILDIR", "").strip(),
        "FRAME_ANCESTORS": environ.get("FRAME_ANCESTORS", "https:").strip(),
        "DEFAULT_AUTO_ACTIVATE": _flag(environ.get("DEFAULT_AUTO_ACTIVATE"), True),
        "ALLOW_AUTO_ACTIVATE_CHOICE": _flag(environ.get("ALLOW_AUTO_ACTIVATE_CHOICE"), True),
        "APPROVAL_POLICY": environ.get("APPROVAL_POLICY", "self-service").strip().lower(),
        "DEFAULT_PLACEMENTS": placements,
        "SESSION_LIFETIME": _whole(environ, "SESSION_LIFETIME", 7200),
        "FLOW_TOKEN_MAX_AGE": _whole(environ, "FLOW_TOKEN_MAX_AGE", 3600),
        "LOG_LEVEL": environ.get("LOG_LEVEL", "INFO").upper(),
        # Empty: JSON lines in production, human lines elsewhere (see finish_settings).
        "LOG_FORMAT": environ.get("LOG_FORMAT", "").strip().lower(),
        "TRUSTED_PROXIES": _whole(environ, "TRUSTED_PROXIES", 0),
        # Bytes of a request body read at most (forms are small); beyond it, 413 (portal.request_checks).
        "MAX_CONTENT_LENGTH": _whole(environ, "MAX_CONTENT_LENGTH", 64 * 1024),
        "STRIPE_SECRET_KEY": environ.get("STRIPE_SECRET_KEY", "").strip(),
        "STRIPE_PUBLISHABLE_KEY": environ.get("STRIPE_PUBLISHABLE_KEY", "").strip(),
        "STRIPE_WEBHOOK_SECRET": environ.get("STRIPE_WEBHOOK_SECRET", "").strip(),
        # None (unset) lets the sandbox charge its demo price; "" means "no payment step".
        "STRIPE_PRICE_ID": environ.get("STRIPE_PRICE_ID"),
        "STRIPE_PRICE_MODE": environ.get("STRIPE_PRICE_MODE", "").strip().lower(),
        # Read into a tuple by finish_settings; () leaves the choice to Stripe's Dashboard.
        "STRIPE_PAYMENT_METHOD_TYPES": environ.get("STRIPE_PAYMENT_METHOD_TYPES", ""),
        "STRIPE_API_BASE": environ.get("STRIPE_API_BASE", "https://api.stripe.com").rstrip("/"),
        # Stripe.js is loaded from STRIPE_JS_BASE/<release>/stripe.js, the release matching
        # the API version stripe-python pins (portal.billing.stripe_js).
        "STRIPE_JS_BASE": environ.get("STRIPE_JS_BASE", STRIPE_JS_BASE).strip().rstrip("/"),
        "STRIPE_TIMEOUT": _number(environ, "STRIPE_TIMEOUT", 20),
        "STRIPE_MAX_RETRIES": _whole(environ, "STRIPE_MAX_RETRIES", 2),
        "BILLING_LINK_MAX_AGE": _whole(environ, "BILLING_LINK_MAX_AGE", 900),
        # The vendor's brand (portal.branding); all empty: no name, the default accent, or the sandbox's demo.
        "BRAND_NAME": environ.get("BRAND_NAME", "").strip(),
        "BRAND_LOGO": environ.get("BRAND_LOGO", "").strip(),
        "BRAND_ACCENT": environ.get("BRAND_ACCENT", "").strip(),
        "BRAND_SUPPORT_EMAIL": environ.get("BRAND_SUPPORT_EMAIL", "").strip(),
        "BRAND_SUPPORT_URL": environ.get("BRAND_SUPPORT_URL", "").strip(),
        # The payment page's poll asks Stripe about a pending payment at most this often (seconds).
        "STRIPE_RECHECK_AFTER": _number(environ, "STRIPE_RECHECK_AFTER", 10),
        # Stripe's events are larger than a form: the webhook's own body limit, in bytes.
        "STRIPE_WEBHOOK_MAX_CONTENT_LENGTH": _whole(
            environ, "STRIPE_WEBHOOK_MAX_CONTENT_LENGTH", 1024 * 1024
        ),
        # Seconds before the Stripe stand-in settles a bank debit; 0 or None: only when told to.
        "SANDBOX_STRIPE_SETTLE_AFTER": _number(environ, "SANDBOX_STRIPE_SETTLE_AFTER", 5),
        "SANDBOX_STRIPE_UNIT_AMOUNT": _whole(environ, "SANDBOX_STRIPE_UNIT_AMOUNT", 4900),
        "SANDBOX_STRIPE_CURRENCY": environ.get("SANDBOX_STRIPE_CURRENCY", "usd").strip().lower(),
        "SANDBOX_STRIPE_WEBHOOKS": _flag(environ.get("SANDBOX_STRIPE_WEBHOOKS"), True),
        "PASSWORD_LINK_MAX_AGE": _whole(environ, "PASSWORD_LINK_MAX_AGE", 14400),
        **_notification_settings(environ),
    }


# Settings that cannot work below a floor: a lockout after 0 failures, a session or link that
# is dead when made, a pool without a connection. Retries may be 0; these may not.
_FLOORS: dict[str, tuple[float, str]] = {
    "LOGIN_FAILURE_LIMIT": (1, "a number of failed sign-ins of at least 1"),
    "LOGIN_FAILURE_WINDOW": (1, "a number of seconds above 0"),
    "SESSION_LIFETIME": (60, "a number of seconds of at least 60"),
    "FLOW_TOKEN_MAX_AGE": (60, "a number of seconds of at least 60"),
    "REGISTRATION_LIFETIME": (60, "a number of seconds of at least 60"),
    "PASSWORD_LINK_MAX_AGE": (60, "a number of seconds of at least 60"),
    "BILLING_LINK_MAX_AGE": (60, "a number of seconds of at least 60"),
    "DATABASE_POOL_SIZE": (1, "a number of connections of at least 1"),
    "NOTIFY_MAX_ATTEMPTS": (1, "a number of attempts of at least 1"),
    "LTIAAS_RETRIES": (0, "a number of retries, 0 or more"),
    "STRIPE_MAX_RETRIES": (0, "a number of retries, 0 or more"),
    "LTIAAS_CONNECT_TIMEOUT": (0.1, "a number of seconds above 0"),
    "LTIAAS_READ_TIMEOUT": (0.1, "a number of seconds above 0"),
    "STRIPE_TIMEOUT": (0.1, "a number of seconds above 0"),
    "NOTIFY_TIMEOUT": (0.1, "a number of seconds above 0"),
    "LTIAAS_READ_BUDGET": (0.1, "a number of seconds above 0"),
    "LTIAAS_BACKOFF_FACTOR": (0, "a number of seconds, 0 or more"),
    "COMPLETION_STALE_AFTER": (1, "a number of seconds above 0"),
    "STRIPE_RECHECK_AFTER": (0, "a number of seconds, 0 or more"),
    "NOTIFY_RETRY_AFTER": (0, "a number of seconds, 0 or more"),
    "NOTIFY_DRAIN_INTERVAL": (0, "a number of seconds, 0 or more (0: no background sender)"),
    "SMTP_PORT": (1, "a port number from 1 to 65535"),
}
_CEILINGS = {"SMTP_PORT": 65535}


LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


def _check_rate_limits(settings: dict[str, Any]) -> None:
    """Refuse a limit flask-limiter cannot parse (it would log an error on each request and limit
    nothing) or a storage it does not know (every command would fail with a traceback)."""
    from limits import parse_many
    from limits.errors import ConfigurationError
    from limits.storage import storage_from_string

    rate = str(settings["AUTH_RATE_LIMIT"])
    try:
        parse_many(rate)
    except ValueError:
        raise ConfigError(
            f"AUTH_RATE_LIMIT must be a rate such as '20 per minute' (several joined by ';'), not {rate!r}"
        ) from None
    uri = str(settings["RATELIMIT_STORAGE_URI"]).strip()
    try:
        known = not uri.startswith("async+") and storage_from_string(uri) is not None  # connects later
    except ConfigurationError:
        known = False
    if not known:
        raise ConfigError(
            "RATELIMIT_STORAGE_URI must be memory:// or a storage URI such as redis://host:6379/0, "
            f"not {uri!r}"
        )


def _check_floors(settings: dict[str, Any]) -> None:
    for name, (floor, meaning) in _FLOORS.items():
        if not floor <= settings[name] <= _CEILINGS.get(name, math.inf):
            raise ConfigError(f"{name} must be {meaning}, not {settings[name]}")


def _notification_settings(environ: Mapping[str, str]) -> dict[str, Any]:
    """Where staff notifications go (portal.notifications): e-mail, a chat webhook, both or neither."""
    return {
        "NOTIFY_EMAIL_TO": environ.get("NOTIFY_EMAIL_TO", "").strip(),
        "NOTIFY_WEBHOOK_URL": environ.get("NOTIFY_WEBHOOK_URL", "").strip(),
        "NOTIFY_TIMEOUT": _number(environ, "NOTIFY_TIMEOUT", 10),
        "NOTIFY_MAX_ATTEMPTS": _whole(environ, "NOTIFY_MAX_ATTEMPTS", 3),
        "NOTIFY_RETRY_AFTER": _whole(environ, "NOTIFY_RETRY_AFTER", 60),
        "NOTIFY_DRAIN_INTERVAL": _number(environ, "NOTIFY_DRAIN_INTERVAL", 15),
        "SMTP_HOST": environ.get("SMTP_HOST", "").strip(),
        "SMTP_PORT": _whole(environ, "SMTP_PORT", 587),
        "SMTP_TLS": environ.get("SMTP_TLS", "starttls").strip().lower(),
        "SMTP_USER": environ.get("SMTP_USER", "").strip(),
        "SMTP_PASSWORD": environ.get("SMTP_PASSWORD", ""),
        "SMTP_FROM": environ.get("SMTP_FROM", "").strip(),
    }


def _other_loopback_site(url: str) -> str:
    """The same server under the other loopback name, so the sandbox LMS is another site."""
    parts = urlsplit(url)
    host = parts.hostname or "localhost"
    other = "127.0.0.1" if host == "localhost" else "localhost"
    netloc = other if parts.port is None else f"{other}:{parts.port}"
    return urlunsplit((parts.scheme, netloc, "", "", ""))


def finish_settings(settings: dict[str, Any]) -> dict[str, Any]:
    """Derive the sandbox settings and refuse what cannot run; returns `settings`."""
    env = settings["PORTAL_ENV"]
    if env not in {"development", "production", "testing"}:
        raise ConfigError(f"PORTAL_ENV must be development or production, not {env!r}")
    policy = settings["APPROVAL_POLICY"]
    if policy not in set(ApprovalPolicy):
        names = [str(known) for known in ApprovalPolicy]
        raise ConfigError(f"APPROVAL_POLICY must be {', '.join(names[:-1])} or {names[-1]}, not {policy!r}")
    settings["APPROVAL_POLICY"] = ApprovalPolicy(policy)
    _check_notifications(settings, production=env == "production")
    settings["LOG_FORMAT"] = settings["LOG_FORMAT"] or ("json" if env == "production" else "text")
    if settings["LOG_FORMAT"] not in {"json", "text"}:
        raise ConfigError(f"LOG_FORMAT must be json or text, not {settings['LOG_FORMAT']!r}")
    for limit in ("MAX_CONTENT_LENGTH", "STRIPE_WEBHOOK_MAX_CONTENT_LENGTH"):
        if settings[limit] < 1:
            raise ConfigError(f"{limit} must be a number of bytes above 0")
    if settings["STRIPE_PRICE_MODE"] not in {"", "payment", "subscription"}:
        raise ConfigError(
            "STRIPE_PRICE_MODE must be payment (a one-time price) or subscription (a recurring one), "
            f"or empty (from the price), not {settings['STRIPE_PRICE_MODE']!r}"
        )
    settings["STRIPE_PAYMENT_METHOD_TYPES"] = payment_method_types(settings["STRIPE_PAYMENT_METHOD_TYPES"])
    _check_floors(settings)
    _check_rate_limits(settings)
    if settings["LOG_LEVEL"] not in LOG_LEVELS:
        raise ConfigError(f"LOG_LEVEL must be one of {', '.join(LOG_LEVELS)}, not {settings['LOG_LEVEL']!r}")
    _check_url("PORTAL_URL", settings["PORTAL_URL"], production=False)  # https in production: below
    if settings["TRUSTED_PROXIES"] < 0:
        raise ConfigError("TRUSTED_PROXIES must be 0 (no proxy) or the number of proxies in front")
    settings["SANDBOX_ENABLED"] = not settings["LTIAAS_URL"] and env != "production"
    if settings["SANDBOX_ENABLED"] and not settings["LTIAAS_PLATFORMS_PATH"].startswith("/api/"):
        # The stand-in is served by the portal itself: /admin/platforms is the staff console's.
        raise ConfigError(
            "LTIAAS_PLATFORMS_PATH: the sandbox serves LTIAAS's platform API under /api/ only "
            f"(not {settings['LTIAAS_PLATFORMS_PATH']!r}); leave it unset while LTIAAS_URL is unset"
        )
    if settings["SANDBOX_ENABLED"]:
        settings["LTIAAS_URL"] = settings["PORTAL_URL"]
        settings["LTIAAS_API_KEY"] = SANDBOX_API_KEY
        settings["SANDBOX_LMS_URL"] = settings["SANDBOX_LMS_URL"] or _other_loopback_site(
            settings["PORTAL_URL"]
        )
        settings["FRAME_ANCESTORS"] = f"{settings['FRAME_ANCESTORS']} {settings['SANDBOX_LMS_URL']}"
        _use_stripe_standin_unless_configured(settings)
    settings["STRIPE_PRICE_ID"] = (settings.get("STRIPE_PRICE_ID") or "").strip()
    settings["SANDBOX_INTERMEDIATE_TARGET"] = (
        settings.get("SANDBOX_INTERMEDIATE_TARGET") or f"{settings['PORTAL_URL']}/intermediate-target"
    )
    _finish_brand(settings)
    if env == "production":
        _refuse_unsafe_production(settings)
    settings["SQLALCHEMY_DATABASE_URL"] = settings["DATABASE_URL"]
    settings["SESSION_COOKIE_NAME"] = "__Host-portal_session"
    return settings


def payment_method_types(value: object) -> tuple[str, ...]:
    """STRIPE_PAYMENT_METHOD_TYPES as the Stripe payment method types Checkout may offer, lower-cased,
    each once. From the environment: names separated by commas or spaces; empty or unset: cards only;
    `dashboard`: () (whatever Stripe's Dashboard enables). Already a list or tuple: those names.

    :raise ConfigError: a name not shaped like Stripe's types, or `dashboard` beside other names.
    """
    if isinstance(value, str):
        names = [name for name in re.split(r"[\s,]+", value.strip().lower()) if name]
        if not names:
            return DEFAULT_PAYMENT_METHOD_TYPES
        if names == [DASHBOARD_PAYMENT_METHODS]:
            return ()
    elif isinstance(value, (list, tuple)) and all(isinstance(name, str) for name in value):
        names = [name.strip().lower() for name in value]
    else:
        names = [""]
    if not all(_PAYMENT_METHOD_TYPE.fullmatch(name) for name in names) or DASHBOARD_PAYMENT_METHODS in names:
        raise ConfigError(
            "STRIPE_PAYMENT_METHOD_TYPES must be Stripe payment method types separated by commas or "
            f"spaces (such as card, or card us_bank_account), or {DASHBOARD_PAYMENT_METHODS} alone, "
            f"not {value!r}"
        )
    return tuple(dict.fromkeys(names))


def _finish_brand(settings: dict[str, Any]) -> None:
    """The sandbox's demo vendor when no brand is set (development only: other tests read the
    portal's own words); the default accent; then the checks."""
    demo = settings["SANDBOX_ENABLED"] and settings["PORTAL_ENV"] == "development"
    if demo and not any(settings.get(name) for name in DEMO_BRAND):
        settings.update(DEMO_BRAND)
    settings["BRAND_ACCENT"] = settings.get("BRAND_ACCENT") or DEFAULT_ACCENT
    _check_brand(settings)


def _check_brand(settings: dict[str, Any]) -> None:
    """Refuse brand settings that cannot work, in one line each. No accent is refused for its
    contrast: portal.theme derives readable colours from any (see the README's "The vendor's brand")."""
    production = settings["PORTAL_ENV"] == "production"
    try:
        settings["BRAND_ACCENT"] = Colour.parse(str(settings["BRAND_ACCENT"])).hex
    except ValueError:
        raise ConfigError(
            f"BRAND_ACCENT must be a hex colour such as #1f5fbf, not {settings['BRAND_ACCENT']!r}"
        ) from None
    email = str(settings["BRAND_SUPPORT_EMAIL"])
    if email and not re.fullmatch(r"[^@\s<>\"]+@[^@\s<>\"]+\.[^@\s<>\"]+", email):
        raise ConfigError(f"BRAND_SUPPORT_EMAIL must be an e-mail address, not {email!r}")
    _check_url("BRAND_SUPPORT_URL", str(settings["BRAND_SUPPORT_URL"]), production)
    logo = str(settings["BRAND_LOGO"])
    if logo.startswith(("https://", "http://")):
        _check_url("BRAND_LOGO", logo, production)
    elif logo and not logo.startswith("/"):
        if "/" in logo or "\\" in logo or logo.startswith("."):
            raise ConfigError(f"BRAND_LOGO must be a URL or a file name in the instance folder, not {logo!r}")
        if Path(logo).suffix.lower() not in LOGO_TYPES:
            raise ConfigError(f"BRAND_LOGO must be an image ({', '.join(sorted(LOGO_TYPES))}), not {logo!r}")


def _check_url(name: str, url: str, production: bool) -> None:
    if not url:
        return
    parts = urlsplit(url)
    schemes = {"https"} if production else {"https", "http"}
    if parts.scheme not in schemes or not parts.netloc:
        needed = "an https:// URL" if production else "an http(s):// URL"
        raise ConfigError(f"{name} must be {needed}, not {url!r}")


SMTP_TLS_MODES = ("starttls", "ssl", "none")


def _check_notifications(settings: dict[str, Any], production: bool) -> None:
    tls = settings["SMTP_TLS"] = str(settings["SMTP_TLS"]).strip().lower()
    if tls not in SMTP_TLS_MODES:
        raise ConfigError(f"SMTP_TLS must be starttls, ssl or none, not {tls!r}")
    if settings["NOTIFY_EMAIL_TO"] and not (settings["SMTP_HOST"] and settings["SMTP_FROM"]):
        raise ConfigError("NOTIFY_EMAIL_TO is set: e-mail to staff needs SMTP_HOST and SMTP_FROM")
    if not production:
        return
    if settings["NOTIFY_WEBHOOK_URL"] and not settings["NOTIFY_WEBHOOK_URL"].startswith("https://"):
        raise ConfigError("production needs an https:// NOTIFY_WEBHOOK_URL")
    if settings["SMTP_PASSWORD"] and tls == "none":
        raise ConfigError("production sends SMTP_PASSWORD only over TLS: set SMTP_TLS to starttls or ssl")


def _use_stripe_standin_unless_configured(settings: dict[str, Any]) -> None:
    """With no Stripe keys, the sandbox's Stripe stand-in takes payments (and shows the step)."""
    if settings["STRIPE_SECRET_KEY"]:
        return
    portal = settings["PORTAL_URL"]
    settings.update(
        STRIPE_SECRET_KEY=SANDBOX_STRIPE_SECRET_KEY,
        STRIPE_PUBLISHABLE_KEY="pk_test_sandbox",
        STRIPE_WEBHOOK_SECRET="whsec_sandbox",  # noqa: S106 - the stand-in's own
        STRIPE_API_BASE=f"{portal}/sandbox/stripe",
        STRIPE_JS_BASE=f"{portal}/sandbox/stripe/js",
    )
    if settings.get("STRIPE_PRICE_ID") is None:
        settings["STRIPE_PRICE_ID"] = "price_sandbox_registration"


def _refuse_unsafe_production(settings: dict[str, Any]) -> None:
    secret = settings["SECRET_KEY"]
    if not secret or secret == DEV_SECRET_KEY or len(secret) < 32:
        raise ConfigError("production needs SECRET_KEY: a random value of at least 32 characters")
    if not settings["LTIAAS_URL"] or not settings["LTIAAS_API_KEY"]:
        raise ConfigError("production needs LTIAAS_URL and LTIAAS_API_KEY (the sandbox is for development)")
    if settings["LTIAAS_API_KEY"] == SANDBOX_API_KEY:
        raise ConfigError("production needs your real LTIAAS_API_KEY, not the sandbox's")
    if not settings["LTIAAS_URL"].startswith("https://"):
        raise ConfigError("production needs an https:// LTIAAS_URL")
    _refuse_unsafe_stripe(settings)
    url = settings["DATABASE_URL"]
    in_memory = url.rstrip("/") == "sqlite:" or ":memory:" in url or "mode=memory" in url
    if url.startswith("sqlite") and in_memory:
        raise ConfigError("production needs a persistent DATABASE_URL, not an in-memory SQLite database")
    _check_url("PORTAL_URL", settings["PORTAL_URL"], production=True)  # links in e-mails, the LMS's target


def _refuse_unsafe_stripe(settings: dict[str, Any]) -> None:
    if not settings["STRIPE_PRICE_ID"]:
        return
    if not settings["STRIPE_SECRET_KEY"] or not settings["STRIPE_PUBLISHABLE_KEY"]:
        raise ConfigError(
            "STRIPE_PRICE_ID is set: production needs STRIPE_SECRET_KEY and the publishable key"
        )
    if not settings["STRIPE_WEBHOOK_SECRET"]:
        raise ConfigError("STRIPE_PRICE_ID is set: production needs STRIPE_WEBHOOK_SECRET for the webhook")
    if settings["STRIPE_SECRET_KEY"] == SANDBOX_STRIPE_SECRET_KEY:
        raise ConfigError("production needs your real STRIPE_SECRET_KEY, not the sandbox's")
    if not settings["STRIPE_API_BASE"].startswith("https://"):
        raise ConfigError("production needs an https:// STRIPE_API_BASE")
    if settings["STRIPE_JS_BASE"] != STRIPE_JS_BASE:
        raise ConfigError(f"production loads Stripe.js from {STRIPE_JS_BASE} only (STRIPE_JS_BASE)")


def load_settings(instance_path: str, overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Environment, then overrides, then derived values and production checks."""
    settings = settings_from_env(os.environ, instance_path)
    settings.update(overrides or {})
    return finish_settings(settings)
