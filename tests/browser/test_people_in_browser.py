"""A staff member adds a colleague from the console with a one-time link; the colleague opens the link
in their own browser, chooses a password and signs in to the console."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import BrowserContext, expect

from tests.browser.conftest import serve_with_staff
from tests.browser.helpers import sign_in
from tests.conftest import LiveServer, stop_live_server

STAFF_EMAIL = "lead@vendor.example"
NEWCOMER = "newcomer@vendor.example"
CHOSEN = "the newcomer's own passphrase"


@pytest.fixture
def console(tmp_path: Path) -> Iterator[LiveServer]:
    live = serve_with_staff(tmp_path, STAFF_EMAIL)
    yield live
    stop_live_server(live)


@pytest.fixture
def newcomer_context(other_context: BrowserContext) -> BrowserContext:
    """The new colleague's browser."""
    return other_context


def test_a_staff_member_adds_a_colleague_who_sets_a_password_by_link_and_signs_in(
    context: BrowserContext, newcomer_context: BrowserContext, console: LiveServer, artifacts: Path
) -> None:
    lead = context.new_page()
    lead.goto(f"{console.url}/admin/people/")
    sign_in(lead, STAFF_EMAIL)  # the console sends them to sign in, and back
    expect(lead.locator('[data-page="admin-people"]')).to_be_visible()
    lead.locator("#new-staff").click()
    lead.locator("#email").fill(NEWCOMER)
    expect(lead.locator('input[name="choice"][value="link"]')).to_be_checked()
    lead.locator("#create-staff").click()

    expect(lead.locator('[data-page="admin-password-link"]')).to_be_visible()
    link = lead.locator("#one-time-link").input_value()
    assert link.startswith(f"{console.url}/auth/set-password/")
    lead.screenshot(path=str(artifacts / "people-one-time-link.png"), full_page=True)

    newcomer = newcomer_context.new_page()
    newcomer.goto(link)
    expect(newcomer.locator('[data-page="set-password"]')).to_be_visible()
    expect(newcomer.locator("#account-email")).to_have_value(NEWCOMER)
    newcomer.locator("#password").fill(CHOSEN)
    newcomer.locator("#confirm").fill(CHOSEN)
    newcomer.locator("#set-password-submit").click()
    expect(newcomer.locator("#password-set-email")).to_have_text(NEWCOMER)
    newcomer.locator("#sign-in-link").click()
    sign_in(newcomer, NEWCOMER, CHOSEN)
    newcomer.goto(f"{console.url}/admin/people/")
    expect(newcomer.locator("#signed-in-as")).to_have_text(NEWCOMER)

    newcomer.goto(link)  # the link worked once
    expect(newcomer.locator('[data-page="set-password-invalid"]')).to_be_visible()

    lead.goto(f"{console.url}/admin/people/")
    row = lead.locator(f'tr[data-person="{NEWCOMER}"]')
    expect(row).to_contain_text("staff")
    expect(row).not_to_contain_text("never")  # they have signed in
    lead.goto(f"{console.url}/admin/audit/?actor={NEWCOMER}")
    expect(lead.locator('tr[data-action="user:password-set"]')).to_have_count(1)
    expect(lead.locator('tr[data-action="user:signed-in"]')).to_have_count(1)
