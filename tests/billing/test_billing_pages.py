"""The payment pages as a browser without cookies sees them (token mode), over real HTTP.

Each page is the flow's: it answers only the browser whose session holds the payment's
registration (or the signed-in customer who owns it); a leaked payment id is useless.
"""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
import requests
from flask import Flask

from portal.billing.fulfilment import get_or_create_payment, start_checkout
from portal.billing.stripe_gateway import HOSTED, init_stripe
from portal.db import get_session
from portal.models import Payment, utcnow
from portal.sandbox.stripe_standin import set_clock_ahead, settle_async_payment
from tests.billing.conftest import (
    FAILING_BANK_ACCOUNT,
    a_customer,
    browser_token,
    data_attribute,
    deliver_webhooks,
    make_registration,
    offers_bank_debits,
    pay_by_bank_debit,
    pay_embedded,
    pay_hosted,
    reload,
    stripe_api_calls,
    stripe_last_asked_long_ago,
)
from tests.headers import content_security_policy

NEXT = "/registration/abc/complete?step=2"


@pytest.fixture
def payment(ctx: Flask):
    return get_or_create_payment(make_registration(ctx), a_customer())


def token_of(billing, payment) -> str:
    """The session token of the customer's flow in the LMS's iframe (cookie-less)."""
    with billing.app.app_context():
        registration = get_session().get(Payment, payment.id).registration
        return browser_token(billing.app, registration, a_customer())


def open_checkout(billing, payment, next_url: str = NEXT, token: str | None = None) -> requests.Response:
    response = requests.get(
        f"{billing.url}/billing/checkout/{payment.public_id}",
        params={"next": next_url, "_st": token or token_of(billing, payment)},
        timeout=10,
    )
    assert response.status_code == 200
    return response


def post_from_page(billing, page: requests.Response, attribute: str) -> requests.Response:
    return requests.post(
        billing.url + data_attribute(page.text, attribute),
        headers={"X-CSRFToken": data_attribute(page.text, "csrf-token"), "Accept": "application/json"},
        timeout=10,
    )


def test_the_checkout_page_loads_the_stripe_js_stand_in_and_allows_only_its_origin(billing, payment) -> None:
    page = open_checkout(billing, payment)
    # The stand-in at Stripe's own path for the release of the pinned API version, and that
    # release's Embedded Checkout method handed to the page's script.
    assert f'<script src="{billing.url}/sandbox/stripe/js/endive/stripe.js"></script>' in page.text
    assert data_attribute(page.text, "stripe-js-release") == "endive"
    assert data_attribute(page.text, "embedded-checkout-method") == "createEmbeddedCheckoutPage"
    assert data_attribute(page.text, "publishable-key") == "pk_test_billing"
    assert data_attribute(page.text, "next-url").startswith(NEXT + "&_st=")  # the flow's session goes on
    assert 'Registration fee: <strong id="fee">49.00 USD</strong>' in page.text
    assert 'aria-current="step"' in page.text and 'data-step="pay"' in page.text
    assert 'id="payment-problem" class="notice notice-error" role="alert" hidden' in page.text
    policy = content_security_policy(page)
    for directive in ("script-src", "frame-src", "connect-src"):
        extra = [s for s in policy[directive] if s != "'self'" and not s.startswith("'nonce-")]
        assert extra == [billing.url], directive
    assert "stripe.com" not in page.headers["Content-Security-Policy"]


REAL_LOOKING_STRIPE = {
    "STRIPE_SECRET_KEY": "sk_test_51NzQRsLkdIwHu7ixAbCdEfGhIjKlMnOpQrStUvWxYz",
    "STRIPE_PUBLISHABLE_KEY": "pk_test_51NzQRsLkdIwHu7ixZyXwVuTsRqPoNmLkJiHgFeDcBa",
    "STRIPE_WEBHOOK_SECRET": "whsec_9f86d081884c7d659a2feaa0c55ad015",
    "STRIPE_JS_BASE": "https://js.stripe.com",
}


