"""Passwords in a real browser. An LMS admin who has an account but forgot its password, inside their
LMS's registration dialog: they ask for a link, get it by e-mail (the portal's own background
sender, to a local mail server), choose a new password in a window of its own, and sign in back
in the dialog, where their registration was kept. A signed-in admin changes theirs from their
account page, and their e-mail address (confirmed by a link e-mailed to the new one). Every page
they see passes axe."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import BrowserContext, Page, expect

from tests.accounts import create_user
from tests.browser.conftest import strip_portal_cookies
from tests.browser.helpers import (
    PASSWORD,
    new_email,
    open_lms,
    portal_frame,
    reload_until_shown,
    sign_in,
    start_registration,
)
from tests.browser.looks import assert_accessible, content_frame
from tests.conftest import LiveServer, start_live_server, stop_live_server
from tests.mail import MailServer, SandboxMailbox, mail_server, sandbox_mailbox

__all__ = ["mail_server", "sandbox_mailbox"]

NEW_PASSWORD = "remembered at last, this time"


@pytest.fixture
def emailing(tmp_path: Path, mail_server: MailServer) -> Iterator[LiveServer]:
    live = start_live_server(
        tmp_path,
        SMTP_HOST="127.0.0.1",
        SMTP_PORT=mail_server.port,
        SMTP_TLS="none",
        SMTP_FROM="portal@acme-learning.example",
        NOTIFY_DRAIN_INTERVAL=1,  # the real background sender; woken after the request anyway
    )
    yield live
    stop_live_server(live)


def the_link_emailed_to(
    mail_server: MailServer, email: str, timeout: float = 15, page: str = "set-password"
) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for _subject, body in mail_server.received_by(email):
            found = re.search(rf"https?://\S+/auth/{page}/\S+", body)
            assert found is not None, body
            return found.group(0)
        time.sleep(0.1)
    raise AssertionError(f"no e-mail reached {email} within {timeout} s")


@pytest.mark.parametrize("cookies", ["kept", "blocked"], ids=["with cookies", "without cookies"])
def test_an_admin_who_forgot_their_password_gets_back_in_without_leaving_the_registration(
    context: BrowserContext,
    other_context: BrowserContext,
    emailing: LiveServer,
    mail_server: MailServer,
    cookies: str,
) -> None:
    if cookies == "blocked":  # the framed portal gets no cookie: the flow's token carries the session
        strip_portal_cookies(context, emailing)
    page = context.new_page()
    email = new_email()
    create_user(emailing.app, email)
    open_lms(page, emailing.lms_url)
    start_registration(page, "canvas")
    frame = portal_frame(page)
    frame.locator("#continue").click()
    expect(frame.locator('[data-page="sign-in"]')).to_be_visible()

    frame.locator("#forgot-password-link").click()
    expect(frame.locator('[data-page="forgot-password"]')).to_be_visible()
    assert_accessible(page, content_frame(page), "forgot-password")
    frame.locator("#email").fill(email)
    frame.locator("#forgot-password-submit").click()
    expect(frame.locator('[data-page="reset-requested"]')).to_be_visible()
    assert_accessible(page, content_frame(page), "reset-requested")

    # The e-mail's link opens in a window of its own, top level (a mail client cannot open it in
    # the dialog), where the portal is the first party.
    mailbox = other_context.new_page()
    mailbox.goto(the_link_emailed_to(mail_server, email))
    expect(mailbox.locator('[data-page="set-password"]')).to_be_visible()
    assert_accessible(mailbox, mailbox, "set-password")
    mailbox.locator("#password").fill(NEW_PASSWORD)
    mailbox.locator("#confirm").fill(NEW_PASSWORD)
    mailbox.locator("#set-password-submit").click()
    expect(mailbox.locator("#back-to-lms")).to_be_visible()
    mailbox.close()

    frame.locator("#sign-in-link").click()
    sign_in(frame, email, NEW_PASSWORD)
    expect(frame.locator('[data-page="configure"]')).to_be_visible()
    expect(frame.locator("#signed-in-as")).to_have_text(email)


@pytest.fixture
def sandbox_emailing(tmp_path: Path, sandbox_mailbox: SandboxMailbox) -> Iterator[LiveServer]:
    """The sandbox as `scripts/run` sets it up: e-mail goes to its mailbox, shown on /sandbox/mail/."""
    live = start_live_server(tmp_path, **sandbox_mailbox.settings, NOTIFY_DRAIN_INTERVAL=1)
    yield live
    stop_live_server(live)


def test_in_the_sandbox_the_link_is_opened_from_its_mailbox(
    page: Page, other_context: BrowserContext, sandbox_emailing: LiveServer
) -> None:
    email = new_email()
    create_user(sandbox_emailing.app, email)
    page.goto(f"{sandbox_emailing.url}/auth/sign-in")
    page.locator("#forgot-password-link").click()
    page.locator("#email").fill(email)
    page.locator("#forgot-password-submit").click()
    expect(page.locator('[data-page="reset-requested"]')).to_be_visible()

    mailbox = other_context.new_page()
    mailbox.goto(f"{sandbox_emailing.url}/sandbox/mail/")
    message = mailbox.locator(".mail-message").filter(has_text=email)
    reload_until_shown(mailbox, message)
    expect(message.locator(".mail-subject")).to_have_text(re.compile("Choose a new password"))
    assert_accessible(mailbox, mailbox, "sandbox-mailbox")
    message.get_by_role("link").click()
    expect(mailbox.locator('[data-page="set-password"]')).to_be_visible()
    mailbox.locator("#password").fill(NEW_PASSWORD)
    mailbox.locator("#confirm").fill(NEW_PASSWORD)
    mailbox.locator("#set-password-submit").click()
    expect(mailbox.locator("#back-to-lms")).to_be_visible()

    page.goto(f"{sandbox_emailing.url}/auth/sign-in")
    sign_in(page, email, NEW_PASSWORD)
    expect(page.locator('[data-page="account"]')).to_be_visible()


def test_a_signed_in_admin_changes_their_password_from_their_account_page(
    page: Page, live_server: LiveServer
) -> None:
    email = new_email()
    create_user(live_server.app, email)
    page.goto(f"{live_server.url}/auth/sign-in")
    sign_in(page, email)
    expect(page.locator('[data-page="account"]')).to_be_visible()

    page.locator("#change-password-link").click()
    expect(page.locator('[data-page="change-password"]')).to_be_visible()
    assert_accessible(page, page, "change-password")
    page.locator("#current").fill("not the password")
    page.locator("#password").fill(NEW_PASSWORD)
    page.locator("#confirm").fill(NEW_PASSWORD)
    page.locator("#change-password-submit").click()
    expect(page.locator("#current-errors")).to_have_text("This is not your current password.")
    assert_accessible(page, page, "change-password-refused")

    page.locator("#current").fill(PASSWORD)
    page.locator("#password").fill(NEW_PASSWORD)
    page.locator("#confirm").fill(NEW_PASSWORD)
    page.locator("#change-password-submit").click()
    expect(page.locator('[data-page="account"]')).to_be_visible()
    changed = "Your password is changed, and you are signed out everywhere else."
    expect(page.get_by_text(changed)).to_be_visible()


def test_a_signed_in_admin_changes_their_email_address_with_the_link_sent_to_the_new_one(
    page: Page, other_context: BrowserContext, emailing: LiveServer, mail_server: MailServer
) -> None:
    email, new = new_email(), new_email()
    create_user(emailing.app, email)
    page.goto(f"{emailing.url}/auth/sign-in")
    sign_in(page, email)
    expect(page.locator('[data-page="account"]')).to_be_visible()

    page.locator("#change-email-link").click()
    expect(page.locator('[data-page="change-email"]')).to_be_visible()
    assert_accessible(page, page, "change-email")
    page.locator("#email").fill("not an address")
    page.locator("#current").fill(PASSWORD)
    page.locator("#change-email-submit").click()
    expect(page.locator("#email-errors")).to_have_text("Enter an email address like name@example.edu.")
    assert_accessible(page, page, "change-email-refused")
    page.locator("#email").fill(new)
    page.locator("#current").fill(PASSWORD)
    page.locator("#change-email-submit").click()
    expect(page.locator('[data-page="email-change-sent"]')).to_be_visible()
    assert_accessible(page, page, "email-change-sent")

    mailbox = other_context.new_page()  # the e-mail is read elsewhere: no session there
    link = the_link_emailed_to(mail_server, new, page="email")
    mailbox.goto(link)
    expect(mailbox.locator('[data-page="confirm-email-change"]')).to_be_visible()
    assert_accessible(mailbox, mailbox, "confirm-email-change")
    mailbox.locator("#confirm-email-submit").click()
    expect(mailbox.locator('[data-page="email-changed"]')).to_be_visible()
    assert_accessible(mailbox, mailbox, "email-changed")
    mailbox.goto(link)
    expect(mailbox.locator('[data-problem="used"]')).to_be_visible()
    assert_accessible(mailbox, mailbox, "email-link-used")

    page.goto(f"{emailing.url}/auth/account")  # still signed in here
    expect(page.locator("#account-email")).to_have_text(new)
