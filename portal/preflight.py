"""The preflight (`flask --app app check`): is this installation ready to take registrations?

Run before going live and after every change. The settings are checked first (those that
would stop the portal from starting are refused earlier, by `portal.config`; Checkout's payment
methods are looked at for ones that settle after the registration closed), then the live
services with the real keys: LTIAAS (reachable, the API key accepted, the platforms path
right), Stripe (the key valid for the mode, the price there, active and of the kind
STRIPE_PRICE_MODE says), the database (reachable, at the newest migration), the rate
limit's storage when it is not the process's memory, and the mail server when there is one
(connected, secured and logged in as sending would, without sending).

Each check is a plain function returning `Finding`s: one line each, saying what was found and,
when it is not fine, what to fix. A FAIL stops a real registration or payment; a WARN works
but is not what a live installation wants. Nothing here prints a key or a password.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from email.utils import parseaddr
from typing import Any
from urllib.parse import urlsplit

from flask import Flask
from sqlalchemy.exc import SQLAlchemyError

from portal.billing.stripe_gateway import (
    PaymentProviderError,
    PaymentProviderUnavailable,
    PriceInfo,
    StripeGateway,
)
from portal.config import DEV_SECRET_KEY, SANDBOX_STRIPE_SECRET_KEY
from portal.ltiaas import (
    LtiaasClient,
    LtiaasError,
    LtiaasInvalidResponse,
    LtiaasUnauthorized,
    LtiaasUnavailable,
    PlatformNotFound,
)
from portal.migrations import alembic_config
from portal.notifications.delivery import DeliveryFailed, reach_mail_server, recipients

# An issuer no LMS has: the platforms list filtered by it is empty, but proves path and key.
PROBE_ISSUER = "https://preflight.invalid"
PRICE_MODES = {"one_time": "payment", "recurring": "subscription"}
# Payment method types Stripe calls "delayed notification" (or whose customer pays later, at a bank,
# ATM or shop counter), from Stripe's page on each: the payment is known paid or failed days after
# Checkout, when the registration has closed. Names only: a type not here may settle late too.
PAID_AT_ONCE = frozenset({"card"})  # Link may pay from a bank account: not known here
SETTLES_DAYS_LATER = {
    "us_bank_account": "ACH Direct Debit, up to 4 business days",
    "sepa_debit": "SEPA Direct Debit, up to 14 business days",
    "bacs_debit": "Bacs Direct Debit, 4 to 7 business days",
    "acss_debit": "Canadian pre-authorized debit, up to 5 business days",
    "au_becs_debit": "BECS Direct Debit (Australia), up to 3 business days",
    "nz_bank_account": "BECS Direct Debit (New Zealand), up to 2 business days",
    "sofort": "Sofort, 2 to 14 days",
    "customer_balance": "bank transfer, when the customer sends it",
    "boleto": "Boleto voucher, paid by the customer within days",
    "konbini": "Konbini, paid by the customer at a shop within days",
    "oxxo": "OXXO voucher, paid by the customer at a shop within days",
    "multibanco": "Multibanco voucher, paid by the customer within days",
}


class Status(enum.Enum):
    OK = "ok"
    WARN = "WARN"
    FAIL = "FAIL"


@dataclass(frozen=True)
class Finding:
    check: str
    status: Status
    message: str
    fix: str = ""

    def line(self) -> str:
        fix = f" Fix: {self.fix}" if self.fix else ""
        return f"{self.status.value:<4}  {self.check}: {self.message}{fix}"


def ok(check: str, message: str) -> Finding:
    return Finding(check, Status.OK, message)


def warn(check: str, message: str, fix: str = "") -> Finding:
    return Finding(check, Status.WARN, message, fix)


def fail(check: str, message: str, fix: str) -> Finding:
    return Finding(check, Status.FAIL, message, fix)


def failed(findings: list[Finding]) -> bool:
    return any(finding.status is Status.FAIL for finding in findings)


def summary(findings: list[Finding]) -> str:
    count = {status: sum(finding.status is status for finding in findings) for status in Status}
    return f"{len(findings)} checks: {count[Status.FAIL]} failed, {count[Status.WARN]} to look at"


# Settings


def _production(config: Mapping[str, Any]) -> bool:
    return bool(config["PORTAL_ENV"] == "production")


def check_environment(config: Mapping[str, Any]) -> Finding:
    if _production(config):
        return ok("PORTAL_ENV", "production")
    return warn(
        "PORTAL_ENV",
        f"{config['PORTAL_ENV']}: the sandbox may stand in and plain http is allowed",
        "set PORTAL_ENV=production on the live installation",
    )


def check_portal_url(config: Mapping[str, Any]) -> Finding:
    url = config["PORTAL_URL"]
    parts = urlsplit(url)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        return fail("PORTAL_URL", f"{url!r} is not an absolute address", "set it to https://<your portal>")
    if parts.path not in {"", "/"} or parts.query:
        return fail("PORTAL_URL", f"{url} has a path or query", "set it to the portal's origin only")
    return ok("PORTAL_URL", url)  # production refuses to start without https (portal.config)


def check_secret_key(config: Mapping[str, Any]) -> Finding:
    if config["SECRET_KEY"] == DEV_SECRET_KEY:
        return warn("SECRET_KEY", "the development key", "set SECRET_KEY to 32+ random characters")
    return ok("SECRET_KEY", "set (not shown)")


def check_database_url(config: Mapping[str, Any]) -> Finding:
    backend = config["DATABASE_URL"].split(":", 1)[0]
    if backend.startswith("sqlite") and _production(config):
        return warn(
            "DATABASE_URL",
            "SQLite: one host only, and a copy of the file while it is written is no backup",
            "use PostgreSQL (postgresql+psycopg://...) for several hosts and live backups",
        )
    return ok("DATABASE_URL", backend)


def check_completion_stale_after(config: Mapping[str, Any]) -> Finding:
    # A `complete` is one attempt (never retried): it may take connect + read timeout.
    longest = float(config["LTIAAS_CONNECT_TIMEOUT"]) + float(config["LTIAAS_READ_TIMEOUT"])
    stale_after = config["COMPLETION_STALE_AFTER"]
    if stale_after <= longest:
        return fail(
            "COMPLETION_STALE_AFTER",
            f"{stale_after} s is not above LTIAAS's connect + read timeout ({longest:g} s): a completion "
            "still waiting for LTIAAS would be declared failed",
            f"set COMPLETION_STALE_AFTER above {longest:g}",
        )
    return ok("COMPLETION_STALE_AFTER", f"{stale_after} s, above a completion's longest wait")


def check_proxies(config: Mapping[str, Any]) -> Finding:
    hops = config["TRUSTED_PROXIES"]
    if hops:
        return ok("TRUSTED_PROXIES", f"the client's address is taken from the last {hops} X-Forwarded-For")
    return ok(
        "TRUSTED_PROXIES",
        "0: X-Forwarded-For is ignored (behind a proxy, set it to the number of proxies, or every "
        "client shares the proxy's rate limit)",
    )


def check_rate_limit_setting(config: Mapping[str, Any]) -> Finding:
    if not config["RATELIMIT_ENABLED"]:
        return warn("RATELIMIT_STORAGE_URI", "the per-address limit is off (RATELIMIT_ENABLED=false)")
    uri = config["RATELIMIT_STORAGE_URI"]
    if uri.startswith("memory://"):
        return warn(
            "RATELIMIT_STORAGE_URI",
            "memory://: each process counts sign-in attempts alone (fine for one worker on one host)",
            "with several workers or hosts, set RATELIMIT_STORAGE_URI=redis://...",
        )
    return ok("RATELIMIT_STORAGE_URI", f"{_safe_address(uri)} (checked below)")


def _key_mode(key: str, prefixes: tuple[str, ...]) -> str | None:
    for prefix in prefixes:
        for mode in ("live", "test"):
            if key.startswith(f"{prefix}_{mode}_"):
                return mode
    return None


def _check_secret_key_mode(config: Mapping[str, Any]) -> Finding:
    expected = "live" if _production(config) else "test"
    mode = _key_mode(config["STRIPE_SECRET_KEY"], ("sk", "rk"))
    if mode is None:
        return fail("STRIPE_SECRET_KEY", "not a Stripe secret key", "use your sk_ or rk_ key from Stripe")
    if mode != expected:
        meaning = "takes real payments" if expected == "live" else "takes no real money"
        return fail(
            "STRIPE_SECRET_KEY",
            f"a {mode}-mode key with PORTAL_ENV={config['PORTAL_ENV']}",
            f"use your {expected}-mode key (it {meaning})",
        )
    return ok("STRIPE_SECRET_KEY", f"{mode} mode (not shown)")


def _check_publishable_key(config: Mapping[str, Any]) -> Finding:
    mode = _key_mode(config["STRIPE_PUBLISHABLE_KEY"], ("pk",))
    if mode is None or mode != _key_mode(config["STRIPE_SECRET_KEY"], ("sk", "rk")):
        return fail(
            "STRIPE_PUBLISHABLE_KEY",
            "missing, not a pk_ key, or of another mode than the secret key",
            "use the publishable key of the same Stripe account and mode",
        )
    return ok("STRIPE_PUBLISHABLE_KEY", f"{mode} mode")


def _check_webhook_secret(config: Mapping[str, Any]) -> Finding:
    secret = config["STRIPE_WEBHOOK_SECRET"]
    if not secret.startswith("whsec_") or len(secret) <= len("whsec_"):
        return fail(
            "STRIPE_WEBHOOK_SECRET",
            "not a webhook signing secret (whsec_...)",
            "copy the signing secret of the endpoint https://<portal>/billing/webhook from Stripe",
        )
    return ok("STRIPE_WEBHOOK_SECRET", "whsec_... (not shown)")


def _price_mode_setting(config: Mapping[str, Any]) -> Finding:
    # Any other value stops the portal at start (`portal.config`): this line says which applies.
    return ok("STRIPE_PRICE_MODE", config["STRIPE_PRICE_MODE"] or "empty: from the price's type")


def check_payment_method_types(config: Mapping[str, Any]) -> Finding:
    """Whether Checkout may offer a payment that is known paid only after the registration closed
    (it cannot be registered then: staff refund it)."""
    chosen = tuple(config["STRIPE_PAYMENT_METHOD_TYPES"])
    lifetime = f"{config['REGISTRATION_LIFETIME'] // 60} minutes"
    if not chosen:
        return warn(
            "STRIPE_PAYMENT_METHOD_TYPES",
            "dashboard: Checkout offers what Stripe's Dashboard enables, which may include payments "
            f"that settle days later, after the registration closed ({lifetime}): such a payment "
            "registers nothing and is refunded",
            "set STRIPE_PAYMENT_METHOD_TYPES=card (the default), or check the Dashboard's payment methods",
        )
    late = [name for name in chosen if name in SETTLES_DAYS_LATER]
    if late:
        named = "; ".join(f"{name} ({SETTLES_DAYS_LATER[name]})" for name in late)
        return warn(
            "STRIPE_PAYMENT_METHOD_TYPES",
            f"{named} settles after the registration closed ({lifetime}): such a payment registers "
            "nothing and is refunded",
            f"remove {', '.join(late)} from STRIPE_PAYMENT_METHOD_TYPES",
        )
    if set(chosen) <= PAID_AT_ONCE:
        return ok("STRIPE_PAYMENT_METHOD_TYPES", f"{', '.join(chosen)}: known paid at once")
    return ok(
        "STRIPE_PAYMENT_METHOD_TYPES",
        f"{', '.join(chosen)}: none is one known to settle days later (Stripe's page on each says)",
    )


def check_stripe_settings(config: Mapping[str, Any]) -> list[Finding]:
    if not config["STRIPE_PRICE_ID"]:
        return [ok("STRIPE_PRICE_ID", "empty: no payment step")]
    return [
        ok("STRIPE_PRICE_ID", config["STRIPE_PRICE_ID"]),
        _check_secret_key_mode(config),
        _check_publishable_key(config),
        _check_webhook_secret(config),
        _price_mode_setting(config),
        check_payment_method_types(config),
    ]


def check_settings(config: Mapping[str, Any]) -> list[Finding]:
    findings = [
        check_environment(config),
        check_portal_url(config),
        check_secret_key(config),
        check_database_url(config),
        check_completion_stale_after(config),
        check_proxies(config),
        check_rate_limit_setting(config),
    ]
    return findings + check_stripe_settings(config)


# Live services


def check_ltiaas(client: LtiaasClient, config: Mapping[str, Any]) -> Finding:
    """Lists LTIAAS's platforms for an issuer nobody has: reachable, key accepted, path right."""
    if config["SANDBOX_ENABLED"]:
        return warn("LTIAAS", "LTIAAS_URL unset: the sandbox stands in", "set LTIAAS_URL and LTIAAS_API_KEY")
    where = f"{client.base_url}{client.platforms_path}"
    try:
        client.list_platforms(url=PROBE_ISSUER)
    except LtiaasUnauthorized:
        return fail("LTIAAS", f"{client.base_url} refused the API key", "check LTIAAS_API_KEY and LTIAAS_URL")
    except LtiaasUnavailable as error:
        return fail("LTIAAS", f"{error}", "check LTIAAS_URL, and that this host may reach it")
    except PlatformNotFound:
        return fail(
            "LTIAAS",
            f"no platforms endpoint at {where} (HTTP 404)",
            "check LTIAAS_PLATFORMS_PATH (LTIAAS documents /api/platforms and /admin/platforms)",
        )
    except LtiaasInvalidResponse as error:
        return fail(
            "LTIAAS",
            f"{where} is not LTIAAS's platforms API ({error})",
            "check LTIAAS_URL (your LTIAAS domain) and LTIAAS_PLATFORMS_PATH",
        )
    except LtiaasError as error:
        return fail("LTIAAS", f"{where} refused the request ({error})", "check LTIAAS_PLATFORMS_PATH")
    return ok("LTIAAS", f"{where} reached, API key accepted")


