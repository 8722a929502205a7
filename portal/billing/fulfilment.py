"""Starting Checkout for a registration and recording what Stripe says was paid.

Every function here reads the truth from Stripe (through the gateway) rather than
trusting a browser or the order of webhook events, and commits its own changes.
`fulfil_checkout_session` is the one place a payment becomes paid: the webhook,
the return page and (at most every STRIPE_RECHECK_AFTER seconds) the status poll all
call it, and a conditional UPDATE lets only one of them record it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

from flask import current_app, g, has_request_context
from sqlalchemy import bindparam, or_, select
from sqlalchemy.orm import Session

from portal.billing.stripe_gateway import (
    EMBEDDED,
    HOSTED,
    IDEMPOTENCY_ERROR,
    CheckoutSessionInfo,
    PaymentProviderError,
    PaymentProviderUnavailable,
    SessionTooLate,
    get_gateway,
)
from portal.db import add_unless_raced, get_session, update_if
from portal.models import OPEN_STATES, Payment, PaymentStatus, Registration, User, record_event, utcnow
from portal.registration.lifecycle import expire_if_past_lifetime

log = logging.getLogger(__name__)

STRIPE_ACTOR = "stripe"
_START_ROUNDS = 4


@dataclass(frozen=True)
class FulfilmentResult:
    """`paid`: the payment is paid now; `newly_paid`: this call recorded it; `reason` says why not."""

    paid: bool
    newly_paid: bool
    payment: Payment | None
    reason: str


@dataclass(frozen=True)
class CheckoutStart:
    """`state` is "paid" (nothing to pay), "processing" (an async payment is under way), "open", or
    "closed" (the registration can no longer be paid for: it has expired or is finished).

    An open embedded session comes with its `client_secret` (kept from create). `replaced` names
    how the attempt before this new one ended ("failed", "expired"), so the page can say so.
    """

    state: str
    payment: Payment
    session: CheckoutSessionInfo | None = None
    client_secret: str | None = None
    replaced: str | None = None


def payment_required(user: User | None = None) -> bool:
    """Whether a registration must be paid for: only with a price set, and never by staff."""
    if not current_app.config["STRIPE_PRICE_ID"]:
        return False
    return user is None or not user.is_staff


_PAYMENT_OF_REGISTRATION = select(Payment).where(Payment.registration_id == bindparam("registration_id"))


def payment_of(db: Session, registration: Registration) -> Payment | None:
    """The registration's payment, if any. Once found, a request keeps it (a flow page asks several
    times; the row object is the session's, kept current by every change made to it here); while
    there is none, each call looks again."""
    known: dict[int, Payment] = g.setdefault("payment_of_registration", {}) if has_request_context() else {}
    payment = known.get(registration.id)
    if payment is None:
        payment = db.scalar(_PAYMENT_OF_REGISTRATION, {"registration_id": registration.id})
        if payment is not None:
            known[registration.id] = payment
    return payment


def forget_payment_of(*registrations: Registration) -> None:
    """Let `payment_of` look again for these registrations (a payment moved between them)."""
    if has_request_context():
        known: dict[int, Payment] = g.setdefault("payment_of_registration", {})
        for registration in registrations:
            known.pop(registration.id, None)


def get_or_create_payment(registration: Registration, user: User | None = None) -> Payment:
    """The registration's one payment, created (and committed) on first need; safe under races."""
    db = get_session()
    payment = payment_of(db, registration)
    if payment is not None:
        return payment
    payment = Payment(
        registration_id=registration.id,
        user_id=user.id if user is not None else None,
        customer_email=user.email if user is not None else None,
    )
    payment, _ = add_unless_raced(
        db, payment, lambda: db.scalar(select(Payment).where(Payment.registration_id == registration.id))
    )
    db.commit()
    return payment


def find_payment(db: Session, info: CheckoutSessionInfo) -> Payment | None:
    """Our payment for a Checkout Session: by its id, else by the metadata and reference we set."""
    payment = db.scalar(select(Payment).where(Payment.stripe_session_id == info.id))
    if payment is None and info.metadata.get("payment"):
        payment = db.scalar(select(Payment).where(Payment.public_id == info.metadata["payment"]))
    if payment is None and info.client_reference_id:
        payment = db.scalar(
            select(Payment)
            .join(Registration, Payment.registration_id == Registration.id)
            .where(Registration.public_id == info.client_reference_id)
        )
    return payment


