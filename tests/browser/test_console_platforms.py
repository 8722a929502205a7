"""The platforms at LTIAAS and the customer's own connections, in a real browser: the LMS admin in
the LMS's cross-site iframe, the vendor's staff in their own window, the sandbox LTIAAS behind both."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from playwright.sync_api import BrowserContext, FrameLocator, Page, expect

from portal.sandbox.seed import MANUAL_PLATFORM
from tests.browser.conftest import serve_with_staff, strip_portal_cookies
from tests.browser.helpers import (
    Choices,
    choose,
    continue_to_configure,
    new_email,
    open_lms,
    portal_frame,
    reload_until_shown,
    sign_in,
    start_registration,
    wait_for_close,
    walk_to_confirm,
)
from tests.conftest import LiveServer, stop_live_server
from tests.mail import SandboxMailbox, sandbox_mailbox

__all__ = ["sandbox_mailbox"]

STAFF_EMAIL = "staff@vendor.example"
MOODLE = Choices("Springfield Moodle", {"LtiResourceLinkRequest": []})
SANDBOX_KEY = {"Authorization": "Bearer sandbox-api-key"}


def serve(tmp_path: Path, **settings: object) -> LiveServer:
    """The sandbox with `settings`, a staff account and the hand-registered platform."""
    return serve_with_staff(tmp_path, STAFF_EMAIL, seed=True, **settings)


@pytest.fixture
def review_later_server(tmp_path: Path) -> Iterator[LiveServer]:
    live = serve(tmp_path, APPROVAL_POLICY="review-later")
    yield live
    stop_live_server(live)


@pytest.fixture
def live_approval_server(tmp_path: Path) -> Iterator[LiveServer]:
    live = serve(tmp_path, APPROVAL_POLICY="live-approval")
    yield live
    stop_live_server(live)


@pytest.fixture
def paying_server(tmp_path: Path) -> Iterator[LiveServer]:
    live = serve(tmp_path, STRIPE_PRICE_ID="price_sandbox_registration", SANDBOX_STRIPE_SETTLE_AFTER=None)
    yield live
    stop_live_server(live)


def ltiaas_platform(live: LiveServer, platform_id: str) -> dict | None:
    """The platform as the sandbox LTIAAS's own API shows it, or None once it is gone."""
    response = requests.get(f"{live.url}/api/platforms/{platform_id}", headers=SANDBOX_KEY, timeout=10)
    return None if response.status_code == 404 else response.json()


def staff_console(context: BrowserContext, live: LiveServer) -> Page:
    """The staff member signs in and opens the platforms at LTIAAS."""
    staff = context.new_page()
    staff.goto(f"{live.url}/admin/platforms/")  # asks to sign in first, then comes back
    sign_in(staff, STAFF_EMAIL)
    expect(staff.locator('[data-page="admin-platforms"]')).to_be_visible()
    return staff


def register_in_the_iframe(page: Page, live: LiveServer, email: str) -> FrameLocator:
    open_lms(page, live.lms_url)
    start_registration(page, "moodle-4.4")
    frame = portal_frame(page)
    walk_to_confirm(frame, MOODLE, email=email)
    return frame


def account_page(context: BrowserContext, live: LiveServer, email: str) -> Page:
    """The customer's account page in a window of its own (signed in there)."""
    account = context.new_page()
    account.goto(f"{live.url}/auth/account")
    sign_in(account, email)
    expect(account.locator('[data-page="account"]')).to_be_visible()
    return account


