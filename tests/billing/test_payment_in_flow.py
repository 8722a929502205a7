"""The payment step inside the registration flow: who pays, once, before registering; and a paid
registration that then does not register is never lost.

The customer's browser is the Flask test client on the flow (LTIAAS is the flow's fake); Stripe is
the stand-in, served by the same app on a real port and reached by the real `StripeClient`.
"""

from __future__ import annotations

import time
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from portal.billing.stripe_gateway import init_stripe
from portal.config import SANDBOX_STRIPE_SECRET_KEY
from portal.db import get_session
from portal.extensions import csrf
from portal.models import ApprovalRequest, Payment, PaymentStatus, Registration, User, utcnow
from portal.sandbox.models import SandboxStripeIdempotencyKey, SandboxStripeSession
from portal.sandbox.stripe_standin import fail_next_session_creates, refuse_customer_email, set_clock_ahead
from tests.accounts import PASSWORD, signed_in
from tests.billing.conftest import (
    DECLINED_CARD,
    PAYING_CARD,
    audit_count,
    checkout_sessions_of,
    data_attribute,
    deliver_webhooks,
    stripe_api_calls,
    stripe_last_asked_long_ago,
)
from tests.conftest import CUSTOMER_EMAIL, a_closed_url
from tests.fakes.ltiaas import FakeLtiaas
from tests.headers import content_security_policy
from tests.registration.helpers import add_person, configured_by, ltiaas_moved_to, press_register

pytestmark = pytest.mark.usefixtures("no_csrf")


def go_to_payment(browser: FlaskClient, public_id: str) -> str:
    """Open the confirm page, which sends a customer who must pay to the payment step; its URL."""
    response = browser.get(f"/registration/{public_id}/confirm")
    assert response.status_code == 303, response.text
    assert response.location.startswith("/billing/checkout/")
    assert parse_qs(urlsplit(response.location).query)["next"] == [f"/registration/{public_id}/confirm"]
    return response.location


def client_secret(browser: FlaskClient, checkout_page: str) -> str:
    answer = browser.post(data_attribute(checkout_page, "session-url")).get_json()
    assert answer["state"] == "open", answer
    return answer["client_secret"]


def pay(stripe_url: str, secret: str, card: str = PAYING_CARD) -> requests.Response:
    """The customer presses Pay in Stripe's embedded form (the stand-in's frame)."""
    return requests.post(
        f"{stripe_url}/sandbox/stripe/embedded",
        data={"client_secret": secret, "origin": stripe_url, "card_number": card},
        timeout=10,
    )


def stripe_tells_the_portal(app: Flask, secret: str) -> None:
    """Stripe's webhook reaches the portal with the news of the client secret's session."""
    assert deliver_webhooks(app, secret.split("_secret_")[0])


def pay_for(browser: FlaskClient, stripe_url: str, public_id: str) -> str:
    """Walk the payment step to the end as the page's script does (Stripe's webhook telling the
    portal meanwhile); returns the checkout page."""
    page = browser.get(go_to_payment(browser, public_id)).text
    secret = client_secret(browser, page)
    pay(stripe_url, secret)
    stripe_tells_the_portal(current_app_of(browser), secret)
    assert browser.get(data_attribute(page, "status-url")).get_json() == {"status": "paid", "paid": True}
    return page


def session_create_keys(app: Flask) -> list[tuple[str, int]]:
    """The idempotency keys "Stripe" (the stand-in) kept for Checkout Session creates, oldest first,
    each with the status it keeps answering."""
    with app.app_context():
        rows = get_session().scalars(
            select(SandboxStripeIdempotencyKey)
            .where(SandboxStripeIdempotencyKey.key.startswith("checkout-"))
            .order_by(SandboxStripeIdempotencyKey.created_at)
        )
        return [(row.key, row.status_code) for row in rows]


def session_creates_answered(app: Flask, expected: int) -> list[dict]:
    """The Checkout Session creates "Stripe" has answered, once `expected` have been (or 10 s passed)."""
    deadline = time.monotonic() + 10
    while True:
        creates = [c for c in stripe_api_calls(app, "/v1/checkout/sessions") if c["method"] == "POST"]
        if len(creates) >= expected or time.monotonic() > deadline:
            return creates
        time.sleep(0.05)