def test_with_real_stripe_js_the_page_loads_the_pinned_release_and_allows_what_stripe_lists(
    make_billing,
) -> None:
    # Real-looking settings, as a vendor sets them; only the API itself stays the stand-in.
    live = make_billing(**REAL_LOOKING_STRIPE)
    with live.app.app_context():
        payment = get_or_create_payment(make_registration(live.app), a_customer())
    page = open_checkout(live, payment)
    assert '<script src="https://js.stripe.com/endive/stripe.js"></script>' in page.text
    assert data_attribute(page.text, "embedded-checkout-method") == "createEmbeddedCheckoutPage"
    assert data_attribute(page.text, "publishable-key") == REAL_LOOKING_STRIPE["STRIPE_PUBLISHABLE_KEY"]
    policy = content_security_policy(page)
    # Stripe's security guide, for Stripe.js and Checkout (and Link).
    assert policy["script-src"][2:] == [
        "https://js.stripe.com",
        "https://*.js.stripe.com",
        "https://checkout.stripe.com",
    ]
    assert policy["frame-src"][1:] == [
        "https://js.stripe.com",
        "https://*.js.stripe.com",
        "https://hooks.stripe.com",
        "https://checkout.stripe.com",
        "https://link.com",
        "https://*.link.com",
    ]
    assert policy["connect-src"][1:] == [
        "https://api.stripe.com",
        "https://checkout.stripe.com",
        "https://link.com",
        "https://*.link.com",
    ]
    assert policy["img-src"] == ["'self'", "data:", "https://*.stripe.com"]
    assert policy["default-src"] == ["'self'"] and policy["object-src"] == ["'none'"]
    assert live.url not in page.headers["Content-Security-Policy"]  # no stand-in origin


def test_only_the_checkout_page_allows_stripe(make_billing) -> None:
    live = make_billing(**REAL_LOOKING_STRIPE)
    other = requests.get(f"{live.url}/billing/cancelled/whatever", timeout=10)
    assert "stripe.com" not in other.headers["Content-Security-Policy"]


def test_the_page_fetches_one_client_secret_however_often_it_asks(billing, payment) -> None:
    page = open_checkout(billing, payment)
    assert "_st=" in data_attribute(
        page.text, "session-url"
    )  # no cookie came back: the token carries the session
    first = post_from_page(billing, page, "session-url")
    second = post_from_page(billing, page, "session-url")
    assert first.status_code == 200 and first.headers["Cache-Control"] == "no-store"
    assert first.json()["state"] == "open"
    assert first.json()["client_secret"] == second.json()["client_secret"]


def test_the_status_poll_answers_from_our_records_and_asks_stripe_only_now_and_then(billing, payment) -> None:
    page = open_checkout(billing, payment)
    status_url = billing.url + data_attribute(page.text, "status-url")
    secret = post_from_page(billing, page, "session-url").json()["client_secret"]
    pay_embedded(billing, secret)  # no webhook arrives in this test
    before = len(stripe_api_calls(billing.app))
    for _ in range(3):  # the page polls: the session was just read from Stripe, so nobody asks again
        assert requests.get(status_url, timeout=10).json() == {"status": "pending", "paid": False}
    assert len(stripe_api_calls(billing.app)) == before

    stripe_last_asked_long_ago(billing.app, payment.id)
    assert requests.get(status_url, timeout=10).json() == {"status": "paid", "paid": True}
    (call,) = stripe_api_calls(billing.app)[before:]
    assert call["method"] == "GET" and call["path"].startswith("/sandbox/stripe/v1/checkout/sessions/")
    assert post_from_page(billing, page, "session-url").json() == {"state": "paid"}


def test_a_payment_the_poll_finds_paid_keeps_its_stripe_receipt(billing, payment) -> None:
    page = open_checkout(billing, payment)
    status_url = billing.url + data_attribute(page.text, "status-url")
    pay_embedded(billing, post_from_page(billing, page, "session-url").json()["client_secret"])
    stripe_last_asked_long_ago(billing.app, payment.id)  # and no webhook came

    assert requests.get(status_url, timeout=10).json() == {"status": "paid", "paid": True}

    recorded = reload(payment)
    assert recorded.receipt_url == f"{billing.url}/sandbox/stripe/receipts/{recorded.stripe_session_id}"


