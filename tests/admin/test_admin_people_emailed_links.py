"""Where the portal can e-mail, a staff member can have it e-mail the one-time link: to a new staff
colleague, or to someone whose password they reset. The e-mail goes through the outbox to a local
mail server; the People page says whether it went out; the database never holds the link."""

from __future__ import annotations

import re
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from portal.db import get_session
from portal.models import AuditEvent, Notification, User
from portal.notifications import outbox
from tests.accounts import PASSWORD
from tests.admin.test_admin_people import NEW, STAFF, can_sign_in, post_from, text
from tests.auth.helpers import find_user
from tests.conftest import free_port
from tests.mail import MailServer, mail_server
from tests.registration.helpers import tokens_of

__all__ = ["mail_server"]

CHOSEN = "chosen through the e-mailed link"
_LINK = re.compile(r"http://localhost(/auth/set-password/[A-Za-z0-9._-]+)")


@pytest.fixture
def app_settings(ltiaas_settings: dict[str, Any], mail_server: MailServer) -> dict[str, Any]:
    return {
        **ltiaas_settings,
        "BRAND_NAME": "Acme Learning",
        "SMTP_HOST": "127.0.0.1",
        "SMTP_PORT": mail_server.port,
        "SMTP_TLS": "none",
        "SMTP_FROM": "portal@acme-learning.example",
        "NOTIFY_TIMEOUT": 5,
        "NOTIFY_DRAIN_INTERVAL": 0,  # the tests send what is queued
    }


def send_what_is_queued(app: Flask) -> outbox.DrainReport:
    with app.app_context():
        return outbox.drain(get_session())


def the_email_to(mail_server: MailServer, email: str) -> tuple[str, str]:
    """The subject and text of the one e-mail `email` got."""
    (received,) = mail_server.received_by(email)
    return received


def choose_with_link(app: Flask, body: str, password: str) -> str:
    found = _LINK.search(body)
    assert found is not None, body
    path = found.group(1)
    chosen = post_from(app.test_client(), path, path, password=password, confirm=password)
    return text(chosen)


def test_the_page_offers_to_email_the_link_first(staff_browser: FlaskClient) -> None:
    page = text(staff_browser.get("/admin/people/new"))

    choices = re.findall(r'<input[^>]*name="choice"[^>]*>', page)
    assert [re.search(r'value="(\w+)"', choice).group(1) for choice in choices] == ["email", "link", "typed"]
    assert "checked" in choices[0]
    assert "one-time link we e-mail them (valid 4 hours)" in page


def test_a_new_staff_colleague_is_emailed_their_link_and_signs_in(
    app: Flask, staff_browser: FlaskClient, mail_server: MailServer
) -> None:
    created = post_from(staff_browser, "/admin/people/new", "/admin/people/new", email=NEW, choice="email")

    assert created.status_code == 303
    person_page = f"/admin/people/{find_user(app, NEW).id}"
    assert created.location == person_page
    flashed = text(staff_browser.get(person_page))
    assert f"Staff account {NEW} created. We are e-mailing them a link to choose their password" in flashed
    assert "waiting to be sent" in flashed
    assert len(send_what_is_queued(app).sent) == 1

    subject, body = the_email_to(mail_server, NEW)
    assert subject == "[Acme Learning] Your staff account: choose your password"
    assert f"{STAFF} made you a staff account, {NEW}, on Acme Learning's tool registration portal" in body
    assert "Then sign in at http://localhost/admin/" in body
    password_set = choose_with_link(app, body, CHOSEN)
    assert 'data-page="password-set"' in password_set and 'id="back-to-lms"' not in password_set
    assert 'href="/auth/sign-in?next=/admin/" id="sign-in-link">Sign in to the staff console' in password_set
    assert can_sign_in(app, NEW, CHOSEN)
    after = text(staff_browser.get(person_page))
    sent = r'id="last-email">“\[Acme Learning\] Your staff account[^<]*: sent \d\d:\d\d:\d\d'
    assert re.search(sent, after), after


def test_a_new_customer_is_emailed_what_the_account_is_for_and_signs_in(
    app: Flask, staff_browser: FlaskClient, mail_server: MailServer
) -> None:
    admin = "it-admin@springfield.edu"
    created = post_from(
        staff_browser,
        "/admin/people/new-customer",
        "/admin/people/new-customer",
        email=admin,
        organisation="Springfield University",
        choice="email",
    )

    assert created.status_code == 303
    assert f"Customer account {admin} created." in text(staff_browser.get(created.location))
    assert len(send_what_is_queued(app).sent) == 1
    subject, body = the_email_to(mail_server, admin)
    assert subject == "[Acme Learning] Your account: choose your password"
    assert f"{STAFF} made you an account, {admin}, on Acme Learning's tool registration portal" in body
    assert "where you register Acme Learning's tool with your LMS" in body
    assert "sign in with this e-mail address when the registration window asks" in body
    assert "staff" not in body.lower().replace(STAFF, "")
    assert 'data-page="password-set"' in choose_with_link(app, body, CHOSEN)
    assert can_sign_in(app, admin, CHOSEN)