def _record_if_paid(db: Session, info: CheckoutSessionInfo, payment: Payment, actor: str) -> FulfilmentResult:
    if not info.is_paid:
        reason = "processing" if info.status == "complete" else (info.status or "open")
        return FulfilmentResult(payment.is_paid, False, payment, reason)
    won = update_if(
        db,
        payment,
        Payment.status != PaymentStatus.PAID.value,
        status=PaymentStatus.PAID.value,
        stripe_session_id=info.id,
        amount_total=info.amount_total,
        currency=info.currency,
        stripe_customer=info.customer,
        stripe_payment_intent=info.payment_intent,
        stripe_subscription=info.subscription,
        receipt_url=info.receipt_url,
        stripe_client_secret=None,
        paid_at=utcnow(),
        updated_at=utcnow(),
    )
    if not won:
        add_missing_receipt(db, payment, info)
        if payment.stripe_session_id != info.id:
            log.error(
                "payment %s: session %s was paid too, after %s; refund it in Stripe",
                payment.public_id,
                info.id,
                payment.stripe_session_id,
            )
        return FulfilmentResult(True, False, payment, "already_paid")
    record_event(
        db,
        action="payment:paid",
        actor=actor,
        registration=payment.registration,
        details={
            "payment": payment.public_id,
            "session": info.id,
            "amount_total": info.amount_total,
            "currency": info.currency,
            "payment_status": info.payment_status,
        },
    )
    db.commit()
    return FulfilmentResult(True, True, payment, "paid")


def add_missing_receipt(db: Session, payment: Payment, info: CheckoutSessionInfo) -> bool:
    """Keep the receipt a later read of the paying session brought, if the read that recorded the
    payment had none (Stripe refused to expand it then, or the portal did not yet keep receipts).
    Asks Stripe nothing; True if this call stored it."""
    if info.receipt_url is None or payment.receipt_url is not None or payment.stripe_session_id != info.id:
        return False
    if update_if(
        db,
        payment,
        Payment.stripe_session_id == info.id,
        Payment.receipt_url.is_(None),
        receipt_url=info.receipt_url,
        updated_at=utcnow(),
    ):
        db.commit()
        return True
    return False


UNKNOWN_SESSION = FulfilmentResult(False, False, None, "unknown_session")


def _session_and_payment(db: Session, session_id: str) -> tuple[CheckoutSessionInfo, Payment | None]:
    """The session as Stripe says it is now, and our payment for it (None, logged, if none)."""
    info = get_gateway().retrieve_session(session_id)
    payment = find_payment(db, info)
    if payment is None:
        log.warning("checkout session %s belongs to no payment of ours", session_id)
    return info, payment


def fulfil_checkout_session(session_id: str, actor: str = STRIPE_ACTOR) -> FulfilmentResult:
    """Re-read `session_id` from Stripe and record its payment once if Stripe says it is paid.

    Accepts only status "complete" with payment_status "paid" or "no_payment_required".
    Idempotent. Raises PaymentProviderUnavailable/PaymentProviderError from the gateway.
    """
    db = get_session()
    info, payment = _session_and_payment(db, session_id)
    if payment is None:
        return UNKNOWN_SESSION
    return _record_if_paid(db, info, payment, actor)


def _close_attempt(session_id: str, status: PaymentStatus, accept: str) -> FulfilmentResult:
    db = get_session()
    info, payment = _session_and_payment(db, session_id)
    if payment is None:
        return UNKNOWN_SESSION
    if info.is_paid:
        return _record_if_paid(db, info, payment, STRIPE_ACTOR)
    if info.status != accept:
        return FulfilmentResult(payment.is_paid, False, payment, info.status or "open")
    # Only the current attempt's own session can fail it; an old session's news is stale.
    won = update_if(
        db,
        payment,
        Payment.status == PaymentStatus.PENDING.value,
        Payment.stripe_session_id == info.id,
        status=status.value,
        stripe_client_secret=None,
        updated_at=utcnow(),
    )
    if won:
        record_event(
            db,
            action=f"payment:{status.value}",
            actor=STRIPE_ACTOR,
            registration=payment.registration,
            details={"payment": payment.public_id, "session": info.id},
        )
        db.commit()
    return FulfilmentResult(payment.is_paid, False, payment, status.value if won else "stale")


