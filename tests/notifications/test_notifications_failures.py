"""A notification that cannot be sent is logged, tried again, then shown failed on every staff page;
it never breaks the customer's request, and one left half-sent by a dead process is never resent."""

from __future__ import annotations

from datetime import timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from portal.db import get_session
from portal.models import Notification, NotificationState, utcnow
from portal.notifications import outbox
from tests.conftest import free_port
from tests.notifications.conftest import ChatWebhook, MailServer


def queue(app: Flask, key: str = "test:one", text: str = "Hello staff") -> None:
    with app.app_context():
        db = get_session()
        outbox.enqueue(db, key, "test", "Subject", text)
        db.commit()


def drain(app: Flask, after: float = 0) -> outbox.DrainReport:
    with app.app_context():
        return outbox.drain(get_session(), now=utcnow() + timedelta(seconds=after))


def rows(app: Flask) -> dict[str, Notification]:
    with app.app_context():
        return {n.channel: n for n in get_session().scalars(select(Notification))}


def test_an_unreachable_webhook_is_logged_tried_again_and_then_left_failed(
    app: Flask, chat_webhook: ChatWebhook, caplog: pytest.LogCaptureFixture
) -> None:
    app.config.update(
        NOTIFY_EMAIL_TO="", NOTIFY_WEBHOOK_URL=f"http://127.0.0.1:{free_port()}/hooks/secret-path"
    )
    queue(app)

    for attempt, after in enumerate((0, 61, 61 + 121), start=1):
        drain(app, after)
        assert rows(app)["webhook"].attempts == attempt

    webhook = rows(app)["webhook"]
    assert webhook.state == NotificationState.FAILED
    assert webhook.last_error == "could not reach 127.0.0.1: ConnectionError"
    assert caplog.text.count("staff notification") == 3 and "attempt 3 of 3" in caplog.text
    assert "secret-path" not in caplog.text  # the webhook's path is its secret
    assert drain(app, 10_000).sent == []  # never tried again


def test_a_refusing_webhook_is_reported_with_its_answer(app: Flask, chat_webhook: ChatWebhook) -> None:
    app.config.update(NOTIFY_EMAIL_TO="", NOTIFY_MAX_ATTEMPTS=1)
    chat_webhook.status = 404
    queue(app)

    report = drain(app)

    assert report.failed and rows(app)["webhook"].last_error == "127.0.0.1 answered HTTP 404: no_service"


def test_failures_are_shown_on_every_staff_page_until_notifications_go_out_again(
    app: Flask, chat_webhook: ChatWebhook, mail_server: MailServer, staff_browser: FlaskClient
) -> None:
    app.config.update(SMTP_PORT=free_port(), NOTIFY_MAX_ATTEMPTS=1)  # nothing listens there
    queue(app)
    drain(app)

    for page in ("/admin/approvals/", "/admin/payments/", "/admin/people/", "/admin/notifications/"):
        body = staff_browser.get(page).get_data(as_text=True)
        assert 'id="notification-trouble"' in body
        assert "Staff notifications by email are failing" in body and "ConnectionRefusedError" in body
        assert "by webhook are failing" not in body
    listing = staff_browser.get("/admin/notifications/").get_data(as_text=True)
    assert 'data-state="failed"' in listing and 'data-state="sent"' in listing

    app.config["SMTP_PORT"] = mail_server.port
    queue(app, "test:two")
    drain(app)

    assert 'id="notification-trouble"' not in staff_browser.get("/admin/approvals/").get_data(as_text=True)


def test_a_notification_left_sending_by_a_dead_process_is_marked_failed_not_resent(
    app: Flask, chat_webhook: ChatWebhook
) -> None:
    app.config["NOTIFY_EMAIL_TO"] = ""
    queue(app)
    with app.app_context():
        db = get_session()
        notification = db.scalars(select(Notification)).one()
        notification.state = NotificationState.SENDING.value  # claimed, then the process died
        notification.claimed_at = utcnow() - timedelta(minutes=5)
        db.commit()

    # NOTIFY_TIMEOUT is 5 s, so a claim is a dead sender's after 50 s; 40 s after it, it is left alone.
    drain(app, after=-(5 * 60 - 40))
    assert rows(app)["webhook"].state == NotificationState.SENDING
    report = drain(app)

    webhook = rows(app)["webhook"]
    assert report.failed == [webhook.id] and webhook.state == NotificationState.FAILED
    assert webhook.last_error == "the process sending it stopped; it may or may not have been delivered"
    assert chat_webhook.received == []


def test_a_channel_switched_off_after_queueing_fails_its_notification(
    app: Flask, chat_webhook: ChatWebhook, mail_server: MailServer
) -> None:
    app.config["NOTIFY_MAX_ATTEMPTS"] = 1
    queue(app)
    app.config["NOTIFY_WEBHOOK_URL"] = ""

    drain(app)

    assert rows(app)["webhook"].last_error == "the webhook is no longer configured"
    assert rows(app)["email"].state == NotificationState.SENT
