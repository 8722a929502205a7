"""An LMS admin deletes their account in a real browser, while another of their browsers is still
signed in: the page says what goes and what stays, a wrong password deletes nothing, the right one
erases the account, and the other browser is signed out at its next page, told why."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import BrowserContext, Page, expect

from tests.accounts import create_user
from tests.browser.helpers import PASSWORD, new_email, sign_in
from tests.browser.looks import assert_accessible
from tests.conftest import LiveServer, start_live_server, stop_live_server


@pytest.fixture
def portal(tmp_path: Path) -> Iterator[LiveServer]:
    live = start_live_server(tmp_path)
    yield live
    stop_live_server(live)


def signed_in_on_the_account_page(page: Page, portal: LiveServer, email: str) -> None:
    page.goto(f"{portal.url}/auth/sign-in")
    sign_in(page, email)
    expect(page.locator('[data-page="account"]')).to_be_visible()


def test_an_admin_deletes_their_account_and_their_other_browser_is_signed_out(
    page: Page, other_context: BrowserContext, portal: LiveServer
) -> None:
    email = new_email()
    create_user(portal.app, email)
    elsewhere = other_context.new_page()
    signed_in_on_the_account_page(elsewhere, portal, email)
    signed_in_on_the_account_page(page, portal, email)

    page.locator("#delete-account-link").click()
    expect(page.locator('[data-page="delete-account"]')).to_be_visible()
    expect(page.locator("#payments-kept")).to_contain_text("keeps its records")
    expect(page.locator("#platforms-kept")).to_contain_text("stay registered")
    assert_accessible(page, page, "delete-account")
    page.locator("#current").fill("not my password")
    page.locator("#delete-account-submit").click()
    expect(page.locator("#current-errors")).to_be_visible()
    assert_accessible(page, page, "delete-account-refused")
    page.locator("#current").fill(PASSWORD)
    page.locator("#delete-account-submit").click()
    expect(page.locator('[data-page="account-deleted"]')).to_be_visible()
    assert_accessible(page, page, "account-deleted")

    elsewhere.goto(f"{portal.url}/auth/account")
    expect(elsewhere.locator('[data-page="sign-in"]')).to_be_visible()
    expect(elsewhere.get_by_text("You were signed out because your account was deleted.")).to_be_visible()
    sign_in(elsewhere, email)
    expect(elsewhere.locator('[data-page="sign-in"]')).to_be_visible()  # that account is gone
    page.goto(f"{portal.url}/auth/account")
    expect(page.locator('[data-page="sign-in"]')).to_be_visible()