def test_review_later_a_staff_member_activates_the_new_platform_and_ltiaas_shows_it_active(
    context: BrowserContext, other_context: BrowserContext, review_later_server: LiveServer, artifacts: Path
) -> None:
    live = review_later_server
    customer = context.new_page()
    email = new_email()
    frame = register_in_the_iframe(customer, live, email)
    frame.locator("#register-tool").click()
    wait_for_close(customer)

    staff = staff_console(other_context, live)
    expect(staff.locator(".platform-item", has_text=MANUAL_PLATFORM["name"])).to_contain_text(
        "Registered by hand"
    )
    item = staff.locator(".platform-item", has_text=email)
    expect(item).to_have_attribute("data-active", "false")
    platform_id = item.get_attribute("data-platform-id") or ""
    assert ltiaas_platform(live, platform_id)["active"] is False  # type: ignore[index]
    staff.screenshot(path=str(artifacts / "staff-platforms.png"), full_page=True)
    item.locator(".platform-link").click()
    staff.locator("#activate-confirm").check()
    staff.locator("#activate").click()

    expect(staff.locator(".notice-success", has_text="Activated")).to_be_visible()
    expect(staff.locator("#platform-state")).to_have_text("active")
    assert ltiaas_platform(live, platform_id)["active"] is True  # type: ignore[index]
    account = account_page(context, live, email)  # the customer's own browser, outside the LMS
    expect(account.locator(".connection", has_text="Springfield Moodle")).to_contain_text(
        "Registered and active"
    )


@pytest.fixture
def telling_review_later_server(tmp_path: Path, sandbox_mailbox: SandboxMailbox) -> Iterator[LiveServer]:
    """Review-later, as `scripts/run` sets up notifications: staff's in the sandbox chat, e-mail in
    the sandbox mailbox, sent by the portal's own background sender."""
    live = serve(
        tmp_path, APPROVAL_POLICY="review-later", **sandbox_mailbox.settings, NOTIFY_DRAIN_INTERVAL=1
    )
    live.app.config["NOTIFY_WEBHOOK_URL"] = f"{live.url}/sandbox/chat/webhook"
    yield live
    stop_live_server(live)


def test_review_later_staff_hear_of_the_new_lms_and_the_customer_hears_when_it_is_active(
    context: BrowserContext, other_context: BrowserContext, telling_review_later_server: LiveServer
) -> None:
    live = telling_review_later_server
    customer = context.new_page()
    email = new_email()
    register_in_the_iframe(customer, live, email).locator("#register-tool").click()
    wait_for_close(customer)
    account = account_page(context, live, email)
    expect(account.locator(".connection", has_text="Springfield Moodle")).to_contain_text(
        "We will e-mail you when they have."
    )

    chat = other_context.new_page()
    chat.goto(f"{live.url}/sandbox/chat/")
    alert = chat.locator(".chat-message", has_text=email)
    reload_until_shown(chat, alert)
    expect(alert).to_contain_text("It is not active yet: the LMS cannot launch the tool until you activate")
    staff = other_context.new_page()
    staff.goto(f"{live.url}/admin/")
    sign_in(staff, STAFF_EMAIL)
    staff.locator("#to-activate").click()
    staff.locator(".registration-link", has_text="Springfield Moodle").click()
    staff.locator("#open-platform").click()
    expect(staff.locator("#told-on-activation")).to_have_text(email)
    staff.locator("#activate-confirm").check()
    staff.locator("#activate").click()
    expect(staff.locator("#platform-state")).to_have_text("active")

    mailbox = context.new_page()
    mailbox.goto(f"{live.url}/sandbox/mail/")
    told = mailbox.locator(".mail-message", has_text=email)
    reload_until_shown(mailbox, told)
    expect(told.locator(".mail-subject")).to_have_text("[Acme Learning] The tool is active in your LMS")
    expect(told.locator(".mail-text")).to_contain_text("is now active in Moodle at")


