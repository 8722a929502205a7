"""Which payment methods Checkout offers (STRIPE_PAYMENT_METHOD_TYPES), through the Stripe stand-in
over real HTTP: cards only unless the vendor chose more, because a payment that settles days later
is known paid only after the registration closed."""

from __future__ import annotations

from typing import Any

import pytest
import requests
from flask import Flask

from portal.billing.fulfilment import start_checkout
from portal.billing.stripe_gateway import EMBEDDED, HOSTED, PaymentProviderError, get_gateway
from portal.db import get_session
from portal.sandbox.models import SandboxStripeSession
from tests.billing.conftest import (
    CARDS_AND_BANK_DEBITS,
    PAYING_BANK_ACCOUNT,
    a_customer,
    make_registration,
    pay_by_bank_debit,
)
from tests.conftest import LiveServer


def stored_session(session_id: str) -> dict[str, Any]:
    """The Checkout Session as "Stripe" (the stand-in) keeps it."""
    record = get_session().get(SandboxStripeSession, session_id)
    assert record is not None
    return dict(record.data)


def debit_bank_account_on_stripes_page(url: str) -> requests.Response:
    """What hosted Checkout's bank form sends when the customer debits a US bank account."""
    return requests.post(
        url,
        data={
            "payment_method": "us_bank_account",
            "routing_number": "110000000",
            "account_number": PAYING_BANK_ACCOUNT,
        },
        timeout=10,
    )


@pytest.mark.parametrize("ui_mode", [EMBEDDED, HOSTED])
def test_by_default_checkout_offers_cards_only_and_a_bank_debit_is_not_available(
    ctx: Flask, billing: LiveServer, ui_mode: str
) -> None:
    start = start_checkout(make_registration(ctx), a_customer(), ui_mode)

    session = stored_session(start.session.id)
    assert session["allowed_payment_method_types"] == ["card"]  # what the portal asked for
    assert session["payment_method_types"] == ["card"]  # what Stripe offers
    if ui_mode == EMBEDDED:
        frame = requests.get(
            f"{billing.url}/sandbox/stripe/embedded",
            params={"client_secret": start.client_secret},
            timeout=10,
        )
        assert "Card number" in frame.text and "routing_number" not in frame.text
        refused = pay_by_bank_debit(billing, start.client_secret, PAYING_BANK_ACCOUNT)
    else:
        assert start.session.url is not None
        refused = debit_bank_account_on_stripes_page(start.session.url)
    assert "This payment method is not available for this payment." in refused.text
    assert get_gateway().retrieve_session(start.session.id).status == "open"


def test_a_vendor_who_chose_bank_debits_offers_them_beside_cards(make_billing) -> None:
    live = make_billing(STRIPE_PAYMENT_METHOD_TYPES=CARDS_AND_BANK_DEBITS)
    with live.app.app_context():
        start = start_checkout(make_registration(live.app), a_customer(), EMBEDDED)
        session = stored_session(start.session.id)
        assert session["allowed_payment_method_types"] == ["card", "us_bank_account"]
        assert session["payment_method_types"] == ["card", "us_bank_account"]
        submitted = pay_by_bank_debit(live, start.client_secret, PAYING_BANK_ACCOUNT)
        assert "Your bank debit is being processed." in submitted.text


def test_a_bank_debit_the_price_s_currency_cannot_take_is_left_out(make_billing) -> None:
    live = make_billing(STRIPE_PAYMENT_METHOD_TYPES=CARDS_AND_BANK_DEBITS, SANDBOX_STRIPE_CURRENCY="eur")
    with live.app.app_context():
        start = start_checkout(make_registration(live.app), a_customer(), EMBEDDED)
        assert stored_session(start.session.id)["payment_method_types"] == ["card"]  # ACH takes USD only
        refused = pay_by_bank_debit(live, start.client_secret, PAYING_BANK_ACCOUNT)
        assert "not available" in refused.text


@pytest.mark.parametrize(("currency", "offered"), [("usd", ["card", "us_bank_account"]), ("eur", ["card"])])
def test_dashboard_leaves_the_choice_to_stripe(make_billing, currency: str, offered: list[str]) -> None:
    live = make_billing(STRIPE_PAYMENT_METHOD_TYPES="dashboard", SANDBOX_STRIPE_CURRENCY=currency)
    with live.app.app_context():
        start = start_checkout(make_registration(live.app), a_customer(), EMBEDDED)
        session = stored_session(start.session.id)
        assert session["allowed_payment_method_types"] is None  # nothing sent
        assert session["payment_method_types"] == offered  # what the stand-in's Dashboard enables


def test_a_payment_method_the_account_has_not_activated_stops_the_payment_with_stripe_s_words(
    make_billing,
) -> None:
    live = make_billing(STRIPE_PAYMENT_METHOD_TYPES="card sepa_debit")
    with live.app.app_context(), pytest.raises(PaymentProviderError) as refused:
        start_checkout(make_registration(live.app), a_customer(), EMBEDDED)
    assert (refused.value.http_status, refused.value.param) == (400, "allowed_payment_method_types")
    assert "The payment method type provided: sepa_debit is invalid." in str(refused.value)
