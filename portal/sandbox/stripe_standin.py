"""A stand-in for the few parts of Stripe the portal uses (development, tests and the sandbox only).

Served at `/sandbox/stripe` over real HTTP, so the real `StripeClient` talks to it
through `STRIPE_API_BASE`:

- `POST /v1/checkout/sessions`, `GET /v1/checkout/sessions/<id>`,
  `POST /v1/checkout/sessions/<id>/expire` and `GET /v1/prices/<id>`: form-encoded
  parameters, Bearer secret key, `Idempotency-Key` honoured (same key and parameters:
  the first answer again; other parameters: `idempotency_error`), objects shaped like
  Stripe's and Stripe-style error bodies (any other path or method under `/v1/`: Stripe's 404,
  "Unrecognized request URL"). Only create returns a session's `client_secret`
  (retrieve is not documented to), and unknown parameters are refused, as at Stripe
  (`payment_method_types` among them: API version 2026-09-30.endive removed it from Checkout
  Sessions). The account has activated cards and US bank accounts, nothing else
  (`ACTIVATED_PAYMENT_METHODS`). It
  speaks one API version, `IMITATED_API_VERSION`, and refuses requests that name another.
  Each API call is written to the sandbox's call log (`/sandbox/api/calls`).
- Stripe.js at Stripe's own paths under `/sandbox/stripe/js` (`<release>/stripe.js`, or
  `v3/` for the legacy release): `static/js/stripe-standin.js`, imitating the release it
  was served as, so it has that release's Embedded Checkout method and not the others.
- `/sandbox/stripe/embedded?client_secret=...`: the frame that the Stripe.js stand-in
  mounts, with a card form; `/sandbox/stripe/pay/<id>`: hosted Checkout. Card
  4242 4242 4242 4242 pays, 4000 0000 0000 0002 is declined. For a price in USD, and where
  the session's `allowed_payment_method_types` names it (or it names none), a US bank
  account (ACH Direct Debit, routing number 110000000) pays asynchronously: the session
  completes unpaid, and SANDBOX_STRIPE_SETTLE_AFTER seconds later (0 or None: when
  `settle_async_payment` is called) account 000123456789 is paid and 000111111116 fails,
  each with its `checkout.session.async_payment_*` event. The session stays complete and
  unpaid after a failure, as Stripe's does: it never reopens.
- On payment (and on expiry) an event is sent to the portal's webhook, signed with
  STRIPE_WEBHOOK_SECRET by Stripe's algorithm, from a background thread.
- A session lives until its `expires_at` (30 minutes to 24 hours after creation, as asked;
  24 hours if not). Stripe expires it within the hour after that, without promising the minute;
  the stand-in expires an open session past it (with its `checkout.session.expired` event) when
  it is next retrieved, expired, shown or paid, and its Checkout refuses to take the payment.
- "Stripe's" clock is this machine's unless a test moves it (`set_clock_ahead`), as Stripe's own
  runs apart from the portal's: the times the stand-in stamps on what it makes and signs, and
  those it creates and expires sessions by.
- A payment-mode session creates no Customer (`customer` stays null: a guest's payment) unless
  created with `customer_creation=always` or for an existing `customer`, as at Stripe since API
  version 2022-08-01 (the default `if_required` creates one only for a post-purchase invoice,
  which the stand-in does not offer); a subscription-mode session always has one.
- A payment-mode session gets its PaymentIntent (`pi_...`) only when the customer confirms
  (pays), as at Stripe since API version 2022-08-01 (until then `payment_intent` is null), with a Charge
  (`ch_...`) whose `receipt_url` is the stand-in's receipt page
  (`/sandbox/stripe/receipts/<session id>`). Retrieve honours `expand[]=payment_intent` and
  `expand[]=payment_intent.latest_charge`; unexpanded, `payment_intent` is the id. A
  subscription-mode session has no PaymentIntent but its first invoice (`in_...`, `expand[]=invoice`):
  paid by a card, open while a bank debit is processing (and after it failed), its
  `hosted_invoice_url` the stand-in's invoice page (`/sandbox/stripe/invoices/<session id>`). A
  path Stripe cannot expand is refused as Stripe refuses it; one Stripe expands and the stand-in
  does not is refused with a message saying so.

Prices need no setup: any `price_...` id exists, recurring (monthly, or yearly if the id
says "year") when the id contains "recurring", "month" or "year", free when it contains
"free", otherwise SANDBOX_STRIPE_UNIT_AMOUNT (default 4900) in SANDBOX_STRIPE_CURRENCY
(default "usd"). SANDBOX_STRIPE_WEBHOOKS=False stops the automatic webhook deliveries.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
import secrets
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import requests
from flask import Blueprint, Flask, current_app, jsonify, redirect, render_template, request, url_for
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from werkzeug.wrappers import Response

from portal.db import get_session
from portal.extensions import csrf
from portal.sandbox import calls
from portal.sandbox.models import SandboxStripeEvent, SandboxStripeIdempotencyKey, SandboxStripeSession
from portal.security import add_csp_source, forbid_framing

log = logging.getLogger(__name__)

# The API version whose shapes and rules this stand-in copies. A request naming another is
# refused, so that upgrading stripe-python makes someone check the stand-in, not trust it.
IMITATED_API_VERSION = "2026-10-28.endive"
# The Stripe.js releases the stand-in imitates, each with its Embedded Checkout method
# (stripe.md: createEmbeddedCheckoutPage from dahlia on; the legacy v3 has initEmbeddedCheckout).
STRIPE_JS_RELEASES = {
    "v3": "initEmbeddedCheckout",
    "dahlia": "createEmbeddedCheckoutPage",
    "endive": "createEmbeddedCheckoutPage",
}
SESSION_LIFETIME_SECONDS = 24 * 3600
PAYING_CARDS = frozenset({"4242424242424242", "5555555555554444"})
DECLINED_CARD = "4000000000000002"
INSUFFICIENT_FUNDS_CARD = "4000000000009995"
# ACH Direct Debit test bank accounts: settled later, paid or failed.
TEST_ROUTING_NUMBER = "110000000"
BANK_ACCOUNT_OUTCOMES = {"000123456789": "succeeded", "000111111116": "failed", "000111111113": "failed"}
# The payment method types the stand-in's account has activated, and the currencies each takes
# (ACH Direct Debit takes USD only; None: any).
ACTIVATED_PAYMENT_METHODS: dict[str, frozenset[str] | None] = {
    "card": None,
    "us_bank_account": frozenset({"usd"}),
}
# Session parameters the stand-in understands; Stripe refuses parameters it does not know.
SESSION_PARAMS = frozenset(
    {
        "cancel_url",
        "client_reference_id",
        "customer",
        "customer_creation",
        "customer_email",
        "expires_at",
        "line_items",
        "locale",
        "allowed_payment_method_types",
        "metadata",
        "mode",
        "redirect_on_completion",
        "return_url",
        "success_url",
        "ui_mode",
    }
)
REDIRECT_ON_COMPLETION = ("always", "if_required", "never")
CUSTOMER_CREATION = ("always", "if_required")
# What retrieve expands: a field, the object it becomes, and that object's own expansions.
EXPANSIONS: dict[str, Any] = {"payment_intent": {"latest_charge": {}}, "invoice": {}}
# Fields Stripe also expands on these objects, which the stand-in does not (yet).
NOT_IMITATED_EXPANSIONS = {
    "checkout.session": {"customer", "line_items", "payment_link", "setup_intent", "subscription"},
    "payment_intent": {"application", "customer", "on_behalf_of", "payment_method", "review"},
    "charge": {"application", "balance_transaction", "customer", "on_behalf_of", "payment_intent", "review"},
    "invoice": {"customer", "default_payment_method", "on_behalf_of", "subscription", "test_clock"},
}
EXPANDED_OBJECT = {"payment_intent": "payment_intent", "latest_charge": "charge", "invoice": "invoice"}
MAX_EXPAND_DEPTH = 4
# Kept in a session's stored data for the stand-in's own use; never sent.
PRIVATE = "_standin"
WEBHOOK_RETRY_DELAYS = (0.5, 1.5, 4.0)
_idempotency_lock = threading.Lock()
_pay_lock = threading.Lock()

bp = Blueprint("stripe_standin", __name__, url_prefix="/sandbox/stripe")
# Stripe's own pages and API answer no CSRF token of ours: a secret key, a client
# secret or the session id is what authorises each request, as at Stripe.
csrf.exempt(bp)


def _stripe_id(prefix: str, length: int = 24) -> str:
    alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
    return prefix + "".join(secrets.choice(alphabet) for _ in range(length))


# --- errors, auth, parameters ------------------------------------------------------


class StripeApiError(Exception):
    def __init__(
        self, status: int, message: str, *, type_: str = "invalid_request_error", **extra: str
    ) -> None:
        super().__init__(message)
        self.status = status
        self.body = {"error": {"type": type_, "message": message, **extra}}


@bp.errorhandler(StripeApiError)
def _api_error(error: StripeApiError) -> tuple[Response, int]:
    return jsonify(error.body), error.status


@bp.before_request
def _answer_late() -> None:
    """SANDBOX_STRIPE_DELAY_MS: a slow Stripe (every API call waits that long; Stripe.js and the
    forms do not), to see what the payment page says while it waits."""
    delay_ms = current_app.config["SANDBOX_STRIPE_DELAY_MS"]
    if delay_ms > 0 and request.path.startswith(f"{bp.url_prefix}/v1/"):
        time.sleep(delay_ms / 1000)


@bp.after_request
def _log_api_call(response: Response) -> Response:
    """Every API call goes in the sandbox's call log, so tests can count what reached "Stripe"."""
    if request.path.startswith(f"{bp.url_prefix}/v1/"):
        calls.record_call(
            current_app.extensions["db_sessionmaker"], request.method, request.path, response.status_code
        )
    return response


