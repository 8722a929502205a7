"""Live approval: the customer who asked hears the staff's decision by e-mail (registered, or declined
with the reason), whether or not their LMS's window is still open; once, and only once it is known."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from portal.db import get_session
from portal.ltiaas import get_ltiaas
from portal.models import ApprovalRequest, Registration, User, utcnow
from portal.notifications import outbox
from portal.registration import approvals
from tests.accounts import PASSWORD, create_user, read_form, signed_in
from tests.admin.console_helpers import add_payment
from tests.conftest import CUSTOMER_EMAIL, make_test_app
from tests.fakes.ltiaas import FakeLtiaas
from tests.notifications.conftest import ChatWebhook, MailServer, notifying_settings
from tests.notifications.test_notifications_approval import ask_for_approval, drain


def registration_waiting(app: Flask) -> str:
    """The public id of the registration whose request waits."""
    with app.app_context():
        return get_session().scalars(select(ApprovalRequest)).one().registration.public_id


def decide(app: Flask, staff: User, how: str, *args: object) -> approvals.Outcome:
    """A staff member's decision, through the functions the console's buttons call."""
    with app.app_context():
        db = get_session()
        approval = db.scalars(select(ApprovalRequest)).one()
        decider = db.get(User, staff.id)
        if how == "reject":
            return approvals.reject(db, approval, decider, *args)  # type: ignore[arg-type]
        if how == "finish":
            return approvals.finish(db, get_ltiaas(), approval, decider)
        return approvals.approve(db, get_ltiaas(), approval, decider, approval.requested_choices)


def told(app: Flask, mail_server: MailServer) -> list[tuple[str, str]]:
    with app.app_context():
        outbox.drain(get_session(), now=utcnow() + timedelta(seconds=1))
    return mail_server.received_by(CUSTOMER_EMAIL)


def test_the_waiting_page_says_the_decision_will_be_emailed_too(
    app: Flask, ltiaas: FakeLtiaas, customer_browser: FlaskClient
) -> None:
    ask_for_approval(app, customer_browser)
    public_id = registration_waiting(app)

    waiting = customer_browser.get(f"/registration/{public_id}/waiting").get_data(as_text=True)

    assert (
        f'We will also e-mail <span id="decision-told-at">{CUSTOMER_EMAIL}</span> what they decide.'
        in waiting
    )


def test_an_approved_request_tells_the_customer_it_is_registered(
    app: Flask, ltiaas: FakeLtiaas, customer_browser: FlaskClient, mail_server: MailServer, staff: User
) -> None:
    ask_for_approval(app, customer_browser)

    assert decide(app, staff, "approve") is approvals.Outcome.COMPLETED
    ((subject, text),) = told(app, mail_server)

    assert subject == "Your request was approved: the tool is registered"
    assert text.startswith(
        'The vendor approved your request to register the tool with Moodle at moodle.example.edu (as "'
    )
    assert "and it is registered. It is active: your LMS can launch it." in text
    assert "Your account: https://portal.vendor.example/auth/account" in text


def test_a_declined_request_tells_the_customer_why(
    app: Flask, ltiaas: FakeLtiaas, customer_browser: FlaskClient, mail_server: MailServer, staff: User
) -> None:
    ask_for_approval(app, customer_browser)

    assert (
        decide(app, staff, "reject", "We only serve schools in Ohio & <Indiana>.")
        is approvals.Outcome.REJECTED
    )
    ((subject, text),) = told(app, mail_server)

    assert subject == "Your request was declined"
    assert "Nothing was registered." in text
    assert "Their reason: We only serve schools in Ohio & <Indiana>." in text  # plain text, not HTML


def test_a_decision_not_sent_yet_goes_to_the_address_the_customer_changed_to_meanwhile(
    app: Flask, ltiaas: FakeLtiaas, customer_browser: FlaskClient, mail_server: MailServer, staff: User
) -> None:
    ask_for_approval(app, customer_browser)
    new = "it-office@springfield.edu"
    action, hidden = read_form(customer_browser.get("/auth/email"))
    assert (
        customer_browser.post(action, data={**hidden, "email": new, "current": PASSWORD}).status_code == 200
    )
    drain(app)  # the link to confirm it, to the new address
    ((_subject, letter),) = mail_server.received_by(new)
    link = re.search(r"https://portal\.vendor\.example(/auth/email/\S+)", letter)
    assert link is not None, letter

    decide(app, staff, "reject", "Not this term.")  # queued to the address the account has now
    window = app.test_client()  # the customer confirms before the e-mail goes out
    action, hidden = read_form(window.get(link[1]))
    assert window.post(action, data=hidden).status_code == 200
    drain(app)

    (_link, (subject, text)) = mail_server.received_by(new)
    assert subject == "Your request was declined" and "Their reason: Not this term." in text
    subjects = [subject for subject, _text in mail_server.received_by(CUSTOMER_EMAIL)]
    assert subjects == ["Your email address is being changed", "Your email address was changed"]


def test_an_approval_whose_completion_did_not_go_through_tells_nobody_until_it_is_finished(
    app: Flask, ltiaas: FakeLtiaas, customer_browser: FlaskClient, mail_server: MailServer, staff: User
) -> None:
    ask_for_approval(app, customer_browser)
    ltiaas.fail("complete_registration", 503)  # once: LTIAAS failed (it may have acted), then back

    assert decide(app, staff, "approve") is approvals.Outcome.ANSWER_LOST
    assert told(app, mail_server) == []

    assert decide(app, staff, "finish") is approvals.Outcome.COMPLETED
    assert len(told(app, mail_server)) == 1


def test_a_declined_request_that_was_paid_for_says_the_payment_is_refunded(
    app: Flask, ltiaas: FakeLtiaas, customer_browser: FlaskClient, mail_server: MailServer, staff: User
) -> None:
    ask_for_approval(app, customer_browser)
    with app.app_context():
        db = get_session()
        approval = db.scalars(select(ApprovalRequest)).one()
        payment = add_payment(db, approval.registration, user=db.get(User, approval.requested_by_id))
        reference = payment.stripe_payment_intent
        db.commit()

    decide(app, staff, "reject", "Not a customer of ours.")
    ((_subject, text),) = told(app, mail_server)

    assert (
        f"You paid 49.00 EUR for this registration (payment reference {reference}): the vendor refunds it."
        in text
    )


def test_an_approval_the_lms_refuses_tells_the_customer_in_the_lms_words_and_the_staff_why(
    app: Flask,
    ltiaas: FakeLtiaas,
    customer_browser: FlaskClient,
    mail_server: MailServer,
    staff: User,
    staff_browser: FlaskClient,
) -> None:
    ask_for_approval(app, customer_browser)
    ltiaas.refuse_as_lms(400, {"error": "invalid_client_metadata", "error_description": "Domain not allowed"})

    assert decide(app, staff, "approve") is approvals.Outcome.NOT_REGISTERED
    ((subject, text),) = told(app, mail_server)
    with app.app_context():
        approval_id = get_session().scalars(select(ApprovalRequest)).one().public_id
    page = staff_browser.get(f"/admin/approvals/{approval_id}").get_data(as_text=True)

    assert subject == "Your request was approved, but the tool could not be registered"
    assert "Nothing was registered." in text and "Domain not allowed" in text
    assert 'id="last-error"' in page and "Domain not allowed" in page
    assert 'id="finish-form"' not in page  # nothing to try again: the registration is closed


def past_its_lifetime(app: Flask, public_id: str) -> None:
    with app.app_context():
        db = get_session()
        registration = db.scalars(select(Registration).where(Registration.public_id == public_id)).one()
        registration.expires_at = utcnow() - timedelta(minutes=1)
        db.commit()


def a_sender_round(app: Flask) -> None:
    """What each process's background sender does every NOTIFY_DRAIN_INTERVAL seconds."""
    app.extensions["staff_notification_sender"].run_once()


