"""The Stripe gateway: the only module that imports `stripe`.

Built once per app from the settings (`init_stripe`) and kept in
`app.extensions["stripe_gateway"]`. It speaks to Stripe (or, in tests and the
sandbox, to the stand-in at `STRIPE_API_BASE`) through `StripeClient` with a
timeout on every call and retries of network errors, 409s and 5xx. It returns
small dataclasses, so nothing outside this module touches a Stripe object, and
raises only the errors below.

Settings: STRIPE_SECRET_KEY, STRIPE_WEBHOOK_SECRET, STRIPE_PRICE_ID,
STRIPE_PRICE_MODE ("payment" or "subscription"; empty: asked from the price's
type, cached with the price), STRIPE_PAYMENT_METHOD_TYPES (what Checkout may offer; none:
the Dashboard's choice), STRIPE_API_BASE, STRIPE_TIMEOUT (seconds), STRIPE_MAX_RETRIES.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import urlsplit

import stripe
from flask import Flask, current_app

from portal.config import DEFAULT_PAYMENT_METHOD_TYPES, payment_method_types
from portal.text import is_acceptable

if TYPE_CHECKING:
    from portal.models import Payment, Registration

log = logging.getLogger(__name__)

DEFAULT_API_BASE = "https://api.stripe.com"
# The API version every request names (stripe-python sends it as Stripe-Version): the page's
# Stripe.js release must match it (portal.billing.stripe_js).
PINNED_API_VERSION: str = stripe.api_version
EMBEDDED = "embedded_page"
HOSTED = "hosted_page"
UI_MODES = (EMBEDDED, HOSTED)
WEBHOOK_TOLERANCE_SECONDS = 300
# How long a process shows the price it read from Stripe before reading it again.
PRICE_CACHE_SECONDS = 3600
# After Stripe failed to say the price, how long pages show the last one known (or none) rather
# than ask again: in an outage, every view of the payment page would otherwise wait for Stripe's
# timeouts and retries.
PRICE_RETRY_SECONDS = 60
_LONGEST_ID = 255  # the longest Stripe id (or status, currency, metadata value) the portal stores
LONGEST_RECEIPT_URL = 2048  # Payment.receipt_url's length; Stripe's receipt URLs are about 200 characters
# One retrieve brings the session with its receipt: a one-time payment's PaymentIntent and that
# intent's latest Charge (its `receipt_url`), or a subscription's first invoice (its hosted page,
# where a paid invoice offers its receipt).
RECEIPT_EXPANSIONS = ("payment_intent.latest_charge", "invoice")
# Stripe expires a Checkout Session between 30 minutes and 24 hours after creating it (`expires_at`;
# 24 hours when not given). The portal asks for 31 minutes after its registration closes: a session
# is only created while the registration is open, so that is always more than 30 minutes away, the
# extra minute covering the request's way to Stripe and a clock a little apart from Stripe's. A
# request slower than that, or a clock further apart, is refused: SessionTooLate.
SESSION_OUTLIVES_REGISTRATION = timedelta(minutes=31)
SHORTEST_SESSION = timedelta(minutes=30)
LONGEST_SESSION = timedelta(hours=24)
CLOCK_SKEW = timedelta(minutes=1)


class PaymentProviderUnavailable(RuntimeError):
    """Stripe could not be reached or failed on its side (network, timeout, 409, 424, 429, 5xx): try
    again later. `http_status` is Stripe's answer, None when none came."""

    def __init__(self, message: str, *, http_status: int | None = None) -> None:
        super().__init__(message)
        self.http_status = http_status


class PaymentProviderError(RuntimeError):
    """Stripe refused the request (4xx): a bug or a setting to fix, not worth retrying as is.
    `param` is the parameter Stripe named as the cause, if it named one."""

    def __init__(
        self,
        message: str,
        *,
        http_status: int | None = None,
        code: str | None = None,
        param: str | None = None,
    ) -> None:
        super().__init__(message)
        self.http_status = http_status
        self.code = code
        self.param = param


class SessionTooLate(PaymentProviderError):
    """Stripe refused a Checkout Session's `expires_at` as less than SHORTEST_SESSION from its now:
    by Stripe's clock the registration closed over a minute ago (`session_expires_at`), whatever
    ours says, and no session can be made for it any more. Not the vendor's settings."""


class InvalidWebhook(ValueError):
    """A webhook delivery that is not provably from Stripe: bad or missing signature, stale, or not JSON."""


