"""`POST /billing/webhook`: Stripe's events, verified by signature (the one view without CSRF).

Each event is stored once by its id; a duplicate is acknowledged and ignored. The
handlers re-read the Checkout Session from Stripe, so the order in which events
arrive does not matter. Answers 2xx to everything verified except a failure Stripe's
redelivery may cure (Stripe unreachable: 503), and 400 to anything not verified or not
shaped like a Stripe event (`read_event`: then nothing is stored). A delivery may be up to
STRIPE_WEBHOOK_MAX_CONTENT_LENGTH bytes (413 beyond).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flask import request
from sqlalchemy import String, select
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
from portal.request_checks import allow_body_up_to

log = logging.getLogger(__name__)

HANDLERS: dict[str, Callable[[str], FulfilmentResult]] = {
    "checkout.session.completed": fulfil_checkout_session,
    "checkout.session.async_payment_succeeded": fulfil_checkout_session,
    "checkout.session.async_payment_failed": mark_session_failed,
    "checkout.session.expired": mark_session_expired,
}
RETRY = "retry"
# Stripe's ids and event types: printable ASCII without spaces.
_STRIPE_TOKEN = re.compile(r"[!-~]+")


class MalformedEvent(ValueError):
    """A verified delivery that is not shaped like a Stripe event; the message says where."""


@dataclass(frozen=True)
class EventSummary:
    """What the webhook reads of an event: its id, its type, and the Checkout Session it is about."""

    id: str
    type: str
    session_id: str | None


def _column_length(name: str) -> int | None:
    column_type = StripeEvent.__table__.c[name].type
    return column_type.length if isinstance(column_type, String) else None


def _token(value: object, where: str, column_length: int | None) -> str:
    if not isinstance(value, str) or not _STRIPE_TOKEN.fullmatch(value):
        raise MalformedEvent(f"{where} is not a Stripe id")
    if column_length is not None and len(value) > column_length:
        raise MalformedEvent(f"{where} is longer than {column_length} characters")
    return value


def read_event(event: object) -> EventSummary:
    """The parts of a verified event the webhook uses, each checked to fit what stores it.

    :raise MalformedEvent: not an object; `id` or `type` not a Stripe id, or too long for its
        column; `data` or `data.object` not an object; a Checkout Session's `id` that is not one.
    """
    if not isinstance(event, dict):
        raise MalformedEvent("the event is not an object")
    event_id = _token(event.get("id"), "id", _column_length("stripe_event_id"))
    event_type = _token(event.get("type"), "type", _column_length("type"))
    data = event.get("data")
    if not isinstance(data, dict) or not isinstance(data.get("object"), dict):
        raise MalformedEvent("data.object is not an object")
    obj = data["object"]
    if obj.get("object") != "checkout.session":
        return EventSummary(event_id, event_type, None)
    return EventSummary(
        event_id, event_type, _token(obj.get("id"), "data.object.id", _column_length("object_id"))
    )


def _claim_event(event: EventSummary) -> StripeEvent | None:
    """Store the event, or take back one whose processing failed before; None for a duplicate."""
    db = get_session()
    record = StripeEvent(stripe_event_id=event.id, type=event.type, object_id=event.session_id)
    db.add(record)
    try:
        db.commit()
        return record
    except IntegrityError:
        db.rollback()
    stored = db.scalar(select(StripeEvent).where(StripeEvent.stripe_event_id == event.id))
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
    allow_body_up_to("STRIPE_WEBHOOK_MAX_CONTENT_LENGTH")
    try:
        payload = get_gateway().construct_event(request.get_data(), request.headers.get("Stripe-Signature"))
        event = read_event(payload)
    except (InvalidWebhook, MalformedEvent) as error:
        log.warning("rejected a webhook delivery: %s", error)
        return {"error": f"invalid webhook: {error}"}, 400
    record = _claim_event(event)
    if record is None:
        return {"received": True, "result": "duplicate"}, 200
    try:
        return _process(record, event.type, event.session_id)
    except Exception:
        # Leave the event retakeable, so Stripe's redelivery of it is processed, not dropped.
        get_session().rollback()
        _finish(record, RETRY)
        raise


# Stripe signs its deliveries instead (checked above); it has no CSRF token to send.
csrf.exempt(stripe_webhook)
