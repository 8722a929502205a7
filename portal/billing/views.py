"""The payment pages: Embedded Checkout in the flow's page, hosted Checkout in a new window.

The flow sends the admin to `checkout` with the payment's public id and the URL to
continue with (`next`, a local path). The page moves on only after our server says
the payment is paid (`status`), which it says only after Stripe confirmed it.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from flask import abort, current_app, jsonify, redirect, render_template, request, session, url_for
from flask_wtf.csrf import generate_csrf
from sqlalchemy import select
from werkzeug.wrappers import Response

from portal.billing import bp
from portal.billing.fulfilment import (
    CheckoutStart,
    fulfil_checkout_session,
    refresh_payment,
    start_checkout_for_payment,
)
from portal.billing.links import issue_hosted_token, redeem_hosted_token
from portal.billing.models import Payment
from portal.billing.stripe_gateway import (
    EMBEDDED,
    HOSTED,
    PaymentProviderError,
    PaymentProviderUnavailable,
    get_gateway,
)
from portal.db import get_session
from portal.security import add_csp_source, forbid_framing
from portal.sessions import TOKEN_PARAM, needs_token, session_token

STRIPE_JS_URL = "https://js.stripe.com/v3/"
STRIPE_CSP = {
    "script-src": ("https://js.stripe.com",),
    "frame-src": ("https://js.stripe.com", "https://hooks.stripe.com", "https://checkout.stripe.com"),
    "connect-src": ("https://api.stripe.com", "https://checkout.stripe.com"),
}
# Endpoints the flow's page calls with its session (CSRF lives there): they carry the token.
_SESSION_ENDPOINTS = frozenset({"billing.checkout", "billing.create_session", "billing.hosted_link"})
ZERO_DECIMAL_CURRENCIES = frozenset(
    {"bif", "clp", "djf", "gnf", "jpy", "kmf", "krw", "mga", "pyg", "rwf", "vnd", "vuv", "xaf", "xof", "xpf"}
)
UNAVAILABLE = "Payment is unavailable right now. Please try again in a minute."


@bp.url_defaults
def _carry_session_token(endpoint: str, values: dict[str, Any]) -> None:
    if endpoint in _SESSION_ENDPOINTS and TOKEN_PARAM not in values and session and needs_token():
        values[TOKEN_PARAM] = session_token()


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def allow_stripe_js() -> None:
    """Let this response load Stripe.js and its frames, and nothing more (the stand-in's origin
    instead when STRIPE_JS_URL points at it)."""
    js_url = current_app.config.get("STRIPE_JS_URL") or STRIPE_JS_URL
    if _origin(js_url) == _origin(STRIPE_JS_URL):
        sources: dict[str, tuple[str, ...]] = STRIPE_CSP
    else:
        sources = dict.fromkeys(STRIPE_CSP, (_origin(js_url),))
    for directive, origins in sources.items():
        for origin in origins:
            add_csp_source(directive, origin)


def safe_next(url: str | None) -> str | None:
    """`url` if it is a path on this site (never another host, scheme or `//`), else None."""
    if not url or not url.startswith("/") or url.startswith(("//", "/\\")):
        return None
    parts = urlsplit(url)
    if parts.scheme or parts.netloc:
        return None
    return url


def _without_token(url: str) -> str:
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != TOKEN_PARAM]
    return urlunsplit(("", "", parts.path, urlencode(query), ""))


def _payment_or_404(public_id: str) -> Payment:
    payment = get_session().scalar(select(Payment).where(Payment.public_id == public_id))
    if payment is None:
        abort(404)
    return payment


def _json(body: dict[str, Any], code: int = 200) -> tuple[Response, int]:
    response = jsonify(body)
    response.headers["Cache-Control"] = "no-store"
    return response, code


@bp.get("/checkout/<public_id>")
def checkout(public_id: str) -> Response | str:
    """The payment step: Embedded Checkout, with "Pay in a new window" as the fallback."""
    payment = _payment_or_404(public_id)
    next_url = safe_next(request.args.get("next"))
    if next_url and payment.next_url != _without_token(next_url):
        payment.next_url = _without_token(next_url)
        get_session().commit()
    refresh_payment(payment)
    if payment.is_paid and next_url:
        return redirect(next_url, code=303)
    allow_stripe_js()
    return render_template(
        "billing/checkout.html",
        # First, so the session exists before the page's URLs decide whether to carry its token.
        csrf_token=generate_csrf(),
        payment=payment,
        fee=_fee_label(),
        next_url=next_url,
        hosted_url=url_for_hosted(payment),
        stripe_js_url=current_app.config.get("STRIPE_JS_URL") or STRIPE_JS_URL,
        publishable_key=current_app.config.get("STRIPE_PUBLISHABLE_KEY", ""),
    )


def _fee_label() -> str | None:
    """The price as people read it, e.g. "49.00 USD per month"; None if Stripe cannot say."""
    try:
        price = get_gateway().price()
    except (PaymentProviderUnavailable, PaymentProviderError):
        return None
    if price.unit_amount is None:
        return None
    digits = 0 if price.currency.lower() in ZERO_DECIMAL_CURRENCIES else 2
    label = f"{price.unit_amount / 10**digits:,.{digits}f} {price.currency.upper()}"
    return f"{label} per {price.interval}" if price.interval else label


def url_for_hosted(payment: Payment) -> str:
    return url_for("billing.hosted", token=issue_hosted_token(payment))


def _start_json(start: CheckoutStart) -> dict[str, Any]:
    body: dict[str, Any] = {"state": start.state}
    if start.state == "open" and start.session is not None:
        body["client_secret"] = start.session.client_secret
    return body


@bp.post("/checkout/<public_id>/session")
def create_session(public_id: str) -> tuple[Response, int]:
    """The Embedded Checkout session's client secret for Stripe.js (one per payment attempt)."""
    payment = _payment_or_404(public_id)
    try:
        start = start_checkout_for_payment(payment, EMBEDDED)
    except PaymentProviderUnavailable:
        return _json({"error": UNAVAILABLE}, 503)
    except PaymentProviderError:
        current_app.logger.exception("could not start embedded checkout for payment %s", public_id)
        return _json({"error": UNAVAILABLE}, 502)
    return _json(_start_json(start))