def _uses_stand_in(config: Mapping[str, Any]) -> bool:
    return bool(config["SANDBOX_ENABLED"]) and config["STRIPE_SECRET_KEY"] == SANDBOX_STRIPE_SECRET_KEY


def check_stripe(gateway: StripeGateway, config: Mapping[str, Any]) -> Finding:
    """Reads the price with the real key: key accepted, price there, active, of the mode's kind."""
    price_id = config["STRIPE_PRICE_ID"]
    if _uses_stand_in(config):
        return warn("Stripe", "the sandbox's Stripe stand-in takes payments", "set the STRIPE_* settings")
    try:
        price = gateway.read_price()
    except PaymentProviderUnavailable:
        return fail(
            "Stripe", f"{config['STRIPE_API_BASE']} could not be reached", "check that this host may reach it"
        )
    except PaymentProviderError as error:
        return _stripe_refusal(error, price_id)
    return _check_price(price, config)


def _stripe_refusal(error: PaymentProviderError, price_id: str) -> Finding:
    if error.http_status == 401:
        return fail("Stripe", "Stripe refused STRIPE_SECRET_KEY", "copy the secret key again from Stripe")
    if error.http_status == 403:
        return fail(
            "Stripe",
            "the key may not read prices",
            "give the restricted key Prices: read and Checkout Sessions: write",
        )
    if error.http_status == 404:
        return fail(
            "Stripe",
            f"no price {price_id} in this account and mode",
            "copy the price id (price_...) from the same account and mode as the key",
        )
    return fail("Stripe", str(error), "check STRIPE_PRICE_ID and STRIPE_SECRET_KEY")