def current_app_of(browser: FlaskClient) -> Flask:
    return browser.application  # type: ignore[return-value]


def payment_of(app: Flask, public_id: str) -> Payment:
    with app.app_context():
        db = get_session()
        payment = db.scalar(select(Payment).join(Registration).where(Registration.public_id == public_id))
        assert payment is not None
        payment.registration  # noqa: B018 - loaded for use after the context
        return payment


# Who pays


@pytest.mark.parametrize(
    ("role", "priced", "pays"),
    [("customer", True, True), ("customer", False, False), ("staff", True, False), ("staff", False, False)],
)
def test_only_customers_pay_and_only_when_a_price_is_set(
    app: Flask, ltiaas: FakeLtiaas, stripe_over_http: str, role: str, priced: bool, pays: bool
) -> None:
    if not priced:
        app.config["STRIPE_PRICE_ID"] = ""
    browser = app.test_client()
    signed_in(browser, add_person(app, role))
    public_id = configured_by(browser)
    confirm = browser.get(f"/registration/{public_id}/confirm")
    review = browser.get(f"/registration/{public_id}/").text
    assert ('data-step="pay"' in review) is pays  # the step bar shows the step to whoever pays
    if pays:
        assert confirm.status_code == 303 and confirm.location.startswith("/billing/checkout/")
    else:
        assert confirm.status_code == 200 and 'id="register-tool"' in confirm.text
        assert press_register(browser, public_id).status_code == 303
        assert len(ltiaas.requests_to("complete_registration")) == 1


# Once, before registering


def test_a_customer_pays_once_inside_the_flow_then_registers(
    app: Flask, ltiaas: FakeLtiaas, stripe_over_http: str, customer_browser: FlaskClient
) -> None:
    public_id = configured_by(customer_browser)
    checkout_url = go_to_payment(customer_browser, public_id)
    page = customer_browser.get(checkout_url).text
    assert 'data-page="pay"' in page and 'aria-current="step"' in page
    assert 'id="change"' in page  # back to the choices before paying

    # Double clicks, a reload and a second tab all get the one Checkout Session.
    secret = client_secret(customer_browser, page)
    assert client_secret(customer_browser, page) == secret
    second_tab = customer_browser.get(go_to_payment(customer_browser, public_id)).text
    assert client_secret(customer_browser, second_tab) == secret

    # Registering before paying is refused, whatever the page shows.
    refused = press_register(customer_browser, public_id)
    assert refused.status_code == 303 and refused.location.startswith("/billing/checkout/")
    assert ltiaas.requests_to("complete_registration") == []

    declined = pay(stripe_over_http, secret, DECLINED_CARD)
    assert "Your card was declined." in declined.text
    assert customer_browser.get(data_attribute(page, "status-url")).get_json()["paid"] is False
    pay(stripe_over_http, secret)
    stripe_tells_the_portal(app, secret)
    assert customer_browser.get(data_attribute(page, "status-url")).get_json()["paid"] is True

    # Paid: the payment step sends the customer on, and nothing can start a second payment.
    assert customer_browser.post(data_attribute(page, "session-url")).get_json() == {"state": "paid"}
    onward = customer_browser.get(checkout_url)
    assert onward.status_code == 303 and onward.location == f"/registration/{public_id}/confirm"
    confirm = customer_browser.get(onward.location).text
    assert 'id="register-tool"' in confirm and 'data-payment="paid"' in confirm and "49.00 USD" in confirm

    done = press_register(customer_browser, public_id)
    assert done.location == f"/registration/{public_id}/done"
    assert 'id="paid"' in customer_browser.get(done.location).text
    assert len(ltiaas.requests_to("complete_registration")) == 1
    assert len(checkout_sessions_of(app, public_id)) == 1
    with app.app_context():
        assert audit_count("payment:paid") == 1


