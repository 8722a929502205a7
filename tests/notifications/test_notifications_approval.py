"""Staff hear about a customer waiting for approval: once, by e-mail and webhook, after the customer's
request, with a link to the request and no secret."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from portal.db import get_session
from portal.models import ApprovalRequest, Notification, NotificationState, utcnow
from portal.notifications import alerts, outbox
from tests.conftest import make_test_app
from tests.notifications.conftest import SMTP_PASSWORD, SMTP_USER, ChatWebhook, MailServer, notifying_settings
from tests.registration.helpers import configured_by


def ask_for_approval(app: Flask, browser: FlaskClient, form: dict | None = None) -> str:
    """The customer sends their request under live approval (CSRF off while asking); the request's id."""
    app.config.update(APPROVAL_POLICY="live-approval", WTF_CSRF_ENABLED=False)
    public_id = configured_by(browser, form)
    assert browser.post(f"/registration/{public_id}/request").status_code == 303
    with app.app_context():
        return get_session().scalars(select(Notification.event_key)).first().split(":", 1)[1]


def notifications(app: Flask) -> list[Notification]:
    with app.app_context():
        return list(get_session().scalars(select(Notification).order_by(Notification.id)))


def drain(app: Flask, now_offset: float = 0) -> outbox.DrainReport:
    with app.app_context():
        return outbox.drain(get_session(), now=utcnow() + timedelta(seconds=now_offset))


def test_a_request_is_queued_with_the_customers_request_and_sent_by_the_drain_not_the_request(
    app: Flask, ltiaas, customer_browser: FlaskClient, mail_server: MailServer, chat_webhook: ChatWebhook
) -> None:
    request_id = ask_for_approval(app, customer_browser)

    queued = notifications(app)
    assert [(n.channel, n.state) for n in queued] == [("email", "pending"), ("webhook", "pending")]
    assert mail_server.messages == [] and chat_webhook.received == []  # nothing sent in the request

    report = drain(app)

    assert sorted(report.sent) == [n.id for n in queued]
    assert [n.state for n in notifications(app)] == ["sent", "sent"]
    link = f"https://portal.vendor.example/admin/approvals/{request_id}"
    (message,) = mail_server.messages
    assert message["Subject"] == "Approval needed: Moodle at moodle.example.edu"
    assert message["From"] == "portal@vendor.example"
    assert mail_server.envelopes == [
        ("portal@vendor.example", ["ops@vendor.example", "sales@vendor.example"])
    ]
    body = message.get_payload(decode=True).decode().replace("\r\n", "\n")
    assert "admin@springfield.edu asks to register the tool with Moodle at moodle.example.edu" in body
    assert '"Springfield Moodle"' in body and link in body
    (text,) = chat_webhook.texts
    assert text == body.strip()


def test_what_staff_are_sent_carries_no_secret(
    app: Flask, ltiaas, customer_browser: FlaskClient, mail_server: MailServer, chat_webhook: ChatWebhook
) -> None:
    ask_for_approval(app, customer_browser)
    drain(app)

    sent = chat_webhook.texts[0] + mail_server.messages[0].as_string()
    for secret in (
        "_st=",
        app.config["SECRET_KEY"],
        app.config["LTIAAS_API_KEY"],
        SMTP_PASSWORD,
        "reg-moodle",
    ):
        assert secret not in sent


def test_a_double_click_on_the_request_notifies_once(
    app: Flask, ltiaas, customer_browser: FlaskClient, chat_webhook: ChatWebhook
) -> None:
    ask_for_approval(app, customer_browser)
    public_id = notifications(app)[0].event_key
    with app.app_context():
        db = get_session()
        approval = db.scalars(select(ApprovalRequest)).one()
        assert alerts.approval_requested(db, approval) == 0  # reported again: nothing new
        db.commit()

    drain(app)
    drain(app)

    assert len(notifications(app)) == 2 and notifications(app)[0].event_key == public_id
    assert len(chat_webhook.received) == 1


def test_a_platform_name_cannot_ping_the_whole_chat(
    app: Flask, ltiaas, customer_browser: FlaskClient, chat_webhook: ChatWebhook
) -> None:
    form = {
        "platform_name": "<!channel> & <https://evil.example|click>",
        "messages": ["LtiResourceLinkRequest"],
    }
    ask_for_approval(app, customer_browser, form)

    drain(app)

    (text,) = chat_webhook.texts
    assert "&lt;!channel&gt; &amp; &lt;https://evil.example|click&gt;" in text
    assert "<!channel>" not in text