def _check_api_key() -> None:
    """The Bearer secret key, and the API version the request names (if any)."""
    version = request.headers.get("Stripe-Version")
    if version and version != IMITATED_API_VERSION:
        raise StripeApiError(
            400,
            f"The Stripe stand-in imitates API version {IMITATED_API_VERSION} only, not {version}: "
            "check what changed at Stripe and teach it to the stand-in.",
        )
    key = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
    if not key:
        raise StripeApiError(401, "You did not provide an API key. Provide it in the Authorization header.")
    expected = current_app.config["STRIPE_SECRET_KEY"]
    if not key.startswith(("sk_test_", "rk_test_")) or (expected and key != expected):
        raise StripeApiError(
            401, f"Invalid API Key provided: {key[:8]}****{key[-4:]}", code="api_key_invalid"
        )


def _unflatten(pairs: list[tuple[str, str]]) -> dict[str, Any]:
    """Stripe's form encoding (`line_items[0][price]=...`) back into nested dicts and lists."""
    root: dict[str, Any] = {}
    for key, value in pairs:
        parts = re.findall(r"[^\[\]]+", key)
        node = root
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value
    listed: dict[str, Any] = _listify(root)
    return listed


def _listify(node: Any) -> Any:
    if not isinstance(node, dict):
        return node
    converted = {k: _listify(v) for k, v in node.items()}
    if converted and all(k.isdigit() for k in converted):
        return [converted[k] for k in sorted(converted, key=int)]
    return converted


def _idempotent(handler: Any) -> Any:
    """Replay the first answer for a repeated Idempotency-Key; refuse the key with other parameters.

    As at Stripe, only an answer the endpoint began to work on is kept for the key (a success, or a
    5xx of its own): a request refused as invalid (4xx) keeps nothing, so its corrected retry with
    the same key goes ahead, and a 500 is replayed to every retry of its key.
    """
    key = request.headers.get("Idempotency-Key")
    if not key:
        return handler()
    fingerprint = hashlib.sha256(
        json.dumps([request.path, sorted(request.form.items(multi=True))]).encode()
    ).hexdigest()
    with _idempotency_lock:
        db = get_session()
        seen = db.get(SandboxStripeIdempotencyKey, key)
        if seen is not None:
            if seen.fingerprint != fingerprint:
                raise StripeApiError(
                    400,
                    "Keys for idempotent requests can only be used with the same parameters they were "
                    f"first used with. Try using a key other than '{key}' if you meant to execute a "
                    "different request.",
                    type_="idempotency_error",
                )
            response = current_app.response_class(
                seen.body, status=seen.status_code, mimetype="application/json"
            )
            response.headers["Idempotent-Replayed"] = "true"
            return response
        try:
            body, status = handler(), 200
        except StripeApiError as error:
            if error.status < 500:
                raise
            body, status = error.body, error.status
        db.add(
            SandboxStripeIdempotencyKey(
                key=key, fingerprint=fingerprint, status_code=status, body=json.dumps(body)
            )
        )
        try:
            db.commit()
        except IntegrityError as error:
            db.rollback()
            raise StripeApiError(
                409, "Another request with this Idempotency-Key is in progress.", type_="idempotency_error"
            ) from error
        return jsonify(body), status


# --- prices and sessions -------------------------------------------------------------


def price_object(price_id: str) -> dict[str, Any] | None:
    """The stand-in's price for `price_id` (see the module docstring), or None."""
    if not re.fullmatch(r"price_[A-Za-z0-9_]+", price_id):
        return None
    recurring = any(word in price_id for word in ("recurring", "month", "year"))
    amount = 0 if "free" in price_id else int(current_app.config["SANDBOX_STRIPE_UNIT_AMOUNT"])
    interval = "year" if "year" in price_id else "month"
    return {
        "id": price_id,
        "object": "price",
        "active": True,
        "billing_scheme": "per_unit",
        "created": 1700000000,
        "currency": current_app.config["SANDBOX_STRIPE_CURRENCY"],
        "livemode": False,
        "lookup_key": None,
        "metadata": {},
        "nickname": None,
        "product": "prod_sandboxRegistration",
        "recurring": {"interval": interval, "interval_count": 1, "usage_type": "licensed"}
        if recurring
        else None,
        "tax_behavior": "unspecified",
        "type": "recurring" if recurring else "one_time",
        "unit_amount": amount,
        "unit_amount_decimal": str(amount),
    }