def mark_session_failed(session_id: str) -> FulfilmentResult:
    """An asynchronous payment failed: the payment becomes failed (a new attempt may follow).

    The session itself stays "complete" and "unpaid" forever, as while the payment was
    processing: this mark is what tells the two apart.
    """
    return _close_attempt(session_id, PaymentStatus.FAILED, accept="complete")


def mark_session_expired(session_id: str) -> FulfilmentResult:
    """The session expired unpaid: the payment becomes expired (a new attempt may follow)."""
    return _close_attempt(session_id, PaymentStatus.EXPIRED, accept="expired")


def end_open_sessions_of(db: Session, user: User) -> int:
    """Expire `user`'s Checkout Sessions still open at Stripe for registrations that have closed
    (their account was erased, which closed them), so that nothing more can be paid for them;
    returns how many ended. After the closing committed, and at best effort: a session Stripe says
    was completed meanwhile is recorded (paid, so the staff see a refund due), and one Stripe cannot
    be reached about ends by itself at its `expires_at`, half an hour after its registration."""
    pending = db.scalars(
        select(Payment)
        .join(Registration, Registration.id == Payment.registration_id)
        .where(
            Payment.user_id == user.id,
            Payment.status == PaymentStatus.PENDING.value,
            Payment.stripe_session_id.is_not(None),
            Registration.state.not_in([state.value for state in OPEN_STATES]),
        )
    ).all()
    return sum(_end_session(str(payment.stripe_session_id)) for payment in pending)


def _end_session(session_id: str) -> bool:
    try:
        get_gateway().expire_session(session_id)
    except PaymentProviderUnavailable:
        log.warning("could not expire checkout session %s of a closed registration", session_id)
        return False
    except PaymentProviderError:
        pass  # no longer open: completed or expired meanwhile, which the record below reads
    try:
        return mark_session_expired(session_id).reason == PaymentStatus.EXPIRED.value
    except (PaymentProviderUnavailable, PaymentProviderError):
        log.warning("could not read checkout session %s of a closed registration", session_id)
        return False


def recheck_if_due(payment: Payment) -> Payment:
    """The payment as our records say, after asking Stripe about its pending session only when
    nobody did for STRIPE_RECHECK_AFTER seconds: the fallback of the payment page's poll when no
    webhook tells us (the webhook and Stripe's return URLs record a payment at once).

    One request per interval wins the right to ask (a conditional UPDATE of
    `stripe_checked_at`), so many polls, tabs and workers ask Stripe once between them.
    Stripe being down is not an error here: the answer is then our records'.
    """
    session_id = payment.stripe_session_id
    if payment.is_paid or not session_id:
        return payment
    now = utcnow()
    cutoff = now - timedelta(seconds=current_app.config["STRIPE_RECHECK_AFTER"])
    if payment.stripe_checked_at is not None and payment.stripe_checked_at > cutoff:
        return payment
    db = get_session()
    claimed = update_if(
        db,
        payment,
        Payment.stripe_session_id == session_id,
        Payment.status != PaymentStatus.PAID.value,
        or_(Payment.stripe_checked_at.is_(None), Payment.stripe_checked_at <= cutoff),
        stripe_checked_at=now,
        updated_at=Payment.updated_at,  # a look at Stripe changes nothing of the payment itself
    )
    if not claimed:
        return payment
    db.commit()
    try:
        fulfil_checkout_session(session_id, actor="customer")
    except (PaymentProviderUnavailable, PaymentProviderError):
        log.warning("could not re-read session %s; answering from our records", session_id)
    db.refresh(payment)
    return payment


# --- starting a Checkout Session -------------------------------------------------


