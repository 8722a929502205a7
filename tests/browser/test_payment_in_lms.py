"""A customer pays for the tool inside the LMS's cross-site iframe, in a real browser.

The sandbox charges its demo price through the Stripe stand-in: its Stripe.js mounts the
embedded checkout frame inside our payment page (inside the LMS's iframe), hosted Checkout
opens in a new window, and Stripe's signed webhooks arrive by themselves.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from playwright.sync_api import BrowserContext, FrameLocator, Page, Route, expect
from sqlalchemy import select

from portal.db import get_session
from portal.models import Payment
from portal.sandbox.models import SandboxStripeSession
from portal.sandbox.stripe_standin import settle_async_payment
from tests.browser.conftest import strip_portal_cookies
from tests.browser.helpers import (
    Choices,
    choose,
    complete_calls,
    continue_to_configure,
    has_no_horizontal_scroll,
    new_email,
    open_lms,
    portal_frame,
    registered_tools,
    start_registration,
    wait_for_close,
    watch_portal_set_cookies,
)
from tests.conftest import LiveServer, start_live_server, stop_live_server

PAYING_CARD = "4242 4242 4242 4242"
DECLINED_CARD = "4000 0000 0000 0002"
FAILING_BANK_ACCOUNT = "000111111116"
ASYNC_FAILED = (
    "Your bank declined the payment after it was submitted, so it was not paid. You can pay again below."
)
FORM_UNAVAILABLE = (
    "The payment form could not be shown here. Use “Pay in a new window” below to pay on Stripe's own page."
)
STRIPE_SLOW = "Stripe, the payment service, is slow to answer. Still waiting for the payment form…"
UNAVAILABLE = (
    "Payment is unavailable right now. Please try again in a minute. You can also use “Pay in a new window”."
)
STAND_IN_STRIPE_JS = "/sandbox/stripe/js/endive/stripe.js"
CANVAS = "https://canvas.instructure.com/lti/"
CHOICES = Choices(
    "Springfield Canvas",
    {
        "LtiResourceLinkRequest": [f"{CANVAS}course_navigation"],
        "LtiDeepLinkingRequest": [f"{CANVAS}editor_button"],
    },
)


@pytest.fixture
def paying_server(tmp_path: Path) -> Iterator[LiveServer]:
    """The sandbox with its demo price: customers pay through the Stripe stand-in.

    A bank debit settles only when the test says so (`settle_async_payment`), as the bank decides.
    """
    live = start_live_server(
        tmp_path, STRIPE_PRICE_ID="price_sandbox_registration", SANDBOX_STRIPE_SETTLE_AFTER=None
    )
    yield live
    stop_live_server(live)


@pytest.fixture
def bank_debit_server(tmp_path: Path) -> Iterator[LiveServer]:
    """`paying_server` for a vendor who lets Checkout take US bank accounts as well as cards."""
    live = start_live_server(
        tmp_path,
        STRIPE_PRICE_ID="price_sandbox_registration",
        STRIPE_PAYMENT_METHOD_TYPES="card us_bank_account",
        SANDBOX_STRIPE_SETTLE_AFTER=None,
    )
    yield live
    stop_live_server(live)


def to_the_payment_step(page: Page, live: LiveServer) -> FrameLocator:
    """Start a Canvas registration, sign up inside the iframe, choose, and arrive at the payment step."""
    open_lms(page, live.lms_url)
    start_registration(page, "canvas")
    frame = portal_frame(page)
    continue_to_configure(frame, new_email())
    choose(frame, CHOICES)
    frame.locator("#save-choices").click()
    expect(frame.locator('[data-page="pay"]')).to_be_visible()
    expect(frame.locator('.step.is-current[data-step="pay"]')).to_be_visible()
    return frame


def pay_in_frame(frame: FrameLocator, card: str) -> FrameLocator:
    """Type a card into Stripe's embedded form (inside our page) and press Pay."""
    checkout = frame.frame_locator("#checkout iframe")
    checkout.locator("#card_number").fill(card)
    checkout.get_by_role("button", name="Pay").click()
    return checkout


def register_after_paying(page: Page, frame: FrameLocator) -> None:
    """The iframe moved on by itself once the server confirmed the payment: register the tool."""
    expect(frame.locator('[data-page="confirm"]')).to_be_visible()
    expect(frame.locator('#paid-not-registered[data-payment="paid"]')).to_contain_text("49.00 USD")
    frame.locator("#register-tool").click()
    wait_for_close(page)
    (tool,) = registered_tools(page)
    assert {m["type"]: sorted(m.get("placements") or []) for m in tool["messages"]} == CHOICES.messages