@pytest.mark.parametrize("status", ["pending", "failed", "expired", "paid for another registration"])
def test_registering_is_refused_until_stripe_confirmed_this_registrations_payment(
    app: Flask, ltiaas: FakeLtiaas, stripe_over_http: str, customer_browser: FlaskClient, status: str
) -> None:
    public_id = configured_by(customer_browser)
    with app.app_context():
        db = get_session()
        registration = db.scalar(select(Registration).where(Registration.public_id == public_id))
        if status == "paid for another registration":
            other = Registration(
                ltiaas_registration_id="reg-other",
                platform_url="https://other.example.edu",
                expires_at=utcnow() + timedelta(hours=1),
            )
            db.add(other)
            db.flush()
            db.add(Payment(registration_id=other.id, status=PaymentStatus.PAID.value))
        else:
            db.add(Payment(registration_id=registration.id, status=status))
        db.commit()
    for attempt in (
        press_register(customer_browser, public_id),
        customer_browser.get(f"/registration/{public_id}/confirm"),
    ):
        assert attempt.status_code == 303 and attempt.location.startswith("/billing/checkout/")
    assert ltiaas.requests_to("complete_registration") == []


def test_under_live_approval_the_customer_pays_before_the_request_reaches_the_staff(
    app: Flask, ltiaas: FakeLtiaas, stripe_over_http: str, customer_browser: FlaskClient
) -> None:
    app.config["APPROVAL_POLICY"] = "live-approval"
    public_id = configured_by(customer_browser)
    review = customer_browser.get(f"/registration/{public_id}/").text
    early = customer_browser.post(f"/registration/{public_id}/request")
    assert early.status_code == 303 and early.location.startswith("/billing/checkout/")
    payment_page = customer_browser.get(early.location).text
    assert "on the last step you send them your request" in review
    assert "You pay before you send it; if they decline it, they refund your payment." in review
    assert "Then you send your request to the tool's vendor, who approves each new LMS" in payment_page
    assert "register the tool on the next page" not in payment_page
    pay_for(customer_browser, stripe_over_http, public_id)
    confirm = customer_browser.get(f"/registration/{public_id}/confirm").text
    assert 'id="request-approval"' in confirm and 'data-payment="paid"' in confirm
    assert "Ask the tool&#39;s vendor to register the tool?" in confirm  # what the button does
    assert customer_browser.post(f"/registration/{public_id}/request").location.endswith("/waiting")


# Paid, not registered


@pytest.mark.parametrize("how", ["unreachable", "503 before acting"])
def test_paid_while_ltiaas_is_down_the_customer_tries_again_without_paying_again(
    app: Flask,
    ltiaas: FakeLtiaas,
    stripe_over_http: str,
    customer_browser: FlaskClient,
    staff_browser: FlaskClient,
    closed_url: str,
    how: str,
) -> None:
    public_id = configured_by(customer_browser)
    pay_for(customer_browser, stripe_over_http, public_id)
    if how == "unreachable":
        with ltiaas_moved_to(app, closed_url):
            first = press_register(customer_browser, public_id)
    else:
        ltiaas.fail("complete_registration", 503)
        first = press_register(customer_browser, public_id)
    assert first.location == f"/registration/{public_id}/confirm"

    confirm = customer_browser.get(f"/registration/{public_id}/confirm").text
    assert 'id="last-error"' in confirm and "Paid, not registered yet." in confirm
    assert "Try again: register the tool" in confirm
    staff_page = staff_browser.get("/admin/payments/").text
    assert 'data-standing="in_progress"' in staff_page and "can still register it" in staff_page
    account = customer_browser.get("/auth/account").text
    assert 'data-connection="unfinished"' in account and 'data-standing="in_progress"' in account
    assert "You won't pay again to finish this registration" in account
    # Starting again counts the payment only if LTIAAS certainly did not register it (not for a lost 503).
    assert ("nor if you start again from your LMS" in account) is (how == "unreachable")

    assert press_register(customer_browser, public_id).location == f"/registration/{public_id}/done"
    assert len(ltiaas.requests_to("complete_registration")) == (1 if how == "unreachable" else 2)
    assert len(checkout_sessions_of(app, public_id)) == 1
    assert 'id="no-payments"' in staff_browser.get("/admin/payments/").text
    assert 'data-standing="registered"' in customer_browser.get("/auth/account").text


