"""A stand-in for the few parts of Stripe the portal uses (development, tests and the sandbox only).

Served at `/sandbox/stripe` over real HTTP, so the real `StripeClient` talks to it
through `STRIPE_API_BASE`:

- `POST /v1/checkout/sessions`, `GET /v1/checkout/sessions/<id>`,
  `POST /v1/checkout/sessions/<id>/expire` and `GET /v1/prices/<id>`: form-encoded
  parameters, Bearer secret key, `Idempotency-Key` honoured (same key and parameters:
  the first answer again; other parameters: `idempotency_error`), objects shaped like
  Stripe's and Stripe-style error bodies.
- `/sandbox/stripe/embedded?client_secret=...`: the frame that `static/js/stripe-standin.js`
  (the Stripe.js stand-in) mounts, with a card form; `/sandbox/stripe/pay/<id>`: hosted
  Checkout. Card 4242 4242 4242 4242 pays, 4000 0000 0000 0002 is declined.
- On payment (and on expiry) an event is sent to the portal's webhook, signed with
  STRIPE_WEBHOOK_SECRET by Stripe's algorithm, from a background thread.

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
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

import requests
from flask import Blueprint, Flask, current_app, jsonify, redirect, render_template, request, url_for
from sqlalchemy import JSON, Integer, String, Text, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column
from werkzeug.wrappers import Response

from portal.db import Base, get_session
from portal.extensions import csrf
from portal.models import UTCDateTime, utcnow
from portal.security import add_csp_source, forbid_framing

log = logging.getLogger(__name__)

API_VERSION = "2026-10-28.endive"
SESSION_LIFETIME_SECONDS = 24 * 3600
PAYING_CARDS = frozenset({"4242424242424242", "5555555555554444"})
DECLINED_CARD = "4000000000000002"
INSUFFICIENT_FUNDS_CARD = "4000000000009995"
WEBHOOK_RETRY_DELAYS = (0.5, 1.5, 4.0)
_idempotency_lock = threading.Lock()
_pay_lock = threading.Lock()

bp = Blueprint("stripe_standin", __name__, url_prefix="/sandbox/stripe")
# Stripe's own pages and API answer no CSRF token of ours: a secret key, a client
# secret or the session id is what authorises each request, as at Stripe.
csrf.exempt(bp)


class SandboxStripeSession(Base):
    """A Checkout Session as the stand-in keeps it: the whole Stripe object in `data`."""

    __tablename__ = "sandbox_stripe_sessions"

    id: Mapped[str] = mapped_column(String(255), primary_key=True)
    client_secret: Mapped[str | None] = mapped_column(String(255), unique=True, nullable=True)
    data: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class SandboxStripeIdempotencyKey(Base):
    __tablename__ = "sandbox_stripe_idempotency_keys"

    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    fingerprint: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int] = mapped_column(Integer)
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class SandboxStripeEvent(Base):
    """An event the stand-in emitted, with the exact payload it signs and delivers."""

    __tablename__ = "sandbox_stripe_events"

    id: Mapped[str] = mapped_column(String(255), primary_key=True)
    type: Mapped[str] = mapped_column(String(100))
    object_id: Mapped[str] = mapped_column(String(255), index=True)
    payload: Mapped[str] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_status: Mapped[int | None] = mapped_column(Integer, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


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


def _check_api_key() -> None:
    key = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
    if not key:
        raise StripeApiError(401, "You did not provide an API key. Provide it in the Authorization header.")
    expected = current_app.config.get("STRIPE_SECRET_KEY", "")
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
    return _listify(root)


def _listify(node: Any) -> Any:
    if not isinstance(node, dict):
        return node
    converted = {k: _listify(v) for k, v in node.items()}
    if converted and all(k.isdigit() for k in converted):
        return [converted[k] for k in sorted(converted, key=int)]
    return converted


def _idempotent(handler: Any) -> Any:
    """Replay the first answer for a repeated Idempotency-Key; refuse the key with other parameters."""
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
    amount = 0 if "free" in price_id else int(current_app.config.get("SANDBOX_STRIPE_UNIT_AMOUNT", 4900))
    interval = "year" if "year" in price_id else "month"
    return {
        "id": price_id,
        "object": "price",
        "active": True,
        "billing_scheme": "per_unit",
        "created": 1700000000,
        "currency": current_app.config.get("SANDBOX_STRIPE_CURRENCY", "usd"),
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
        total += price["unit_amount"] * int(item.get("quantity", 1))
        currency = price["currency"]
    return total, currency or "usd"


def _check_urls(params: dict[str, Any], ui_mode: str) -> None:
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
    elif "return_url" in params or "redirect_on_completion" in params:
        raise StripeApiError(
            400,
            "`return_url` and `redirect_on_completion` only apply to `embedded_page`.",
            param="return_url",
        )


def _new_session(params: dict[str, Any]) -> dict[str, Any]:
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
    total, currency = _line_item_total(params, mode)
    session_id = _stripe_id("cs_test_a1", 54)
    now = int(time.time())
    embedded = ui_mode == "embedded_page"
    return {
        "id": session_id,
        "object": "checkout.session",
        "after_expiration": None,
        "allow_promotion_codes": None,
        "amount_subtotal": total,
        "amount_total": total,
        "automatic_tax": {"enabled": False, "liability": None, "status": None, "provider": None},
        "billing_address_collection": None,
        "cancel_url": params.get("cancel_url"),
        "client_reference_id": params.get("client_reference_id"),
        "client_secret": f"{session_id}_secret_{secrets.token_urlsafe(18)}" if embedded else None,
        "created": now,
        "currency": currency,
        "custom_fields": [],
        "customer": params.get("customer"),
        "customer_creation": "if_required" if mode == "payment" else "always",
        "customer_details": None,
        "customer_email": params.get("customer_email"),
        "expires_at": now + SESSION_LIFETIME_SECONDS,
        "invoice": None,
        "livemode": False,
        "locale": None,
        "metadata": params.get("metadata") or {},
        "mode": mode,
        "payment_intent": None,
        "payment_link": None,
        "payment_method_types": ["card"],
        "payment_status": "unpaid",
        "redirect_on_completion": params.get("redirect_on_completion", "always") if embedded else None,
        "return_url": params.get("return_url"),
        "status": "open",
        "subscription": None,
        "success_url": params.get("success_url"),
        "total_details": {"amount_discount": 0, "amount_shipping": 0, "amount_tax": 0},
        "ui_mode": ui_mode,
        "url": None if embedded else _external_url("stripe_standin.pay_page", session_id=session_id),
    }


def _external_url(endpoint: str, **values: Any) -> str:
    return url_for(endpoint, _external=True, **values)


def _session_or_404(db: Session, session_id: str) -> SandboxStripeSession:
    record = db.get(SandboxStripeSession, session_id)
    if record is None:
        raise StripeApiError(
            404, f"No such checkout.session: '{session_id}'", code="resource_missing", param="session"
        )
    return record


@bp.post("/v1/checkout/sessions")
def api_create_session() -> Any:
    _check_api_key()

    def create() -> dict[str, Any]:
        data = _new_session(_unflatten(list(request.form.items(multi=True))))
        db = get_session()
        db.add(SandboxStripeSession(id=data["id"], client_secret=data["client_secret"], data=data))
        db.commit()
        return data

    return _idempotent(create)


@bp.get("/v1/checkout/sessions/<session_id>")
def api_retrieve_session(session_id: str) -> Any:
    _check_api_key()
    return jsonify(_session_or_404(get_session(), session_id).data)


@bp.post("/v1/checkout/sessions/<session_id>/expire")
def api_expire_session(session_id: str) -> Any:
    _check_api_key()

    def expire() -> dict[str, Any]:
        db = get_session()
        record = _session_or_404(db, session_id)
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
        return data

    return _idempotent(expire)


@bp.get("/v1/prices/<price_id>")
def api_retrieve_price(price_id: str) -> Any:
    _check_api_key()
    price = price_object(price_id)
    if price is None:
        raise StripeApiError(404, f"No such price: '{price_id}'", code="resource_missing", param="price")
    return jsonify(price)


def _update_session(db: Session, record: SandboxStripeSession, **changes: Any) -> dict[str, Any]:
    data = {**record.data, **changes}
    record.data = data
    db.flush()
    return data


# --- paying ------------------------------------------------------------------------


@dataclass(frozen=True)
class PayOutcome:
    paid: bool
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


def complete_session(
    db: Session, session_id: str, *, paid: bool = True, email: str | None = None
) -> dict[str, Any]:
    """Complete an open session as Checkout does; `paid=False` leaves an asynchronous payment
    processing (settle it with `settle_async_payment`). Commits and emits the event."""
    record = _session_or_404(db, session_id)
    data = record.data
    free = data["amount_total"] == 0
    changes: dict[str, Any] = {
        "status": "complete",
        "payment_status": "no_payment_required" if free else ("paid" if paid else "unpaid"),
        "customer": data.get("customer") or _stripe_id("cus_", 14),
        "customer_details": {
            "address": None,
            "email": email or data.get("customer_email") or "admin@example.edu",
            "name": None,
            "phone": None,
            "tax_exempt": "none",
            "tax_ids": [],
        },
    }
    if data["mode"] == "subscription":
        changes.update(subscription=_stripe_id("sub_"), invoice=_stripe_id("in_"))
    elif not free:
        changes["payment_intent"] = _stripe_id("pi_")
    data = _update_session(db, record, **changes)
    event_id = _emit(db, "checkout.session.completed", data)
    db.commit()
    _dispatch(event_id)
    return data


def settle_async_payment(db: Session, session_id: str, *, succeeded: bool) -> dict[str, Any]:
    """Finish a processing (complete, unpaid) session's payment, as a bank debit eventually does."""
    record = _session_or_404(db, session_id)
    data = _update_session(db, record, payment_status="paid" if succeeded else "unpaid")
    kind = "succeeded" if succeeded else "failed"
    event_id = _emit(db, f"checkout.session.async_payment_{kind}", data)
    db.commit()
    _dispatch(event_id)
    return data