def _check_price(price: PriceInfo, config: Mapping[str, Any]) -> Finding:
    if not price.active:
        return fail("Stripe", f"price {price.id} is archived", "activate it in Stripe or choose another")
    wanted = config["STRIPE_PRICE_MODE"]
    fitting = PRICE_MODES.get(price.type, "payment")
    if wanted and wanted != fitting:
        return fail(
            "Stripe",
            f"price {price.id} is {price.type.replace('_', '-')} but STRIPE_PRICE_MODE={wanted}",
            f"set STRIPE_PRICE_MODE={fitting} (or leave it empty)",
        )
    amount = "free" if not price.unit_amount else f"{price.unit_amount / 100:.2f} {price.currency.upper()}"
    per = f" per {price.interval}" if price.interval else ""
    return ok("Stripe", f"key accepted; price {price.id}: {price.type.replace('_', '-')}, {amount}{per}")


def check_database(app: Flask) -> Finding:
    from alembic.migration import MigrationContext
    from alembic.script import ScriptDirectory

    config = alembic_config(app)
    newest = set(ScriptDirectory.from_config(config).get_heads())
    try:
        with app.extensions["db_engine"].connect() as connection:
            current = set(MigrationContext.configure(connection).get_current_heads())
    except SQLAlchemyError as error:
        reason = str(getattr(error, "orig", None) or error).strip().splitlines()[0][:200]
        return fail("database", f"cannot connect: {reason}", "check DATABASE_URL and that the server runs")
    if current == newest:
        return ok("database", f"reached, at the newest migration ({', '.join(sorted(newest))})")
    found = ", ".join(sorted(current)) or "no schema"
    return fail(
        "database",
        f"at {found}, the newest migration is {', '.join(sorted(newest))}",
        "run: flask --app app db upgrade",
    )