def test_paid_and_the_answer_lost_after_ltiaas_registered_it_is_registered_and_nothing_is_due(
    app: Flask,
    ltiaas: FakeLtiaas,
    stripe_over_http: str,
    customer_browser: FlaskClient,
    staff_browser: FlaskClient,
) -> None:
    public_id = configured_by(customer_browser)
    pay_for(customer_browser, stripe_over_http, public_id)
    ltiaas.drop_connection("complete_registration", acted="completed")

    assert press_register(customer_browser, public_id).location == f"/registration/{public_id}/done"

    done = customer_browser.get(f"/registration/{public_id}/done").text
    assert 'id="close-yourself"' in done and 'id="paid"' in done
    assert 'id="no-payments"' in staff_browser.get("/admin/payments/").text
    assert 'data-standing="registered"' in customer_browser.get("/auth/account").text


def test_paid_and_already_used_the_staff_are_told_the_outcome_is_unknown_not_that_a_refund_is_due(
    app: Flask,
    ltiaas: FakeLtiaas,
    stripe_over_http: str,
    customer_browser: FlaskClient,
    staff_browser: FlaskClient,
) -> None:
    public_id = configured_by(customer_browser)
    pay_for(customer_browser, stripe_over_http, public_id)
    ltiaas.fail("complete_registration", 502, acted="id_used")
    press_register(customer_browser, public_id)  # could not confirm

    problem = press_register(customer_browser, public_id)  # refused as used

    assert 'data-problem="already_used"' in problem.text
    assert 'data-payment="outcome-unknown"' in problem.text and "Paid, outcome unknown." in problem.text
    listed = staff_browser.get("/admin/payments/").text
    assert 'data-standing="refund_due"' not in listed and "Paid, not registered" not in listed
    assert (
        'data-standing="outcome_unknown"' in listed and "settle the registration before any refund" in listed
    )


@pytest.mark.parametrize("how", ["LTIAAS forgot it", "past its lifetime"])
def test_paid_but_expired_the_staff_see_what_to_refund_and_record_it(
    app: Flask,
    ltiaas: FakeLtiaas,
    stripe_over_http: str,
    customer_browser: FlaskClient,
    staff_browser: FlaskClient,
    customer: User,
    how: str,
) -> None:
    public_id = configured_by(customer_browser)
    pay_for(customer_browser, stripe_over_http, public_id)
    if how == "LTIAAS forgot it":
        ltiaas.expire_registration("reg-moodle")
        problem = press_register(customer_browser, public_id)
    else:
        with app.app_context():
            db = get_session()
            registration = db.scalar(select(Registration).where(Registration.public_id == public_id))
            registration.expires_at = utcnow() - timedelta(seconds=1)
            db.commit()
        problem = customer_browser.get(f"/registration/{public_id}/confirm")
    payment = payment_of(app, public_id)

    assert problem.status_code == 410
    assert 'data-payment="refund-due"' in problem.text and payment.stripe_payment_intent in problem.text
    account = customer_browser.get("/auth/account").text
    assert 'data-connection="not_registered"' in account and "refund due" in account

    listed = staff_browser.get("/admin/payments/").text
    assert 'data-standing="refund_due"' in listed
    for shown in ("49.00 USD", payment.stripe_payment_intent, payment.stripe_session_id, customer.email):
        assert shown in listed
    assert (
        payment.stripe_customer is None
    )  # a one-time payment creates no Stripe Customer: the email says who
    assert f'class="payment-customer">{customer.email}</dd>' in listed
    assert payment.receipt_url and f'class="payment-receipt" href="{payment.receipt_url}"' in listed

    recorded = staff_browser.post(
        f"/admin/payments/{payment.public_id}/refunded", data={"confirm_refund": "y"}
    )
    assert recorded.location == "/admin/payments/"
    assert "Recorded as refunded." in staff_browser.get(recorded.location, follow_redirects=True).text
    assert 'id="no-payments"' in staff_browser.get("/admin/payments/").text
    assert 'data-standing="refunded"' in customer_browser.get("/auth/account").text
    dialog = customer_browser.get(f"/registration/{public_id}/confirm").text  # the LMS's window, reloaded
    assert 'data-payment="refunded"' in dialog and "will refund it" not in dialog
    assert "refunded it on " in dialog
    again = staff_browser.post(
        f"/admin/payments/{payment.public_id}/refunded", data={"confirm_refund": "y"}, follow_redirects=True
    )
    assert "No refund is due" in again.text
    with app.app_context():
        assert audit_count("payment:refunded") == 1