def test_a_request_nobody_decided_in_time_tells_the_customer_it_expired_even_when_nobody_looks(
    app: Flask, ltiaas: FakeLtiaas, customer_browser: FlaskClient, mail_server: MailServer
) -> None:
    ask_for_approval(app, customer_browser)
    past_its_lifetime(app, registration_waiting(app))

    a_sender_round(app)
    a_sender_round(app)
    ((subject, text),) = told(app, mail_server)

    assert subject == "Your request expired before a decision"
    assert (
        text.startswith("Your request to register the tool with Moodle at moodle.example.edu (as ")
        and "expired before the vendor decided on it" in text
    )
    assert "Nothing was registered." in text and "start the registration again from your LMS" in text
    assert "refund" not in text  # nothing was paid
    with app.app_context():
        assert get_session().scalars(select(ApprovalRequest)).one().state == "expired"


def test_a_paid_request_that_expired_undecided_says_the_payment_is_refunded(
    app: Flask, ltiaas: FakeLtiaas, customer_browser: FlaskClient, mail_server: MailServer
) -> None:
    ask_for_approval(app, customer_browser)
    with app.app_context():
        db = get_session()
        approval = db.scalars(select(ApprovalRequest)).one()
        add_payment(db, approval.registration, user=db.get(User, approval.requested_by_id))
        db.commit()
    public_id = registration_waiting(app)
    past_its_lifetime(app, public_id)

    customer_browser.get(f"/registration/{public_id}/waiting")  # the customer's own look expires it
    ((_subject, text),) = told(app, mail_server)

    assert "You paid 49.00 EUR for this registration" in text and "the vendor refunds it" in text