def _safe_address(uri: str) -> str:
    """`scheme://host:port` of a storage URI, without its password."""
    parts = urlsplit(uri)
    host = parts.hostname or ""
    return f"{parts.scheme}://{host}{f':{parts.port}' if parts.port else ''}"


def check_rate_limit_storage(config: Mapping[str, Any]) -> Finding | None:
    uri = config["RATELIMIT_STORAGE_URI"]
    if not config["RATELIMIT_ENABLED"] or uri.startswith("memory://"):
        return None
    from limits.storage import storage_from_string

    try:
        reachable = storage_from_string(uri).check()
    except Exception as error:  # e.g. limits' ConfigurationError: the client library is missing
        return fail("rate-limit storage", f"cannot use {_safe_address(uri)}: {error}", "check the URI")
    if not reachable:
        return fail(
            "rate-limit storage",
            f"{_safe_address(uri)} did not answer",
            "start Redis, or check RATELIMIT_STORAGE_URI (sign-ins fall back to per-process counts)",
        )
    return ok("rate-limit storage", f"{_safe_address(uri)} answers: one count for every worker and host")


def check_mail_server(config: Mapping[str, Any]) -> Finding | None:
    """When e-mail is set up: the addresses have an address's shape, and the mail server takes the
    connection, TLS and login (nothing is sent)."""
    if not config["SMTP_HOST"]:
        return None
    if not config["SMTP_FROM"]:
        return fail(
            "mail server",
            "SMTP_HOST is set but SMTP_FROM is not, so the portal sends no e-mail at all",
            "set SMTP_FROM to the address the portal's e-mail comes from",
        )
    misshapen = [
        address for address in (config["SMTP_FROM"], *recipients(config)) if not _looks_like_address(address)
    ]
    if misshapen:
        return fail(
            "mail server",
            f"{', '.join(repr(address) for address in misshapen)} is not an e-mail address",
            "check SMTP_FROM and NOTIFY_EMAIL_TO (addresses separated by commas)",
        )
    try:
        answered = reach_mail_server(config)
    except DeliveryFailed as error:
        return fail(
            "mail server",
            str(error),
            "check SMTP_HOST, SMTP_PORT, SMTP_TLS, SMTP_USER and SMTP_PASSWORD: until then staff "
            "e-mail and forgotten-password links are not sent",
        )
    return ok("mail server", f"{answered}: staff e-mail and forgotten-password links can go out")


def _looks_like_address(text: str) -> bool:
    """`name@host.tld`, alone or as `Name <name@host.tld>`."""
    _, address = parseaddr(text)
    local, at, domain = address.rpartition("@")
    return bool(local and at and "." in domain.strip(".")) and not any(c.isspace() for c in address)


def run_preflight(app: Flask) -> list[Finding]:
    """Every check, settings first; the live ones call out with the app's own clients."""
    config = app.config
    findings = check_settings(config)
    findings.append(check_database(app))
    findings.append(check_ltiaas(app.extensions["ltiaas"], config))
    if config["STRIPE_PRICE_ID"]:
        findings.append(check_stripe(app.extensions["stripe_gateway"], config))
    for optional in (check_rate_limit_storage(config), check_mail_server(config)):
        if optional is not None:
            findings.append(optional)
    return findings