def test_no_refund_is_recorded_while_the_customer_can_still_register(
    app: Flask,
    ltiaas: FakeLtiaas,
    stripe_over_http: str,
    customer_browser: FlaskClient,
    staff_browser: FlaskClient,
) -> None:
    public_id = configured_by(customer_browser)
    pay_for(customer_browser, stripe_over_http, public_id)
    payment = payment_of(app, public_id)
    unticked = staff_browser.post(f"/admin/payments/{payment.public_id}/refunded", follow_redirects=True)
    assert "Tick the box" in unticked.text
    early = staff_browser.post(
        f"/admin/payments/{payment.public_id}/refunded", data={"confirm_refund": "y"}, follow_redirects=True
    )
    assert "No refund is due" in early.text
    assert payment_of(app, public_id).refunded_at is None
    assert press_register(customer_browser, public_id).location.endswith("/done")


def test_a_paid_request_declined_by_the_staff_is_a_refund_due(
    app: Flask,
    ltiaas: FakeLtiaas,
    stripe_over_http: str,
    customer_browser: FlaskClient,
    staff_browser: FlaskClient,
) -> None:
    app.config["APPROVAL_POLICY"] = "live-approval"
    public_id = configured_by(customer_browser)
    pay_for(customer_browser, stripe_over_http, public_id)
    customer_browser.post(f"/registration/{public_id}/request")
    waiting = customer_browser.get(f"/registration/{public_id}/waiting").text
    assert 'data-payment="paid"' in waiting
    listed = staff_browser.get("/admin/payments/").text
    assert 'data-standing="awaiting_decision"' in listed

    with app.app_context():
        request_id = get_session().scalars(select(ApprovalRequest)).one().public_id
    staff_browser.post(
        f"/admin/approvals/{request_id}/reject", data={"reason": "No licence.", "confirm_reject": "y"}
    )

    declined = customer_browser.get(f"/registration/{public_id}/waiting").text
    assert 'id="rejection-reason"' in declined and 'data-payment="refund-due"' in declined
    request_page = staff_browser.get(f"/admin/approvals/{request_id}").text
    assert "Paid, not registered: refund due" in request_page and "49.00 USD" in request_page
    assert 'data-standing="refund_due"' in staff_browser.get("/admin/payments/").text
    assert ltiaas.requests_to("complete_registration") == []


# The webhook and the page's poll


@pytest.mark.parametrize("first", ["webhook", "poll"])
def test_the_webhook_and_the_poll_record_the_payment_once_whichever_comes_first(
    app: Flask, ltiaas: FakeLtiaas, stripe_over_http: str, customer_browser: FlaskClient, first: str
) -> None:
    public_id = configured_by(customer_browser)
    page = customer_browser.get(go_to_payment(customer_browser, public_id)).text
    secret = client_secret(customer_browser, page)
    pay(stripe_over_http, secret)
    session_id = secret.split("_secret_")[0]
    status_url = data_attribute(page, "status-url")

    if first == "webhook":
        assert deliver_webhooks(app, session_id) == [200]
        with app.app_context():
            assert audit_count("payment:paid") == 1  # recorded before the page asked
        assert customer_browser.get(status_url).get_json()["paid"] is True  # the waiting page goes on
    else:
        # No webhook yet: once STRIPE_RECHECK_AFTER has passed, the poll asks Stripe itself.
        assert customer_browser.get(status_url).get_json()["paid"] is False
        stripe_last_asked_long_ago(app, payment_of(app, public_id).id)
        assert customer_browser.get(status_url).get_json()["paid"] is True
        assert deliver_webhooks(app, session_id) == [200]  # late, and harmless
    with app.app_context():
        assert audit_count("payment:paid") == 1
    assert press_register(customer_browser, public_id).location.endswith("/done")


def test_the_webhook_is_the_only_view_without_csrf_besides_the_sandboxs_machine_endpoints(app: Flask) -> None:
    exempt = set()
    for endpoint, view in app.view_functions.items():
        blueprint = app.blueprints.get(endpoint.rsplit(".", 1)[0]) if "." in endpoint else None
        if f"{view.__module__}.{view.__name__}" in csrf._exempt_views or blueprint in csrf._exempt_blueprints:
            exempt.add((endpoint, view.__module__))
    portal_exempt = {endpoint for endpoint, module in exempt if not module.startswith("portal.sandbox.")}
    assert portal_exempt == {"billing.stripe_webhook"}


