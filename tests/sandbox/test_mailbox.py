"""The sandbox's mailbox: a newcomer running `scripts/run` who forgets their password gets the link
in a real mail server's Maildir and opens it from `/sandbox/mail/`."""

from __future__ import annotations

import html
import mailbox
import re
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path

import pytest
import requests
from flask import Flask

from portal.db import get_session
from portal.notifications import outbox
from portal.sandbox.mailbox import read_mailbox, with_links
from tests.accounts import create_user
from tests.conftest import LiveServer, start_live_server, stop_live_server
from tests.mail import SandboxMailbox, sandbox_mailbox

__all__ = ["sandbox_mailbox"]

ADMIN = "admin@college.example"


@pytest.fixture
def mailing_sandbox(tmp_path: Path, sandbox_mailbox: SandboxMailbox) -> Iterator[LiveServer]:
    """The sandbox sending its e-mail to the mailbox, as `scripts/run` sets it up."""
    # NOTIFY_DRAIN_INTERVAL 0: no background sender, the test sends what is queued.
    live = start_live_server(tmp_path, **sandbox_mailbox.settings, NOTIFY_DRAIN_INTERVAL=0)
    yield live
    stop_live_server(live)


def ask_for_a_link(live: LiveServer, email: str) -> requests.Response:
    """Press "Forgot your password?" and send the form, as a browser does (its CSRF token and all)."""
    browser = requests.Session()
    page = browser.get(f"{live.url}/auth/forgot-password", timeout=5).text
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page)
    action = re.search(r'<form[^>]*action="([^"]+)"', page)
    assert token and action, page
    form = {"csrf_token": token.group(1), "email": email}
    return browser.post(f"{live.url}{html.unescape(action.group(1))}", data=form, timeout=5)


def test_a_forgotten_password_link_arrives_in_the_mailbox_and_opens(mailing_sandbox: LiveServer) -> None:
    app: Flask = mailing_sandbox.app
    create_user(app, ADMIN)

    assert ask_for_a_link(mailing_sandbox, ADMIN).status_code == 200
    with app.app_context():
        report = outbox.drain(get_session())

    assert len(report.sent) == 1
    page = requests.get(f"{mailing_sandbox.url}/sandbox/mail/", timeout=5).text
    assert "Choose a new password" in page
    assert f"<dd>{ADMIN}</dd>" in page
    links = re.findall(r'<a href="(http://localhost:\d+/auth/set-password/[^"]+)">', page)
    assert len(links) == 1
    opened = requests.get(html.unescape(links[0]), timeout=5)
    assert opened.status_code == 200
    assert "new password" in opened.text.lower()


def test_a_new_mailbox_says_nothing_arrived_yet(mailing_sandbox: LiveServer) -> None:
    page = requests.get(f"{mailing_sandbox.url}/sandbox/mail/", timeout=5).text

    assert 'id="no-mail"' in page
    assert 'id="mailbox-off"' not in page


def test_without_a_mailbox_the_page_says_how_to_get_one(live_server: LiveServer) -> None:
    page = requests.get(f"{live_server.url}/sandbox/mail/", timeout=5)

    assert page.status_code == 200
    assert 'id="mailbox-off"' in page.text


def test_messages_are_listed_newest_first(tmp_path: Path) -> None:
    box = mailbox.Maildir(tmp_path / "mail")
    dates = {"First": "Tue, 01 Dec 2026 09:00:00 -0000", "Second": "Wed, 02 Dec 2026 09:00:00 +0100"}
    for subject, date in dates.items():
        message = EmailMessage()
        message["Subject"], message["Date"], message["To"] = subject, date, ADMIN
        message.set_content("Hello")
        box.add(message)

    received = read_mailbox(tmp_path / "mail")

    assert [one.subject for one in received] == ["Second", "First"]
    assert received[0].sent_at is not None and received[0].sent_at.hour == 8  # shown in UTC
    assert read_mailbox(tmp_path / "nowhere") == []


def test_a_message_the_page_cannot_read_is_listed_with_why(tmp_path: Path) -> None:
    box = mailbox.Maildir(tmp_path / "mail")
    box.add(b"Subject: Odd\r\nContent-Type: text/plain; charset=x-unknown\r\nDate: no date\r\n\r\nHello\r\n")
    box.add(b"Subject: Attachment only\r\nContent-Type: application/octet-stream\r\n\r\nxx\r\n")

    received = {one.subject: one for one in read_mailbox(tmp_path / "mail")}

    assert received["Odd"].text == "(its text could not be read: unknown encoding: x-unknown)"
    assert received["Odd"].sent_at is None
    assert received["Attachment only"].text == "(no plain-text part)"


def test_only_web_addresses_become_links_and_the_rest_is_escaped() -> None:
    text = "Open https://portal.example/auth/set-password/a.b-c. Not javascript:alert(1), <script>x</script>"

    shown = str(with_links(text))

    assert shown.startswith(
        'Open <a href="https://portal.example/auth/set-password/a.b-c">'
        "https://portal.example/auth/set-password/a.b-c</a>. Not javascript:alert(1), &lt;script&gt;"
    )
    assert "&lt;script&gt;" in shown and "<script>" not in shown
    assert shown.count("<a ") == 1