def test_a_reset_by_email_keeps_the_old_password_until_the_new_one_is_chosen(
    app: Flask, staff_browser: FlaskClient, customer: User, mail_server: MailServer
) -> None:
    page = f"/admin/people/{customer.id}"

    reset = post_from(
        staff_browser, page, f"{page}/password", choice="email", confirm_reset="y", password="", confirm=""
    )
    send_what_is_queued(app)

    assert reset.status_code == 303
    flashed = text(staff_browser.get(page))
    assert f"We are e-mailing {customer.email} a link to choose a new password" in flashed
    subject, body = the_email_to(mail_server, customer.email)
    assert subject == "[Acme Learning] Choose a new password"
    assert f"Acme Learning's staff reset the password of {customer.email}" in body
    assert can_sign_in(app, customer.email, PASSWORD)  # until the link is used
    choose_with_link(app, body, CHOSEN)
    assert can_sign_in(app, customer.email, CHOSEN)
    assert not can_sign_in(app, customer.email, PASSWORD)


def test_the_database_holds_neither_the_link_nor_its_token(
    app: Flask, staff_browser: FlaskClient, mail_server: MailServer
) -> None:
    post_from(staff_browser, "/admin/people/new", "/admin/people/new", email=NEW, choice="email")
    send_what_is_queued(app)

    _subject, body = the_email_to(mail_server, NEW)
    token = _LINK.search(body).group(1).rsplit("/", 1)[1]
    with app.app_context():
        db = get_session()
        queued = db.scalars(select(Notification)).one()
        issued = db.scalars(select(AuditEvent).where(AuditEvent.action == "user:password-link-issued")).one()
        assert "[the one-time link]" in queued.text and token not in queued.text
        assert issued.details["delivery"] == "e-mailed" and issued.actor == STAFF
    assert token not in text(staff_browser.get("/admin/notifications/"))


def test_a_mail_server_that_is_down_shows_on_the_persons_page(
    app: Flask, staff_browser: FlaskClient, customer: User
) -> None:
    page = f"/admin/people/{customer.id}"
    post_from(staff_browser, page, f"{page}/password", choice="email", confirm_reset="y")
    app.config["SMTP_PORT"] = free_port()  # nobody listens there

    report = send_what_is_queued(app)

    assert len(report.sent) == 0
    shown = text(staff_browser.get(page))
    retrying = r'id="last-email">[^<]*will try again at \d\d:\d\d:\d\d \(could not connect'
    assert re.search(retrying, shown), shown


def test_a_disabled_account_is_emailed_no_link(
    app: Flask, staff_browser: FlaskClient, customer: User, mail_server: MailServer
) -> None:
    page = f"/admin/people/{customer.id}"
    post_from(staff_browser, page, f"{page}/disable", confirm_disable="y")

    refused = post_from(staff_browser, page, f"{page}/password", choice="email", confirm_reset="y")
    send_what_is_queued(app)

    assert refused.status_code == 400
    assert "This account is disabled: enable it before sending a link." in text(refused)
    assert mail_server.messages == []


def test_a_double_submitted_emailed_reset_sends_one_link_and_says_the_second_was_sent_already(
    app: Flask, staff_browser: FlaskClient, customer: User, mail_server: MailServer
) -> None:
    page = f"/admin/people/{customer.id}"
    form = {"choice": "email", "confirm_reset": "y", **tokens_of(text(staff_browser.get(page)))}

    first = staff_browser.post(f"{page}/password", data=form)
    second = staff_browser.post(f"{page}/password", data=form)
    send_what_is_queued(app)

    assert first.status_code == second.status_code == 303
    said = text(staff_browser.get(second.location))
    assert "This form was sent already at " in said and "nothing was sent again" in said
    _, body = the_email_to(mail_server, customer.email)  # one e-mail, whose link works
    assert 'data-page="password-set"' in choose_with_link(app, body, CHOSEN)
    assert can_sign_in(app, customer.email, CHOSEN)
    with app.app_context():
        issued = get_session().scalars(
            select(AuditEvent).where(AuditEvent.action == "user:password-link-issued")
        )
        assert len(issued.all()) == 1