def test_two_senders_draining_at_once_send_each_notification_once(
    app: Flask, chat_webhook: ChatWebhook, mail_server: MailServer
) -> None:
    with app.app_context():
        db = get_session()
        for number in range(15):
            outbox.enqueue(db, f"test:{number}", "test", f"Test {number}", f"Message {number}")
        db.commit()
    start = threading.Barrier(2)
    reports: list[outbox.DrainReport] = []

    def sender() -> None:
        start.wait()
        reports.append(drain(app))

    threads = [threading.Thread(target=sender) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(chat_webhook.texts) == sorted(f"Message {n}" for n in range(15))
    assert len(mail_server.messages) == 15
    assert sorted(reports[0].sent + reports[1].sent) == [n.id for n in notifications(app)]
    assert {n.state for n in notifications(app)} == {"sent"}


def test_the_mail_server_login_is_used_when_set(app: Flask, mail_server: MailServer) -> None:
    app.config.update(SMTP_USER=SMTP_USER, SMTP_PASSWORD=SMTP_PASSWORD)
    with app.app_context():
        db = get_session()
        outbox.enqueue(db, "test:login", "test", "Subject", "Body")
        db.commit()

    drain(app)

    assert mail_server.logins == [SMTP_USER]
    assert len(mail_server.messages) == 1


def test_a_wrong_mail_password_is_a_failure_that_does_not_show_the_password(
    app: Flask, mail_server: MailServer, caplog: pytest.LogCaptureFixture
) -> None:
    app.config.update(SMTP_USER=SMTP_USER, SMTP_PASSWORD="not-the-password", NOTIFY_WEBHOOK_URL="")
    with app.app_context():
        db = get_session()
        outbox.enqueue(db, "test:login", "test", "Subject", "Body")
        db.commit()

    drain(app)

    (notification,) = notifications(app)
    assert notification.state == "pending" and f"127.0.0.1:{mail_server.port}" in (
        notification.last_error or ""
    )
    assert "not-the-password" not in caplog.text and "not-the-password" not in (notification.last_error or "")
    assert mail_server.messages == []


@pytest.fixture
def quiet_app(tmp_path: Path) -> Iterator[Flask]:
    """No notification settings at all."""
    app = make_test_app(tmp_path / "quiet")
    yield app
    app.extensions["db_engine"].dispose()


def test_with_notifications_off_nothing_is_queued(quiet_app: Flask) -> None:
    with quiet_app.app_context():
        assert outbox.channels(quiet_app.config) == []
        assert outbox.enqueue(get_session(), "test:off", "test", "S", "T") == 0
    assert notifications(quiet_app) == []


def test_a_notification_is_tried_again_later_and_marked_sent_when_it_goes_through(
    app: Flask, chat_webhook: ChatWebhook
) -> None:
    app.config.update(NOTIFY_EMAIL_TO="")
    chat_webhook.status = 503
    with app.app_context():
        db = get_session()
        outbox.enqueue(db, "test:retry", "test", "S", "Try me")
        db.commit()

    first = drain(app)
    too_soon = drain(app, now_offset=30)
    chat_webhook.status = 200
    later = drain(app, now_offset=61)

    assert first.retrying and not too_soon.sent and not too_soon.retrying and later.sent
    (notification,) = notifications(app)
    assert notification.state == NotificationState.SENT and notification.attempts == 2
    assert notification.last_error is None
    assert len(chat_webhook.received) == 2


def test_with_a_brand_name_staff_see_whose_portal_wrote(
    tmp_path: Path, mail_server: MailServer, chat_webhook: ChatWebhook
) -> None:
    settings = notifying_settings(mail_server, chat_webhook, BRAND_NAME="Acme Learning")
    app = make_test_app(tmp_path / "branded", **settings)
    try:
        with app.app_context():
            db = get_session()
            alerts.test_message(db, "staff@vendor.example")
            db.commit()
        drain(app)
    finally:
        app.extensions["db_engine"].dispose()

    (message,) = mail_server.messages
    assert message["Subject"] == "[Acme Learning] Test notification from the approval portal"
    (text,) = chat_webhook.texts
    assert text.startswith("A test notification, sent by staff@vendor.example")
    assert text.endswith("\n— Acme Learning's approval portal")