def test_a_staff_member_renames_and_deletes_a_platform(
    context: BrowserContext, review_later_server: LiveServer, artifacts: Path
) -> None:
    live = review_later_server
    staff = staff_console(context, live)
    item = staff.locator(".platform-item", has_text=MANUAL_PLATFORM["name"])
    platform_id = item.get_attribute("data-platform-id") or ""
    item.locator(".platform-link").click()

    staff.locator("#rename-name").fill("Shelbyville College Moodle")
    staff.locator("#rename-confirm").check()
    staff.locator("#rename").click()
    expect(staff.locator(".notice-success", has_text="Renamed at LTIAAS")).to_be_visible()
    expect(staff.locator("#platform-name")).to_have_text("Shelbyville College Moodle")
    assert ltiaas_platform(live, platform_id)["name"] == "Shelbyville College Moodle"  # type: ignore[index]

    staff.locator("#delete-link").click()
    expect(staff.locator("#delete-warning")).to_contain_text("Shelbyville College Moodle")
    expect(staff.locator("#delete-warning")).to_contain_text(MANUAL_PLATFORM["url"])
    staff.screenshot(path=str(artifacts / "staff-platform-delete.png"), full_page=True)
    staff.locator("#delete").click()  # not confirmed: nothing happens
    expect(staff.locator("#delete-confirm-errors")).to_be_visible()
    assert ltiaas_platform(live, platform_id) is not None
    staff.locator("#delete-confirm").check()
    staff.locator("#delete").click()

    expect(staff.locator(".notice-success", has_text="Deleted at LTIAAS")).to_be_visible()
    expect(staff.locator(f'[data-platform-id="{platform_id}"]')).to_have_count(0)
    assert ltiaas_platform(live, platform_id) is None


@pytest.mark.parametrize("where", ["in the iframe without cookies", "from the account page"])
def test_a_customer_withdraws_a_pending_request_and_the_iframe_says_so(
    context: BrowserContext, other_context: BrowserContext, live_approval_server: LiveServer, where: str
) -> None:
    live = live_approval_server
    if where == "in the iframe without cookies":
        strip_portal_cookies(context, live)
    customer = context.new_page()
    email = new_email()
    frame = register_in_the_iframe(customer, live, email)
    frame.locator("#request-approval").click()
    expect(frame.locator('[data-page="waiting"][data-approval="pending"]')).to_be_visible()

    if where == "in the iframe without cookies":
        frame.locator("#withdraw-confirm").check()
        frame.locator("#withdraw").click()
    else:
        account = account_page(other_context, live, email)
        connection = account.locator(".connection", has_text="Springfield Moodle")
        expect(connection).to_contain_text("Waiting for approval")
        connection.locator('input[name="confirm"]').check()
        connection.locator(".withdraw-button").click()
        expect(account.locator(".notice-success", has_text="You withdrew your request")).to_be_visible()

    # The waiting iframe moves on by itself when the request was withdrawn elsewhere.
    expect(frame.locator('[data-problem="withdrawn"]')).to_be_visible()
    expect(frame.locator(".next-step")).to_contain_text("start again from your LMS")


def test_a_customer_sees_their_connection_and_payment(
    context: BrowserContext, other_context: BrowserContext, paying_server: LiveServer, artifacts: Path
) -> None:
    live = paying_server
    customer = context.new_page()
    email = new_email()
    open_lms(customer, live.lms_url)
    start_registration(customer, "moodle-4.4")
    frame = portal_frame(customer)
    continue_to_configure(frame, email)
    choose(frame, MOODLE)
    frame.locator("#save-choices").click()
    checkout = frame.frame_locator("#checkout iframe")
    checkout.locator("#card_number").fill("4242 4242 4242 4242")
    checkout.get_by_role("button", name="Pay").click()
    expect(frame.locator('[data-page="confirm"]')).to_be_visible()
    frame.locator("#register-tool").click()
    wait_for_close(customer)

    account = account_page(other_context, live, email)
    connection = account.locator(".connection", has_text="Springfield Moodle")
    expect(connection).to_contain_text("Registered")
    expect(connection.locator(".account-payment")).to_contain_text("Paid 49.00 USD on")
    expect(connection.locator(".account-payment")).to_have_attribute("data-standing", "registered")
    account.screenshot(path=str(artifacts / "customer-connections.png"), full_page=True)

    receipt_link = connection.get_by_role("link", name="Receipt")
    expect(receipt_link).to_have_attribute("target", "_blank")
    expect(receipt_link).to_have_attribute("rel", "noopener")
    with other_context.expect_page() as opened:
        receipt_link.click()
    receipt = opened.value
    expect(receipt.locator("h1")).to_have_text("Receipt")
    expect(receipt.locator("#receipt-amount")).to_have_text("49.00 USD")
    expect(receipt.locator("#receipt-status")).to_have_text("Paid")