def test_many_polls_at_once_ask_stripe_once_between_them(billing, payment) -> None:
    page = open_checkout(billing, payment)
    status_url = billing.url + data_attribute(page.text, "status-url")
    pay_embedded(billing, post_from_page(billing, page, "session-url").json()["client_secret"])
    stripe_last_asked_long_ago(billing.app, payment.id)
    before = len(stripe_api_calls(billing.app))
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda _: requests.get(status_url, timeout=10).json(), range(16)))
    assert {"status": "paid", "paid": True} in answers
    assert len(stripe_api_calls(billing.app)) == before + 1
    assert requests.get(status_url, timeout=10).json() == {"status": "paid", "paid": True}


def test_the_checkout_page_asks_stripe_nothing(billing, payment) -> None:
    token = token_of(billing, payment)
    open_checkout(billing, payment, token=token)  # reads the price once per process
    post_from_page(billing, open_checkout(billing, payment, token=token), "session-url")
    before = len(stripe_api_calls(billing.app))
    for _ in range(3):
        open_checkout(billing, payment, token=token)
    assert len(stripe_api_calls(billing.app)) == before


def test_a_paid_payment_sends_the_checkout_page_straight_on(billing, payment) -> None:
    token = token_of(billing, payment)
    page = open_checkout(billing, payment, token=token)
    secret = post_from_page(billing, page, "session-url").json()["client_secret"]
    pay_embedded(billing, secret)
    assert deliver_webhooks(billing.app, secret.split("_secret_")[0]) == [200]  # Stripe tells us
    response = requests.get(
        f"{billing.url}/billing/checkout/{payment.public_id}",
        params={"next": NEXT, "_st": token},
        allow_redirects=False,
        timeout=10,
    )
    assert response.status_code == 303 and response.headers["Location"].startswith(NEXT + "&_st=")


@pytest.mark.parametrize(
    "next_url", ["https://evil.example/", "//evil.example/x", "/\\evil.example", "javascript:x"]
)
def test_a_next_url_off_this_site_is_ignored(billing, payment, next_url: str) -> None:
    page = open_checkout(billing, payment, next_url)
    confirm = f"/registration/{payment.registration.public_id}/confirm"
    assert data_attribute(page.text, "next-url").startswith(confirm + "?_st=")  # the flow's own next page
    assert reload(payment).next_url is None


def test_the_new_window_link_opens_hosted_checkout_once(billing, payment) -> None:
    page = open_checkout(billing, payment)
    link = re.search(
        r'id="pay-new-window" class="button button-secondary" href="([^"]+)" target="_blank"', page.text
    ).group(1)
    assert "_st=" not in link  # the new window gets no session, only this one-time link
    first = requests.get(billing.url + link, allow_redirects=False, timeout=10)
    assert first.status_code == 303
    assert first.headers["Location"].startswith(f"{billing.url}/sandbox/stripe/pay/cs_test_")
    again = requests.get(billing.url + link, allow_redirects=False, timeout=10)
    assert again.status_code == 400 and "This link has been used" in again.text

    fresh = post_from_page(billing, page, "link-url").json()["url"]
    reopened = requests.get(billing.url + fresh, allow_redirects=False, timeout=10)
    assert reopened.headers["Location"] == first.headers["Location"]  # the same open session


def test_a_tampered_link_is_refused(billing, payment) -> None:
    page = open_checkout(billing, payment)
    link = re.search(r'href="(/billing/hosted/[^"]+)"', page.text).group(1)
    assert requests.get(billing.url + link[:-2] + "xx", timeout=10).status_code == 400