def _line_item_total(params: dict[str, Any], mode: str) -> tuple[int, str]:
    items = params.get("line_items")
    if not isinstance(items, list) or not items:
        raise StripeApiError(
            400, "Missing required param: line_items.", code="parameter_missing", param="line_items"
        )
    total, currency = 0, None
    for index, item in enumerate(items):
        price = price_object(str(item.get("price", "")))
        if price is None:
            raise StripeApiError(
                400,
                f"No such price: '{item.get('price')}'",
                code="resource_missing",
                param=f"line_items[{index}][price]",
            )
        if mode == "payment" and price["type"] == "recurring":
            raise StripeApiError(
                400,
                "You specified `payment` mode but passed a recurring price. Either switch "
                "to `subscription` mode or use only one-time prices.",
                param="mode",
            )
        if mode == "subscription" and price["type"] != "recurring":
            raise StripeApiError(
                400,
                "You must provide at least one recurring price in `subscription` mode when using prices.",
                param="mode",
            )
        total += price["unit_amount"] * _quantity(item, index)
        currency = price["currency"]
    return total, currency or "usd"


def _quantity(item: dict[str, Any], index: int) -> int:
    raw = item.get("quantity")
    if raw is None:
        raise StripeApiError(
            400,
            f"Quantity is required. Add `quantity` to `line_items[{index}]`.",
            code="parameter_missing",
            param=f"line_items[{index}][quantity]",
        )
    if not str(raw).isdigit() or int(raw) < 1:
        raise StripeApiError(
            400,
            f"Invalid integer: {raw}",
            code="parameter_invalid_integer",
            param=f"line_items[{index}][quantity]",
        )
    return int(raw)


def _check_known_params(params: dict[str, Any]) -> None:
    for name in sorted(params):
        if name not in SESSION_PARAMS:
            raise StripeApiError(
                400, f"Received unknown parameter: {name}", code="parameter_unknown", param=name
            )


def _check_metadata(params: dict[str, Any]) -> None:
    """Stripe's limits: 50 keys, keys up to 40 characters, values up to 500."""
    metadata = params.get("metadata") or {}
    if not isinstance(metadata, dict):
        raise StripeApiError(400, "Invalid object", code="parameter_invalid_object", param="metadata")
    if len(metadata) > 50:
        raise StripeApiError(400, "Metadata can have up to 50 keys.", param="metadata")
    for key, value in metadata.items():
        if len(key) > 40:
            raise StripeApiError(
                400, f"Metadata keys can be up to 40 characters long: {key!r}", param=f"metadata[{key}]"
            )
        if not isinstance(value, str) or len(value) > 500:
            raise StripeApiError(
                400, "Metadata values can be strings up to 500 characters long.", param=f"metadata[{key}]"
            )
    reference = params.get("client_reference_id")
    if reference is not None and len(reference) > 200:
        raise StripeApiError(
            400,
            "client_reference_id can be up to 200 characters long.",
            param="client_reference_id",
        )


def _valid_url(value: object) -> bool:
    """What Stripe takes as a redirect URL: http(s), with a host, nothing blank in it."""
    if not isinstance(value, str) or not value or re.search(r"\s", value):
        return False
    parts = urlsplit(value)
    return parts.scheme in ("http", "https") and bool(parts.hostname)


def _check_urls(params: dict[str, Any], ui_mode: str) -> None:
    for name in ("return_url", "success_url", "cancel_url"):
        if name in params and not _valid_url(params[name]):
            raise StripeApiError(400, "Not a valid URL", code="url_invalid", param=name)
    if ui_mode == "embedded_page":
        for name in ("success_url", "cancel_url"):
            if name in params:
                raise StripeApiError(
                    400, f"`{name}` is not allowed when `ui_mode` is `embedded_page`.", param=name
                )
        if "return_url" not in params and params.get("redirect_on_completion") != "never":
            raise StripeApiError(
                400,
                "`return_url` is required when `ui_mode` is `embedded_page`.",
                code="parameter_missing",
                param="return_url",
            )
        redirect = params.get("redirect_on_completion", "always")
        if redirect not in REDIRECT_ON_COMPLETION:
            raise StripeApiError(
                400,
                f"Invalid redirect_on_completion: must be one of {', '.join(REDIRECT_ON_COMPLETION)}",
                param="redirect_on_completion",
            )
    elif "return_url" in params or "redirect_on_completion" in params:
        raise StripeApiError(
            400,
            "`return_url` and `redirect_on_completion` only apply to `embedded_page`.",
            param="return_url",
        )


# An address Stripe takes: no blanks (a stray space around it is refused too), one @, a dotted domain.
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")


def _check_customer_email(params: dict[str, Any]) -> None:
    """Stripe prefills Checkout from `customer_email` or from an existing `customer`, never both, and
    refuses an address that is not one (`email_invalid`)."""
    if "customer_email" not in params:
        return
    if "customer" in params:
        raise StripeApiError(400, "You may only specify one of these parameters: customer, customer_email.")
    email = params["customer_email"]
    refused = current_app.extensions.get("stripe_standin_refused_emails", ())
    if not isinstance(email, str) or not _EMAIL.fullmatch(email) or email in refused:
        raise StripeApiError(
            400, f"Invalid email address: {email}", code="email_invalid", param="customer_email"
        )


