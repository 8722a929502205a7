"""A local mail server (aiosmtpd, `tests.mail`) and a local chat webhook, each on a free port, and an
app that notifies both. The background sender is off (NOTIFY_DRAIN_INTERVAL 0): tests call `drain`."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from tests.conftest import free_port, make_test_app
from tests.mail import SMTP_PASSWORD, SMTP_USER, MailServer, mail_server

__all__ = ["SMTP_PASSWORD", "SMTP_USER", "MailServer", "mail_server"]


@dataclass
class ChatWebhook:
    """A local incoming webhook: records each POST's JSON, answers `status` (200 "ok" by default)."""

    url: str
    received: list[dict[str, Any]] = field(default_factory=list)
    status: int = 200
    arrived: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def texts(self) -> list[str]:
        return [body["text"] for body in self.received]


def _handler(hook: ChatWebhook) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            with hook.lock:
                hook.received.append(json.loads(body))
            answer = b"ok" if hook.status == 200 else b"no_service"
            self.send_response(hook.status)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)
            hook.arrived.set()

        def log_message(self, *args: Any) -> None:
            pass

    return Handler


@pytest.fixture
def chat_webhook() -> Iterator[ChatWebhook]:
    port = free_port()
    hook = ChatWebhook(url=f"http://127.0.0.1:{port}/services/T000/B000/secret-webhook-path")
    server = ThreadingHTTPServer(("127.0.0.1", port), _handler(hook))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield hook
    server.shutdown()
    server.server_close()
    thread.join()


def notifying_settings(mail_server: MailServer, chat_webhook: ChatWebhook, **extra: Any) -> dict[str, Any]:
    settings = {
        "PORTAL_URL": "https://portal.vendor.example",
        "NOTIFY_EMAIL_TO": "ops@vendor.example, sales@vendor.example",
        "SMTP_HOST": "127.0.0.1",
        "SMTP_PORT": mail_server.port,
        "SMTP_TLS": "none",
        "SMTP_FROM": "portal@vendor.example",
        "NOTIFY_WEBHOOK_URL": chat_webhook.url,
        "NOTIFY_TIMEOUT": 5,
        "NOTIFY_DRAIN_INTERVAL": 0,
    }
    settings.update(extra)
    return settings


@pytest.fixture
def app(
    tmp_path: Path, mail_server: MailServer, chat_webhook: ChatWebhook, ltiaas_settings: dict[str, Any]
) -> Iterator[Flask]:
    """The shared `app`, notifying the local mail server and webhook."""
    app = make_test_app(tmp_path, **ltiaas_settings, **notifying_settings(mail_server, chat_webhook))
    yield app
    app.extensions["db_engine"].dispose()