def test_paying_in_the_new_window_ends_on_our_done_page_and_the_iframe_sees_it(billing, payment) -> None:
    page = open_checkout(billing, payment)
    link = re.search(r'href="(/billing/hosted/[^"]+)"', page.text).group(1)
    checkout_url = requests.get(billing.url + link, allow_redirects=False, timeout=10).headers["Location"]
    hosted_page = requests.get(checkout_url, timeout=10)
    assert "Card number" in hosted_page.text and ">Pay</button>" in hosted_page.text
    assert "frame-ancestors 'none'" in hosted_page.headers["Content-Security-Policy"]

    paid = pay_hosted(billing, checkout_url)
    assert paid.status_code == 303
    assert paid.headers["Location"].startswith(
        f"{billing.url}/billing/done/{payment.public_id}?session_id=cs_test_"
    )
    done = requests.get(paid.headers["Location"], timeout=10)
    assert "Payment received" in done.text
    assert (
        requests.get(billing.url + data_attribute(page.text, "status-url"), timeout=10).json()["paid"] is True
    )


def test_cancelling_in_the_new_window_says_nothing_was_charged(billing, payment) -> None:
    response = requests.get(f"{billing.url}/billing/cancelled/{payment.public_id}", timeout=10)
    assert "Nothing was charged" in response.text


def test_the_embedded_return_url_confirms_and_offers_to_continue(billing, payment) -> None:
    token = token_of(billing, payment)
    page = open_checkout(billing, payment, token=token)
    secret = post_from_page(billing, page, "session-url").json()["client_secret"]
    pay_embedded(billing, secret)
    session_id = secret.split("_secret_")[0]
    response = requests.get(
        f"{billing.url}/billing/return/{payment.public_id}",
        params={"session_id": session_id, "_st": token},  # as with the flow's cookie
        timeout=10,
    )
    assert "Payment received." in response.text
    assert data_attribute(response.text, "next-url").startswith(NEXT + "&_st=")


def test_back_from_stripe_without_its_session_the_browser_is_told_where_it_stands(billing, payment) -> None:
    page = open_checkout(billing, payment)
    secret = post_from_page(billing, page, "session-url").json()["client_secret"]
    pay_embedded(billing, secret)
    response = requests.get(
        f"{billing.url}/billing/return/{payment.public_id}",
        params={"session_id": secret.split("_secret_")[0]},
        timeout=10,
    )
    assert 'data-page="return-lost"' in response.text and "not be charged twice" in response.text
    assert NEXT not in response.text
    assert reload(payment).is_paid  # recorded all the same


def test_the_new_windows_done_page_needs_the_session_stripe_sent_it_with(billing, payment) -> None:
    done = f"{billing.url}/billing/done/{payment.public_id}"
    assert requests.get(done, timeout=10).status_code == 404
    assert requests.get(done, params={"session_id": "cs_test_someone_else"}, timeout=10).status_code == 404


def test_the_pages_stripe_returns_to_ask_stripe_only_about_the_payments_own_session(billing, payment) -> None:
    page = open_checkout(billing, payment)
    own = post_from_page(billing, page, "session-url").json()["client_secret"].split("_secret_")[0]
    with billing.app.app_context():  # a real session, of another registration's payment
        other = start_checkout(make_registration(billing.app), a_customer("other@example.edu"), HOSTED)
    before = len(stripe_api_calls(billing.app))
    for foreign in (other.session.id, "cs_test_" + "a" * 56, "cs_live_x"):
        for page_name in ("done", "return"):
            response = requests.get(
                f"{billing.url}/billing/{page_name}/{payment.public_id}",
                params={"session_id": foreign},
                timeout=10,
            )
            assert response.status_code in (200, 404)
            assert "Payment received" not in response.text
    assert len(stripe_api_calls(billing.app)) == before  # not one call reached Stripe

    done = requests.get(
        f"{billing.url}/billing/done/{payment.public_id}", params={"session_id": own}, timeout=10
    )
    assert done.status_code == 200 and "Waiting for your payment" in done.text
    (call,) = stripe_api_calls(billing.app)[before:]
    assert (call["method"], call["path"]) == ("GET", f"/sandbox/stripe/v1/checkout/sessions/{own}")