def _new_session(params: dict[str, Any]) -> dict[str, Any]:
    _check_known_params(params)
    mode = params.get("mode")
    if mode not in ("payment", "subscription"):
        raise StripeApiError(
            400,
            "Invalid mode: must be one of payment or subscription (the stand-in has no setup).",
            param="mode",
        )
    ui_mode = params.get("ui_mode", "hosted_page")
    if ui_mode not in ("embedded_page", "hosted_page"):
        raise StripeApiError(
            400,
            "Invalid ui_mode: must be one of elements, embedded_page, form or hosted_page "
            "(the stand-in serves embedded_page and hosted_page).",
            param="ui_mode",
        )
    _check_urls(params, ui_mode)
    _check_customer_email(params)
    _check_metadata(params)
    total, currency = _line_item_total(params, mode)
    session_id = _stripe_id("cs_test_a1", 54)
    now = int(stripe_now())
    embedded = ui_mode == "embedded_page"
    return {
        "id": session_id,
        "object": "checkout.session",
        "adaptive_pricing": {"enabled": False},
        "after_expiration": None,
        "allow_promotion_codes": None,
        "amount_subtotal": total,
        "amount_total": total,
        "automatic_tax": {"enabled": False, "liability": None, "status": None, "provider": None},
        "billing_address_collection": None,
        "cancel_url": params.get("cancel_url"),
        "client_reference_id": params.get("client_reference_id"),
        "client_secret": f"{session_id}_secret_{secrets.token_urlsafe(18)}" if embedded else None,
        "collected_information": None,
        "consent": None,
        "consent_collection": None,
        "created": now,
        "currency": currency,
        "currency_conversion": None,
        "custom_fields": [],
        "custom_text": {
            "after_submit": None,
            "shipping_address": None,
            "submit": None,
            "terms_of_service_acceptance": None,
        },
        "customer": params.get("customer"),
        "customer_account": None,
        "customer_creation": _customer_creation(params, mode),
        "customer_details": None,
        "customer_email": params.get("customer_email"),
        "discounts": [],
        "expires_at": _expires_at(params, now),
        "integration_identifier": None,
        "invoice": None,
        "invoice_creation": _invoice_creation(mode),
        "livemode": False,
        "locale": params.get("locale"),
        "managed_payments": {"enabled": False},
        "metadata": params.get("metadata") or {},
        "mode": mode,
        "origin_context": None,
        "payment_intent": None,
        "payment_link": None,
        "payment_method_collection": "always",
        "payment_method_configuration_details": None,
        "payment_method_options": {},
        "allowed_payment_method_types": params.get("allowed_payment_method_types"),
        "excluded_payment_method_types": None,
        "payment_method_types": _payment_methods(currency, params.get("allowed_payment_method_types")),
        "payment_status": "unpaid",
        "permissions": None,
        "phone_number_collection": {"enabled": False},
        "recovered_from": None,
        "redirect_on_completion": params.get("redirect_on_completion", "always") if embedded else None,
        "return_url": params.get("return_url"),
        "saved_payment_method_options": None,
        "setup_intent": None,
        "shipping_address_collection": None,
        "shipping_cost": None,
        "shipping_options": [],
        "status": "open",
        "submit_type": None,
        "subscription": None,
        "success_url": params.get("success_url"),
        "total_details": {"amount_discount": 0, "amount_shipping": 0, "amount_tax": 0},
        "ui_mode": ui_mode,
        "url": None if embedded else _external_url("stripe_standin.pay_page", session_id=session_id),
        "wallet_options": None,
        # Where the receipt of its charge, or its invoice, will be (the stand-in learns its address
        # from this request).
        PRIVATE: {
            "receipt_url": _external_url("stripe_standin.receipt", session_id=session_id),
            "invoice_url": _external_url("stripe_standin.invoice_page", session_id=session_id),
        },
    }


def _invoice_creation(mode: str) -> dict[str, Any] | None:
    """A payment-mode session's post-purchase invoice settings (off: the stand-in offers none); a
    subscription's invoices are the subscription's own, and the field is null."""
    if mode != "payment":
        return None
    return {
        "enabled": False,
        "invoice_data": {
            "account_tax_ids": None,
            "custom_fields": None,
            "description": None,
            "footer": None,
            "issuer": None,
            "metadata": {},
            "rendering_options": None,
        },
    }


def _customer_creation(params: dict[str, Any], mode: str) -> str:
    """`if_required` unless asked otherwise in payment mode (Stripe's default since API version
    2022-08-01); a subscription always has a Customer, and the parameter is not for its mode."""
    if "customer_creation" not in params:
        return "if_required" if mode == "payment" else "always"
    value = params["customer_creation"]
    if mode != "payment":
        raise StripeApiError(
            400,
            "`customer_creation` can only be used in `payment` and `setup` mode.",
            param="customer_creation",
        )
    if value not in CUSTOMER_CREATION:
        raise StripeApiError(
            400,
            f"Invalid customer_creation: must be one of {', '.join(CUSTOMER_CREATION)}",
            param="customer_creation",
        )
    return str(value)


def _creates_customer(data: dict[str, Any]) -> bool:
    """Whether completing the session creates a Customer: in subscription mode, or with
    `customer_creation=always`. With `if_required` Stripe creates one only where confirming needs
    it, which in payment mode is a post-purchase invoice (`invoice_creation`, which the stand-in
    does not take): a one-time payment is a guest's, its `customer` null."""
    return bool(data["mode"] == "subscription" or data["customer_creation"] == "always")


def _expires_at(params: dict[str, Any], now: int) -> int:
    """Stripe's rule: a session expires 30 minutes to 24 hours after it is created (default 24)."""
    raw = params.get("expires_at")
    if raw is None:
        return now + SESSION_LIFETIME_SECONDS
    if not str(raw).isdigit() or not now + 1800 <= int(raw) <= now + SESSION_LIFETIME_SECONDS:
        raise StripeApiError(
            400,
            "The `expires_at` timestamp must be between 30 minutes and 24 hours from "
            "Checkout Session creation.",
            param="expires_at",
        )
    return int(raw)


def _payment_methods(currency: str, allowed: object = None) -> list[str]:
    """What Checkout offers: the activated types that take `currency` (cards, and US bank accounts for
    USD), narrowed to `allowed` (`allowed_payment_method_types`) when the session names some.

    A type the account has not activated is refused in Stripe's words for one named in the former
    `payment_method_types`; whether Stripe refuses or drops it from `allowed_payment_method_types` is not on
    record, and refusing shows the mistake. One that cannot take the currency is dropped, as Stripe's
    changelog says (2026-09-30.endive); when none is left, the stand-in refuses in its own words.
    """
    offered = [
        kind
        for kind, currencies in ACTIVATED_PAYMENT_METHODS.items()
        if currencies is None or currency in currencies
    ]
    if allowed is None:
        return offered
    param = "allowed_payment_method_types"
    if not isinstance(allowed, list) or not allowed:
        raise StripeApiError(400, "Invalid array", code="parameter_invalid_array", param=param)
    for kind in allowed:
        if kind not in ACTIVATED_PAYMENT_METHODS:
            raise StripeApiError(
                400,
                f"The payment method type provided: {kind} is invalid. Please ensure the provided type is "
                "activated in your dashboard (https://dashboard.stripe.com/account/payments/settings) and "
                "your account is enabled for any preview features that you are trying to use.",
                param=param,
            )
    left = [kind for kind in offered if kind in allowed]
    if not left:
        raise StripeApiError(
            400,
            f"None of the allowed_payment_method_types can take a payment in {currency} "
            "(the Stripe stand-in's words: Stripe's are not on record).",
            param=param,
        )
    return left


def _external_url(endpoint: str, **values: Any) -> str:
    return url_for(endpoint, _external=True, **values)


def without_notes(data: dict[str, Any]) -> dict[str, Any]:
    """The session without the stand-in's own notes (what create returns)."""
    return {k: v for k, v in data.items() if k != PRIVATE}


