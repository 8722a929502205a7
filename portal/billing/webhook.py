"""`POST /billing/webhook`: Stripe's events, verified by signature (the one view without CSRF).

Each event is stored once by its id; a duplicate is acknowledged and ignored. The
handlers re-read the Checkout Session from Stripe, so the order in which events
arrive does not matter. Answers 2xx to everything verified except a failure Stripe's
redelivery may cure (Stripe unreachable: 503), and 400 to anything not verified.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from flask import request
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from portal.billing import bp
from portal.billing.fulfilment import (
    FulfilmentResult,
    fulfil_checkout_session,
    mark_session_expired,
    mark_session_failed,
)
from portal.billing.stripe_gateway import (
    InvalidWebhook,
    PaymentProviderError,
    PaymentProviderUnavailable,
    get_gateway,
)
from portal.db import get_session, update_if
from portal.extensions import csrf
from portal.models import StripeEvent, utcnow

log = logging.getLogger(__name__)

HANDLERS: dict[str, Callable[[str], FulfilmentResult]] = {
    "checkout.session.completed": fulfil_checkout_session,
    "checkout.session.async_payment_succeeded": fulfil_checkout_session,
    "checkout.session.async_payment_failed": mark_session_failed,
    "checkout.session.expired": mark_session_expired,
}
RETRY = "retry"


def _claim_event(event: dict[str, Any], object_id: str | None) -> StripeEvent | None:
    """Store the event, or take back one whose processing failed before; None for a duplicate."""
    db = get_session()
    record = StripeEvent(stripe_event_id=event["id"], type=event["type"], object_id=object_id)
    db.add(record)
    try:
        db.commit()
        return record
    except IntegrityError:
        db.rollback()
    stored = db.scalar(select(StripeEvent).where(StripeEvent.stripe_event_id == event["id"]))
    if stored is None or not update_if(db, stored, StripeEvent.result == RETRY, result="processing"):
        return None
    db.commit()
    return stored


def _finish(record: StripeEvent, result: str) -> None:
    record.result = result
    record.processed_at = utcnow()
    get_session().commit()


def _process(record: StripeEvent, event_type: str, session_id: str | None) -> tuple[dict[str, Any], int]:
    handler = HANDLERS.get(event_type)
    if handler is None or not session_id:
        _finish(record, "ignored")
        return {"received": True, "result": "ignored"}, 200
    try:
        outcome = handler(session_id)
    except PaymentProviderUnavailable:
        get_session().rollback()
        _finish(record, RETRY)
        return {"error": "payment provider unavailable; redeliver later"}, 503
    except PaymentProviderError as error:
        get_session().rollback()
        log.warning("webhook %s for session %s: %s", event_type, session_id, error)
        _finish(record, "provider_error")
        return {"received": True, "result": "provider_error"}, 200
    _finish(record, outcome.reason)
    return {"received": True, "result": outcome.reason}, 200


@bp.post("/webhook")
def stripe_webhook() -> tuple[dict[str, Any], int]:
    try:
        event = get_gateway().construct_event(request.get_data(), request.headers.get("Stripe-Signature"))
    except InvalidWebhook as error:
        log.warning("rejected a webhook delivery: %s", error)
        return {"error": f"invalid webhook: {error}"}, 400
    obj = (event.get("data") or {}).get("object") or {}
    is_session = isinstance(obj, dict) and obj.get("object") == "checkout.session"
    session_id = obj.get("id") if is_session else None
    record = _claim_event(event, session_id)
    if record is None:
        return {"received": True, "result": "duplicate"}, 200
    try:
        return _process(record, event["type"], session_id)
    except Exception:
        # Leave the event retakeable, so Stripe's redelivery of it is processed, not dropped.
        get_session().rollback()
        _finish(record, RETRY)
        raise


# Stripe signs its deliveries instead (checked above); it has no CSRF token to send.
csrf.exempt(stripe_webhook)