@offers_bank_debits
def test_a_failed_bank_debit_is_told_and_paid_again_from_the_page(billing, payment) -> None:
    token = token_of(billing, payment)
    page = open_checkout(billing, payment, token=token)
    status_url = billing.url + data_attribute(page.text, "status-url")
    secret = post_from_page(billing, page, "session-url").json()["client_secret"]
    pay_by_bank_debit(billing, secret, FAILING_BANK_ACCOUNT)
    assert requests.get(status_url, timeout=10).json() == {"status": "pending", "paid": False}
    assert post_from_page(billing, page, "session-url").json() == {"state": "processing"}  # no second session

    session_id = secret.split("_secret_")[0]
    with billing.app.app_context():
        settle_async_payment(get_session(), session_id)  # the bank declines, days later
    assert deliver_webhooks(billing.app, session_id) == [200, 200]
    assert requests.get(status_url, timeout=10).json() == {"status": "failed", "paid": False}

    reopened = open_checkout(billing, payment, token=token)
    assert (
        '<p id="payment-problem" class="notice notice-error" role="alert">Your bank declined the payment '
        "after it was submitted, so it was not paid. You can pay again below.</p>"
    ) in reopened.text
    answer = post_from_page(billing, reopened, "session-url").json()
    assert answer["state"] == "open" and answer["client_secret"] != secret
    assert answer["notice"].startswith("Your bank declined the payment after it was submitted")
    assert post_from_page(billing, reopened, "session-url").json()["client_secret"] == answer["client_secret"]

    pay_embedded(billing, answer["client_secret"])
    assert deliver_webhooks(billing.app, answer["client_secret"].split("_secret_")[0]) == [200]
    assert requests.get(status_url, timeout=10).json() == {"status": "paid", "paid": True}
    assert reload(payment).stripe_client_secret is None  # not kept once it has served


@pytest.mark.parametrize("who", ["a stranger", "another registration's flow"])
def test_a_leaked_payment_id_is_useless(billing, payment, who: str) -> None:
    with billing.app.app_context():
        other = None if who == "a stranger" else browser_token(billing.app, make_registration(billing.app))
    params = {"_st": other} if other else {}
    base = f"{billing.url}/billing"
    for method, url in [
        ("GET", f"{base}/checkout/{payment.public_id}"),
        ("GET", f"{base}/status/{payment.public_id}"),
        ("POST", f"{base}/checkout/{payment.public_id}/session"),
        ("POST", f"{base}/checkout/{payment.public_id}/hosted-link"),
    ]:
        response = requests.request(method, url, params=params, timeout=10)
        assert response.status_code in (404, 400), (method, url)  # 400: no CSRF token for a POST
    assert reload(payment).stripe_session_id is None  # nothing was started


def test_the_customer_who_owns_the_payment_may_see_it_from_another_session(billing, payment) -> None:
    with billing.app.app_context():
        own = browser_token(billing.app, None, a_customer())
    response = requests.get(
        f"{billing.url}/billing/status/{payment.public_id}", params={"_st": own}, timeout=10
    )
    assert response.json() == {"status": "pending", "paid": False}


@pytest.mark.parametrize("who", ["nobody signed in", "staff"])
def test_only_a_signed_in_customer_is_asked_to_pay(billing, payment, who: str) -> None:
    with billing.app.app_context():
        user = a_customer("staff@vendor.example", role="staff") if who == "staff" else None
        token = browser_token(billing.app, payment.registration, user)
    response = requests.get(
        f"{billing.url}/billing/checkout/{payment.public_id}",
        params={"_st": token},
        allow_redirects=False,
        timeout=10,
    )
    assert response.status_code == 303
    assert response.headers["Location"].startswith(f"/registration/{payment.registration.public_id}/confirm")