def checkout_sessions(live: LiveServer) -> list[dict]:
    """Every Checkout Session "Stripe" (the stand-in) created; this test's server has one registration."""
    with live.app.app_context():
        return [record.data for record in get_session().scalars(select(SandboxStripeSession)).all()]


def the_payment(live: LiveServer) -> Payment:
    with live.app.app_context():
        return get_session().scalars(select(Payment)).one()


@pytest.mark.parametrize("cookies", ["kept", "stripped"])
def test_a_customer_pays_inside_the_iframe_and_registers_the_tool(
    context: BrowserContext, paying_server: LiveServer, artifacts: Path, cookies: str
) -> None:
    live = paying_server
    if cookies == "stripped":
        strip_portal_cookies(context, live)
    page = context.new_page()
    set_cookies = watch_portal_set_cookies(page, live.url)
    frame = to_the_payment_step(page, live)
    expect(frame.frame_locator("#checkout iframe").locator("#card_number")).to_be_visible()
    expect(frame.frame_locator("#checkout iframe").locator("#routing_number")).to_have_count(0)  # cards only
    page.locator("#registration-frame").screenshot(path=str(artifacts / f"3a-payment-{cookies}.png"))
    content = page.locator("#registration-frame").element_handle().content_frame()
    assert content is not None
    assert has_no_horizontal_scroll(content)  # fits the dialog, measured once its stylesheets apply

    pay_in_frame(frame, PAYING_CARD)
    register_after_paying(page, frame)

    (session,) = checkout_sessions(live)  # one Checkout Session for the registration
    assert (session["status"], session["payment_status"], session["ui_mode"]) == (
        "complete",
        "paid",
        "embedded_page",
    )
    assert the_payment(live).is_paid
    assert complete_calls(live.url) == 1
    if cookies == "stripped":
        assert set_cookies == []
        assert context.cookies(live.url) == []


def test_a_declined_card_says_so_and_the_customer_pays_with_another(
    page: Page, paying_server: LiveServer
) -> None:
    live = paying_server
    frame = to_the_payment_step(page, live)
    checkout = pay_in_frame(frame, DECLINED_CARD)
    expect(checkout.get_by_role("alert")).to_have_text("Your card was declined.")
    expect(frame.locator('[data-page="pay"]')).to_be_visible()  # still paying: nothing moved on

    pay_in_frame(frame, PAYING_CARD)
    register_after_paying(page, frame)
    (session,) = checkout_sessions(live)  # the retry paid the same session
    assert session["payment_status"] == "paid"
    assert complete_calls(live.url) == 1


def test_paying_in_a_new_window_moves_the_iframe_on_by_itself(
    context: BrowserContext, paying_server: LiveServer
) -> None:
    live = paying_server
    page = context.new_page()
    frame = to_the_payment_step(page, live)
    expect(frame.frame_locator("#checkout iframe").locator("#card_number")).to_be_visible()

    with context.expect_page() as new_window:
        frame.locator("#pay-new-window").click()
    popup = new_window.value
    expect(frame.locator("#payment-waiting")).to_be_visible()
    expect(frame.locator("#checkout-box")).to_have_attribute("data-state", "none")  # the form gone
    popup.locator("#card_number").fill(PAYING_CARD)
    popup.get_by_role("button", name="Pay").click()
    expect(popup.get_by_role("heading", name="Payment received")).to_be_visible()

    register_after_paying(page, frame)  # the iframe went on without a click
    sessions = checkout_sessions(live)
    paid = [s for s in sessions if s["status"] == "complete"]
    assert [s["ui_mode"] for s in paid] == ["hosted_page"]
    assert all(s["status"] == "expired" for s in sessions if s not in paid)  # never two payable ones
    assert the_payment(live).stripe_session_id == paid[0]["id"]
    assert complete_calls(live.url) == 1


def stripe_instances(page: Page) -> int:
    """How many `Stripe(...)` instances the payment page (inside the LMS's iframe) has made."""
    content = page.locator("#registration-frame").element_handle().content_frame()
    assert content is not None
    return content.evaluate("window.StripeStandin.instances()")