def pay(db: Session, record: SandboxStripeSession, card_number: str) -> PayOutcome:
    """A customer submits the card form of `record`'s session (a double click pays once)."""
    with _pay_lock:
        db.refresh(record)
        return _pay_locked(db, record, card_number)


def _pay_locked(db: Session, record: SandboxStripeSession, card_number: str) -> PayOutcome:
    status = record.data["status"]
    if status == "complete":
        return PayOutcome(True)
    if status != "open":
        return PayOutcome(False, "This Checkout Session has expired.")
    problem = _card_problem(card_number)
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
    outcome = pay(db, record, request.form.get("card_number", "")) if request.method == "POST" else None
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
    outcome = pay(db, record, request.form.get("card_number", "")) if request.method == "POST" else None
    if outcome and outcome.paid and success_url:
        return redirect(success_url, code=303)
    return render_template(
        "sandbox/stripe/pay.html",
        data=record.data,
        amount=_amount_label(record.data),
        error=outcome.message if outcome else None,
        cancel_url=_completion_url(record.data, "cancel_url"),
    )


# --- events and webhook deliveries ---------------------------------------------------


def sign_webhook_payload(payload: bytes, secret: str, timestamp: int | None = None) -> str:
    """The `Stripe-Signature` header Stripe sends: `t=<unix>,v1=<HMAC-SHA256 of "t.payload">`."""
    timestamp = int(time.time()) if timestamp is None else timestamp
    signed = f"{timestamp}.".encode() + payload
    digest = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def build_event(event_type: str, obj: dict[str, Any], event_id: str | None = None) -> dict[str, Any]:
    """An Event object as Stripe sends it to webhooks (a snapshot of `obj`)."""
    return {
        "id": event_id or _stripe_id("evt_"),
        "object": "event",
        "api_version": API_VERSION,
        "created": int(time.time()),
        "data": {"object": obj},
        "livemode": False,
        "pending_webhooks": 1,
        "request": {"id": None, "idempotency_key": None},
        "type": event_type,
    }