@dataclass(frozen=True)
class CheckoutSessionInfo:
    """What the portal reads of a Checkout Session."""

    id: str
    status: str | None
    payment_status: str
    mode: str
    ui_mode: str | None
    client_secret: str | None
    url: str | None
    amount_total: int | None
    currency: str | None
    customer: str | None
    customer_email: str | None
    payment_intent: str | None
    subscription: str | None
    client_reference_id: str | None
    metadata: dict[str, str] = field(default_factory=dict)
    # Where the customer finds the receipt, when the session was read with RECEIPT_EXPANSIONS and
    # Stripe has one: the charge's receipt (payment mode), or the paid first invoice's hosted page
    # (subscription mode). None for an unpaid or free one-time session.
    receipt_url: str | None = None
    # Stripe refused to show the receipt (the key may not read charges or invoices): read without.
    receipt_refused: bool = False

    @property
    def is_open(self) -> bool:
        return self.status == "open"

    @property
    def is_paid(self) -> bool:
        """Stripe's word that the customer owes nothing more for this session."""
        return self.status == "complete" and self.payment_status in ("paid", "no_payment_required")


@dataclass(frozen=True)
class PriceInfo:
    id: str
    type: str
    unit_amount: int | None
    currency: str
    interval: str | None
    active: bool = True  # an archived price cannot be sold

    @property
    def checkout_mode(self) -> str:
        return "subscription" if self.type == "recurring" else "payment"


def _id_of(value: Any) -> str | None:
    """An expandable field's id, whether Stripe sent the id or the expanded object."""
    if value is None or isinstance(value, str):
        return value
    found = value.get("id")
    return found if isinstance(found, str) else None


def _receipt_url(session: dict[str, Any], http_origin: str | None) -> str | None:
    """Where the customer finds the receipt of an expanded session (RECEIPT_EXPANSIONS): its
    PaymentIntent's latest charge's receipt, or its first invoice's hosted page once that invoice
    is paid (an open one is a page to pay, not a receipt). Only a URL the portal can store and
    link to: https (or http from `http_origin`, the local stand-in's), at most
    LONGEST_RECEIPT_URL characters. None when absent, unexpanded or unusable: a payment is
    recorded without its receipt rather than refused for it."""
    intent, invoice = session.get("payment_intent"), session.get("invoice")
    charge = intent.get("latest_charge") if isinstance(intent, dict) else None
    url = charge.get("receipt_url") if isinstance(charge, dict) else None
    if url is None and isinstance(invoice, dict) and invoice.get("status") == "paid":
        url = invoice.get("hosted_invoice_url")
    if not isinstance(url, str) or not _storable(url, LONGEST_RECEIPT_URL):
        return None
    parts = urlsplit(url)
    origin = f"{parts.scheme}://{parts.netloc}"
    if not parts.netloc or (parts.scheme != "https" and origin != http_origin):
        return None
    return url


def _session_info(session: stripe.checkout.Session, http_origin: str | None = None) -> CheckoutSessionInfo:
    data = session.to_dict()
    details = data.get("customer_details") or {}
    info = CheckoutSessionInfo(
        id=data["id"],
        status=data.get("status"),
        payment_status=data.get("payment_status") or "unpaid",
        mode=data.get("mode") or "payment",
        ui_mode=data.get("ui_mode"),
        client_secret=data.get("client_secret"),
        url=data.get("url"),
        amount_total=data.get("amount_total"),
        currency=data.get("currency"),
        customer=_id_of(data.get("customer")),
        customer_email=details.get("email") or data.get("customer_email"),
        payment_intent=_id_of(data.get("payment_intent")),
        subscription=_id_of(data.get("subscription")),
        client_reference_id=data.get("client_reference_id"),
        metadata=dict(data.get("metadata") or {}),
        receipt_url=_receipt_url(data, http_origin),
    )
    _refuse_unstorable(info)
    return info


def _storable(text: object, longest: int | None = _LONGEST_ID) -> bool:
    if text is None:
        return True
    return isinstance(text, str) and (longest is None or len(text) <= longest) and is_acceptable(text)


