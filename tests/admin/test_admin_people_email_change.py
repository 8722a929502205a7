"""A staff member changes a customer's e-mail address on the People pages (a customer who cannot
sign in, or lost their old mailbox): the portal e-mails the new address the same one-time link a
customer's own request sends, and the customer confirms it; the current address is told. Staff are
told plainly when another account uses the address."""

from __future__ import annotations

import re

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from portal.db import get_session
from portal.models import AuditEvent, Notification, User
from tests.accounts import PASSWORD, create_user, read_form
from tests.admin.test_admin_people import STAFF, can_sign_in, post_from, text
from tests.admin.test_admin_people_emailed_links import app_settings, send_what_is_queued, the_email_to
from tests.mail import MailServer, mail_server

__all__ = ["app_settings", "mail_server"]

NEW_ADDRESS = "admin@new-springfield.edu"
_LINK = re.compile(r"http://localhost(/auth/email/[A-Za-z0-9._-]+)")


def ask(staff_browser: FlaskClient, person: User, new: str = NEW_ADDRESS) -> object:
    page = f"/admin/people/{person.id}"
    return post_from(staff_browser, page, f"{page}/email", new_email=new)


def test_staff_email_a_customers_new_address_a_link_the_customer_confirms(
    app: Flask, staff_browser: FlaskClient, customer: User, mail_server: MailServer
) -> None:
    old = customer.email
    page = f"/admin/people/{customer.id}"
    assert 'id="email-form"' in text(staff_browser.get(page))

    asked = ask(staff_browser, customer, " Admin@New-Springfield.edu ")

    assert asked.status_code == 303
    shown = text(staff_browser.get(page))
    assert f"We are e-mailing {NEW_ADDRESS} a link that makes it the address of {old}" in shown
    assert re.search(rf'id="pending-email-change">{NEW_ADDRESS}, asked by {STAFF}: not confirmed yet', shown)
    send_what_is_queued(app)
    subject, body = the_email_to(mail_server, NEW_ADDRESS)
    assert subject == "[Acme Learning] Confirm your new email address"
    assert f"{STAFF} (Acme Learning's staff) asked that the account {old}" in body
    _subject, notice = the_email_to(mail_server, old)
    assert f"{STAFF} (Acme Learning's staff) asked that your account, {old}," in notice
    assert "If you did not ask for this, contact Acme Learning" in notice and "/auth/" not in notice
    assert can_sign_in(app, old, PASSWORD)  # nothing changes until the customer confirms

    window = app.test_client()
    link = _LINK.search(body)
    assert link is not None, body
    action, hidden = read_form(window.get(link.group(1)))
    assert window.post(action, data=hidden).status_code == 200

    assert can_sign_in(app, NEW_ADDRESS, PASSWORD) and not can_sign_in(app, old, PASSWORD)
    with app.app_context():
        events = get_session().scalars(select(AuditEvent).where(AuditEvent.action.like("user:email-%")))
        assert [(event.action, event.actor) for event in events] == [
            ("user:email-change-requested", STAFF),
            ("user:email-changed", NEW_ADDRESS),
        ]


def test_an_address_another_account_uses_is_refused_plainly_and_nothing_is_sent(
    app: Flask, staff_browser: FlaskClient, customer: User, mail_server: MailServer
) -> None:
    create_user(app, NEW_ADDRESS)

    refused = ask(staff_browser, customer)

    assert refused.status_code == 400
    assert f"Another account signs in with {NEW_ADDRESS}. Nothing was sent." in text(refused)
    with app.app_context():
        assert get_session().scalars(select(Notification)).all() == []


def test_a_control_character_or_a_bad_address_is_refused_beside_the_field(
    app: Flask, staff_browser: FlaskClient, customer: User
) -> None:
    for typed in ("admin\x00@new.edu", "admin@new\u200b.edu", "a" * 321, customer.email):
        refused = ask(staff_browser, customer, typed)
        assert refused.status_code == 400, typed
        assert 'id="new_email-errors"' in text(refused), typed
    with app.app_context():
        assert get_session().scalars(select(Notification)).all() == []


def test_a_double_submit_sends_one_link(
    app: Flask, staff_browser: FlaskClient, customer: User, mail_server: MailServer
) -> None:
    ask(staff_browser, customer)
    again = ask(staff_browser, customer)

    assert again.status_code == 303
    assert f"A link to {NEW_ADDRESS} went out moments ago; nothing was sent again." in text(
        staff_browser.get(f"/admin/people/{customer.id}")
    )
    send_what_is_queued(app)
    assert len(mail_server.received_by(NEW_ADDRESS)) == 1


def test_staff_change_their_own_address_on_their_account_page(
    app: Flask, staff_browser: FlaskClient, staff: User
) -> None:
    page = f"/admin/people/{staff.id}"
    shown = text(staff_browser.get(page))

    assert 'id="email-form"' not in shown and 'href="/auth/email" id="own-email-link"' in shown
    assert ask(staff_browser, staff).status_code == 303
    with app.app_context():
        assert get_session().scalars(select(Notification)).all() == []


def test_where_the_portal_cannot_email_the_page_says_addresses_cannot_be_changed_here(
    app: Flask, staff_browser: FlaskClient, customer: User
) -> None:
    app.config["SMTP_HOST"] = ""
    page = f"/admin/people/{customer.id}"

    shown = text(staff_browser.get(page))
    asked = ask(staff_browser, customer)

    assert 'id="no-email-changes"' in shown and 'id="email-form"' not in shown
    assert asked.status_code == 303
    assert "The email address cannot be changed here." in text(staff_browser.get(page))
    with app.app_context():
        assert get_session().scalars(select(Notification)).all() == []
