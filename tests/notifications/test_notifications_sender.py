"""Each process's background sender: it starts with the first request, sends what a request queued
right after the response, and never runs where it is not wanted."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from portal.notifications.sender import BackgroundSender
from tests.conftest import make_test_app
from tests.notifications.conftest import ChatWebhook, MailServer, notifying_settings


@pytest.fixture
def sending_app(tmp_path: Path, mail_server: MailServer, chat_webhook: ChatWebhook) -> Iterator[Flask]:
    """Its sender's rounds are ten minutes apart: only a wake-up can send within the test."""
    settings = notifying_settings(mail_server, chat_webhook, NOTIFY_DRAIN_INTERVAL=600, NOTIFY_EMAIL_TO="")
    app = make_test_app(tmp_path / "sending", **settings)
    yield app
    app.extensions["staff_notification_sender"].stop()
    app.extensions["db_engine"].dispose()


def test_a_notification_queued_by_a_request_is_sent_right_after_its_response(
    sending_app: Flask, chat_webhook: ChatWebhook
) -> None:
    from tests.accounts import create_user
    from tests.accounts import signed_in as sign_in
    from tests.registration.helpers import tokens_of

    staff = create_user(sending_app, "staff@vendor.example", role="staff", organisation=None)
    browser: FlaskClient = sending_app.test_client()
    sign_in(browser, staff)
    form = tokens_of(browser.get("/admin/notifications/").get_data(as_text=True))

    response = browser.post("/admin/notifications/test", data=form)

    assert response.status_code == 303
    assert chat_webhook.arrived.wait(timeout=30), "the sender did not wake up"
    (text,) = chat_webhook.texts
    assert text.startswith("A test notification, sent by staff@vendor.example")


def test_no_sender_runs_with_the_interval_at_zero_or_without_a_channel(tmp_path: Path) -> None:
    quiet = make_test_app(tmp_path / "quiet", NOTIFY_DRAIN_INTERVAL=600)
    assert quiet.test_client().get("/healthz").status_code == 200
    sender: BackgroundSender = quiet.extensions["staff_notification_sender"]
    assert not sender.wanted() and sender._thread is None
    quiet.extensions["db_engine"].dispose()


def test_a_failing_round_is_logged_and_the_sender_goes_on(
    sending_app: Flask, caplog: pytest.LogCaptureFixture
) -> None:
    sender: BackgroundSender = sending_app.extensions["staff_notification_sender"]
    sending_app.config["NOTIFY_TIMEOUT"] = "not a number"  # the round breaks on it

    sender.run_once()

    assert "staff notifications: a round failed" in caplog.text
    sending_app.config["NOTIFY_TIMEOUT"] = 5
    caplog.clear()
    sender.run_once()
    assert caplog.text == ""