@bp.post("/checkout/<public_id>/hosted-link")
def hosted_link(public_id: str) -> tuple[Response, int]:
    """A fresh one-time link for the next click on "Pay in a new window"."""
    return _json({"url": url_for_hosted(_payment_or_404(public_id))})


@bp.get("/status/<public_id>")
def status(public_id: str) -> tuple[Response, int]:
    """What the waiting page polls: the payment's state, re-read from Stripe while pending."""
    payment = refresh_payment(_payment_or_404(public_id))
    return _json({"status": payment.status, "paid": payment.is_paid})


@bp.get("/hosted/<token>")
def hosted(token: str) -> Response | tuple[str, int]:
    """The new window's entry: a one-time link that opens hosted Checkout for the payment."""
    forbid_framing()
    payment = redeem_hosted_token(token)
    if payment is None:
        return render_template("billing/link_used.html"), 400
    try:
        start = start_checkout_for_payment(payment, HOSTED)
    except (PaymentProviderUnavailable, PaymentProviderError):
        current_app.logger.warning("could not start hosted checkout for payment %s", payment.public_id)
        return render_template("billing/unavailable.html"), 503
    if start.state == "open" and start.session is not None and start.session.url:
        return redirect(start.session.url, code=303)
    return render_template("billing/done.html", payment=payment), 200


def _fulfil_from_return(payment: Payment) -> None:
    session_id = request.args.get("session_id", "")
    if session_id.startswith("cs_") and len(session_id) <= 255:
        try:
            fulfil_checkout_session(session_id, actor="customer")
        except (PaymentProviderUnavailable, PaymentProviderError):
            current_app.logger.warning("could not confirm session %s on return", session_id)
    get_session().refresh(payment)


@bp.get("/return/<public_id>")
def returned(public_id: str) -> str:
    """Embedded Checkout's return_url (used only by redirect-based payment methods): wait, then go on."""
    payment = _payment_or_404(public_id)
    _fulfil_from_return(payment)
    return render_template("billing/return.html", payment=payment, next_url=payment.next_url)


@bp.get("/done/<public_id>")
def done(public_id: str) -> str:
    """Hosted Checkout's success_url, in the new window: the iframe goes on by itself."""
    forbid_framing()
    payment = _payment_or_404(public_id)
    _fulfil_from_return(payment)
    return render_template("billing/done.html", payment=payment)


@bp.get("/cancelled/<public_id>")
def cancelled(public_id: str) -> str:
    forbid_framing()
    return render_template("billing/cancelled.html", payment=_payment_or_404(public_id))
