"""The Stripe gateway, talking to the stand-in over real HTTP through the real StripeClient."""

from __future__ import annotations

import json
import threading
import time
from http.server import ThreadingHTTPServer

import pytest
from flask import Flask

from portal.billing import stripe_gateway
from portal.billing.fulfilment import get_or_create_payment
from portal.billing.stripe_gateway import (
    PRICE_CACHE_SECONDS,
    PRICE_RETRY_SECONDS,
    InvalidWebhook,
    PaymentProviderError,
    PaymentProviderUnavailable,
    StripeGateway,
    get_gateway,
)
from portal.sandbox.stripe_standin import build_event, sign_webhook_payload
from tests.billing.conftest import SECRET_KEY, WEBHOOK_SECRET, a_customer, make_registration, pay_embedded
from tests.fakes.http import JsonHandler


def new_payment(app: Flask):
    return get_or_create_payment(make_registration(app), a_customer())


def test_an_embedded_session_is_shaped_like_stripes_and_linked_to_our_registration(ctx: Flask) -> None:
    payment = new_payment(ctx)
    info = get_gateway().create_embedded_session(
        payment, "http://localhost/billing/return/x?session_id={CHECKOUT_SESSION_ID}"
    )
    assert info.id.startswith("cs_test_")
    assert info.client_secret and info.client_secret.startswith(f"{info.id}_secret_")
    assert (info.status, info.payment_status, info.mode, info.ui_mode) == (
        "open",
        "unpaid",
        "payment",
        "embedded_page",
    )
    assert info.url is None
    assert info.client_reference_id == payment.registration.public_id
    assert info.metadata == {"payment": payment.public_id, "registration": payment.registration.public_id}
    assert info.customer_email == "admin@example.edu"
    assert (info.amount_total, info.currency) == (4900, "usd")


def test_a_hosted_session_has_a_url_on_the_stand_in_and_no_client_secret(ctx: Flask, billing) -> None:
    info = get_gateway().create_hosted_session(
        new_payment(ctx), "http://localhost/done", "http://localhost/cancel"
    )
    assert info.url == f"{billing.url}/sandbox/stripe/pay/{info.id}"
    assert info.client_secret is None
    assert info.ui_mode == "hosted_page"


def test_retrieve_and_expire_a_session(ctx: Flask) -> None:
    gateway = get_gateway()
    created = gateway.create_hosted_session(
        new_payment(ctx), "http://localhost/done", "http://localhost/cancel"
    )
    assert gateway.retrieve_session(created.id) == created
    expired = gateway.expire_session(created.id)
    assert expired.status == "expired"
    assert gateway.retrieve_session(created.id).status == "expired"
    with pytest.raises(PaymentProviderError, match="can be expired"):
        gateway.expire_session(created.id)


def test_the_same_payment_attempt_gets_the_same_session_and_a_new_attempt_a_new_one(ctx: Flask) -> None:
    gateway = get_gateway()
    payment = new_payment(ctx)
    first = gateway.create_embedded_session(payment, "http://localhost/r")
    again = gateway.create_embedded_session(payment, "http://localhost/r")
    assert again.id == first.id
    payment.attempt += 1
    assert gateway.create_embedded_session(payment, "http://localhost/r").id != first.id


def test_reusing_an_idempotency_key_with_other_parameters_is_refused_as_stripe_does(ctx: Flask) -> None:
    gateway = get_gateway()
    payment = new_payment(ctx)
    gateway.create_embedded_session(payment, "http://localhost/r")
    with pytest.raises(PaymentProviderError) as raised:
        gateway.create_embedded_session(payment, "http://localhost/other")
    assert raised.value.http_status == 400


def test_a_recurring_price_makes_a_subscription_session(make_billing) -> None:
    live = make_billing(STRIPE_PRICE_ID="price_registration_monthly")
    with live.app.app_context():
        payment = new_payment(live.app)
        assert get_gateway().price().interval == "month"
        info = get_gateway().create_embedded_session(payment, "http://localhost/r")
        assert info.mode == "subscription"
        pay_embedded(live, info.client_secret)
        paid = get_gateway().retrieve_session(info.id)
        assert paid.is_paid and paid.subscription and paid.subscription.startswith("sub_")
        assert paid.payment_intent is None


def test_the_price_mode_setting_skips_asking_stripe(make_billing) -> None:
    live = make_billing(STRIPE_PRICE_ID="price_registration_monthly", STRIPE_PRICE_MODE="payment")
    with live.app.app_context():
        # The setting wins; the stand-in then refuses a recurring price in payment mode, as Stripe does.
        assert get_gateway().checkout_mode() == "payment"
        with pytest.raises(PaymentProviderError, match="recurring price"):
            get_gateway().create_embedded_session(new_payment(live.app), "http://localhost/r")


def test_an_unknown_session_is_a_provider_error(ctx: Flask) -> None:
    with pytest.raises(PaymentProviderError) as raised:
        get_gateway().retrieve_session("cs_test_doesnotexist")
    assert raised.value.http_status == 404


def test_a_wrong_secret_key_is_a_provider_error(billing) -> None:
    gateway = StripeGateway("sk_test_wrong", api_base=f"{billing.url}/sandbox/stripe", max_retries=0)
    with pytest.raises(PaymentProviderError) as raised:
        gateway.retrieve_session("cs_test_whatever")
    assert raised.value.http_status == 401