# The payment page's headers


def test_the_payment_step_is_frameable_and_allows_only_stripe_js(
    app: Flask, ltiaas: FakeLtiaas, stripe_over_http: str, customer_browser: FlaskClient
) -> None:
    public_id = configured_by(customer_browser)
    page = customer_browser.get(go_to_payment(customer_browser, public_id))
    policy = content_security_policy(page)
    base = urlsplit(app.config["STRIPE_JS_BASE"])
    stripe_js = f"{base.scheme}://{base.netloc}"  # the sandbox's stand-in
    for directive in ("script-src", "frame-src", "connect-src"):
        extra = [s for s in policy[directive] if s != "'self'" and not s.startswith("'nonce-")]
        assert extra == [stripe_js], directive
    assert policy["frame-ancestors"] == app.config["FRAME_ANCESTORS"].split()
    assert policy["default-src"] == ["'self'"] and policy["object-src"] == ["'none'"]
    assert "X-Frame-Options" not in page.headers


def test_a_subscription_is_told_as_one_never_as_a_payment_made_once(
    app: Flask, ltiaas: FakeLtiaas, stripe_over_http: str, customer_browser: FlaskClient
) -> None:
    app.config.update(STRIPE_PRICE_ID="price_recurring_registration")
    init_stripe(app)
    public_id = configured_by(customer_browser)

    checkout = customer_browser.get(go_to_payment(customer_browser, public_id)).text
    pay_for(customer_browser, stripe_over_http, public_id)
    confirm = customer_browser.get(f"/registration/{public_id}/confirm").text

    assert "49.00 USD per month" in checkout and "It is a subscription" in checkout
    assert "You pay once" not in checkout
    assert "the first of your subscription" in confirm
    assert "You won't be charged again to finish this registration." in confirm


def test_a_payment_stripe_refuses_for_the_vendors_settings_is_not_told_to_try_again_in_a_minute(
    app: Flask, ltiaas: FakeLtiaas, stripe_over_http: str, customer_browser: FlaskClient
) -> None:
    app.config.update(STRIPE_PRICE_MODE="subscription")  # a one-time price: Stripe refuses the session
    init_stripe(app)
    public_id = configured_by(customer_browser)
    checkout = customer_browser.get(go_to_payment(customer_browser, public_id)).text

    answer = customer_browser.post(data_attribute(checkout, "session-url"))

    assert answer.status_code == 502
    said = answer.get_json()["error"]
    assert "a problem with the tool's vendor's payment settings" in said and "Nothing was charged." in said
    assert "try again" not in said.lower()


def test_after_stripe_failed_on_its_side_the_customers_next_try_gets_a_payment_form(
    app: Flask, ltiaas: FakeLtiaas, stripe_over_http: str, customer_browser: FlaskClient
) -> None:
    # Stripe keeps a 500 under its idempotency key for a day and replays it to that key's retries.
    app.config.update(STRIPE_MAX_RETRIES=0)
    init_stripe(app)
    public_id = configured_by(customer_browser)
    checkout = customer_browser.get(go_to_payment(customer_browser, public_id)).text
    fail_next_session_creates(app, 1)

    failed = customer_browser.post(data_attribute(checkout, "session-url"))
    again = customer_browser.post(data_attribute(checkout, "session-url"))

    assert failed.status_code == 503 and "try again in a minute" in failed.get_json()["error"]
    assert again.status_code == 200 and again.get_json()["state"] == "open"
    assert [status for _, status in session_create_keys(app)] == [500, 200]  # each under its own key
    assert pay(stripe_over_http, again.get_json()["client_secret"]).status_code == 200