def _refuse_unstorable(info: CheckoutSessionInfo) -> None:
    """:raise PaymentProviderError: a value the portal stores or looks up by is not one it can (a
    control character, longer than its column, an amount that is not a whole number)."""
    ids = [info.id, info.status, info.payment_status, info.customer, info.payment_intent, info.subscription]
    ids += [info.client_reference_id, *info.metadata.values()]
    amount = info.amount_total
    readable = (
        all(_storable(text) for text in ids)
        and _storable(info.currency, 3)
        and _storable(info.client_secret, None)
        and (amount is None or (isinstance(amount, int) and not isinstance(amount, bool)))
    )
    if not readable:
        raise PaymentProviderError("Stripe answered with a Checkout Session the portal cannot read")


def session_expires_at(registration: Registration) -> int | None:
    """When Stripe is to expire a Checkout Session for `registration` (a Unix time): 31 minutes after
    the registration closes, so that a payment window left open cannot be paid long after nothing
    can be registered any more.

    A function of stored data only, never of the time now: every request for one payment attempt
    sends the same parameters under the same idempotency key, which Stripe refuses with others.

    None (Stripe's default, 24 hours after creation) for a registration that lives so long that a
    session created at its start might be asked to live beyond Stripe's 24 hours: no time fixed in
    advance is then sure to be accepted (LMS registration tokens live an hour; only a
    REGISTRATION_LIFETIME above 23 h 28 min comes here).
    """
    expires = registration.expires_at + SESSION_OUTLIVES_REGISTRATION
    if expires - registration.created_at > LONGEST_SESSION - CLOCK_SKEW:
        return None
    return int(expires.timestamp())


# Stripe refusing an idempotency key sent again with other parameters (its error type; it has no code).
IDEMPOTENCY_ERROR = "idempotency_error"
# Stripe's answers that say "not now" rather than "not this": a conflict with a request still
# running (409), a failed dependency (424), too many requests (429).
_TRANSIENT_STATUSES = (409, 424, 429)


def _translate(error: stripe.StripeError) -> Exception:
    status = error.http_status
    if (
        isinstance(error, stripe.APIConnectionError)
        or status is None
        or status >= 500
        or status in _TRANSIENT_STATUSES
    ):
        return PaymentProviderUnavailable(
            f"Stripe is unavailable: {error.user_message or error}", http_status=status
        )
    code = IDEMPOTENCY_ERROR if isinstance(error, stripe.IdempotencyError) else error.code
    return PaymentProviderError(
        f"Stripe refused the request: {error.user_message or error}",
        http_status=status,
        code=code,
        param=getattr(error, "param", None),
    )


def _refused_as_too_soon(error: PaymentProviderError, params: dict[str, Any]) -> bool:
    """Whether Stripe refused the `expires_at` in `params` for being too soon rather than too late.
    Stripe names the parameter but not which end it broke: the nearer one by our clock, which may
    be minutes apart from Stripe's, never hours."""
    expires_at = params.get("expires_at")
    if error.param != "expires_at" or expires_at is None:
        return False
    between = (SHORTEST_SESSION + LONGEST_SESSION) / 2
    return bool(expires_at - time.time() < between.total_seconds())