def test_no_secret_key_is_refused_before_calling_stripe() -> None:
    with pytest.raises(PaymentProviderError, match="STRIPE_SECRET_KEY"):
        StripeGateway("").retrieve_session("cs_test_whatever")


def test_stripe_failing_on_its_side_is_unavailable_after_the_retries(failing_stripe) -> None:
    url, handler = failing_stripe
    gateway = StripeGateway(SECRET_KEY, api_base=url, max_retries=1, timeout=5)
    with pytest.raises(PaymentProviderUnavailable):
        gateway.retrieve_session("cs_test_whatever")
    assert handler.hits == 2


class AnsweringStripe(JsonHandler):
    """Answers every request with `status` and Stripe's error body."""

    status = 409

    def do_GET(self) -> None:
        self.send_json(self.status, {"error": {"type": "invalid_request_error", "message": "Not now."}})


@pytest.mark.parametrize("status", [409, 424, 429])
def test_stripe_saying_not_now_is_unavailable_not_a_refusal(status: int) -> None:
    handler = type("Handler", (AnsweringStripe,), {"status": status})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        gateway = StripeGateway(SECRET_KEY, api_base=url, max_retries=0, timeout=5)
        with pytest.raises(PaymentProviderUnavailable) as raised:
            gateway.retrieve_session("cs_test_whatever")
        assert raised.value.http_status == status
    finally:
        server.shutdown()
        server.server_close()


def test_stripe_unreachable_is_unavailable() -> None:
    from tests.conftest import free_port

    gateway = StripeGateway(SECRET_KEY, api_base=f"http://127.0.0.1:{free_port()}", max_retries=0, timeout=2)
    with pytest.raises(PaymentProviderUnavailable):
        gateway.retrieve_session("cs_test_whatever")


def webhook_gateway() -> StripeGateway:
    return StripeGateway(SECRET_KEY, webhook_secret=WEBHOOK_SECRET)


def test_a_signed_event_is_verified_and_returned_as_a_plain_dict() -> None:
    payload = json.dumps(build_event("checkout.session.completed", {"id": "cs_test_1"})).encode()
    event = webhook_gateway().construct_event(payload, sign_webhook_payload(payload, WEBHOOK_SECRET))
    assert type(event) is dict
    assert event["type"] == "checkout.session.completed"
    assert event["data"]["object"]["id"] == "cs_test_1"


@pytest.mark.parametrize(
    ("header", "payload"),
    [
        pytest.param(
            lambda p: sign_webhook_payload(p, "whsec_someone_else"), b'{"id": "evt_1"}', id="bad-signature"
        ),
        pytest.param(lambda p: None, b'{"id": "evt_1"}', id="no-signature"),
        pytest.param(lambda p: "garbage", b'{"id": "evt_1"}', id="malformed-header"),
        pytest.param(
            lambda p: sign_webhook_payload(p, WEBHOOK_SECRET, int(time.time()) - 600),
            b'{"id": "evt_1"}',
            id="stale",
        ),
        pytest.param(lambda p: sign_webhook_payload(p, WEBHOOK_SECRET), b"not json", id="not-json"),
        pytest.param(lambda p: sign_webhook_payload(p, WEBHOOK_SECRET), b'{"hello": 1}', id="not-an-event"),
    ],
)
def test_anything_not_provably_from_stripe_is_an_invalid_webhook(header, payload: bytes) -> None:
    with pytest.raises(InvalidWebhook):
        webhook_gateway().construct_event(payload, header(payload))


def test_our_signature_helper_matches_stripes_own_algorithm() -> None:
    import hashlib
    import hmac

    header = sign_webhook_payload(b'{"id": "evt_1"}', "whsec_x", 1700000000)
    expected = hmac.new(b"whsec_x", b'1700000000.{"id": "evt_1"}', hashlib.sha256).hexdigest()
    assert header == f"t=1700000000,v1={expected}"


def test_in_a_stripe_outage_pages_show_no_price_and_ask_again_only_a_minute_later(
    failing_stripe, monkeypatch: pytest.MonkeyPatch
) -> None:
    url, handler = failing_stripe
    gateway = StripeGateway(SECRET_KEY, api_base=url, price_id="price_registration", max_retries=0, timeout=5)
    clock = [1000.0]
    monkeypatch.setattr(stripe_gateway.time, "monotonic", lambda: clock[0])

    assert gateway.shown_price() is None
    assert handler.hits == 1
    clock[0] += PRICE_RETRY_SECONDS - 1
    assert gateway.shown_price() is None
    assert handler.hits == 1, "a page view within the minute did not ask Stripe"
    with pytest.raises(PaymentProviderUnavailable):
        gateway.price()  # paying still asks Stripe
    assert handler.hits == 2
    clock[0] += PRICE_RETRY_SECONDS
    assert gateway.shown_price() is None
    assert handler.hits == 3


def test_a_price_stripe_said_is_shown_while_stripe_cannot_say_it_again(
    billing, monkeypatch: pytest.MonkeyPatch
) -> None:
    gateway = StripeGateway(
        SECRET_KEY, api_base=f"{billing.url}/sandbox/stripe", price_id="price_registration"
    )
    clock = [1000.0]
    monkeypatch.setattr(stripe_gateway.time, "monotonic", lambda: clock[0])
    said = gateway.shown_price()
    assert said is not None and said.unit_amount == 4900

    gateway.price_id = "price-nobody-made"  # the stand-in, as Stripe, answers 404
    clock[0] += PRICE_CACHE_SECONDS + 1

    assert gateway.shown_price() == said