def public_session(data: dict[str, Any]) -> dict[str, Any]:
    """The session as retrieve, expire and events show it: without the client secret (only
    create returns it) and without the stand-in's own notes."""
    return {**without_notes(data), "client_secret": None}


def _expand_paths() -> list[str]:
    """The `expand` parameter of a GET, as `expand[]=a`, `expand[0]=a` or `expand=a`; any other
    parameter is refused, as Stripe refuses parameters it does not know."""
    paths = []
    for name, value in request.args.items(multi=True):
        if not re.fullmatch(r"expand(\[\d*\])?", name):
            raise StripeApiError(
                400, f"Received unknown parameter: {name}", code="parameter_unknown", param=name
            )
        paths.append(value)
    return paths


def _check_expansion(path: str) -> None:
    """Refuse what Stripe refuses: deeper than four levels, or a field that is not expandable."""
    fields = path.split(".")
    if len(fields) > MAX_EXPAND_DEPTH:
        raise StripeApiError(400, f"You cannot expand more than {MAX_EXPAND_DEPTH} levels of a property.")
    known, kind = EXPANSIONS, "checkout.session"
    for name in fields:
        if name in known:
            known, kind = known[name], EXPANDED_OBJECT[name]
        elif name in NOT_IMITATED_EXPANSIONS.get(kind, set()):
            raise StripeApiError(
                400,
                f"The Stripe stand-in does not expand {name} on a {kind} (Stripe does): teach it to.",
            )
        else:
            raise StripeApiError(400, f"This property cannot be expanded ({name}).")


def _expanded(data: dict[str, Any], paths: list[str]) -> dict[str, Any]:
    """The session as retrieve shows it, with `paths` expanded. A path through a field that is
    null (no PaymentIntent or invoice yet) stays null, as at Stripe."""
    for path in paths:
        _check_expansion(path)
    shown = public_session(data)
    note = data.get(PRIVATE) or {}
    fields = {path.split(".")[0] for path in paths}
    intent = note.get("payment_intent")
    if "payment_intent" in fields and shown.get("payment_intent") is not None and intent is not None:
        intent = dict(intent)
        if "payment_intent.latest_charge" in paths and note.get("charge") is not None:
            intent["latest_charge"] = dict(note["charge"])
        shown["payment_intent"] = intent
    if "invoice" in fields and shown.get("invoice") is not None and note.get("invoice") is not None:
        shown["invoice"] = dict(note["invoice"])
    return shown


def _session_or_404(db: Session, session_id: str) -> SandboxStripeSession:
    record = db.get(SandboxStripeSession, session_id)
    if record is None:
        raise StripeApiError(
            404, f"No such checkout.session: '{session_id}'", code="resource_missing", param="session"
        )
    return record


def set_clock_ahead(app: Flask, seconds: float) -> None:
    """Make "Stripe's" clock run `seconds` ahead of this machine's (behind, if negative), as a clock
    on another machine may (for tests of what the portal asks near Stripe's time limits)."""
    app.extensions["stripe_standin_clock_ahead"] = seconds


def stripe_now(app: Flask | None = None) -> float:
    """The time now by "Stripe's" clock (`set_clock_ahead`), as a Unix time."""
    ahead: float = (app or current_app).extensions.get("stripe_standin_clock_ahead", 0)
    return time.time() + ahead


def refuse_customer_email(app: Flask, address: str) -> None:
    """Make "Stripe" refuse `address` as a Checkout Session's `customer_email` (`email_invalid`):
    beyond the shapes `_check_customer_email` copies, Stripe's rule is its own and unpublished, so
    tests name an address the portal takes and Stripe might not."""
    app.extensions.setdefault("stripe_standin_refused_emails", set()).add(address)


def fail_next_session_creates(app: Flask, count: int) -> None:
    """Make the next `count` valid Checkout Session creates fail on "Stripe's" side (500), kept
    under their idempotency keys as Stripe keeps them (for tests of an outage)."""
    app.extensions["stripe_standin_failing_creates"] = count


def _fail_if_asked() -> None:
    left = current_app.extensions.get("stripe_standin_failing_creates", 0)
    if left > 0:
        current_app.extensions["stripe_standin_failing_creates"] = left - 1
        raise StripeApiError(500, "An unknown error occurred", type_="api_error")


@bp.post("/v1/checkout/sessions")
def api_create_session() -> Any:
    _check_api_key()

    def create() -> dict[str, Any]:
        data = _new_session(_unflatten(list(request.form.items(multi=True))))
        _fail_if_asked()
        db = get_session()
        db.add(SandboxStripeSession(id=data["id"], client_secret=data["client_secret"], data=data))
        db.commit()
        return without_notes(data)

    return _idempotent(create)


@bp.get("/v1/checkout/sessions/<session_id>")
def api_retrieve_session(session_id: str) -> Any:
    _check_api_key()
    paths = _expand_paths()
    db = get_session()
    record = _session_or_404(db, session_id)
    expire_if_due(db, record)
    return jsonify(_expanded(record.data, paths))


@bp.post("/v1/checkout/sessions/<session_id>/expire")
def api_expire_session(session_id: str) -> Any:
    _check_api_key()

    def expire() -> dict[str, Any]:
        db = get_session()
        record = _session_or_404(db, session_id)
        expire_if_due(db, record)
        status = record.data["status"]
        if status != "open":
            raise StripeApiError(
                400,
                'Only Checkout Sessions with a status in ["open"] can be expired. '
                f'This Checkout Session has a status of "{status}".',
            )
        data = _update_session(db, record, status="expired")
        event_id = _emit(db, "checkout.session.expired", data)
        db.commit()
        _dispatch(event_id)
        return public_session(data)

    return _idempotent(expire)


@bp.get("/v1/prices/<price_id>")
def api_retrieve_price(price_id: str) -> Any:
    _check_api_key()
    price = price_object(price_id)
    if price is None:
        raise StripeApiError(404, f"No such price: '{price_id}'", code="resource_missing", param="price")
    return jsonify(price)


@bp.route("/v1/", defaults={"rest": ""}, methods=["GET", "POST", "DELETE"])
@bp.route("/v1/<path:rest>", methods=["GET", "POST", "DELETE"])
def api_unrecognized(rest: str) -> Any:
    """A path or method Stripe's API has no endpoint for: Stripe answers 404 with its JSON error body
    (stripe-python raises InvalidRequestError), never an HTML page. A retrieve with an empty id (a
    trailing slash) is the usual cause, and Stripe says so."""
    path = f"/v1/{rest}"
    hint = (
        " If you are trying to list objects, remove the trailing slash. If you are trying to retrieve "
        "an object, make sure you passed a valid (non-empty) identifier in your code."
        if path.endswith("/")
        else ""
    )
    raise StripeApiError(
        404,
        f"Unrecognized request URL ({request.method}: {path}).{hint} Please see https://stripe.com/docs "
        "or we can help at https://support.stripe.com/.",
    )


