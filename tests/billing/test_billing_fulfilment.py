"""Starting Checkout and recording payments: once, only when Stripe says paid, never twice."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from flask import Flask
from sqlalchemy import func, select

from portal.billing.fulfilment import (
    fulfil_checkout_session,
    get_or_create_payment,
    mark_session_expired,
    mark_session_failed,
    payment_required,
    start_checkout,
    start_checkout_for_payment,
)
from portal.billing.stripe_gateway import EMBEDDED, HOSTED, get_gateway
from portal.db import get_session
from portal.models import Payment, User
from portal.sandbox.models import SandboxStripeSession
from portal.sandbox.stripe_standin import complete_session, settle_async_payment
from tests.billing.conftest import (
    DECLINED_CARD,
    FAILING_BANK_ACCOUNT,
    a_customer,
    audit_count,
    deliver_webhooks,
    make_registration,
    offers_bank_debits,
    pay_by_bank_debit,
    pay_embedded,
    pay_hosted,
    reload,
)


def test_a_paid_embedded_session_is_recorded_with_its_amount_and_stripe_ids(ctx: Flask, billing) -> None:
    start = start_checkout(make_registration(ctx), a_customer(), EMBEDDED)
    assert start.state == "open"
    pay_embedded(billing, start.client_secret)

    result = fulfil_checkout_session(start.session.id)

    assert (result.paid, result.newly_paid, result.reason) == (True, True, "paid")
    payment = reload(start.payment)
    assert payment.status == "paid" and payment.paid_at is not None
    assert (payment.amount_total, payment.currency) == (4900, "usd")
    assert payment.stripe_customer is None  # a one-time payment creates no Stripe Customer
    assert payment.stripe_payment_intent.startswith("pi_")
    assert payment.stripe_session_id == start.session.id
    assert payment.user_id == a_customer().id and payment.customer_email == "admin@example.edu"
    assert audit_count("payment:paid") == 1


def test_an_open_unpaid_session_is_not_accepted(ctx: Flask) -> None:
    start = start_checkout(make_registration(ctx), a_customer(), EMBEDDED)
    result = fulfil_checkout_session(start.session.id)
    assert (result.paid, result.newly_paid, result.reason) == (False, False, "open")
    assert reload(start.payment).status == "pending"


def test_a_declined_card_leaves_the_payment_pending_and_the_customer_can_retry(ctx: Flask, billing) -> None:
    start = start_checkout(make_registration(ctx), a_customer(), EMBEDDED)
    declined = pay_embedded(billing, start.client_secret, DECLINED_CARD)
    assert "Your card was declined." in declined.text
    assert not fulfil_checkout_session(start.session.id).paid

    pay_embedded(billing, start.client_secret)
    assert fulfil_checkout_session(start.session.id).paid


def test_a_session_complete_but_still_processing_is_not_accepted(ctx: Flask) -> None:
    start = start_checkout(make_registration(ctx), a_customer(), EMBEDDED)
    complete_session(get_session(), start.session.id, paid=False)
    result = fulfil_checkout_session(start.session.id)
    assert (result.paid, result.reason) == (False, "processing")
    # And no second session while the first is being paid.
    assert start_checkout_for_payment(start.payment, EMBEDDED).state == "processing"


@offers_bank_debits
def test_after_a_failed_bank_debit_the_customer_pays_again_in_a_new_session(ctx: Flask, billing) -> None:
    registration = make_registration(ctx)
    first = start_checkout(registration, a_customer(), EMBEDDED)
    pay_by_bank_debit(billing, first.client_secret, FAILING_BANK_ACCOUNT)
    assert start_checkout(registration, a_customer(), EMBEDDED).state == "processing"  # wait, don't replace

    settle_async_payment(get_session(), first.session.id)  # the bank declines
    assert deliver_webhooks(billing.app, first.session.id) == [200, 200]  # completed, then failed
    assert reload(first.payment).status == "failed"
    assert audit_count("payment:failed") == 1

    again = start_checkout(registration, a_customer(), EMBEDDED)
    assert (again.state, again.replaced) == ("open", "failed")
    assert again.session.id != first.session.id and again.client_secret != first.client_secret
    payment = reload(first.payment)
    assert (payment.status, payment.attempt, payment.stripe_session_id) == ("pending", 2, again.session.id)
    assert payment.stripe_client_secret == again.client_secret
    old = get_gateway().retrieve_session(first.session.id)
    assert (old.status, old.payment_status) == ("complete", "unpaid")  # Stripe never reopens it

    # A double click on the new attempt gets the same session, and a card then pays it.
    assert start_checkout(registration, a_customer(), EMBEDDED).session.id == again.session.id
    pay_embedded(billing, again.client_secret)
    assert fulfil_checkout_session(again.session.id).paid
    late = mark_session_failed(first.session.id)  # a late redelivery of the old failure changes nothing
    assert (late.paid, late.reason) == (True, "stale")
    assert reload(first.payment).status == "paid"


def test_no_payment_required_is_accepted(make_billing) -> None:
    live = make_billing(STRIPE_PRICE_ID="price_registration_free")
    with live.app.app_context():
        start = start_checkout(make_registration(live.app), a_customer(), EMBEDDED)
        pay_embedded(live, start.client_secret)
        result = fulfil_checkout_session(start.session.id)
        assert result.paid and result.newly_paid
        assert get_gateway().retrieve_session(start.session.id).payment_status == "no_payment_required"
        assert reload(start.payment).amount_total == 0


def test_fulfilling_again_and_again_records_the_payment_once(ctx: Flask, billing) -> None:
    start = start_checkout(make_registration(ctx), a_customer(), EMBEDDED)
    pay_embedded(billing, start.client_secret)
    results = [fulfil_checkout_session(start.session.id) for _ in range(3)]
    assert [r.newly_paid for r in results] == [True, False, False]
    assert all(r.paid for r in results)
    assert audit_count("payment:paid") == 1


def test_concurrent_fulfilment_records_the_payment_once(ctx: Flask, billing) -> None:
    start = start_checkout(make_registration(ctx), a_customer(), EMBEDDED)
    pay_embedded(billing, start.client_secret)
    barrier = threading.Barrier(6)

    def fulfil() -> bool:
        with billing.app.app_context():
            barrier.wait()
            return fulfil_checkout_session(start.session.id).newly_paid

    with ThreadPoolExecutor(6) as pool:
        outcomes = list(pool.map(lambda _: fulfil(), range(6)))
    assert outcomes.count(True) == 1
    assert audit_count("payment:paid") == 1


def test_starting_checkout_twice_reuses_the_open_session(ctx: Flask) -> None:
    registration = make_registration(ctx)
    first = start_checkout(registration, a_customer(), EMBEDDED)
    second = start_checkout(registration, a_customer(), EMBEDDED)
    assert second.session.id == first.session.id
    # Stripe's retrieve does not return the client secret: the one create returned is kept.
    assert second.session.client_secret is None
    assert second.client_secret == first.client_secret == first.session.client_secret
    assert reload(first.payment).stripe_client_secret == first.client_secret
    assert get_session().scalar(select(func.count()).select_from(Payment)) == 1


def test_double_clicks_at_the_same_moment_create_one_session(ctx: Flask, billing) -> None:
    registration = make_registration(ctx)
    customer_id = a_customer().id
    barrier = threading.Barrier(5)

    def start() -> str:
        with billing.app.app_context():
            db = get_session()
            barrier.wait()
            return start_checkout(
                db.get(type(registration), registration.id), db.get(User, customer_id), EMBEDDED
            ).session.id

    with ThreadPoolExecutor(5) as pool:
        session_ids = set(pool.map(lambda _: start(), range(5)))
    assert len(session_ids) == 1
    assert get_session().scalar(select(func.count()).select_from(SandboxStripeSession)) == 1


def test_a_paid_payment_never_starts_another_session(ctx: Flask, billing) -> None:
    registration = make_registration(ctx)
    start = start_checkout(registration, a_customer(), EMBEDDED)
    pay_embedded(billing, start.client_secret)
    fulfil_checkout_session(start.session.id)
    assert start_checkout(registration, a_customer(), EMBEDDED).state == "paid"
    assert start_checkout(registration, a_customer(), HOSTED).state == "paid"
    assert get_session().scalar(select(func.count()).select_from(SandboxStripeSession)) == 1


def test_switching_to_a_new_window_expires_the_embedded_session_first(ctx: Flask, billing) -> None:
    registration = make_registration(ctx)
    embedded = start_checkout(registration, a_customer(), EMBEDDED)
    hosted = start_checkout(registration, a_customer(), HOSTED)

    assert hosted.state == "open" and hosted.session.url
    assert get_gateway().retrieve_session(embedded.session.id).status == "expired"
    assert "expired" in pay_embedded(billing, embedded.client_secret).text
    assert reload(hosted.payment).attempt == 2

    pay_hosted(billing, hosted.session.url)
    assert fulfil_checkout_session(hosted.session.id).paid


def test_a_session_paid_just_before_the_switch_is_fulfilled_not_replaced(ctx: Flask, billing) -> None:
    registration = make_registration(ctx)
    embedded = start_checkout(registration, a_customer(), EMBEDDED)
    pay_embedded(billing, embedded.client_secret)  # the webhook has not arrived yet
    assert start_checkout(registration, a_customer(), HOSTED).state == "paid"
    assert reload(embedded.payment).status == "paid"


def test_an_expired_session_leads_to_a_new_attempt(ctx: Flask) -> None:
    registration = make_registration(ctx)
    first = start_checkout(registration, a_customer(), EMBEDDED)
    get_gateway().expire_session(first.session.id)
    assert mark_session_expired(first.session.id).reason == "expired"
    assert reload(first.payment).status == "expired"

    second = start_checkout(registration, a_customer(), EMBEDDED)
    assert second.state == "open" and second.session.id != first.session.id
    payment = reload(first.payment)
    assert (payment.status, payment.attempt, payment.stripe_session_id) == ("pending", 2, second.session.id)


def test_one_payment_per_registration(ctx: Flask) -> None:
    registration = make_registration(ctx)
    assert get_or_create_payment(registration).id == get_or_create_payment(registration).id


@pytest.mark.parametrize(
    ("price", "role", "required"),
    [
        ("price_registration", "customer", True),
        ("price_registration", "staff", False),
        ("price_registration", None, True),
        ("", "customer", False),
    ],
)
def test_only_a_set_price_asks_for_payment_and_staff_never_pay(ctx: Flask, price, role, required) -> None:
    ctx.config["STRIPE_PRICE_ID"] = price
    user = None if role is None else User(email=f"{role}@example.edu", password_hash="!", role=role)
    assert payment_required(user) is required