class StripeGateway:
    """Checkout Sessions, the registration price and webhook verification, over one `StripeClient`."""

    def __init__(
        self,
        secret_key: str,
        *,
        api_base: str = DEFAULT_API_BASE,
        timeout: float = 20,
        max_retries: int = 2,
        webhook_secret: str = "",
        price_id: str = "",
        price_mode: str = "",
        payment_method_types: tuple[str, ...] = DEFAULT_PAYMENT_METHOD_TYPES,
    ) -> None:
        self.price_id = price_id
        self.payment_method_types = payment_method_types
        self._has_key = bool(secret_key)
        self._webhook_secret = webhook_secret
        self._price_mode = price_mode
        self._price: PriceInfo | None = None
        self._price_read_at = 0.0
        self._price_failed_at: float | None = None
        self._price_lock = threading.Lock()
        base = urlsplit(api_base)
        # Over plain http only a local stand-in answers; its receipts are served beside its API.
        self._http_origin = f"http://{base.netloc}" if base.scheme == "http" else None
        self._client = stripe.StripeClient(
            secret_key or "sk_missing",  # never sent: _call refuses first
            base_addresses={"api": api_base.rstrip("/")},
            max_network_retries=max_retries,
            http_client=stripe.RequestsClient(timeout=timeout),
        )

    @classmethod
    def from_config(cls, config: Any) -> StripeGateway:
        return cls(
            config["STRIPE_SECRET_KEY"],
            api_base=config["STRIPE_API_BASE"] or DEFAULT_API_BASE,
            timeout=float(config["STRIPE_TIMEOUT"]),
            max_retries=int(config["STRIPE_MAX_RETRIES"]),
            webhook_secret=config["STRIPE_WEBHOOK_SECRET"],
            price_id=config["STRIPE_PRICE_ID"],
            price_mode=config["STRIPE_PRICE_MODE"],
            # Read as at start also when set on app.config as text afterwards (tuple("card") is letters).
            payment_method_types=payment_method_types(config["STRIPE_PAYMENT_METHOD_TYPES"]),
        )

    def _call(self, what: str, method: Any, *args: Any, **kwargs: Any) -> Any:
        if not self._has_key:
            raise PaymentProviderError("STRIPE_SECRET_KEY is not set")
        try:
            return method(*args, **kwargs)
        except stripe.StripeError as error:
            translated = _translate(error)
            log.warning("stripe %s failed: %s (status %s)", what, type(error).__name__, error.http_status)
            raise translated from error

    def price(self) -> PriceInfo:
        """The registration price, as Stripe said it within the last PRICE_CACHE_SECONDS (a price
        changes rarely; pages show it without asking Stripe each time)."""
        with self._price_lock:
            now = time.monotonic()
            if self._price is None or now - self._price_read_at > PRICE_CACHE_SECONDS:
                try:
                    self._price, self._price_read_at = self.read_price(), now
                except (PaymentProviderUnavailable, PaymentProviderError):
                    self._price_failed_at = now
                    raise
                self._price_failed_at = None
            return self._price

    def shown_price(self) -> PriceInfo | None:
        """The price for a page to show, as `price` reads it. When Stripe cannot say, the last price
        it said (None if none yet), and for PRICE_RETRY_SECONDS after that no new question: a page
        shows what is known rather than wait on Stripe. Paying still asks Stripe itself."""
        failed_at = self._price_failed_at
        if failed_at is not None and time.monotonic() - failed_at < PRICE_RETRY_SECONDS:
            return self._price
        try:
            return self.price()
        except (PaymentProviderUnavailable, PaymentProviderError):
            return self._price

    def read_price(self) -> PriceInfo:
        """The registration price as Stripe says it now (the preflight's check)."""
        if not self.price_id:
            raise PaymentProviderError("STRIPE_PRICE_ID is not set")
        data = self._call("price retrieve", self._client.v1.prices.retrieve, self.price_id).to_dict()
        return PriceInfo(
            id=data["id"],
            type=data.get("type") or "one_time",
            unit_amount=data.get("unit_amount"),
            currency=data.get("currency") or "usd",
            interval=(data.get("recurring") or {}).get("interval"),
            active=bool(data.get("active", True)),
        )

    def checkout_mode(self) -> str:
        """`payment` for a one-time price, `subscription` for a recurring one (or STRIPE_PRICE_MODE)."""
        return self._price_mode or self.price().checkout_mode

    def _base_params(self, payment: Payment, ui_mode: str) -> dict[str, Any]:
        registration_ref = payment.registration.public_id
        params: dict[str, Any] = {
            "mode": self.checkout_mode(),
            "ui_mode": ui_mode,
            "line_items": [{"price": self.price_id, "quantity": 1}],
            "client_reference_id": registration_ref,
            "metadata": {"payment": payment.public_id, "registration": registration_ref},
        }
        if payment.customer_email:
            params["customer_email"] = payment.customer_email
        if self.payment_method_types:
            # Since API version 2026-09-30.endive a Checkout Session takes no `payment_method_types`:
            # Stripe offers the methods it would offer anyway (enabled, fit for the currency) that
            # this list names; the session's `payment_method_types` says which those are.
            params["allowed_payment_method_types"] = list(self.payment_method_types)
        expires_at = session_expires_at(payment.registration)
        if expires_at is not None:
            params["expires_at"] = expires_at
        return params

    def _create(self, payment: Payment, ui_mode: str, params: dict[str, Any]) -> CheckoutSessionInfo:
        # The same payment attempt always sends the same key and parameters, so a double
        # click or a retry gets Stripe's first answer back instead of a second session.
        key = f"checkout-{payment.public_id}-{ui_mode}-{payment.attempt}"
        try:
            return self._create_under(key, params)
        except PaymentProviderError as error:
            if error.param != "customer_email" or "customer_email" not in params:
                raise
        # Stripe's idea of an address is narrower than the portal's, and only fills in the form:
        # the customer types theirs in Checkout. A refused request keeps nothing under its key, but
        # the next click sends the address again first, so the session without it has its own key.
        log.warning("session create: Stripe refused the customer's address; Checkout will ask for it")
        without = {name: value for name, value in params.items() if name != "customer_email"}
        return self._create_under(f"{key}-without-email", without)

    def _create_under(self, key: str, params: dict[str, Any]) -> CheckoutSessionInfo:
        try:
            session = self._call(
                "session create",
                self._client.v1.checkout.sessions.create,
                params=params,
                options={"idempotency_key": key},
            )
        except PaymentProviderError as error:
            if _refused_as_too_soon(error, params):
                raise SessionTooLate(str(error), http_status=error.http_status, param=error.param) from error
            raise
        return _session_info(session)

    def create_embedded_session(self, payment: Payment, return_url: str) -> CheckoutSessionInfo:
        """An Embedded Checkout session for `payment`'s current attempt; `return_url` may hold
        `{CHECKOUT_SESSION_ID}`. Card payments end with Stripe.js's onComplete, not a redirect."""
        params = self._base_params(payment, EMBEDDED)
        params.update(return_url=return_url, redirect_on_completion="if_required")
        return self._create(payment, EMBEDDED, params)

    def create_hosted_session(
        self, payment: Payment, success_url: str, cancel_url: str
    ) -> CheckoutSessionInfo:
        """A hosted Checkout session (for a new window) for `payment`'s current attempt."""
        params = self._base_params(payment, HOSTED)
        params.update(success_url=success_url, cancel_url=cancel_url)
        return self._create(payment, HOSTED, params)

    def retrieve_session(self, session_id: str) -> CheckoutSessionInfo:
        """The session as Stripe says it is now, with the receipt of its payment in the same call.

        Should Stripe refuse the expansion (a restricted key without read access to charges, for
        one), the session is read again without it, so that a paid session is still known paid:
        its `receipt_url` is then None (logged). An unknown session or an unavailable Stripe raises.
        """
        retrieve = self._client.v1.checkout.sessions.retrieve
        try:
            session = self._call(
                "session retrieve", retrieve, session_id, params={"expand": list(RECEIPT_EXPANSIONS)}
            )
        except PaymentProviderError as error:
            if error.http_status not in (400, 403):  # not about the expansion: no unknown session read twice
                raise
            log.warning("session %s: Stripe refused to show its receipt; reading it without", session_id)
            unexpanded = self._call("session retrieve", retrieve, session_id)
            return replace(_session_info(unexpanded, self._http_origin), receipt_refused=True)
        return _session_info(session, self._http_origin)

    def expire_session(self, session_id: str) -> CheckoutSessionInfo:
        """Expire an open session; a session that is no longer open raises PaymentProviderError."""
        return _session_info(
            self._call("session expire", self._client.v1.checkout.sessions.expire, session_id)
        )

    def construct_event(self, payload: bytes, signature_header: str | None) -> dict[str, Any]:
        """The verified event as a plain dict; raises InvalidWebhook for anything not provably Stripe's."""
        try:
            # Only the signature: stripe's own parse chokes (AttributeError) on a payload that is
            # not a JSON object. The payload is read here instead, then its shape by the webhook.
            stripe.WebhookSignature.verify_header(
                payload, signature_header, self._webhook_secret, tolerance=WEBHOOK_TOLERANCE_SECONDS
            )
            event = json.loads(payload)
        except stripe.SignatureVerificationError as error:
            raise InvalidWebhook(str(error).split(". ")[0]) from error
        except (ValueError, RecursionError) as error:  # not UTF-8, not JSON, or nested too deep
            raise InvalidWebhook("the payload is not a Stripe event") from error
        if not isinstance(event, dict) or not event.get("id") or not event.get("type"):
            raise InvalidWebhook("the payload is not a Stripe event")
        return event


def get_gateway() -> StripeGateway:
    return cast(StripeGateway, current_app.extensions["stripe_gateway"])


def init_stripe(app: Flask) -> None:
    """The gateway, and the Stripe.js release that matches its API version (raises ConfigError)."""
    from portal.billing.stripe_js import init_stripe_js  # it reads PINNED_API_VERSION from here

    app.extensions["stripe_gateway"] = StripeGateway.from_config(app.config)
    init_stripe_js(app)
