"""Accounts and approval in a real browser: the LMS admin inside the LMS's cross-site iframe,
the vendor's staff in their own window (or inside the iframe, to register directly, where their
account's pages are never shown).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import BrowserContext, Page, expect
from sqlalchemy import select

from portal.db import get_session
from portal.models import AuditEvent
from tests.browser.conftest import serve_with_staff, strip_portal_cookies
from tests.browser.helpers import (
    Choices,
    choose,
    complete_calls,
    new_email,
    open_lms,
    portal_frame,
    registered_tools,
    sign_in,
    start_registration,
    wait_for_close,
    walk_to_confirm,
    watch_portal_set_cookies,
)
from tests.conftest import LiveServer, stop_live_server

CANVAS = "https://canvas.instructure.com/lti/"
STAFF_EMAIL = "staff@vendor.example"
ASKED = Choices(
    "Springfield Canvas",
    {
        "LtiResourceLinkRequest": [f"{CANVAS}course_navigation", f"{CANVAS}account_navigation"],
        "LtiDeepLinkingRequest": [f"{CANVAS}editor_button"],
    },
)
APPROVED = Choices(
    "Springfield Canvas (approved)",
    {
        "LtiResourceLinkRequest": [f"{CANVAS}course_navigation"],
        "LtiDeepLinkingRequest": [f"{CANVAS}editor_button", f"{CANVAS}link_selection"],
    },
)


def holds_exactly(page: Page, choices: Choices) -> None:
    (tool,) = registered_tools(page)
    got = {message["type"]: sorted(message.get("placements") or []) for message in tool["messages"]}
    assert got == {kind: sorted(placements) for kind, placements in choices.messages.items()}


def completed_by(live: LiveServer) -> str:
    with live.app.app_context():
        event = get_session().scalar(select(AuditEvent).where(AuditEvent.action == "state:completed"))
        assert event is not None
        return event.actor


@pytest.fixture
def live_approval_server(tmp_path: Path) -> Iterator[LiveServer]:
    live = serve_with_staff(tmp_path, STAFF_EMAIL, APPROVAL_POLICY="live-approval")
    yield live
    stop_live_server(live)


@pytest.fixture
def staff_context(other_context: BrowserContext) -> BrowserContext:
    """The vendor's staff member's browser."""
    return other_context


@pytest.mark.parametrize("cookies", ["kept", "stripped"])
def test_a_new_customer_signs_up_inside_the_iframe_and_registers_the_tool(
    context: BrowserContext, live_server: LiveServer, cookies: str
) -> None:
    if cookies == "stripped":
        strip_portal_cookies(context, live_server)
    page = context.new_page()
    set_cookies = watch_portal_set_cookies(page, live_server.url)
    email = new_email()
    open_lms(page, live_server.lms_url)
    start_registration(page, "canvas")
    frame = portal_frame(page)
    expect(frame.locator("#account-needed")).to_be_visible()

    walk_to_confirm(frame, ASKED, email=email)  # review -> create an account -> configure -> confirm
    expect(frame.locator("#signed-in-as")).to_have_text(email)
    frame.locator("#register-tool").click()

    wait_for_close(page)
    holds_exactly(page, ASKED)
    assert complete_calls(live_server.url) == 1
    assert completed_by(live_server) == email
    if cookies == "stripped":
        assert set_cookies == []
        assert context.cookies(live_server.url) == []
    else:
        assert set_cookies


def test_live_approval_a_staff_member_approves_with_changes_and_the_waiting_iframe_closes(
    context: BrowserContext, staff_context: BrowserContext, live_approval_server: LiveServer, artifacts: Path
) -> None:
    live = live_approval_server
    customer = context.new_page()
    email = new_email()
    open_lms(customer, live.lms_url)
    start_registration(customer, "canvas")
    frame = portal_frame(customer)
    walk_to_confirm(frame, ASKED, email=email)
    frame.locator("#request-approval").click()
    expect(frame.locator('[data-page="waiting"][data-approval="pending"]')).to_be_visible()
    customer.locator("#registration-frame").screenshot(path=str(artifacts / "5-waiting-for-approval.png"))

    staff = staff_context.new_page()
    staff.goto(f"{live.url}/auth/sign-in")
    sign_in(staff, STAFF_EMAIL)
    staff.locator("#staff-approvals").click()
    staff.locator(".request-item", has_text=email).get_by_role("link").click()
    expect(staff.locator('[data-page="admin-approval"]')).to_be_visible()
    choose(staff, APPROVED)
    staff.locator("#auto_activate").set_checked(False)
    staff.locator("#confirm_approve").check()
    staff.screenshot(path=str(artifacts / "staff-approval.png"), full_page=True)
    staff.locator("#approve").click()
    expect(staff.locator(".notice-success", has_text="the tool is registered")).to_be_visible()

    wait_for_close(customer)  # the waiting iframe showed the done page and its close script by itself
    holds_exactly(customer, APPROVED)
    assert complete_calls(live.url) == 1
    assert completed_by(live) == STAFF_EMAIL


def test_a_staff_member_registers_inside_the_dialog_where_their_account_page_is_never_shown(
    page: Page, live_approval_server: LiveServer
) -> None:
    live = live_approval_server
    open_lms(page, live.lms_url)
    start_registration(page, "canvas")
    frame = portal_frame(page)
    frame.locator("#continue").click()
    sign_in(frame, STAFF_EMAIL)
    expect(frame.locator("#staff-badge")).to_be_visible()
    choose(frame, ASKED)
    frame.locator("#save-choices").click()
    frame.locator("#register-tool").click()  # staff register directly, even under live approval
    wait_for_close(page)
    holds_exactly(page, ASKED)
    assert completed_by(live) == STAFF_EMAIL

    # The same dialog, signed in as staff there: the browser refuses to show the account page in it.
    dialog = page.locator("#registration-frame")
    with page.expect_response(f"{live.url}/auth/account") as answer:
        dialog.evaluate(
            "(frame, url) => { frame.closest('dialog').showModal(); frame.src = url; }",
            f"{live.url}/auth/account",
        )
    assert answer.value.status == 200
    shown = dialog.element_handle().content_frame()
    assert shown is not None
    shown.wait_for_load_state()
    assert not shown.url.startswith(live.url)
    expect(portal_frame(page).locator('[data-page="account"]')).to_have_count(0)


def test_live_approval_a_rejection_shows_its_reason_in_the_waiting_iframe(
    context: BrowserContext, staff_context: BrowserContext, live_approval_server: LiveServer
) -> None:
    live = live_approval_server
    customer = context.new_page()
    email = new_email()
    open_lms(customer, live.lms_url)
    start_registration(customer, "moodle-4.4")
    frame = portal_frame(customer)
    walk_to_confirm(frame, Choices("Springfield Moodle", {"LtiResourceLinkRequest": []}), email=email)
    frame.locator("#request-approval").click()
    expect(frame.locator('[data-page="waiting"][data-approval="pending"]')).to_be_visible()

    staff = staff_context.new_page()
    staff.goto(f"{live.url}/admin/approvals/")  # asks to sign in first, then comes back
    sign_in(staff, STAFF_EMAIL)
    staff.locator(".request-item", has_text=email).get_by_role("link").click()
    reason = "We only serve schools with a licence."
    staff.locator("#reason").fill(reason)
    staff.locator("#confirm_reject").check()
    staff.locator("#reject").click()
    expect(staff.locator(".notice-success", has_text="Declined")).to_be_visible()

    expect(frame.locator("#rejection-reason", has_text=reason)).to_be_visible()
    assert complete_calls(live.url) == 0
