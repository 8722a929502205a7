"""The console's Notifications page: where notifications go (never the webhook's secret path), what
became of the latest ones, and a test to see one arrive."""

from __future__ import annotations

from pathlib import Path

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from portal.db import get_session
from portal.models import AuditEvent, Notification
from portal.notifications import outbox
from tests.accounts import create_user
from tests.accounts import signed_in as sign_in
from tests.conftest import make_test_app
from tests.notifications.conftest import ChatWebhook
from tests.registration.helpers import tokens_of


def test_the_page_says_where_notifications_go_without_the_webhooks_secret(
    staff_browser: FlaskClient, chat_webhook: ChatWebhook
) -> None:
    body = staff_browser.get("/admin/notifications/").get_data(as_text=True)

    assert "to ops@vendor.example, sales@vendor.example, through 127.0.0.1" in body
    assert "to 127.0.0.1" in body and "secret-webhook-path" not in body
    assert 'id="no-notifications"' in body
    assert '<dd id="channel-password-emails">\n      a link by e-mail, through 127.0.0.1' in body
    assert "told by e-mail what you decide on their requests and when their LMS can launch the tool" in body


def test_a_test_notification_is_queued_audited_and_sent(
    app: Flask, staff_browser: FlaskClient, chat_webhook: ChatWebhook
) -> None:
    form = tokens_of(staff_browser.get("/admin/notifications/").get_data(as_text=True))

    response = staff_browser.post("/admin/notifications/test", data=form)
    with app.app_context():
        db = get_session()
        assert [n.channel for n in db.scalars(select(Notification))] == ["email", "webhook"]
        assert db.scalars(select(AuditEvent.actor).where(AuditEvent.action == "notification:test")).all() == [
            "staff@vendor.example"
        ]
        outbox.drain(db)

    assert response.status_code == 303
    assert chat_webhook.texts[0].endswith("Notifications: https://portal.vendor.example/admin/notifications/")
    body = staff_browser.get("/admin/notifications/").get_data(as_text=True)
    assert body.count('data-state="sent"') == 2


def test_a_double_submitted_test_sends_one_notification_and_says_the_second_was_sent_already(
    app: Flask, staff_browser: FlaskClient, chat_webhook: ChatWebhook
) -> None:
    form = tokens_of(staff_browser.get("/admin/notifications/").get_data(as_text=True))

    staff_browser.post("/admin/notifications/test", data=form)
    second = staff_browser.post("/admin/notifications/test", data=form)
    with app.app_context():
        db = get_session()
        assert [n.channel for n in db.scalars(select(Notification))] == ["email", "webhook"]
        assert len(db.scalars(select(AuditEvent).where(AuditEvent.action == "notification:test")).all()) == 1
        outbox.drain(db)

    said = staff_browser.get(second.location).get_data(as_text=True)
    assert "This test was sent already at " in said and "nothing was sent again" in said
    assert len(chat_webhook.texts) == 1


def test_the_test_button_needs_the_csrf_token(staff_browser: FlaskClient) -> None:
    assert staff_browser.post("/admin/notifications/test").status_code == 400


def test_with_notifications_off_the_page_says_so(tmp_path: Path) -> None:
    app = make_test_app(tmp_path / "off")
    browser = app.test_client()
    sign_in(browser, create_user(app, "staff@vendor.example", role="staff", organisation=None))
    body = browser.get("/admin/notifications/").get_data(as_text=True)

    assert 'id="notifications-off"' in body and 'id="test-form"' not in body
    assert "off: people ask you instead" in body
    assert "off: they see it on their account page only" in body
    app.extensions["db_engine"].dispose()
