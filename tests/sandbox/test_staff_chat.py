"""The sandbox's stand-in for the staff's chat answers like a Slack incoming webhook, and shows a
newcomer the notifications the portal sends it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from flask import Flask

from portal.db import get_session
from portal.notifications import outbox
from tests.conftest import LiveServer, start_live_server, stop_live_server


@pytest.fixture
def chatty_sandbox(tmp_path: Path) -> Iterator[LiveServer]:
    """The sandbox, notifying its own chat, as `scripts/run` sets it up."""
    live = start_live_server(tmp_path, NOTIFY_DRAIN_INTERVAL=0)
    live.app.config["NOTIFY_WEBHOOK_URL"] = f"{live.url}/sandbox/chat/webhook"
    yield live
    stop_live_server(live)


def test_it_answers_as_slack_does(live_server: LiveServer) -> None:
    hook = f"{live_server.url}/sandbox/chat/webhook"

    ok = requests.post(hook, json={"text": "Hello"}, timeout=5)
    no_text = requests.post(hook, json={"blocks": []}, timeout=5)
    not_json = requests.post(hook, data="text=Hello", timeout=5)

    assert (ok.status_code, ok.text) == (200, "ok")
    assert (no_text.status_code, no_text.text) == (400, "no_text")
    assert (not_json.status_code, not_json.text) == (400, "invalid_payload")
    page = requests.get(f"{live_server.url}/sandbox/chat/", timeout=5).text
    assert page.count('class="chat-message"') == 1


def test_a_notification_from_the_portal_appears_in_the_sandbox_chat(chatty_sandbox: LiveServer) -> None:
    app: Flask = chatty_sandbox.app
    with app.app_context():
        db = get_session()
        outbox.enqueue(db, "test:sandbox", "test", "Subject", "A customer & <their LMS> wait")
        db.commit()
        report = outbox.drain(db)

    assert len(report.sent) == 1
    page = requests.get(f"{chatty_sandbox.url}/sandbox/chat/", timeout=5).text
    assert "A customer &amp; &lt;their LMS&gt; wait" in page  # Slack's escapes undone, then HTML's
