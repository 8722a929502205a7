"""The staff console in a real browser: a registration the sandbox LTIAAS completed, but whose answer the
portal never got, is settled by a staff member from the console (on a laptop, and it fits a phone)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect
from sqlalchemy import select

from portal.db import get_session
from portal.models import AuditEvent, Registration, utcnow
from portal.registration.lifecycle import fail_if_completion_stale
from portal.sandbox.models import SandboxPlatform
from tests.browser.conftest import serve_with_staff
from tests.browser.helpers import (
    Choices,
    has_no_horizontal_scroll,
    new_email,
    open_lms,
    portal_frame,
    sign_in,
    start_registration,
    wait_for_close,
    walk_to_confirm,
)
from tests.conftest import LiveServer, stop_live_server

STAFF_EMAIL = "staff@vendor.example"
CHOICES = Choices(
    "Springfield Moodle", {"LtiResourceLinkRequest": [], "LtiDeepLinkingRequest": ["ContentArea"]}
)


@pytest.fixture
def live(tmp_path: Path) -> Iterator[LiveServer]:
    live = serve_with_staff(tmp_path, STAFF_EMAIL)
    yield live
    stop_live_server(live)


@pytest.fixture
def staff_context(other_context: BrowserContext) -> BrowserContext:
    """The vendor's staff member's browser."""
    return other_context


def registered_but_answer_lost(live: LiveServer, page: Page) -> tuple[str, str]:
    """An admin registers the tool in the sandbox LMS; then the portal forgets LTIAAS's answer, as if
    its process died during the call: (the registration's public id, the platform LTIAAS created)."""
    open_lms(page, live.lms_url)
    start_registration(page, "moodle-4.4")
    frame = portal_frame(page)
    walk_to_confirm(frame, CHOICES, email=new_email())
    frame.locator("#register-tool").click()
    wait_for_close(page)
    with live.app.app_context():
        db = get_session()
        registration = db.scalars(select(Registration)).one()
        (platform,) = db.scalars(select(SandboxPlatform)).all()
        assert registration.platform_id == platform.id
        long_ago = utcnow() - timedelta(hours=1)
        registration.state, registration.platform_id, registration.completion_html = "completing", None, None
        registration.completed_at = None
        registration.updated_at = long_ago
        db.commit()
        assert fail_if_completion_stale(db, registration)
        assert registration.outcome_unknown
        return registration.public_id, platform.id


def test_a_staff_member_settles_an_unknown_outcome_with_the_platform_ltiaas_created(
    context: BrowserContext, staff_context: BrowserContext, live: LiveServer, artifacts: Path
) -> None:
    public_id, platform_id = registered_but_answer_lost(live, context.new_page())

    staff = staff_context.new_page()
    staff.goto(f"{live.url}/admin/")
    sign_in(staff, STAFF_EMAIL)
    expect(staff.locator('[data-page="admin-overview"]')).to_be_visible()
    staff.locator("#to-unknown").click()
    expect(staff.locator('[data-page="admin-registrations"]')).to_be_visible()
    staff.locator(f'[data-registration="{public_id}"] .registration-link').click()
    expect(staff.locator("#standing")).to_have_text("Outcome unknown: to settle")
    expect(staff.locator("#settle-registered-form")).to_have_count(0)  # nothing looked up yet

    staff.locator("#look-up").click()  # not confirmed: nothing asked
    expect(staff.locator("#lookup-form .field-errors")).to_have_text("Tick this box to confirm.")
    staff.locator("#confirm_lookup").check()
    staff.locator("#look-up").click()
    found = staff.locator(f'.found-platform[data-platform="{platform_id}"]')
    expect(found).to_contain_text("Most likely this registration's")
    expect(found.locator('input[type="radio"]')).to_be_checked()
    staff.screenshot(path=str(artifacts / "staff-settle-lookup.png"), full_page=True)

    staff.locator("#confirm_registered").check()
    staff.locator("#settle-registered").click()

    expect(staff.locator(".notice-success", has_text="Recorded as registered")).to_be_visible()
    expect(staff.locator("#registration-state")).to_have_text("completed")
    expect(staff.locator("#platform-id")).to_have_text(platform_id)
    expect(staff.locator("#settle")).to_have_count(0)
    expect(staff.locator('.audit-event[data-action="outcome:registered"] .audit-actor')).to_have_text(
        STAFF_EMAIL
    )
    with live.app.app_context():
        db = get_session()
        registration = db.scalars(select(Registration)).one()
        assert (registration.state, registration.platform_id, registration.problem) == (
            "completed",
            platform_id,
            None,
        )
        actions = db.scalars(select(AuditEvent.action).where(AuditEvent.action.startswith("outcome:"))).all()
        assert actions == ["outcome:looked-up", "outcome:registered"]


def test_the_console_fits_a_phone(browser: Browser, live: LiveServer, artifacts: Path) -> None:
    with live.app.app_context():
        db = get_session()
        db.add(
            Registration(
                ltiaas_registration_id="reg-phone",
                platform_url="https://a-very-long-lms-address.springfield-university.example.edu",
                family_code="moodle",
                family="moodle",
                state="failed",
                problem="outcome_unknown",
                overrides={"platformName": "Springfield University Moodle (production)", "messages": []},
                expires_at=utcnow() + timedelta(hours=1),
            )
        )
        db.commit()
        public_id = db.scalars(select(Registration.public_id)).one()
    phone = browser.new_context(viewport={"width": 360, "height": 740})
    try:
        page = phone.new_page()
        page.goto(f"{live.url}/admin/")
        sign_in(page, STAFF_EMAIL)
        for path in ("/admin/", "/admin/registrations/", f"/admin/registrations/{public_id}"):
            page.goto(f"{live.url}{path}")
            assert has_no_horizontal_scroll(page), path
        page.screenshot(path=str(artifacts / "staff-registration-phone.png"), full_page=True)
    finally:
        phone.close()