def pay_in_new_window(context: BrowserContext, page: Page, frame: FrameLocator) -> None:
    with context.expect_page() as new_window:
        frame.locator("#pay-new-window").click()
    popup = new_window.value
    popup.locator("#card_number").fill(PAYING_CARD)
    popup.get_by_role("button", name="Pay").click()
    expect(popup.get_by_role("heading", name="Payment received")).to_be_visible()
    register_after_paying(page, frame)


def test_a_bank_debit_that_fails_later_is_told_and_paid_again(
    page: Page, bank_debit_server: LiveServer
) -> None:
    live = bank_debit_server
    frame = to_the_payment_step(page, live)
    checkout = frame.frame_locator("#checkout iframe")
    checkout.locator("#routing_number").fill("110000000")
    checkout.locator("#account_number").fill(FAILING_BANK_ACCOUNT)
    checkout.get_by_role("button", name="Debit my bank account").click()
    expect(checkout.get_by_role("status")).to_have_text(
        "Payment submitted. Your bank debit is being processed."
    )
    expect(frame.locator("#payment-status")).to_have_text("Confirming your payment…")

    (submitted,) = checkout_sessions(live)
    with live.app.app_context():
        settle_async_payment(get_session(), submitted["id"])  # the bank declines; Stripe calls back

    expect(frame.locator("#payment-problem")).to_have_text(ASYNC_FAILED)
    expect(frame.locator('[data-page="pay"]')).to_be_visible()  # still paying, with a new form
    expect(frame.frame_locator("#checkout iframe").locator("#card_number")).to_be_visible()
    assert stripe_instances(page) == 1  # one Stripe instance, mounted twice

    pay_in_frame(frame, PAYING_CARD)
    register_after_paying(page, frame)
    first, second = sorted(checkout_sessions(live), key=lambda session: session["created"])
    assert first["id"] == submitted["id"]
    assert (first["status"], first["payment_status"]) == ("complete", "unpaid")  # never reopened
    assert (second["status"], second["payment_status"]) == ("complete", "paid")
    payment = the_payment(live)
    assert (payment.status, payment.attempt, payment.stripe_session_id) == ("paid", 2, second["id"])
    assert complete_calls(live.url) == 1


def test_when_stripe_js_does_not_load_the_customer_is_told_and_pays_in_a_new_window(
    context: BrowserContext, paying_server: LiveServer
) -> None:
    live = paying_server
    context.route(
        f"{live.url}{STAND_IN_STRIPE_JS}", lambda route: route.fulfill(status=404, body="Not found")
    )
    page = context.new_page()
    frame = to_the_payment_step(page, live)

    expect(frame.locator("#payment-problem")).to_have_text(FORM_UNAVAILABLE)
    expect(frame.locator("#checkout iframe")).to_have_count(0)
    expect(frame.locator("#checkout-box")).to_have_attribute("data-state", "none")  # no empty room
    expect(frame.locator("#checkout-box .checkout-loading")).to_be_hidden()
    expect(frame.locator("#pay-new-window")).to_have_class("button button-primary")
    pay_in_new_window(context, page, frame)
    assert [s["ui_mode"] for s in checkout_sessions(live)] == ["hosted_page"]


def test_a_page_calling_a_method_its_stripe_js_release_lacks_is_told_not_left_blank(
    context: BrowserContext, paying_server: LiveServer
) -> None:
    live = paying_server
    # The page names the endive release's method; this Stripe.js imitates the legacy v3 release.
    legacy = requests.get(f"{live.url}/sandbox/stripe/js/v3/", timeout=10).text

    def serve_legacy(route: Route) -> None:
        route.fulfill(status=200, content_type="text/javascript", body=legacy)

    context.route(f"{live.url}{STAND_IN_STRIPE_JS}", serve_legacy)
    page = context.new_page()
    frame = to_the_payment_step(page, live)

    expect(frame.locator("#payment-problem")).to_have_text(FORM_UNAVAILABLE)
    expect(frame.locator("#checkout iframe")).to_have_count(0)
    assert checkout_sessions(live) == []  # nothing was started at Stripe for a form that cannot show
    pay_in_new_window(context, page, frame)


def test_a_slow_stripe_is_told_while_the_form_waits_and_the_customer_then_pays(
    page: Page, paying_server: LiveServer
) -> None:
    live = paying_server
    page.clock.install()  # time flows as usual; the test skips ahead while Stripe takes its time
    live.app.config["SANDBOX_STRIPE_DELAY_MS"] = 2500
    frame = to_the_payment_step(page, live)  # its script has asked for a Checkout Session

    page.clock.fast_forward(9000)
    expect(frame.locator("#payment-status")).to_have_text(STRIPE_SLOW)
    live.app.config["SANDBOX_STRIPE_DELAY_MS"] = 0

    expect(frame.frame_locator("#checkout iframe").locator("#card_number")).to_be_visible(timeout=20_000)
    expect(frame.locator("#payment-status")).to_have_text("")
    pay_in_frame(frame, PAYING_CARD)
    register_after_paying(page, frame)


