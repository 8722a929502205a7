"""A Checkout Session ends about half an hour after its registration: a payment window left open
cannot be paid once nothing can be registered any more (staff would have to refund it by hand)."""

from __future__ import annotations

import json
import time
from datetime import timedelta

import pytest
from flask import Flask
from sqlalchemy import select

from portal.billing.fulfilment import (
    _create_session,
    fulfil_checkout_session,
    mark_session_expired,
    start_checkout,
)
from portal.billing.stripe_gateway import EMBEDDED, HOSTED
from portal.db import get_session
from portal.models import Registration, utcnow
from portal.sandbox.models import SandboxStripeEvent, SandboxStripeSession
from portal.sandbox.stripe_standin import set_clock_ahead
from tests.billing.conftest import a_customer, make_registration, pay_hosted, reload, stripe_api_calls


def stored_session(session_id: str) -> dict:
    """The session as the Stripe stand-in keeps it."""
    db = get_session()
    db.expire_all()
    return db.get(SandboxStripeSession, session_id).data


def session_creates(app: Flask) -> list[int]:
    """What "Stripe" answered each Checkout Session create with (its status), oldest first."""
    calls = stripe_api_calls(app, "/v1/checkout/sessions")
    return [
        call["status"] for call in calls if call["method"] == "POST" and call["path"].endswith("/sessions")
    ]


def time_passes(registration: Registration, session_id: str, delta: timedelta) -> None:
    """As if `delta` had passed since the session was created: its registration's lifetime and the
    session's `expires_at` both move that far back (the stand-in has no clock to move)."""
    db = get_session()
    registration.expires_at -= delta
    record = db.get(SandboxStripeSession, session_id)
    record.data = {**record.data, "expires_at": record.data["expires_at"] - int(delta.total_seconds())}
    db.commit()


def test_the_session_asks_stripe_to_expire_it_31_minutes_after_its_registration(ctx: Flask) -> None:
    registration = make_registration(ctx)
    closes = int(registration.expires_at.timestamp())

    embedded = start_checkout(registration, a_customer(), EMBEDDED)
    hosted = start_checkout(registration, a_customer(), HOSTED)  # the new window's, replacing it

    assert stored_session(embedded.session.id)["expires_at"] == closes + 31 * 60
    assert stored_session(hosted.session.id)["expires_at"] == closes + 31 * 60


def test_a_payment_window_left_open_after_its_registration_expired_can_no_longer_be_paid(
    ctx: Flask, billing
) -> None:
    registration = make_registration(ctx)  # lives an hour
    start = start_checkout(registration, a_customer(), HOSTED)
    time_passes(registration, start.session.id, timedelta(hours=1, minutes=32))
    assert not registration.is_open()

    page = pay_hosted(billing, start.session.url)  # the customer comes back to the window and pays

    assert page.status_code == 200 and "This Checkout Session has expired" in page.text
    assert fulfil_checkout_session(start.session.id).reason == "expired"
    assert mark_session_expired(start.session.id).reason == "expired"  # what its webhook event does
    payment = reload(start.payment)
    assert payment.status == "expired" and not payment.is_paid
    (event,) = get_session().scalars(
        select(SandboxStripeEvent).where(SandboxStripeEvent.object_id == start.session.id)
    )
    assert json.loads(event.payload)["type"] == "checkout.session.expired"


def test_a_payment_window_can_still_be_paid_just_before_its_registration_closes(ctx: Flask, billing) -> None:
    registration = make_registration(ctx)
    start = start_checkout(registration, a_customer(), HOSTED)
    time_passes(registration, start.session.id, timedelta(minutes=59))
    assert registration.is_open()

    assert pay_hosted(billing, start.session.url).status_code == 303
    assert fulfil_checkout_session(start.session.id).reason == "paid"


def test_a_retried_session_for_the_same_attempt_is_stripes_first_answer(ctx: Flask) -> None:
    """The same attempt sends the same parameters (its `expires_at` too) whenever it is sent again:
    Stripe refuses an idempotency key reused with other parameters."""
    start = start_checkout(make_registration(ctx), a_customer(), EMBEDDED)
    time.sleep(1.1)  # a second later, as a retry after a lost answer comes

    again = _create_session(start.payment, EMBEDDED)

    assert again.id == start.session.id


def test_a_registration_living_longer_than_stripe_allows_leaves_stripes_24_hours(ctx: Flask) -> None:
    registration = make_registration(ctx)
    registration.expires_at = registration.created_at + timedelta(hours=24)
    get_session().commit()

    start = start_checkout(registration, a_customer(), EMBEDDED)

    session = stored_session(start.session.id)
    assert start.state == "open"
    assert session["expires_at"] == session["created"] + 24 * 3600


def test_a_registration_that_closed_while_stripe_was_asked_gets_no_new_session(ctx: Flask) -> None:
    """Paying the other way first expires the open window's session, and Stripe may be slow to say
    it did: a registration that closed meanwhile gets no new session, and Stripe is not asked for one."""
    registration = make_registration(ctx)
    hosted = start_checkout(registration, a_customer(), HOSTED)
    registration.expires_at = utcnow() - timedelta(seconds=1)
    get_session().commit()

    start = start_checkout(registration, a_customer(), EMBEDDED)

    assert start.state == "closed" and start.session is None
    assert stored_session(hosted.session.id)["status"] == "expired"
    assert session_creates(ctx) == [200]  # the new window's, before the registration closed


@pytest.mark.parametrize(
    ("price", "ui_mode"),
    [("price_registration", HOSTED), ("price_recurring_registration", EMBEDDED)],
    ids=["one-time in a new window", "subscription in the dialog"],
)
def test_a_session_stripe_refuses_as_too_late_by_its_clock_closes_the_registration_here_too(
    make_billing, price: str, ui_mode: str
) -> None:
    live = make_billing(STRIPE_PRICE_ID=price)
    set_clock_ahead(live.app, 90)  # Stripe's clock a minute and a half ahead of ours
    with live.app.app_context():
        registration = make_registration(live.app)
        registration.expires_at = utcnow() + timedelta(seconds=20)  # open by our clock, not by Stripe's
        get_session().commit()

        start = start_checkout(registration, a_customer(), ui_mode)
        again = start_checkout(registration, a_customer(), ui_mode)

        assert start.state == again.state == "closed"
        assert get_session().get(Registration, registration.id).state == "expired"
        payment = reload(start.payment)
        assert (payment.status, payment.stripe_session_id) == ("pending", None)
        assert payment.attempt == 2  # the refused attempt's key is never sent again
        assert session_creates(live.app) == [400]  # refused once; the registration closed, nothing more