def test_nothing_is_charged_for_a_registration_that_can_no_longer_be_registered(billing, payment) -> None:
    page = open_checkout(billing, payment)
    link = re.search(r'href="(/billing/hosted/[^"]+)"', page.text).group(1)
    with billing.app.app_context():
        db = get_session()
        registration = db.merge(payment.registration)
        registration.expires_at = utcnow() - timedelta(seconds=1)
        db.commit()
    assert post_from_page(billing, page, "session-url").json() == {"state": "closed"}
    new_window = requests.get(billing.url + link, allow_redirects=False, timeout=10)
    assert new_window.status_code == 409 and "Nothing was charged" in new_window.text
    again = requests.get(
        f"{billing.url}/billing/checkout/{payment.public_id}",
        params={"_st": token_of(billing, payment)},
        allow_redirects=False,
        timeout=10,
    )
    assert again.status_code == 303  # on to the flow's page, which says it expired
    assert reload(payment).stripe_session_id is None


def test_a_new_window_stripe_finds_too_late_by_its_clock_says_nothing_can_be_paid(billing, payment) -> None:
    page = open_checkout(billing, payment)
    link = re.search(r'href="(/billing/hosted/[^"]+)"', page.text).group(1)
    with billing.app.app_context():
        db = get_session()
        registration = db.merge(payment.registration)
        registration.expires_at = utcnow() + timedelta(seconds=30)  # open by our clock
        db.commit()
    set_clock_ahead(billing.app, 120)  # Stripe's clock two minutes ahead: closed by Stripe's

    new_window = requests.get(billing.url + link, allow_redirects=False, timeout=10)

    assert new_window.status_code == 409 and "Nothing was charged" in new_window.text
    assert "it has expired" in new_window.text
    assert "payment provider did not answer" not in new_window.text
    assert reload(payment).stripe_session_id is None


def test_a_new_window_stripe_refuses_for_the_vendors_settings_says_so_not_to_wait_a_minute(
    billing, payment
) -> None:
    page = open_checkout(billing, payment)
    link = re.search(r'href="(/billing/hosted/[^"]+)"', page.text).group(1)
    billing.app.config.update(STRIPE_PRICE_MODE="subscription")  # a one-time price: Stripe refuses
    init_stripe(billing.app)

    new_window = requests.get(billing.url + link, allow_redirects=False, timeout=10)

    assert new_window.status_code == 502
    assert "a problem with the tool&#39;s vendor&#39;s payment settings" in new_window.text
    assert "Nothing was charged." in new_window.text
    assert "did not answer" not in new_window.text and "wait a minute" not in new_window.text
    assert reload(payment).stripe_session_id is None


def test_an_unknown_payment_is_not_found(billing) -> None:
    assert requests.get(f"{billing.url}/billing/checkout/nope", timeout=10).status_code == 404
    assert requests.get(f"{billing.url}/billing/status/nope", timeout=10).status_code == 404


def test_the_stand_in_frame_has_a_card_form_and_may_be_framed_by_the_portal(billing, payment) -> None:
    page = open_checkout(billing, payment)
    secret = post_from_page(billing, page, "session-url").json()["client_secret"]
    frame = requests.get(
        f"{billing.url}/sandbox/stripe/embedded",
        params={"client_secret": secret, "origin": billing.url},
        timeout=10,
    )
    assert '<label for="card_number">Card number</label>' in frame.text
    assert '<button type="submit">Pay</button>' in frame.text
    assert billing.url in content_security_policy(frame)["frame-ancestors"]
    declined = pay_embedded(billing, secret, "4000 0000 0000 0002")
    assert "Your card was declined." in declined.text and "Card number" in declined.text
    assert 'data-state="complete"' in pay_embedded(billing, secret).text


def test_the_stand_in_api_wants_a_secret_key_and_answers_like_stripe(billing) -> None:
    response = requests.get(f"{billing.url}/sandbox/stripe/v1/checkout/sessions/cs_test_x", timeout=10)
    assert response.status_code == 401
    assert response.json()["error"]["type"] == "invalid_request_error"