def test_an_address_stripe_will_not_fill_in_is_left_for_the_customer_to_type_and_they_pay(
    app: Flask, ltiaas: FakeLtiaas, stripe_over_http: str, customer_browser: FlaskClient
) -> None:
    public_id = configured_by(customer_browser)
    checkout = customer_browser.get(go_to_payment(customer_browser, public_id)).text
    refuse_customer_email(app, CUSTOMER_EMAIL)

    first = customer_browser.post(data_attribute(checkout, "session-url"))
    again = customer_browser.post(data_attribute(checkout, "session-url"))  # a double click

    assert first.status_code == 200 and first.get_json()["state"] == "open"
    assert again.get_json()["client_secret"] == first.get_json()["client_secret"]
    (session,) = checkout_sessions_of(app, public_id)
    assert session["customer_email"] is None  # Checkout asks for it
    assert [key.endswith("-without-email") for key, _ in session_create_keys(app)] == [True]
    assert pay(stripe_over_http, first.get_json()["client_secret"]).status_code == 200


def test_a_timeout_keeps_its_key_so_a_session_stripe_made_is_the_one_the_retry_gets(
    app: Flask, ltiaas: FakeLtiaas, stripe_over_http: str, customer_browser: FlaskClient
) -> None:
    app.config.update(STRIPE_MAX_RETRIES=0, STRIPE_TIMEOUT=0.5)
    init_stripe(app)
    public_id = configured_by(customer_browser)
    checkout = customer_browser.get(go_to_payment(customer_browser, public_id)).text  # the price, kept

    app.config.update(SANDBOX_STRIPE_DELAY_MS=1500)  # the create outlasts the portal's wait
    lost = customer_browser.post(data_attribute(checkout, "session-url"))
    app.config.update(SANDBOX_STRIPE_DELAY_MS=0)
    again = customer_browser.post(data_attribute(checkout, "session-url"))

    assert lost.status_code == 503 and again.get_json()["state"] == "open"
    # The lost request went on at "Stripe" after the portal stopped waiting: both reached it.
    assert len(session_creates_answered(app, 2)) == 2
    assert [status for _, status in session_create_keys(app)] == [200]
    with app.app_context():
        assert len(get_session().scalars(select(SandboxStripeSession)).all()) == 1


def test_a_key_stripe_saw_with_other_parameters_is_left_for_a_new_attempt(
    app: Flask, ltiaas: FakeLtiaas, stripe_over_http: str, customer_browser: FlaskClient
) -> None:
    # As after an upgrade that changed what a session is created with: the attempt's key was sent
    # before, with other parameters, and Stripe refuses it with these.
    public_id = configured_by(customer_browser)
    checkout = customer_browser.get(go_to_payment(customer_browser, public_id)).text
    payment = payment_of(app, public_id)
    earlier = requests.post(
        f"{stripe_over_http}/sandbox/stripe/v1/checkout/sessions",
        data={
            "mode": "payment",
            "ui_mode": "embedded_page",
            "return_url": "http://localhost/return?session_id={CHECKOUT_SESSION_ID}",
            "line_items[0][price]": "price_registration",
            "line_items[0][quantity]": "1",
        },
        headers={
            "Authorization": f"Bearer {SANDBOX_STRIPE_SECRET_KEY}",
            "Idempotency-Key": f"checkout-{payment.public_id}-embedded_page-{payment.attempt}",
        },
        timeout=10,
    )
    assert earlier.status_code == 200

    answer = customer_browser.post(data_attribute(checkout, "session-url"))

    assert answer.status_code == 200 and answer.get_json()["state"] == "open"
    assert payment_of(app, public_id).attempt == payment.attempt + 1
    assert pay(stripe_over_http, answer.get_json()["client_secret"]).status_code == 200


def test_a_session_stripe_refuses_as_too_late_by_its_clock_is_told_as_the_registration_expired(
    app: Flask, ltiaas: FakeLtiaas, stripe_over_http: str, customer_browser: FlaskClient
) -> None:
    public_id = configured_by(customer_browser)
    checkout = customer_browser.get(go_to_payment(customer_browser, public_id)).text
    with app.app_context():
        db = get_session()
        registration = db.scalar(select(Registration).where(Registration.public_id == public_id))
        registration.expires_at = utcnow() + timedelta(seconds=30)  # open by our clock
        db.commit()
    set_clock_ahead(app, 120)  # Stripe's clock two minutes ahead: closed by Stripe's

    answer = customer_browser.post(data_attribute(checkout, "session-url"))
    flow = customer_browser.get(data_attribute(checkout, "next-url"))  # where the page goes on "closed"
    again = customer_browser.post(data_attribute(checkout, "session-url"))

    assert answer.status_code == 200 and answer.get_json() == {"state": "closed"}
    assert flow.status_code == 410 and "This registration has expired" in flow.text
    assert again.get_json() == {"state": "closed"}
    creates = [call for call in stripe_api_calls(app, "/v1/checkout/sessions") if call["method"] == "POST"]
    assert [call["status"] for call in creates] == [400]  # Stripe was asked once


