"""An admin who forgot their password asks for a link on the sign-in page, gets it by e-mail (through
the outbox, to a local mail server), chooses a new password in a window of its own and signs in.
The page answers alike whoever asks; the database never holds the link."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select, text, update

from portal.auth import service
from portal.auth.link_emails import LINK_PLACEHOLDER
from portal.auth.password_reset import RESEND_AFTER
from portal.db import Base, get_session
from portal.models import AuditEvent, Notification, PasswordLink, User, utcnow
from portal.notifications import outbox
from portal.notifications.sender import BackgroundSender
from tests.accounts import PASSWORD, create_user, sign_in
from tests.auth.helpers import normalised
from tests.conftest import free_port, make_test_app
from tests.mail import MailServer, mail_server

__all__ = ["mail_server"]

PORTAL = "https://portal.vendor.example"
NEW_PASSWORD = "a brand new passphrase"
_LINK = re.compile(re.escape(PORTAL) + r"(/auth/set-password/[A-Za-z0-9._-]+)")


def emailing_settings(port: int, **extra: Any) -> dict[str, Any]:
    """E-mail through the local mail server and nothing else: no staff address, no webhook."""
    return {
        "PORTAL_URL": PORTAL,
        "SMTP_HOST": "127.0.0.1",
        "SMTP_PORT": port,
        "SMTP_TLS": "none",
        "SMTP_FROM": "portal@vendor.example",
        "NOTIFY_TIMEOUT": 5,
        "NOTIFY_DRAIN_INTERVAL": 0,  # tests call drain
        **extra,
    }


@pytest.fixture
def app(tmp_path: Path, mail_server: MailServer) -> Iterator[Flask]:
    app = make_test_app(tmp_path, **emailing_settings(mail_server.port))
    yield app
    app.extensions["db_engine"].dispose()


def words(page: Any) -> str:
    """What a person reads on the page: its text without tags, spaces collapsed."""
    return " ".join(html.unescape(re.sub(r"<[^>]+>", "", page.get_data(as_text=True))).split())


def ask_for_a_link(client: FlaskClient, email: str, **request: Any) -> Any:
    return client.post("/auth/forgot-password", data={"email": email}, **request)


def drain(app: Flask, later: timedelta = timedelta()) -> outbox.DrainReport:
    with app.app_context():
        return outbox.drain(get_session(), now=utcnow() + later)


def body_of(mail_server: MailServer, index: int = -1) -> str:
    return str(mail_server.messages[index].get_payload(decode=True).decode()).replace("\r\n", "\n")


def link_in(body: str) -> str:
    match = _LINK.search(body)
    assert match is not None, body
    return match.group(1)


def queued(app: Flask) -> list[Notification]:
    with app.app_context():
        return list(get_session().scalars(select(Notification).order_by(Notification.id)))


def customer_id(app: Flask, email: str = "admin@school.edu") -> int:
    with app.app_context():
        return int(get_session().scalar(select(User.id).where(User.email == email)))


def reset_requests(app: Flask) -> list[dict[str, Any]]:
    with app.app_context():
        events = get_session().scalars(
            select(AuditEvent)
            .where(AuditEvent.action == "user:password-reset-requested")
            .order_by(AuditEvent.id)
        )
        return [event.details for event in events]


def test_an_admin_who_forgot_their_password_gets_a_link_by_email_and_signs_in_with_a_new_one(
    app: Flask, client: FlaskClient, mail_server: MailServer
) -> None:
    create_user(app, "admin@school.edu")
    elsewhere = app.test_client()  # a session signed in with the old password, on another computer
    assert sign_in(elsewhere, "admin@school.edu", PASSWORD).status_code == 302
    sign_in_page = client.get("/auth/sign-in?next=/registration/abc/configure").get_data(as_text=True)
    assert 'href="/auth/forgot-password?next=/registration/abc/configure"' in sign_in_page

    assert "We will email you a link" in client.get("/auth/forgot-password").get_data(as_text=True)
    answer = ask_for_a_link(client, "  Admin@School.edu ")

    assert answer.status_code == 200
    assert "If an account uses Admin@School.edu, we are emailing it a link" in words(answer)
    assert mail_server.messages == []  # sent by the outbox's sender, not in the request
    (row,) = queued(app)
    assert (row.recipient, row.channel, row.kind) == ("admin@school.edu", "email", "password-reset")

    assert drain(app).sent == [row.id]
    (message,) = mail_server.messages
    assert mail_server.envelopes == [("portal@vendor.example", ["admin@school.edu"])]
    assert message["To"] == "admin@school.edu" and message["Subject"] == "Choose a new password"
    assert message["From"] == "portal@vendor.example"  # no brand: the address alone
    body = body_of(mail_server)
    assert "asked for a new password for admin@school.edu" in body
    assert "If you did not ask for this, you can ignore this e-mail." in body

    link = link_in(body)
    page = client.get(link)
    assert page.status_code == 200 and "Choose your password" in words(page)
    assert page.headers["Cache-Control"] == "no-store"
    assert page.headers["X-Frame-Options"] == "DENY"  # a page of its own, never inside the LMS
    done = client.post(link, data={"password": NEW_PASSWORD, "confirm": NEW_PASSWORD})
    assert done.status_code == 200
    assert "Go back to its window and sign in there" in words(done)

    assert elsewhere.get("/auth/account").status_code == 302  # signed out by the new password
    assert sign_in(client, "admin@school.edu", PASSWORD).status_code == 200  # the old one: refused
    assert sign_in(client, "admin@school.edu", NEW_PASSWORD).status_code == 302
    assert client.get(link).status_code == 410  # it worked once


def test_a_branded_portal_signs_the_email_with_the_vendors_name(
    tmp_path: Path, mail_server: MailServer
) -> None:
    app = make_test_app(tmp_path, BRAND_NAME="Acme Learning", **emailing_settings(mail_server.port))
    app.config["WTF_CSRF_ENABLED"] = False
    create_user(app, "admin@school.edu")
    ask_for_a_link(app.test_client(), "admin@school.edu")
    drain(app)
    app.extensions["db_engine"].dispose()

    (message,) = mail_server.messages
    assert message["From"] == "Acme Learning <portal@vendor.example>"
    assert message["Subject"] == "[Acme Learning] Choose a new password"
    assert "on Acme Learning's tool registration portal" in body_of(mail_server)


def test_the_page_answers_alike_whether_or_not_an_account_uses_the_address(
    app: Flask, client: FlaskClient, mail_server: MailServer
) -> None:
    create_user(app, "known@school.edu")
    create_user(app, "gone@school.edu", disabled=True)

    pages = [
        normalised(ask_for_a_link(client, email)).replace(email, "EMAIL")
        for email in ("known@school.edu", "nobody@school.edu", "gone@school.edu")
    ]
    drain(app)

    assert pages[0] == pages[1] == pages[2]
    assert [envelope[1] for envelope in mail_server.envelopes] == [["known@school.edu"]]
    assert reset_requests(app) == [
        {"email": "known@school.edu", "outcome": "emailed"},
        {"email": "nobody@school.edu", "outcome": "no-account"},
        {"email": "gone@school.edu", "outcome": "disabled"},
    ]


def test_asking_again_at_once_sends_nothing_more_and_later_a_new_link_replaces_the_first(
    app: Flask, client: FlaskClient, mail_server: MailServer
) -> None:
    create_user(app, "admin@school.edu")
    ask_for_a_link(client, "admin@school.edu")
    ask_for_a_link(client, "admin@school.edu")  # a double click, or impatience
    drain(app)
    assert len(mail_server.messages) == 1
    first_link = link_in(body_of(mail_server))

    with app.app_context():  # RESEND_AFTER later
        db = get_session()
        db.execute(update(PasswordLink).values(created_at=utcnow() - RESEND_AFTER - timedelta(seconds=1)))
        db.commit()
    ask_for_a_link(client, "admin@school.edu")
    drain(app)

    assert len(mail_server.messages) == 2
    assert [details["outcome"] for details in reset_requests(app)] == ["emailed", "already-sent", "emailed"]
    assert client.get(first_link).status_code == 410
    assert client.get(link_in(body_of(mail_server))).status_code == 200


def test_a_link_that_stopped_working_before_its_email_went_out_is_not_sent(
    app: Flask, client: FlaskClient, mail_server: MailServer
) -> None:
    create_user(app, "admin@school.edu")
    ask_for_a_link(client, "admin@school.edu")
    with app.app_context():  # meanwhile a staff member types a new password for them
        db = get_session()
        service.reset_password(db, "admin@school.edu", "typed by a colleague", "staff@vendor.example")
        db.commit()

    report = drain(app)

    assert mail_server.messages == []
    (row,) = queued(app)
    assert report.failed == [row.id]  # at once: trying again cannot bring the link back
    assert row.last_error == "not sent: its link stopped working first (used, replaced or expired)"
    staff_browser = app.test_client()
    sign_in(staff_browser, create_user(app, "staff@vendor.example", role="staff").email)
    console = staff_browser.get("/admin/notifications/")
    assert "failed after 1 attempt: not sent: its link stopped working first" in words(console)
    # Not the warning on every staff page: staff notifications are going out fine.
    assert 'id="notification-trouble"' not in console.get_data(as_text=True)


def test_a_mail_server_that_is_down_is_tried_again_with_the_same_link(
    tmp_path: Path, mail_server: MailServer
) -> None:
    app = make_test_app(tmp_path, **emailing_settings(free_port()))  # nobody listens there
    app.config["WTF_CSRF_ENABLED"] = False
    create_user(app, "admin@school.edu")
    ask_for_a_link(app.test_client(), "admin@school.edu")

    assert len(drain(app).retrying) == 1
    app.config["SMTP_PORT"] = mail_server.port
    assert len(drain(app, later=timedelta(hours=1)).sent) == 1
    assert app.test_client().get(link_in(body_of(mail_server))).status_code == 200
    app.extensions["db_engine"].dispose()


def test_the_database_and_the_console_never_hold_the_emailed_link(
    app: Flask, client: FlaskClient, mail_server: MailServer
) -> None:
    create_user(app, "admin@school.edu")
    staff = create_user(app, "staff@vendor.example", role="staff")
    ask_for_a_link(client, "admin@school.edu")
    drain(app)
    token = link_in(body_of(mail_server)).rsplit("/", 1)[1]

    with app.app_context():
        db = get_session()
        stored = " ".join(
            str(row) for table in Base.metadata.sorted_tables for row in db.execute(select(table)).all()
        )
        assert queued(app)[0].text.count(LINK_PLACEHOLDER) == 1
    staff_browser = app.test_client()
    sign_in(staff_browser, staff.email)
    console = staff_browser.get("/admin/notifications/")

    assert "admin@school.edu" in stored and token not in stored
    assert "email to admin@school.edu" in words(console) and token not in console.get_data(as_text=True)
    assert "a link by e-mail, through 127.0.0.1" in words(console)
    person = staff_browser.get(f"/admin/people/{customer_id(app)}")
    assert "e-mailed at their request, not used yet" in words(person)


@pytest.mark.parametrize(
    "email",
    ["admin@school.edu\x00", "not an address", "a" * 320 + "@school.edu", ""],
    ids=["nul byte", "no address", "too long", "empty"],
)
def test_a_bad_address_gets_a_clear_error_and_queues_nothing(
    app: Flask, client: FlaskClient, email: str
) -> None:
    create_user(app, "admin@school.edu")

    answer = ask_for_a_link(client, email)

    assert answer.status_code == 400
    assert 'aria-invalid="true"' in answer.get_data(as_text=True)
    assert queued(app) == [] and reset_requests(app) == []


def test_asking_over_and_over_from_one_address_gets_the_429_page(app: Flask, client: FlaskClient) -> None:
    app.config["AUTH_RATE_LIMIT"] = "3 per minute"
    address = {"environ_base": {"REMOTE_ADDR": "10.0.0.7"}}

    answers = [ask_for_a_link(client, f"user{n}@school.edu", **address).status_code for n in range(4)]

    assert answers == [200, 200, 200, 429]


def test_without_email_the_page_says_whom_to_ask_and_sends_nothing(tmp_path: Path) -> None:
    app = make_test_app(tmp_path, BRAND_NAME="Acme Learning", BRAND_SUPPORT_EMAIL="help@acme.example")
    app.config["WTF_CSRF_ENABLED"] = False
    create_user(app, "admin@school.edu")
    client = app.test_client()

    page = client.get("/auth/forgot-password")
    posted = ask_for_a_link(client, "admin@school.edu")

    assert "cannot email you a link" in words(page)
    assert "ask Acme Learning to reset your password (help@acme.example)" in words(page)
    assert 'name="email"' not in page.get_data(as_text=True)
    assert posted.status_code == 200 and queued(app) == [] and reset_requests(app) == []
    assert not BackgroundSender(app).wanted()
    app.extensions["db_engine"].dispose()


def test_the_background_sender_runs_when_only_email_is_set_up(app: Flask) -> None:
    assert app.config["NOTIFY_EMAIL_TO"] == "" and app.config["NOTIFY_WEBHOOK_URL"] == ""
    app.config["NOTIFY_DRAIN_INTERVAL"] = 15

    assert BackgroundSender(app).wanted()


def test_the_address_typed_is_only_echoed_escaped(app: Flask, client: FlaskClient) -> None:
    answer = ask_for_a_link(client, "<b>x</b>@school.edu")

    assert "<b>x</b>" not in answer.get_data(as_text=True)
    with app.app_context():
        assert get_session().execute(text("SELECT count(*) FROM password_links")).scalar() == 0