def test_a_declined_request_whose_registration_then_expired_is_told_of_the_decision_only(
    app: Flask, ltiaas: FakeLtiaas, customer_browser: FlaskClient, mail_server: MailServer, staff: User
) -> None:
    ask_for_approval(app, customer_browser)
    decide(app, staff, "reject", "Not a customer of ours.")
    past_its_lifetime(app, registration_waiting(app))

    a_sender_round(app)
    ((subject, _text),) = told(app, mail_server)

    assert subject == "Your request was declined"


def test_a_branded_portal_names_the_vendor_and_its_support_page_in_the_customers_email(
    tmp_path: Path,
    mail_server: MailServer,
    chat_webhook: ChatWebhook,
    ltiaas: FakeLtiaas,
    ltiaas_settings: dict[str, Any],
) -> None:
    branding = {"BRAND_NAME": "Zenith Tools", "BRAND_SUPPORT_URL": "https://help.zenith.example"}
    app = make_test_app(
        tmp_path / "branded", **ltiaas_settings, **notifying_settings(mail_server, chat_webhook, **branding)
    )
    try:
        customer = create_user(app, CUSTOMER_EMAIL)
        ask_for_approval(app, signed_in(app.test_client(), customer))
        with app.app_context():
            db = get_session()
            approval = db.scalars(select(ApprovalRequest)).one()
            add_payment(db, approval.registration, user=db.get(User, customer.id))
            db.commit()
        decide(app, create_user(app, "ops@vendor.example", role="staff", organisation=None), "reject", "No.")
        ((subject, text),) = told(app, mail_server)
    finally:
        app.extensions["db_engine"].dispose()

    assert subject == "[Zenith Tools] Your request was declined"
    assert "Zenith Tools declined your request" in text and "Zenith Tools refunds it." in text
    assert "the vendor" not in text
    assert "Questions? See https://help.zenith.example" in text


def test_a_customer_who_changed_their_address_since_asking_hears_the_decision_at_the_new_one(
    app: Flask, ltiaas: FakeLtiaas, customer_browser: FlaskClient, mail_server: MailServer, staff: User
) -> None:
    ask_for_approval(app, customer_browser)
    with app.app_context():  # confirmed by the e-mailed link meanwhile (tests/auth/test_auth_change_email.py)
        db = get_session()
        db.scalars(select(User).where(User.email == CUSTOMER_EMAIL)).one().email = "new@springfield.edu"
        db.commit()
    public_id = registration_waiting(app)
    waiting = customer_browser.get(f"/registration/{public_id}/waiting").get_data(as_text=True)
    assert 'We will also e-mail <span id="decision-told-at">new@springfield.edu</span>' in waiting

    decide(app, staff, "reject", "Not this term.")
    with app.app_context():
        outbox.drain(get_session(), now=utcnow() + timedelta(seconds=1))

    assert mail_server.received_by(CUSTOMER_EMAIL) == []
    ((subject, _text),) = mail_server.received_by("new@springfield.edu")
    assert subject == "Your request was declined"