def delete_own_account(browser: FlaskClient) -> None:
    response = browser.post("/auth/account/delete", data={"current": PASSWORD})
    assert response.status_code == 200 and 'data-page="account-deleted"' in response.text


def test_a_customer_who_deletes_their_account_can_no_longer_pay_in_a_window_left_open(
    app: Flask, ltiaas: FakeLtiaas, stripe_over_http: str, customer_browser: FlaskClient
) -> None:
    public_id = configured_by(customer_browser)
    secret = client_secret(
        customer_browser, customer_browser.get(go_to_payment(customer_browser, public_id)).text
    )

    delete_own_account(customer_browser)
    paid_afterwards = pay(stripe_over_http, secret)

    [session] = checkout_sessions_of(app, public_id)
    assert session["status"] == "expired"
    assert "Your card was declined" not in paid_afterwards.text and "expired" in paid_afterwards.text.lower()
    assert payment_of(app, public_id).status == PaymentStatus.EXPIRED.value


def test_a_payment_made_just_before_the_account_was_deleted_is_recorded_for_the_staff_to_refund(
    app: Flask, ltiaas: FakeLtiaas, stripe_over_http: str, customer_browser: FlaskClient
) -> None:
    public_id = configured_by(customer_browser)
    secret = client_secret(
        customer_browser, customer_browser.get(go_to_payment(customer_browser, public_id)).text
    )
    pay(stripe_over_http, secret)  # Stripe's webhook has not come yet

    delete_own_account(customer_browser)

    payment = payment_of(app, public_id)
    assert payment.status == PaymentStatus.PAID.value and payment.refunded_at is None
    assert payment.registration.state == "failed"  # closed with the account: a refund is due


def test_an_account_is_deleted_even_while_stripe_cannot_be_reached_and_its_window_ends_by_itself(
    app: Flask, ltiaas: FakeLtiaas, stripe_over_http: str, customer_browser: FlaskClient
) -> None:
    public_id = configured_by(customer_browser)
    client_secret(customer_browser, customer_browser.get(go_to_payment(customer_browser, public_id)).text)
    app.config.update(STRIPE_API_BASE=f"{a_closed_url()}/sandbox/stripe")
    init_stripe(app)

    delete_own_account(customer_browser)

    [session] = checkout_sessions_of(app, public_id)
    assert session["status"] == "open"  # until its expires_at, half an hour after the registration's end
    assert payment_of(app, public_id).status == PaymentStatus.PENDING.value


def test_staff_erasing_a_customer_end_the_payment_window_the_customer_left_open(
    app: Flask,
    ltiaas: FakeLtiaas,
    stripe_over_http: str,
    customer: User,
    customer_browser: FlaskClient,
    staff_browser: FlaskClient,
) -> None:
    public_id = configured_by(customer_browser)
    client_secret(customer_browser, customer_browser.get(go_to_payment(customer_browser, public_id)).text)

    erased = staff_browser.post(f"/admin/people/{customer.id}/erase", data={"email": customer.email})

    assert erased.status_code == 303
    [session] = checkout_sessions_of(app, public_id)
    assert session["status"] == "expired"
    assert payment_of(app, public_id).status == PaymentStatus.EXPIRED.value


def test_erase_user_on_the_command_line_ends_the_payment_window_too(
    app: Flask, ltiaas: FakeLtiaas, stripe_over_http: str, customer: User, customer_browser: FlaskClient
) -> None:
    public_id = configured_by(customer_browser)
    client_secret(customer_browser, customer_browser.get(go_to_payment(customer_browser, public_id)).text)

    result = app.test_cli_runner().invoke(args=["erase-user", customer.email, "--yes"])

    assert result.exit_code == 0, result.output
    [session] = checkout_sessions_of(app, public_id)
    assert session["status"] == "expired"
