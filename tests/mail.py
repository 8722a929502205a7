"""Local mail servers (aiosmtpd) on free ports, for the tests of what the portal e-mails (staff
notifications, a forgotten password's link): one in this process that keeps every message it
accepts, and the sandbox's mailbox, started as `scripts/run` starts it."""

from __future__ import annotations

import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from tests.conftest import free_port, wait_until_serving

SMTP_USER = "portal-mailer"
SMTP_PASSWORD = "smtp-secret-password"


@dataclass
class MailServer:
    """aiosmtpd on 127.0.0.1: keeps every message it accepts; checks the login when one is sent."""

    port: int
    messages: list[Message] = field(default_factory=list)
    envelopes: list[tuple[str, list[str]]] = field(default_factory=list)
    logins: list[str] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        self.messages.append(message_from_bytes(envelope.content))
        return "250 Message accepted for delivery"

    def received_by(self, address: str) -> list[tuple[str, str]]:
        """(subject, text) of each message addressed to `address` alone, oldest first."""
        return [
            (str(message["Subject"]), message.get_payload(decode=True).decode().replace("\r\n", "\n"))
            for (_sender, recipients), message in zip(self.envelopes, self.messages, strict=True)
            if recipients == [address]
        ]

    def authenticate(self, server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
        ok = isinstance(data, LoginPassword) and (data.login, data.password) == (
            SMTP_USER.encode(),
            SMTP_PASSWORD.encode(),
        )
        if ok:
            self.logins.append(data.login.decode())
        # handled=False: aiosmtpd answers a refused login with 535, as real mail servers do (with
        # its default it would answer nothing, and the client would wait for its timeout).
        return AuthResult(success=ok, handled=False)


@pytest.fixture
def mail_server() -> Iterator[MailServer]:
    server = MailServer(port=free_port())
    controller = Controller(
        server,
        hostname="127.0.0.1",
        port=server.port,
        authenticator=server.authenticate,
        auth_require_tls=False,
    )
    controller.start()
    yield server
    controller.stop()


@dataclass(frozen=True)
class SandboxMailbox:
    """The sandbox's mail server: the Maildir it files every message in, and its port."""

    folder: Path
    port: int

    @property
    def settings(self) -> dict[str, object]:
        """The portal's settings that send its e-mail here, as `scripts/run` sets them."""
        return {
            "SMTP_HOST": "127.0.0.1",
            "SMTP_PORT": self.port,
            "SMTP_TLS": "none",
            "SMTP_FROM": "no-reply@acme-learning.example",
            "SANDBOX_MAILDIR": str(self.folder),
        }


@pytest.fixture
def sandbox_mailbox(tmp_path: Path) -> Iterator[SandboxMailbox]:
    """aiosmtpd's Mailbox handler on a free port, started as `scripts/run` starts it."""
    mail = SandboxMailbox(tmp_path / "sandbox-mail", free_port())
    server = subprocess.Popen(
        [
            *(sys.executable, "-m", "aiosmtpd", "--nosetuid", "--listen", f"127.0.0.1:{mail.port}"),
            *("--class", "aiosmtpd.handlers.Mailbox", str(mail.folder)),
        ],
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_until_serving(server, lambda: _accepts_connections(mail.port), "the sandbox's mail server")
        yield mail
    finally:
        server.terminate()
        server.wait(timeout=10)


def _accepts_connections(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except OSError:
        return False
    return True