def _portal_url(endpoint: str, **values: Any) -> str:
    """An absolute URL under PORTAL_URL, built without a request and without a session token."""
    base = urlsplit(current_app.config["PORTAL_URL"])
    adapter = current_app.url_map.bind(base.netloc, script_name=base.path or "/", url_scheme=base.scheme)
    return adapter.build(endpoint, values, force_external=True)


def _create_session(payment: Payment, ui_mode: str) -> CheckoutSessionInfo:
    gateway = get_gateway()
    if ui_mode == EMBEDDED:
        return_url = _portal_url("billing.returned", public_id=payment.public_id)
        return gateway.create_embedded_session(payment, return_url + "?session_id={CHECKOUT_SESSION_ID}")
    success_url = _portal_url("billing.done", public_id=payment.public_id)
    cancel_url = _portal_url("billing.cancelled", public_id=payment.public_id)
    return gateway.create_hosted_session(
        payment, success_url + "?session_id={CHECKOUT_SESSION_ID}", cancel_url
    )


def _claim_attempt(db: Session, payment: Payment, ui_mode: str) -> int | None:
    """The attempt this request may create a session for, or None if another request moved first.

    An attempt with no session yet is shared: requests racing on it send the same
    idempotency key, so Stripe gives them one session. Otherwise a new attempt starts.
    """
    seen_session = payment.stripe_session_id
    same_session = (
        Payment.stripe_session_id.is_(None)
        if seen_session is None
        else (Payment.stripe_session_id == seen_session)
    )
    reusable = seen_session is None and payment.status == PaymentStatus.PENDING.value
    if reusable and payment.ui_mode in (None, ui_mode):
        attempt = payment.attempt
        conditions = [
            Payment.attempt == attempt,
            Payment.status == PaymentStatus.PENDING.value,
            Payment.stripe_session_id.is_(None),
            or_(Payment.ui_mode.is_(None), Payment.ui_mode == ui_mode),
        ]
    else:
        attempt = payment.attempt + 1
        conditions = [
            Payment.attempt == payment.attempt,
            Payment.status != PaymentStatus.PAID.value,
            same_session,
        ]
    won = update_if(
        db,
        payment,
        *conditions,
        attempt=attempt,
        ui_mode=ui_mode,
        status=PaymentStatus.PENDING.value,
        stripe_session_id=None,
        stripe_client_secret=None,
        updated_at=utcnow(),
    )
    db.commit()
    return attempt if won else None


def _retire_attempt(db: Session, payment: Payment, attempt: int) -> None:
    """After Stripe answered the attempt's create with an error it keeps under the attempt's
    idempotency key for a day (a 5xx of its own, replayed to every retry; or its refusal of the key
    with other parameters), or one the attempt's parameters can never get past (SessionTooLate), so
    that the next try is a new attempt. A timeout or a lost connection keeps its key: Stripe may
    have made the session, and the same key brings it back."""
    update_if(
        db,
        payment,
        Payment.attempt == attempt,
        Payment.status == PaymentStatus.PENDING.value,
        Payment.stripe_session_id.is_(None),
        attempt=attempt + 1,
        updated_at=utcnow(),
    )
    db.commit()


def _attach_session(db: Session, payment: Payment, attempt: int, info: CheckoutSessionInfo) -> bool:
    """Make `info` the attempt's session, keeping the client secret that only create returns."""
    won = update_if(
        db,
        payment,
        Payment.attempt == attempt,
        Payment.status == PaymentStatus.PENDING.value,
        or_(Payment.stripe_session_id.is_(None), Payment.stripe_session_id == info.id),
        stripe_session_id=info.id,
        stripe_client_secret=info.client_secret,
        stripe_checked_at=utcnow(),
        updated_at=utcnow(),
    )
    db.commit()
    return won