def expire_if_due(db: Session, record: SandboxStripeSession) -> None:
    """Expire an open session past its `expires_at`, with its `checkout.session.expired` event, as
    Stripe does (within the hour, Stripe says; the stand-in does it when the session is next
    read, expired, shown or paid)."""
    with _pay_lock:
        db.refresh(record)
        _expire_if_due_locked(db, record)


def _expire_if_due_locked(db: Session, record: SandboxStripeSession) -> None:
    data = record.data
    if data["status"] != "open" or stripe_now() < data["expires_at"]:
        return
    data = _update_session(db, record, status="expired")
    event_id = _emit(db, "checkout.session.expired", data)
    db.commit()
    _dispatch(event_id)


def _update_session(db: Session, record: SandboxStripeSession, **changes: Any) -> dict[str, Any]:
    data = {**record.data, **changes}
    record.data = data
    db.flush()
    return data


# --- Stripe.js ---------------------------------------------------------------------

_STRIPE_JS_SOURCE = Path(__file__).resolve().parents[2] / "static" / "js" / "stripe-standin.js"
_RELEASE_PLACEHOLDER = "/*STANDIN_RELEASE*/null"


@bp.get("/js/v3/")
def stripe_js_legacy() -> Response:
    """The legacy release, at the path Stripe serves it from (`https://js.stripe.com/v3/`)."""
    return _stripe_js("v3")


@bp.get("/js/<release>/stripe.js")
def stripe_js(release: str) -> Response:
    """A named release, at the path Stripe serves it from (`https://js.stripe.com/<release>/stripe.js`)."""
    return _stripe_js(release) if release != "v3" else Response("Not found", 404, mimetype="text/plain")


def _stripe_js(release: str) -> Response:
    """The Stripe.js stand-in imitating `release`: the release and its Embedded Checkout method
    are written into the script, which then has that method and no other."""
    method = STRIPE_JS_RELEASES.get(release)
    if method is None:
        return Response("Not found", 404, mimetype="text/plain")
    imitated = json.dumps({"release": release, "embeddedCheckout": method})
    body = _STRIPE_JS_SOURCE.read_text().replace(_RELEASE_PLACEHOLDER, imitated, 1)
    return Response(body, mimetype="text/javascript", headers={"Cache-Control": "no-cache"})


# --- paying ------------------------------------------------------------------------


@dataclass(frozen=True)
class PayOutcome:
    """`completed`: Checkout is done (paid, or a bank debit submitted); else `message` says why not."""

    completed: bool
    message: str = ""


def _luhn_ok(digits: str) -> bool:
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = int(char) * (2 if index % 2 else 1)
        total += value - 9 if value > 9 else value
    return len(digits) >= 12 and total % 10 == 0


def _card_problem(card_number: str) -> str | None:
    digits = re.sub(r"[\s-]", "", card_number)
    if digits in PAYING_CARDS:
        return None
    if digits == DECLINED_CARD:
        return "Your card was declined."
    if digits == INSUFFICIENT_FUNDS_CARD:
        return "Your card has insufficient funds."
    if not digits.isdigit() or not _luhn_ok(digits):
        return "Your card number is incorrect."
    return "Your card was declined. Your request was in test mode, but used a non test card."


def _bank_account_outcome(form: Mapping[str, str]) -> tuple[str | None, str | None]:
    """How a test US bank account's debit will settle ("succeeded"/"failed"), or why it is refused."""
    routing = re.sub(r"\s", "", form.get("routing_number", ""))
    account = re.sub(r"\s", "", form.get("account_number", ""))
    if routing != TEST_ROUTING_NUMBER:
        return None, f"Your routing number is incorrect. In test mode, use {TEST_ROUTING_NUMBER}."
    outcome = BANK_ACCOUNT_OUTCOMES.get(account)
    if outcome is None:
        return None, "Your account number is incorrect. In test mode, use a test account number."
    return outcome, None


def complete_session(
    db: Session,
    session_id: str,
    *,
    paid: bool = True,
    email: str | None = None,
    settles: str | None = None,
) -> dict[str, Any]:
    """Complete an open session as Checkout does; `paid=False` leaves an asynchronous payment
    processing (settle it with `settle_async_payment`; `settles` says how it will end, as the
    test bank account does). Commits and emits the event."""
    record = _session_or_404(db, session_id)
    data = record.data
    free = data["amount_total"] == 0
    note: dict[str, Any] = {**(data.get(PRIVATE) or {}), "settles": settles}
    changes: dict[str, Any] = {
        "status": "complete",
        "payment_status": "no_payment_required" if free else ("paid" if paid else "unpaid"),
        "customer": data.get("customer") or (_stripe_id("cus_", 14) if _creates_customer(data) else None),
        "customer_details": {
            "address": dict.fromkeys(("city", "country", "line1", "line2", "postal_code", "state")),
            "business_name": None,
            "email": email or data.get("customer_email") or "admin@example.edu",
            "individual_name": None,
            "name": None,
            "phone": None,
            "tax_exempt": "none",
            "tax_ids": [],
        },
        PRIVATE: note,
    }
    if data["mode"] == "subscription":
        subscription = _stripe_id("sub_")
        invoice = _first_invoice(
            data, changes["customer"], subscription, paid=paid, url=note.get("invoice_url")
        )
        note["invoice"] = invoice
        changes.update(subscription=subscription, invoice=invoice["id"])
    elif not free:
        intent, charge = _intent_and_charge(
            data, changes["customer"], paid=paid, receipt_url=note.get("receipt_url")
        )
        note.update(payment_intent=intent, charge=charge)
        changes["payment_intent"] = intent["id"]
    data = _update_session(db, record, **changes)
    event_id = _emit(db, "checkout.session.completed", data)
    db.commit()
    _dispatch(event_id)
    return data