def test_a_stripe_that_does_not_answer_in_time_is_told_as_unavailable_and_nothing_is_paid(
    page: Page, tmp_path: Path
) -> None:
    live = start_live_server(
        tmp_path,
        STRIPE_PRICE_ID="price_sandbox_registration",
        STRIPE_TIMEOUT=1,
        STRIPE_MAX_RETRIES=0,
        SANDBOX_STRIPE_SETTLE_AFTER=None,
    )
    try:
        frame = to_the_payment_step(page, live)
        live.app.config["SANDBOX_STRIPE_DELAY_MS"] = 3000
        frame.locator("#change").click()
        frame.locator("#save-choices").click()  # back to the payment page: a new session is asked for

        expect(frame.locator("#payment-status")).to_have_text(UNAVAILABLE, timeout=20_000)
        expect(frame.locator("#checkout iframe")).to_have_count(0)
        expect(frame.locator("#pay-new-window")).to_be_visible()
        assert the_payment(live).status != "paid"
    finally:
        stop_live_server(live)


USE_AFTER_DESTROY = """async () => {
  const checkout = await Stripe("pk_test_sandbox").createEmbeddedCheckoutPage({
    fetchClientSecret: () => Promise.resolve("cs_test_1_secret_x"),
  });
  checkout.mount("#checkout");
  checkout.destroy();
  const refused = [];
  for (const use of [() => checkout.destroy(), () => checkout.mount("#checkout")]) {
    try { use(); } catch (error) { refused.push(error.name + ": " + error.message); }
  }
  return refused;
}"""


def test_the_stand_in_refuses_a_destroyed_embedded_checkout_as_stripe_js_does(
    page: Page, paying_server: LiveServer
) -> None:
    page.set_content('<div id="checkout"></div>')
    page.add_script_tag(url=f"{paying_server.url}{STAND_IN_STRIPE_JS}")

    refused = page.evaluate(USE_AFTER_DESTROY)

    destroyed = (
        "IntegrationError: This Embedded Checkout instance has been destroyed and can't be used anymore."
    )
    assert refused == [destroyed, destroyed]


SHIFT_AFTER_FIRST_PAINT = """() => new Promise((resolve) => {
  // What a person sees move: every unexpected shift after the page's first paint, as Chromium
  // scores them (a shift before it, of a layout never painted, is nobody's to see).
  const painted = performance.getEntriesByName("first-contentful-paint")[0].startTime;
  new PerformanceObserver((list) => {
    const seen = list.getEntries().filter((e) => !e.hadRecentInput && e.startTime >= painted);
    resolve(seen.reduce((sum, e) => sum + e.value, 0));
  }).observe({ type: "layout-shift", buffered: true });
  window.setTimeout(() => resolve(0), 1000);
})"""
FORM_SIZED = """() => {
  // The stand-in's form has told the page its height (its frame starts at 420px, as it mounts).
  const form = document.querySelector("#checkout iframe");
  return document.readyState === "complete" && form !== null && form.style.height !== "420px";
}"""


def test_the_payment_form_loads_without_pushing_the_page_about(page: Page, paying_server: LiveServer) -> None:
    frame = to_the_payment_step(page, paying_server)
    # A dialog tall enough to show the whole page: Chromium scores only what moves in view.
    page.set_viewport_size({"width": 1280, "height": 1700})
    page.locator("#registration-dialog").evaluate("(dialog) => { dialog.style.height = '1600px'; }")
    content = page.locator("#registration-frame").element_handle().content_frame()
    assert content is not None
    content.goto(content.url)  # the payment page loads afresh, watched as it loads
    content.wait_for_function(FORM_SIZED)
    assert content.evaluate("() => window.innerHeight") >= 1500
    expect(frame.locator("#change")).to_be_in_viewport()  # the links under the form are in view
    # Nothing moves once painted: without the form's room kept, the links under it jumped twice
    # (as the form mounted, then as it told the page its height).
    assert content.evaluate(SHIFT_AFTER_FIRST_PAINT) < 0.01
    expect(frame.locator("#checkout-box .checkout-loading")).to_be_hidden()