def _closed_by_stripes_clock(db: Session, payment: Payment, attempt: int) -> CheckoutStart:
    """Stripe refused the attempt's session as too late for its registration (SessionTooLate): by
    Stripe's clock the registration has closed, though ours may lag. It closes here too, so that
    the flow's pages say it expired rather than send the customer back to pay, and the attempt is
    retired (no session was made under its key, and none ever can be)."""
    registration = payment.registration
    log.warning(
        "payment %s: Stripe's clock says registration %s has closed; closing it",
        payment.public_id,
        registration.public_id,
    )
    _retire_attempt(db, payment, attempt)
    expire_if_past_lifetime(db, registration, now=registration.expires_at)  # as Stripe's clock says
    return CheckoutStart("closed", payment)


def _expire_quietly(session_id: str) -> None:
    try:
        get_gateway().expire_session(session_id)
    except (PaymentProviderUnavailable, PaymentProviderError):
        log.warning("could not expire superseded checkout session %s", session_id)


def _reusable(payment: Payment, info: CheckoutSessionInfo, ui_mode: str) -> bool:
    """Whether the current attempt's open session serves `ui_mode` as it is."""
    if not (info.is_open and payment.status == PaymentStatus.PENDING.value and payment.ui_mode == ui_mode):
        return False
    # Stripe.js needs the client secret, which only create returned (kept since this column exists).
    return ui_mode != EMBEDDED or payment.stripe_client_secret is not None


def start_checkout_for_payment(payment: Payment, ui_mode: str) -> CheckoutStart:
    """An open Checkout Session of `ui_mode` for `payment`, reusing the current one when it can.

    Never leaves two payable sessions for one payment: an open session of the other
    mode is expired first, a completed one is fulfilled (or, while its asynchronous
    payment is processing, waited for), and a paid payment starts nothing. A session whose
    asynchronous payment failed never reopens, so a new attempt starts, with a new session.
    No session is created for a registration that has closed (by our clock, or by Stripe's when
    it refuses the session as too late): that is "closed".
    Raises PaymentProviderUnavailable/PaymentProviderError.
    """
    if ui_mode not in (EMBEDDED, HOSTED):
        raise ValueError(f"unknown ui_mode {ui_mode!r}")
    db = get_session()
    gateway = get_gateway()
    for _ in range(_START_ROUNDS):
        db.refresh(payment)
        if payment.is_paid:
            return CheckoutStart("paid", payment)
        ended = payment.status if payment.status != PaymentStatus.PENDING.value else None
        if payment.stripe_session_id:
            info = gateway.retrieve_session(payment.stripe_session_id)
            if info.status == "complete":
                result = _record_if_paid(db, info, payment, "customer")
                if result.paid:
                    return CheckoutStart("paid", payment, info)
                if payment.status != PaymentStatus.FAILED.value:
                    return CheckoutStart("processing", payment, info)
            elif _reusable(payment, info, ui_mode):
                return CheckoutStart("open", payment, info, client_secret=payment.stripe_client_secret)
            elif info.is_open:
                try:
                    gateway.expire_session(info.id)
                except PaymentProviderError:
                    continue  # completed in the meantime: look again
        if not payment.registration.is_open():  # it may have closed while Stripe answered the above
            return CheckoutStart("closed", payment)
        attempt = _claim_attempt(db, payment, ui_mode)
        if attempt is None:
            continue
        try:
            info = _create_session(payment, ui_mode)
        except SessionTooLate:
            return _closed_by_stripes_clock(db, payment, attempt)
        except PaymentProviderUnavailable as error:
            if error.http_status is not None and error.http_status >= 500:
                _retire_attempt(db, payment, attempt)
            raise
        except PaymentProviderError as error:
            if error.code != IDEMPOTENCY_ERROR:
                raise
            # The attempt's key went out before with other parameters (e.g. from the release
            # before an upgrade): no session of it was ever handed out, so start afresh.
            _retire_attempt(db, payment, attempt)
            continue
        if _attach_session(db, payment, attempt, info):
            return CheckoutStart("open", payment, info, client_secret=info.client_secret, replaced=ended)
        _expire_quietly(info.id)
    raise PaymentProviderUnavailable("checkout kept changing under this request; try again")


def start_checkout(registration: Registration, user: User | None, ui_mode: str) -> CheckoutStart:
    """Start (or resume) paying for `registration`; see `start_checkout_for_payment`."""
    return start_checkout_for_payment(get_or_create_payment(registration, user), ui_mode)