def _emit(db: Session, event_type: str, obj: dict[str, Any]) -> str:
    """Store an event (the caller commits, then `_dispatch`es it); returns its id."""
    event = build_event(event_type, obj)
    db.add(
        SandboxStripeEvent(id=event["id"], type=event_type, object_id=obj["id"], payload=json.dumps(event))
    )
    return event["id"]


def _dispatch(event_id: str) -> None:
    if not current_app.config.get("SANDBOX_STRIPE_WEBHOOKS", True):
        return
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    # From another thread: the portal's webhook calls back into this same server
    # (to re-read the session), which must be free to answer.
    threading.Thread(target=_deliver_with_retries, args=(app, event_id), daemon=True).start()


def webhook_url(app: Flask) -> str:
    return app.config["SANDBOX_STRIPE_WEBHOOK_URL"] or app.config["PORTAL_URL"] + "/billing/webhook"


def deliver_event(app: Flask, event_id: str) -> int | None:
    """Send one stored event to the portal's webhook, signed; returns the HTTP status (None: unreachable)."""
    with app.extensions["db_sessionmaker"]() as db:
        record = db.get(SandboxStripeEvent, event_id)
        if record is None:
            return None
        payload = record.payload.encode()
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "Stripe-Signature": sign_webhook_payload(payload, app.config.get("STRIPE_WEBHOOK_SECRET", "")),
            "User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
        }
        try:
            status: int | None = requests.post(
                webhook_url(app), data=payload, headers=headers, timeout=10
            ).status_code
        except requests.RequestException:
            status = None
        record.attempts += 1
        record.last_status = status
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
    if app.config.get("PORTAL_ENV") == "production":
        raise RuntimeError("the Stripe stand-in is for development and tests only")
    app.register_blueprint(bp)
