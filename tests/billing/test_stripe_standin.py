"""The Stripe stand-in answers as Stripe does, refusals included: a test that passes against it
must not pass only because it accepts what Stripe would refuse."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
import requests
from flask import Flask
from sqlalchemy import select

from portal.billing.fulfilment import start_checkout
from portal.billing.stripe_gateway import EMBEDDED, PINNED_API_VERSION, PaymentProviderError, get_gateway
from portal.db import get_session
from portal.models import PaymentStatus
from portal.sandbox.models import SandboxStripeSession
from portal.sandbox.stripe_standin import (
    SandboxStripeEvent,
    fail_next_session_creates,
    set_clock_ahead,
    settle_async_payment,
)
from tests.billing.conftest import (
    CARDS_AND_BANK_DEBITS,
    FAILING_BANK_ACCOUNT,
    PAYING_BANK_ACCOUNT,
    SECRET_KEY,
    a_customer,
    make_registration,
    offers_bank_debits,
    pay_by_bank_debit,
    pay_embedded,
    reload,
    stripe_api_calls,
)
from tests.fakes.sleeps import RecordedSleeps

VALID_SESSION = {
    "mode": "payment",
    "ui_mode": "embedded_page",
    "return_url": "http://localhost/return?session_id={CHECKOUT_SESSION_ID}",
    "line_items[0][price]": "price_registration",
    "line_items[0][quantity]": "1",
}


def stripe_api(live, method: str, path: str, data: dict[str, str] | None = None, **headers: str):
    return requests.request(
        method,
        f"{live.url}/sandbox/stripe/v1/{path}",
        data=data,
        headers={"Authorization": f"Bearer {SECRET_KEY}", **headers},
        timeout=10,
    )


def events_about(session_id: str) -> list[dict[str, Any]]:
    records = get_session().scalars(
        select(SandboxStripeEvent)
        .where(SandboxStripeEvent.object_id == session_id)
        .order_by(SandboxStripeEvent.created_at)
    )
    return [json.loads(record.payload) for record in records]


def test_only_create_returns_the_client_secret(ctx: Flask, billing) -> None:
    created = stripe_api(billing, "POST", "checkout/sessions", VALID_SESSION).json()
    assert created["client_secret"].startswith(f"{created['id']}_secret_")
    retrieved = stripe_api(billing, "GET", f"checkout/sessions/{created['id']}").json()
    assert retrieved["client_secret"] is None  # as in Stripe's own example object
    assert retrieved["id"] == created["id"] and retrieved["status"] == "open"
    expired = stripe_api(billing, "POST", f"checkout/sessions/{created['id']}/expire").json()
    assert expired["status"] == "expired" and expired["client_secret"] is None
    (event,) = events_about(created["id"])
    assert event["type"] == "checkout.session.expired"
    assert event["data"]["object"]["client_secret"] is None
    assert event["api_version"] == PINNED_API_VERSION


# The fields of Stripe's own example Checkout Session and Event (stripe/openapi's fixtures, the
# objects stripe-mock serves; kept in the reference's stripe-fixtures.json).
STRIPE_SESSION_FIELDS = frozenset(
    [
        "adaptive_pricing",
        "after_expiration",
        "allow_promotion_codes",
        "amount_subtotal",
        "amount_total",
        "automatic_tax",
        "billing_address_collection",
        "cancel_url",
        "client_reference_id",
        "client_secret",
        "collected_information",
        "consent",
        "consent_collection",
        "created",
        "currency",
        "currency_conversion",
        "custom_fields",
        "custom_text",
        "customer",
        "customer_account",
        "customer_creation",
        "customer_details",
        "customer_email",
        "discounts",
        "expires_at",
        "id",
        "integration_identifier",
        "invoice",
        "invoice_creation",
        "livemode",
        "locale",
        "managed_payments",
        "metadata",
        "mode",
        "object",
        "origin_context",
        "payment_intent",
        "payment_link",
        "payment_method_collection",
        "payment_method_configuration_details",
        "payment_method_options",
        "payment_method_types",
        "payment_status",
        "permissions",
        "phone_number_collection",
        "recovered_from",
        "saved_payment_method_options",
        "setup_intent",
        "shipping_address_collection",
        "shipping_cost",
        "shipping_options",
        "status",
        "submit_type",
        "subscription",
        "success_url",
        "total_details",
        "ui_mode",
        "url",
        "wallet_options",
    ]
)
STRIPE_CUSTOMER_DETAILS_FIELDS = frozenset(
    ["address", "business_name", "email", "individual_name", "name", "phone", "tax_exempt", "tax_ids"]
)
STRIPE_ADDRESS_FIELDS = frozenset(["city", "country", "line1", "line2", "postal_code", "state"])
STRIPE_EVENT_FIELDS = frozenset(
    ["api_version", "created", "data", "id", "livemode", "object", "pending_webhooks", "request", "type"]
)


def test_sessions_and_their_events_have_every_field_of_stripes_own(ctx: Flask, billing) -> None:
    created = stripe_api(billing, "POST", "checkout/sessions", VALID_SESSION).json()
    assert STRIPE_SESSION_FIELDS - created.keys() == set()
    pay_embedded(billing, created["client_secret"])

    retrieved = stripe_api(billing, "GET", f"checkout/sessions/{created['id']}").json()
    (event,) = events_about(created["id"])

    assert STRIPE_EVENT_FIELDS - event.keys() == set()
    for session in (retrieved, event["data"]["object"]):
        assert STRIPE_SESSION_FIELDS - session.keys() == set()
        details = session["customer_details"]
        assert STRIPE_CUSTOMER_DETAILS_FIELDS - details.keys() == set()
        assert STRIPE_ADDRESS_FIELDS - details["address"].keys() == set()


@pytest.mark.parametrize(
    ("change", "param", "message"),
    [
        ({"surprise": "1"}, "surprise", "Received unknown parameter: surprise"),
        ({"line_items[0][quantity]": None}, "line_items[0][quantity]", "Quantity is required"),
        ({"line_items[0][quantity]": "0"}, "line_items[0][quantity]", "Invalid integer"),
        ({"redirect_on_completion": "sometimes"}, "redirect_on_completion", "Invalid redirect_on_completion"),
        ({"metadata[payment]": "x" * 501}, "metadata[payment]", "up to 500 characters"),
        ({"metadata[" + "k" * 41 + "]": "v"}, "metadata[" + "k" * 41 + "]", "up to 40 characters"),
        ({"client_reference_id": "r" * 201}, "client_reference_id", "up to 200 characters"),
        ({"success_url": "http://localhost/done"}, "success_url", "not allowed"),
        ({"expires_at": "1700000000"}, "expires_at", "between 30 minutes and 24 hours"),
        ({"payment_method_types[0]": "card"}, "payment_method_types", "Received unknown parameter"),
        (
            {"allowed_payment_method_types[0]": "card", "allowed_payment_method_types[1]": "bacs_debit"},
            "allowed_payment_method_types",
            "The payment method type provided: bacs_debit is invalid. Please ensure the provided type is "
            "activated in your dashboard (https://dashboard.stripe.com/account/payments/settings)",
        ),
        ({"allowed_payment_method_types": "card"}, "allowed_payment_method_types", "Invalid array"),
    ],
)
def test_a_session_stripe_would_refuse_is_refused(
    billing, change: dict[str, str | None], param: str, message: str
) -> None:
    params = {**VALID_SESSION, **change}
    response = stripe_api(
        billing, "POST", "checkout/sessions", {k: v for k, v in params.items() if v is not None}
    )
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error"
    assert error["param"] == param and message in error["message"]


HOSTED_SESSION = {
    **{k: v for k, v in VALID_SESSION.items() if k != "return_url"},
    "ui_mode": "hosted_page",
    "success_url": "https://portal.example/done?session_id={CHECKOUT_SESSION_ID}",
    "cancel_url": "https://portal.example/pay",
}


@pytest.mark.parametrize(
    ("session", "param", "url"),
    [
        (VALID_SESSION, "return_url", "portal.example/return"),
        (VALID_SESSION, "return_url", "/billing/return?session_id={CHECKOUT_SESSION_ID}"),
        (HOSTED_SESSION, "success_url", "localhost:5000/done"),
        (HOSTED_SESSION, "cancel_url", "https://"),
    ],
)
def test_a_redirect_url_that_is_not_a_url_is_refused(
    billing, session: dict[str, str], param: str, url: str
) -> None:
    response = stripe_api(billing, "POST", "checkout/sessions", {**session, param: url})

    assert response.status_code == 400
    assert response.json()["error"] == {
        "type": "invalid_request_error",
        "code": "url_invalid",
        "message": "Not a valid URL",
        "param": param,
    }


def test_the_urls_the_portal_sends_are_taken(billing) -> None:
    assert stripe_api(billing, "POST", "checkout/sessions", VALID_SESSION).status_code == 200
    assert stripe_api(billing, "POST", "checkout/sessions", HOSTED_SESSION).status_code == 200


@pytest.mark.parametrize("email", ["admin@example", "admin", " admin@example.edu", "admin@example.edu "])
def test_a_customer_email_that_is_not_an_address_is_refused(billing, email: str) -> None:
    response = stripe_api(billing, "POST", "checkout/sessions", {**VALID_SESSION, "customer_email": email})

    assert response.status_code == 400
    assert response.json()["error"] == {
        "type": "invalid_request_error",
        "code": "email_invalid",
        "message": f"Invalid email address: {email}",
        "param": "customer_email",
    }


def test_a_session_prefilled_for_a_customer_takes_no_customer_email(billing) -> None:
    both = {**VALID_SESSION, "customer": "cus_existing", "customer_email": "admin@example.edu"}

    response = stripe_api(billing, "POST", "checkout/sessions", both)

    assert response.status_code == 400
    assert response.json()["error"]["message"] == (
        "You may only specify one of these parameters: customer, customer_email."
    )


def test_the_customer_email_the_portal_sends_is_taken(ctx: Flask, billing) -> None:
    start = start_checkout(make_registration(ctx), a_customer("j.o'neill+pay@example.ac.uk"), EMBEDDED)
    assert get_gateway().retrieve_session(start.session.id).customer_email == "j.o'neill+pay@example.ac.uk"


def test_it_speaks_only_the_api_version_it_imitates(ctx: Flask, billing) -> None:
    other = stripe_api(billing, "GET", "prices/price_registration", **{"Stripe-Version": "2025-03-31.basil"})
    assert other.status_code == 400 and "imitates API version" in other.json()["error"]["message"]
    same = stripe_api(billing, "GET", "prices/price_registration", **{"Stripe-Version": PINNED_API_VERSION})
    assert same.status_code == 200
    assert get_gateway().price().id == "price_registration"  # what stripe-python sends is accepted


def test_every_api_call_goes_in_the_call_log(ctx: Flask, billing) -> None:
    stripe_api(billing, "GET", "checkout/sessions/cs_test_nobody")
    stripe_api(billing, "GET", "prices/price_registration")
    calls = stripe_api_calls(billing.app)
    assert [(c["method"], c["path"], c["status"]) for c in calls] == [
        ("GET", "/sandbox/stripe/v1/checkout/sessions/cs_test_nobody", 404),
        ("GET", "/sandbox/stripe/v1/prices/price_registration", 200),
    ]


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "checkout/sessions/"),  # a retrieve whose id came out empty
        ("GET", "checkout/sessions/cs_test_any/expire"),  # expire is a POST
        ("DELETE", "checkout/sessions/cs_test_any"),
        ("POST", "checkout/session"),
    ],
)
def test_a_url_stripe_has_no_endpoint_for_gets_stripes_404(
    ctx: Flask, billing, method: str, path: str
) -> None:
    response = stripe_api(billing, method, path)

    assert response.status_code == 404
    assert response.headers["Content-Type"] == "application/json"
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error"
    assert error["message"].startswith(f"Unrecognized request URL ({method}: /v1/{path}).")


def test_a_retrieve_with_an_empty_id_is_refused_as_stripe_refuses_it(ctx: Flask, billing) -> None:
    with pytest.raises(PaymentProviderError, match="Unrecognized request URL") as refused:
        get_gateway().retrieve_session("")
    assert refused.value.http_status == 404


def test_a_repeated_idempotency_key_gets_the_first_answer_and_other_parameters_are_refused(
    ctx: Flask, billing
) -> None:
    key = {"Idempotency-Key": "checkout-once"}
    first = stripe_api(billing, "POST", "checkout/sessions", VALID_SESSION, **key)
    again = stripe_api(billing, "POST", "checkout/sessions", VALID_SESSION, **key)
    other = stripe_api(
        billing, "POST", "checkout/sessions", {**VALID_SESSION, "client_reference_id": "x"}, **key
    )

    assert first.status_code == again.status_code == 200 and again.json()["id"] == first.json()["id"]
    assert again.headers["Idempotent-Replayed"] == "true"
    assert other.status_code == 400 and other.json()["error"]["type"] == "idempotency_error"


def test_a_request_refused_as_invalid_keeps_nothing_under_its_key(ctx: Flask, billing) -> None:
    key = {"Idempotency-Key": "checkout-fixed-later"}
    invalid = {**VALID_SESSION}
    del invalid["line_items[0][quantity]"]

    refused = stripe_api(billing, "POST", "checkout/sessions", invalid, **key)
    corrected = stripe_api(billing, "POST", "checkout/sessions", VALID_SESSION, **key)

    assert refused.status_code == 400 and refused.json()["error"]["param"] == "line_items[0][quantity]"
    assert corrected.status_code == 200 and corrected.json()["status"] == "open"


def test_a_failure_on_stripes_side_is_kept_under_its_key_and_replayed(ctx: Flask, billing) -> None:
    fail_next_session_creates(billing.app, 1)
    key = {"Idempotency-Key": "checkout-unlucky"}

    failed = stripe_api(billing, "POST", "checkout/sessions", VALID_SESSION, **key)
    retried = stripe_api(billing, "POST", "checkout/sessions", VALID_SESSION, **key)
    new_key = stripe_api(
        billing, "POST", "checkout/sessions", VALID_SESSION, **{"Idempotency-Key": "checkout-2"}
    )

    assert failed.status_code == 500 and failed.json()["error"]["type"] == "api_error"
    assert retried.status_code == 500 and retried.headers["Idempotent-Replayed"] == "true"
    assert new_key.status_code == 200 and new_key.json()["status"] == "open"


def test_a_slow_stripe_answers_every_api_call_late_and_only_those(
    ctx: Flask, billing, monkeypatch: pytest.MonkeyPatch
) -> None:
    from portal.sandbox import stripe_standin

    sleeps = RecordedSleeps()
    monkeypatch.setattr(stripe_standin, "time", sleeps)
    billing.app.config["SANDBOX_STRIPE_DELAY_MS"] = 1500

    assert stripe_api(billing, "GET", "prices/price_registration").status_code == 200
    assert stripe_api(billing, "GET", "checkout/sessions/cs_test_nobody").status_code == 404
    assert sleeps.seconds == [1.5, 1.5]

    assert requests.get(f"{billing.url}/sandbox/stripe/js/v3/", timeout=10).status_code == 200
    assert sleeps.seconds == [1.5, 1.5], "Stripe.js and the stand-in's pages answer at once"


@offers_bank_debits
def test_a_failed_bank_debit_leaves_the_session_complete_and_unpaid_for_good(ctx: Flask, billing) -> None:
    start = start_checkout(make_registration(ctx), a_customer(), EMBEDDED)
    submitted = pay_by_bank_debit(billing, start.client_secret, FAILING_BANK_ACCOUNT)
    assert "Your bank debit is being processed." in submitted.text
    processing = get_gateway().retrieve_session(start.session.id)
    assert (processing.status, processing.payment_status) == ("complete", "unpaid")
    assert processing.payment_intent and processing.payment_intent.startswith("pi_")

    settle_async_payment(get_session(), start.session.id)  # as the test account says: it fails

    failed = get_gateway().retrieve_session(start.session.id)
    assert (failed.status, failed.payment_status) == ("complete", "unpaid")  # never reopens
    assert [e["type"] for e in events_about(start.session.id)] == [
        "checkout.session.completed",
        "checkout.session.async_payment_failed",
    ]
    assert "_standin" not in events_about(start.session.id)[-1]["data"]["object"]
    settle_async_payment(get_session(), start.session.id, succeeded=True)  # settled once only
    assert len(events_about(start.session.id)) == 2
    assert not get_gateway().retrieve_session(start.session.id).is_paid
    with pytest.raises(PaymentProviderError, match="can be expired"):
        get_gateway().expire_session(start.session.id)
    paying_again = pay_embedded(billing, start.client_secret)  # this session cannot take another payment
    assert "Your bank debit is being processed." in paying_again.text
    assert not get_gateway().retrieve_session(start.session.id).is_paid


@offers_bank_debits
def test_a_paying_bank_debit_is_paid_once_settled(ctx: Flask, billing) -> None:
    start = start_checkout(make_registration(ctx), a_customer(), EMBEDDED)
    pay_by_bank_debit(billing, start.client_secret, PAYING_BANK_ACCOUNT)
    settle_async_payment(get_session(), start.session.id)
    assert get_gateway().retrieve_session(start.session.id).is_paid
    assert events_about(start.session.id)[-1]["type"] == "checkout.session.async_payment_succeeded"


@offers_bank_debits
@pytest.mark.parametrize(
    ("routing", "account", "problem"),
    [
        ("110000000", "000999999999", "Your account number is incorrect."),
        ("021000021", PAYING_BANK_ACCOUNT, "Your routing number is incorrect."),
    ],
)
def test_a_bank_account_that_is_not_a_test_account_is_refused(
    ctx: Flask, billing, routing: str, account: str, problem: str
) -> None:
    start = start_checkout(make_registration(ctx), a_customer(), EMBEDDED)
    response = requests.post(
        f"{billing.url}/sandbox/stripe/embedded",
        data={
            "client_secret": start.client_secret,
            "origin": billing.url,
            "payment_method": "us_bank_account",
            "routing_number": routing,
            "account_number": account,
        },
        timeout=10,
    )
    assert problem in response.text
    assert get_gateway().retrieve_session(start.session.id).status == "open"


def test_a_session_allowing_only_payment_methods_the_currency_cannot_take_is_refused(make_billing) -> None:
    live = make_billing(SANDBOX_STRIPE_CURRENCY="eur")
    response = stripe_api(
        live,
        "POST",
        "checkout/sessions",
        {**VALID_SESSION, "allowed_payment_method_types[0]": "us_bank_account"},
    )
    assert response.status_code == 400
    error = response.json()["error"]
    assert (error["type"], error["param"]) == ("invalid_request_error", "allowed_payment_method_types")


def test_in_the_sandbox_the_bank_settles_by_itself_and_stripe_calls_back(make_billing) -> None:
    live = make_billing(
        STRIPE_PAYMENT_METHOD_TYPES=CARDS_AND_BANK_DEBITS,
        SANDBOX_STRIPE_SETTLE_AFTER=0.2,
        SANDBOX_STRIPE_WEBHOOKS=True,
    )
    with live.app.app_context():
        start = start_checkout(make_registration(live.app), a_customer(), EMBEDDED)
        pay_by_bank_debit(live, start.client_secret, FAILING_BANK_ACCOUNT)
        deadline = time.monotonic() + 15
        while reload(start.payment).status != PaymentStatus.FAILED.value and time.monotonic() < deadline:
            time.sleep(0.1)
        assert reload(start.payment).status == PaymentStatus.FAILED.value  # the signed event arrived


# --- the PaymentIntent, its Charge and the receipt ---------------------------------------


def retrieve(live, session_id: str, *expand: str, **other: str) -> requests.Response:
    """GET a session as a client does, with `expand[]=...` for each path."""
    return requests.get(
        f"{live.url}/sandbox/stripe/v1/checkout/sessions/{session_id}",
        params=[*(("expand[]", path) for path in expand), *other.items()],
        headers={"Authorization": f"Bearer {SECRET_KEY}"},
        timeout=10,
    )


def test_an_unpaid_session_has_no_payment_intent_expanded_or_not(ctx: Flask, billing) -> None:
    created = stripe_api(billing, "POST", "checkout/sessions", VALID_SESSION).json()
    assert created["payment_intent"] is None  # created when the customer confirms, since 2022-08-01
    expanded = retrieve(billing, created["id"], "payment_intent.latest_charge")
    assert expanded.status_code == 200 and expanded.json()["payment_intent"] is None


def test_a_paid_session_has_an_intent_whose_latest_charge_has_a_receipt(ctx: Flask, billing) -> None:
    start = start_checkout(make_registration(ctx), a_customer(), EMBEDDED)
    pay_embedded(billing, start.client_secret)

    plain = retrieve(billing, start.session.id).json()
    intent_only = retrieve(billing, start.session.id, "payment_intent").json()["payment_intent"]
    both = retrieve(billing, start.session.id, "payment_intent.latest_charge").json()["payment_intent"]

    assert isinstance(plain["payment_intent"], str) and plain["payment_intent"].startswith("pi_")
    assert intent_only["id"] == plain["payment_intent"] and intent_only["object"] == "payment_intent"
    assert intent_only["status"] == "succeeded" and intent_only["latest_charge"].startswith("ch_")
    charge = both["latest_charge"]
    assert (charge["id"], charge["object"]) == (intent_only["latest_charge"], "charge")
    assert (charge["status"], charge["paid"], charge["amount"]) == ("succeeded", True, 4900)
    assert charge["receipt_url"] == f"{billing.url}/sandbox/stripe/receipts/{start.session.id}"
    completed = events_about(start.session.id)[0]["data"]["object"]
    assert completed["payment_intent"] == plain["payment_intent"]  # events are never expanded


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("customer_details", "This property cannot be expanded (customer_details)."),
        ("payment_intent.latest_charge.outcome", "This property cannot be expanded (outcome)."),
        ("metadata", "This property cannot be expanded (metadata)."),
        ("a.b.c.d.e", "You cannot expand more than 4 levels of a property."),
        ("customer", "The Stripe stand-in does not expand customer"),
        ("invoice.subscription", "does not expand subscription on a invoice"),
        ("invoice.lines", "This property cannot be expanded (lines)."),
        (
            "payment_intent.latest_charge.balance_transaction",
            "does not expand balance_transaction on a charge",
        ),
    ],
)
def test_an_expansion_stripe_would_refuse_is_refused(ctx: Flask, billing, path: str, message: str) -> None:
    start = start_checkout(make_registration(ctx), a_customer(), EMBEDDED)
    pay_embedded(billing, start.client_secret)
    response = retrieve(billing, start.session.id, "payment_intent", path)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error" and message in error["message"]


def test_an_unknown_query_parameter_is_refused(ctx: Flask, billing) -> None:
    created = stripe_api(billing, "POST", "checkout/sessions", VALID_SESSION).json()
    response = retrieve(billing, created["id"], surprise="1")
    assert response.status_code == 400
    assert response.json()["error"]["message"] == "Received unknown parameter: surprise"


def test_the_receipt_page_shows_the_amount_and_the_date_paid(ctx: Flask, billing) -> None:
    start = start_checkout(make_registration(ctx), a_customer(), EMBEDDED)
    pay_embedded(billing, start.client_secret)
    url = get_gateway().retrieve_session(start.session.id).receipt_url

    page = requests.get(url, timeout=10)

    assert page.status_code == 200 and page.headers["X-Frame-Options"] == "DENY"
    assert "49.00 USD" in page.text and time.strftime("%Y-%m-%d", time.gmtime()) in page.text
    assert 'data-status="succeeded"' in page.text
    assert (
        requests.get(f"{billing.url}/sandbox/stripe/receipts/cs_test_nobody", timeout=10).status_code == 404
    )


def test_a_subscription_session_has_its_first_invoice_paid_with_a_hosted_page(make_billing) -> None:
    live = make_billing(STRIPE_PRICE_ID="price_recurring_registration")
    with live.app.app_context():
        start = start_checkout(make_registration(live.app), a_customer(), EMBEDDED)
        unpaid = retrieve(live, start.session.id, "invoice", "payment_intent").json()
        assert (unpaid["invoice"], unpaid["payment_intent"]) == (None, None)

        pay_embedded(live, start.client_secret)
        plain = retrieve(live, start.session.id).json()
        invoice = retrieve(live, start.session.id, "invoice").json()["invoice"]

        assert isinstance(plain["invoice"], str) and plain["invoice"].startswith("in_")
        assert plain["payment_intent"] is None  # a subscription's payment is its invoice's
        assert (invoice["id"], invoice["object"], invoice["status"]) == (plain["invoice"], "invoice", "paid")
        assert (invoice["amount_paid"], invoice["subscription"]) == (4900, plain["subscription"])
        assert invoice["hosted_invoice_url"] == f"{live.url}/sandbox/stripe/invoices/{start.session.id}"
        page = requests.get(invoice["hosted_invoice_url"], timeout=10)
        assert page.status_code == 200 and page.headers["X-Frame-Options"] == "DENY"
        assert "49.00 USD" in page.text and f'data-invoice="{invoice["id"]}"' in page.text
        assert 'data-status="paid"' in page.text
        assert (
            requests.get(f"{live.url}/sandbox/stripe/invoices/cs_test_nobody", timeout=10).status_code == 404
        )


@pytest.mark.parametrize(
    ("account", "settled"), [(PAYING_BANK_ACCOUNT, "paid"), (FAILING_BANK_ACCOUNT, "open")]
)
def test_a_subscriptions_invoice_stays_open_while_a_bank_debit_is_processing(
    make_billing, account: str, settled: str
) -> None:
    live = make_billing(
        STRIPE_PRICE_ID="price_recurring_registration", STRIPE_PAYMENT_METHOD_TYPES=CARDS_AND_BANK_DEBITS
    )
    with live.app.app_context():
        start = start_checkout(make_registration(live.app), a_customer(), EMBEDDED)
        pay_by_bank_debit(live, start.client_secret, account)

        def invoice() -> dict[str, Any]:
            return dict(retrieve(live, start.session.id, "invoice").json()["invoice"])

        assert (invoice()["status"], invoice()["amount_paid"]) == ("open", 0)
        assert get_gateway().retrieve_session(start.session.id).receipt_url is None
        settle_async_payment(get_session(), start.session.id)
        assert invoice()["status"] == settled  # a failed debit leaves it open, as at Stripe
        found = get_gateway().retrieve_session(start.session.id)
        assert found.receipt_url == (invoice()["hosted_invoice_url"] if settled == "paid" else None)


@offers_bank_debits
def test_a_bank_debits_charge_is_pending_until_it_settles(ctx: Flask, billing) -> None:
    start = start_checkout(make_registration(ctx), a_customer(), EMBEDDED)
    pay_by_bank_debit(billing, start.client_secret, FAILING_BANK_ACCOUNT)

    def charge() -> dict[str, Any]:
        found = retrieve(billing, start.session.id, "payment_intent.latest_charge").json()
        return dict(found["payment_intent"]["latest_charge"])

    assert (charge()["status"], charge()["paid"]) == ("pending", False)
    settle_async_payment(get_session(), start.session.id)  # the test account fails
    assert (charge()["status"], charge()["paid"]) == ("failed", False)
    intent = retrieve(billing, start.session.id, "payment_intent").json()["payment_intent"]
    assert intent["status"] == "requires_payment_method"


# --- a session's end: Stripe expires it at its expires_at ------------------------------


def a_session_past_its_time(live, params: dict[str, str] = VALID_SESSION) -> dict[str, Any]:
    """An open session whose `expires_at` passed a minute ago (as if it was left open that long)."""
    created = stripe_api(live, "POST", "checkout/sessions", params).json()
    db = get_session()
    record = db.get(SandboxStripeSession, created["id"])
    record.data = {**record.data, "expires_at": int(time.time()) - 60}
    db.commit()
    return created


def test_a_session_past_its_expires_at_is_expired_when_next_read(ctx: Flask, billing) -> None:
    created = a_session_past_its_time(billing)

    retrieved = stripe_api(billing, "GET", f"checkout/sessions/{created['id']}").json()
    again = stripe_api(billing, "GET", f"checkout/sessions/{created['id']}").json()

    assert retrieved["status"] == again["status"] == "expired"
    assert retrieved["payment_status"] == "unpaid"
    (event,) = events_about(created["id"])  # expired once, as at Stripe
    assert event["type"] == "checkout.session.expired"
    assert event["data"]["object"]["status"] == "expired"


def test_a_session_past_its_expires_at_can_no_longer_be_paid(ctx: Flask, billing) -> None:
    created = a_session_past_its_time(billing)

    paid = pay_embedded(billing, created["client_secret"])

    assert paid.status_code == 200 and "This Checkout Session has expired." in paid.text
    retrieved = stripe_api(billing, "GET", f"checkout/sessions/{created['id']}").json()
    assert (retrieved["status"], retrieved["payment_status"], retrieved["payment_intent"]) == (
        "expired",
        "unpaid",
        None,
    )
    assert [event["type"] for event in events_about(created["id"])] == ["checkout.session.expired"]


def test_hosted_checkout_past_its_expires_at_shows_it_expired(ctx: Flask, billing) -> None:
    hosted = {k: v for k, v in VALID_SESSION.items() if k != "return_url"}
    created = a_session_past_its_time(
        billing, {**hosted, "ui_mode": "hosted_page", "success_url": "http://localhost/done"}
    )

    page = requests.get(created["url"], timeout=10)
    paid = requests.post(created["url"], data={"card_number": "4242 4242 4242 4242"}, timeout=10)

    assert "This Checkout Session has expired" in page.text
    assert paid.status_code == 200 and "This Checkout Session has expired" in paid.text
    assert [event["type"] for event in events_about(created["id"])] == ["checkout.session.expired"]


def test_expiring_a_session_already_past_its_time_is_refused_as_expired(ctx: Flask, billing) -> None:
    created = a_session_past_its_time(billing)

    refused = stripe_api(billing, "POST", f"checkout/sessions/{created['id']}/expire")

    assert refused.status_code == 400
    assert 'This Checkout Session has a status of "expired"' in refused.json()["error"]["message"]
    assert [event["type"] for event in events_about(created["id"])] == ["checkout.session.expired"]


def test_a_session_before_its_expires_at_stays_open(ctx: Flask, billing) -> None:
    created = stripe_api(billing, "POST", "checkout/sessions", VALID_SESSION).json()
    assert stripe_api(billing, "GET", f"checkout/sessions/{created['id']}").json()["status"] == "open"
    assert events_about(created["id"]) == []


def test_stripes_clock_may_run_ahead_of_ours_and_its_time_limits_go_by_it(ctx: Flask, billing) -> None:
    set_clock_ahead(billing.app, 120)  # Stripe's clock two minutes ahead of this machine's
    in_31_minutes_by_ours = int(time.time()) + 31 * 60

    refused = stripe_api(
        billing, "POST", "checkout/sessions", {**VALID_SESSION, "expires_at": str(in_31_minutes_by_ours)}
    )
    created = stripe_api(billing, "POST", "checkout/sessions", VALID_SESSION).json()
    record = get_session().get(SandboxStripeSession, created["id"])
    record.data = {**record.data, "expires_at": int(time.time()) + 60}  # a minute away by our clock
    get_session().commit()
    read = stripe_api(billing, "GET", f"checkout/sessions/{created['id']}").json()

    assert refused.status_code == 400 and refused.json()["error"]["param"] == "expires_at"
    assert created["created"] >= in_31_minutes_by_ours - 31 * 60 + 120
    assert read["status"] == "expired"  # past by Stripe's clock
    (event,) = events_about(created["id"])
    assert event["created"] >= created["created"]


@pytest.mark.parametrize(("after", "accepted"), [(29 * 60, False), (31 * 60, True), (24 * 3600 + 60, False)])
def test_expires_at_is_accepted_between_30_minutes_and_24_hours_from_creation(
    billing, after: int, accepted: bool
) -> None:
    params = {**VALID_SESSION, "expires_at": str(int(time.time()) + after)}
    response = stripe_api(billing, "POST", "checkout/sessions", params)
    assert (response.status_code == 200) is accepted
    if not accepted:
        assert response.json()["error"]["param"] == "expires_at"


# --- a session's Customer: none for a one-time payment, as at Stripe ------------------


def test_a_payment_mode_session_creates_no_customer(ctx: Flask, billing) -> None:
    created = stripe_api(billing, "POST", "checkout/sessions", VALID_SESSION).json()
    assert (created["customer_creation"], created["customer"]) == ("if_required", None)

    pay_embedded(billing, created["client_secret"])

    paid = stripe_api(
        billing, "GET", f"checkout/sessions/{created['id']}?expand[]=payment_intent.latest_charge"
    ).json()
    assert paid["payment_status"] == "paid"
    assert paid["customer"] is None  # a guest's payment: its details are in customer_details
    assert paid["customer_details"]["email"] == "admin@example.edu"
    assert paid["payment_intent"]["customer"] is None
    assert paid["payment_intent"]["latest_charge"]["customer"] is None


def test_a_payment_mode_session_asked_to_always_create_a_customer_has_one(ctx: Flask, billing) -> None:
    created = stripe_api(
        billing, "POST", "checkout/sessions", {**VALID_SESSION, "customer_creation": "always"}
    ).json()
    assert created["customer_creation"] == "always"

    pay_embedded(billing, created["client_secret"])

    paid = stripe_api(billing, "GET", f"checkout/sessions/{created['id']}").json()
    assert paid["customer"].startswith("cus_")


def test_a_subscription_mode_session_always_has_a_customer(make_billing) -> None:
    live = make_billing(STRIPE_PRICE_ID="price_recurring_registration")
    with live.app.app_context():
        start = start_checkout(make_registration(live.app), a_customer(), EMBEDDED)
        pay_embedded(live, start.client_secret)
        paid = get_gateway().retrieve_session(start.session.id)
    assert paid.is_paid and paid.customer is not None and paid.customer.startswith("cus_")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"customer_creation": "sometimes"}, "Invalid customer_creation"),
        (
            {
                "mode": "subscription",
                "line_items[0][price]": "price_recurring",
                "customer_creation": "always",
            },
            "can only be used in `payment` and `setup` mode",
        ),
    ],
)
def test_customer_creation_stripe_would_refuse_is_refused(
    billing, change: dict[str, str], message: str
) -> None:
    response = stripe_api(billing, "POST", "checkout/sessions", {**VALID_SESSION, **change})
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["param"] == "customer_creation" and message in error["message"]