def _intent_and_charge(
    data: dict[str, Any], customer: str | None, *, paid: bool, receipt_url: str | None
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The PaymentIntent a confirmed payment-mode session creates, and its Charge: succeeded for
    a card, pending while a bank debit is processing."""
    now = int(stripe_now())
    intent_id, charge_id = _stripe_id("pi_"), _stripe_id("ch_")
    amount, currency = data["amount_total"], data["currency"]
    intent = {
        "id": intent_id,
        "object": "payment_intent",
        "amount": amount,
        "amount_received": amount if paid else 0,
        "created": now,
        "currency": currency,
        "customer": customer,
        "latest_charge": charge_id,
        "livemode": False,
        "metadata": {},
        "payment_method_types": data["payment_method_types"],
        "status": "succeeded" if paid else "processing",
    }
    charge = {
        "id": charge_id,
        "object": "charge",
        "amount": amount,
        "amount_captured": amount if paid else 0,
        "amount_refunded": 0,
        "captured": paid,
        "created": now,
        "currency": currency,
        "customer": customer,
        "livemode": False,
        "paid": paid,
        "payment_intent": intent_id,
        "receipt_email": None,
        "receipt_number": None,
        "receipt_url": receipt_url,
        "refunded": False,
        "status": "succeeded" if paid else "pending",
    }
    return intent, charge


def _first_invoice(
    data: dict[str, Any], customer: str, subscription: str, *, paid: bool, url: str | None
) -> dict[str, Any]:
    """The invoice a subscription-mode session creates for the first period: paid by a card, open
    while a bank debit is processing. Its `hosted_invoice_url` is where the customer sees it (and,
    once paid, its receipt)."""
    amount = data["amount_total"]
    return {
        "id": _stripe_id("in_"),
        "object": "invoice",
        "amount_due": amount,
        "amount_paid": amount if paid else 0,
        "billing_reason": "subscription_create",
        "created": int(stripe_now()),
        "currency": data["currency"],
        "customer": customer,
        "hosted_invoice_url": url,
        "livemode": False,
        "paid_out_of_band": False,
        "status": "paid" if paid else "open",
        "subscription": subscription,
    }


def _settled(note: dict[str, Any], succeeded: bool) -> dict[str, Any]:
    """The session's notes once its bank debit settled: the intent, its charge and the invoice follow."""
    settled: dict[str, Any] = {**note, "settled": True}
    intent, charge = note.get("payment_intent"), note.get("charge")
    if intent is not None and charge is not None:
        amount = intent["amount"] if succeeded else 0
        settled["payment_intent"] = {
            **intent,
            "amount_received": amount,
            "status": "succeeded" if succeeded else "requires_payment_method",
        }
        settled["charge"] = {
            **charge,
            "amount_captured": amount,
            "captured": succeeded,
            "paid": succeeded,
            "status": "succeeded" if succeeded else "failed",
        }
    invoice = note.get("invoice")
    if invoice is not None and succeeded:  # a failed debit leaves the invoice open, as at Stripe
        settled["invoice"] = {**invoice, "amount_paid": invoice["amount_due"], "status": "paid"}
    return settled


def settle_async_payment(db: Session, session_id: str, *, succeeded: bool | None = None) -> dict[str, Any]:
    """Finish a processing (complete, unpaid) session's payment, as a bank debit eventually does:
    paid, or failed (the session then stays complete and unpaid for good), with its event.

    `succeeded=None` settles it as its test bank account says. A session with nothing
    processing (open, expired, already settled) is left as it is, and no event is sent.
    """
    record = _session_or_404(db, session_id)
    db.refresh(record)
    data = record.data
    note = data.get(PRIVATE) or {}
    processing = data["status"] == "complete" and data["payment_status"] == "unpaid"
    if not processing or note.get("settled"):
        return data
    if succeeded is None:
        if note.get("settles") is None:
            raise ValueError(f"say whether the payment of {session_id} succeeded")
        succeeded = note["settles"] == "succeeded"
    changes = {"payment_status": "paid" if succeeded else "unpaid", PRIVATE: _settled(note, succeeded)}
    data = _update_session(db, record, **changes)
    kind = "succeeded" if succeeded else "failed"
    event_id = _emit(db, f"checkout.session.async_payment_{kind}", data)
    db.commit()
    _dispatch(event_id)
    return data


def _settle_later(session_id: str) -> None:
    delay = current_app.config["SANDBOX_STRIPE_SETTLE_AFTER"]
    if not delay or delay <= 0:
        return
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    timer = threading.Timer(delay, _settle_in_background, args=(app, session_id))
    timer.daemon = True
    timer.start()


def _settle_in_background(app: Flask, session_id: str) -> None:
    try:
        with _pay_lock, app.app_context():
            settle_async_payment(get_session(), session_id)
    except Exception:  # a background thread must not die noisily (e.g. the database went away)
        log.warning("sandbox stripe: settling %s failed", session_id, exc_info=True)


def pay(db: Session, record: SandboxStripeSession, form: Mapping[str, str]) -> PayOutcome:
    """A customer submits `record`'s payment form: a card (`card_number`) or, where the session
    offers it, a US bank account (`payment_method=us_bank_account`, `routing_number`,
    `account_number`). A double click pays once."""
    with _pay_lock:
        db.refresh(record)
        return _pay_locked(db, record, form)


def _pay_locked(db: Session, record: SandboxStripeSession, form: Mapping[str, str]) -> PayOutcome:
    _expire_if_due_locked(db, record)
    status = record.data["status"]
    if status == "complete":
        return PayOutcome(True)
    if status != "open":
        return PayOutcome(False, "This Checkout Session has expired.")
    method = form.get("payment_method", "card")
    if method not in record.data["payment_method_types"]:
        return PayOutcome(False, "This payment method is not available for this payment.")
    if method == "us_bank_account":
        settles, problem = _bank_account_outcome(form)
        if problem:
            return PayOutcome(False, problem)
        data = complete_session(db, record.id, paid=False, settles=settles)
        if data["payment_status"] == "unpaid":
            _settle_later(record.id)
        return PayOutcome(True)
    problem = _card_problem(form.get("card_number", ""))
    if problem:
        return PayOutcome(False, problem)
    complete_session(db, record.id)
    return PayOutcome(True)


def _completion_url(data: dict[str, Any], key: str) -> str | None:
    url = data.get(key)
    return url.replace("{CHECKOUT_SESSION_ID}", data["id"]) if url else None


def _amount_label(data: dict[str, Any]) -> str:
    return f"{data['amount_total'] / 100:,.2f} {data['currency'].upper()}"


_ORIGIN = re.compile(r"https?://[A-Za-z0-9.\-]+(:\d+)?")


def _portal_origin() -> str:
    parts = urlsplit(current_app.config["PORTAL_URL"])
    return f"{parts.scheme}://{parts.netloc}"


@bp.route("/embedded", methods=["GET", "POST"])
def embedded() -> str:
    """The embedded checkout frame: a card form for the session of `client_secret`."""
    source = request.form if request.method == "POST" else request.args
    client_secret = source.get("client_secret", "")
    parent = source.get("origin", "")
    parent_origin = parent if _ORIGIN.fullmatch(parent) else _portal_origin()
    add_csp_source("frame-ancestors", parent_origin)
    add_csp_source("frame-ancestors", _portal_origin())
    db = get_session()
    record = db.scalar(
        select(SandboxStripeSession).where(SandboxStripeSession.client_secret == client_secret)
    )
    if record is None or not client_secret:
        return render_template(
            "sandbox/stripe/embedded.html",
            data=None,
            error="Invalid client secret.",
            parent_origin=parent_origin,
        )
    outcome = pay(db, record, request.form) if request.method == "POST" else None
    if outcome is None:
        expire_if_due(db, record)  # a session past its time shows as expired
    return render_template(
        "sandbox/stripe/embedded.html",
        data=record.data,
        amount=_amount_label(record.data),
        error=outcome.message if outcome else None,
        parent_origin=parent_origin,
        client_secret=client_secret,
        redirect_url=_completion_url(record.data, "return_url"),
    )


@bp.route("/pay/<session_id>", methods=["GET", "POST"])
def pay_page(session_id: str) -> Response | str | tuple[str, int]:
    """Hosted Checkout: never framed, as at Stripe; on payment, on to the session's success_url."""
    forbid_framing()
    db = get_session()
    record = db.get(SandboxStripeSession, session_id)
    if record is None or record.data["ui_mode"] != "hosted_page":
        return render_template("sandbox/stripe/pay.html", data=None, error="Something went wrong."), 404
    success_url = _completion_url(record.data, "success_url")
    if success_url:
        add_csp_source("form-action", f"{urlsplit(success_url).scheme}://{urlsplit(success_url).netloc}")
    outcome = pay(db, record, request.form) if request.method == "POST" else None
    if outcome is None:
        expire_if_due(db, record)  # a session past its time shows as expired
    if outcome and outcome.completed and success_url:
        return redirect(success_url, code=303)
    return render_template(
        "sandbox/stripe/pay.html",
        data=record.data,
        amount=_amount_label(record.data),
        error=outcome.message if outcome else None,
        cancel_url=_completion_url(record.data, "cancel_url"),
    )


@bp.get("/receipts/<session_id>")
def receipt(session_id: str) -> tuple[str, int]:
    """A charge's receipt, as Stripe hosts it (its `receipt_url`): amount, date and status.
    Opened by the customer, never framed."""
    return _hosted_document(session_id, "charge")


@bp.get("/invoices/<session_id>")
def invoice_page(session_id: str) -> tuple[str, int]:
    """A subscription's first invoice, as Stripe hosts it (its `hosted_invoice_url`): amount,
    date and status. Opened by the customer, never framed."""
    return _hosted_document(session_id, "invoice")


_DOCUMENT_STATUS = {
    "succeeded": "Paid",
    "paid": "Paid",
    "pending": "Pending",
    "open": "Open",
    "failed": "Failed",
}


def _hosted_document(session_id: str, kind: str) -> tuple[str, int]:
    forbid_framing()
    title = "Receipt" if kind == "charge" else "Invoice"
    record = get_session().get(SandboxStripeSession, session_id)
    found = (record.data.get(PRIVATE) or {}).get(kind) if record is not None else None
    if record is None or found is None:
        return render_template("sandbox/stripe/receipt.html", title=title, document=None), 404
    return render_template(
        "sandbox/stripe/receipt.html",
        title=title,
        document=found,
        status=_DOCUMENT_STATUS.get(found["status"], found["status"]),
        amount=_amount_label(record.data),
        dated=time.strftime("%Y-%m-%d", time.gmtime(found["created"])),
        email=(record.data.get("customer_details") or {}).get("email"),
    ), 200


# --- events and webhook deliveries ---------------------------------------------------


def sign_webhook_payload(payload: bytes, secret: str, timestamp: int | None = None) -> str:
    """The `Stripe-Signature` header Stripe sends: `t=<unix>,v1=<HMAC-SHA256 of "t.payload">`."""
    timestamp = int(time.time()) if timestamp is None else timestamp
    signed = f"{timestamp}.".encode() + payload
    digest = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def test_mode_signature(header: str) -> str:
    """`header` as Stripe sends it for a test-mode event: with an extra signature under the fake `v0`
    scheme, made with a secret nobody has, so that a receiver shows it verifies `v1` alone."""
    return f"{header},v0={secrets.token_hex(32)}"


def build_event(
    event_type: str, obj: dict[str, Any], event_id: str | None = None, created: float | None = None
) -> dict[str, Any]:
    """An Event object as Stripe sends it to webhooks (a snapshot of `obj`), made at `created`
    (now, by this machine's clock, if not given)."""
    return {
        "id": event_id or _stripe_id("evt_"),
        "object": "event",
        "api_version": IMITATED_API_VERSION,
        "created": int(time.time() if created is None else created),
        "data": {"object": obj},
        "livemode": False,
        "pending_webhooks": 1,
        "request": {"id": None, "idempotency_key": None},
        "type": event_type,
    }


def _emit(db: Session, event_type: str, obj: dict[str, Any]) -> str:
    """Store an event (the caller commits, then `_dispatch`es it); returns its id."""
    event = build_event(event_type, public_session(obj), created=stripe_now())
    db.add(
        SandboxStripeEvent(id=event["id"], type=event_type, object_id=obj["id"], payload=json.dumps(event))
    )
    return str(event["id"])


def _dispatch(event_id: str) -> None:
    if not current_app.config["SANDBOX_STRIPE_WEBHOOKS"]:
        return
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    # From another thread: the portal's webhook calls back into this same server
    # (to re-read the session), which must be free to answer.
    threading.Thread(target=_deliver_with_retries, args=(app, event_id), daemon=True).start()


def webhook_url(app: Flask) -> str:
    return str(app.config["SANDBOX_STRIPE_WEBHOOK_URL"] or app.config["PORTAL_URL"] + "/billing/webhook")


def deliver_event(app: Flask, event_id: str) -> int | None:
    """Send one stored event to the portal's webhook, signed; returns the HTTP status (None: unreachable).

    No database connection is held while the webhook is posted: the portal's answer may need
    one from the same pool (in tests, the same app).
    """
    with app.extensions["db_sessionmaker"]() as db:
        record = db.get(SandboxStripeEvent, event_id)
        if record is None:
            return None
        payload = record.payload.encode()
    headers = {
        "Content-Type": "application/json; charset=utf-8",
        "Stripe-Signature": test_mode_signature(
            sign_webhook_payload(payload, app.config["STRIPE_WEBHOOK_SECRET"], int(stripe_now(app)))
        ),
        "User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
    }
    try:
        status: int | None = requests.post(
            webhook_url(app), data=payload, headers=headers, timeout=10
        ).status_code
    except requests.RequestException:
        status = None
    with app.extensions["db_sessionmaker"]() as db:
        db.execute(
            update(SandboxStripeEvent)
            .where(SandboxStripeEvent.id == event_id)
            .values(attempts=SandboxStripeEvent.attempts + 1, last_status=status)
        )
        db.commit()
    return status


def _deliver_with_retries(app: Flask, event_id: str) -> None:
    for delay in (0.0, *WEBHOOK_RETRY_DELAYS):
        time.sleep(delay)
        try:
            status = deliver_event(app, event_id)
        except Exception:  # a background thread must not die noisily (e.g. the database went away)
            log.warning("sandbox stripe: delivering %s failed", event_id, exc_info=True)
            return
        if status is not None and 200 <= status < 300:
            return
    log.warning("sandbox stripe: gave up delivering %s", event_id)


def register_stripe_standin(app: Flask) -> None:
    """Serve the stand-in at /sandbox/stripe (refused in production)."""
    if app.config["PORTAL_ENV"] == "production":
        raise RuntimeError("the Stripe stand-in is for development and tests only")
    app.register_blueprint(bp)
