"""A stand-in for the inboxes of the people the portal e-mails (a forgotten password's link, staff
notifications), so a newcomer running the sandbox can open what was sent.

`scripts/run` starts a real SMTP server beside the portal (aiosmtpd, its `Mailbox` handler),
which files every message it accepts in a Maildir (SANDBOX_MAILDIR), and points SMTP_HOST at it:
the portal sends exactly as it would through a vendor's mail server. `/sandbox/mail/` reads the
Maildir and shows the newest messages, their links clickable.
"""

from __future__ import annotations

import mailbox
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.message import EmailMessage
from email.utils import parsedate_to_datetime
from pathlib import Path

from flask import Blueprint, current_app, render_template
from markupsafe import Markup

bp = Blueprint("sandbox_mail", __name__, url_prefix="/sandbox/mail")
SHOWN = 50
_URL = re.compile(r"https?://[^\s<>\"']+")


@dataclass(frozen=True)
class Received:
    """One message as a mail client lists it."""

    sent_at: datetime | None
    sender: str
    to: str
    subject: str
    text: str


def read_mailbox(directory: Path, newest: int = SHOWN) -> list[Received]:
    """The `newest` messages of the Maildir at `directory`, newest first; none when it does not exist."""
    if not directory.is_dir():
        return []
    box = mailbox.Maildir(directory, create=False)
    received = [_summary(_parsed(box.get_bytes(key))) for key in box.iterkeys()]
    received.sort(key=lambda one: one.sent_at.timestamp() if one.sent_at else 0.0, reverse=True)
    return received[:newest]


def _parsed(raw: bytes) -> EmailMessage:
    return message_from_bytes(raw, policy=policy.default)


def _summary(message: EmailMessage) -> Received:
    return Received(
        sent_at=_date(message["Date"]),
        sender=str(message["From"] or ""),
        to=str(message["To"] or ""),
        subject=str(message["Subject"] or ""),
        text=_plain_text(message),
    )


def _plain_text(message: EmailMessage) -> str:
    """The message's plain-text part; a word of why not, for one this page cannot read (anyone on
    this machine can send the sandbox's mail server anything)."""
    body = message.get_body(preferencelist=("plain",))
    if not isinstance(body, EmailMessage):
        return "(no plain-text part)"
    try:
        return str(body.get_content()).rstrip()
    except (LookupError, ValueError) as error:  # an unknown charset, a broken encoding
        return f"(its text could not be read: {error})"


def _date(header: str | None) -> datetime | None:
    """The Date header in UTC (`-0000`, which the portal writes, means UTC too)."""
    if not header:
        return None
    try:
        sent = parsedate_to_datetime(str(header))
    except (TypeError, ValueError):
        return None
    return sent.replace(tzinfo=UTC) if sent.tzinfo is None else sent.astimezone(UTC)


def with_links(text: str) -> Markup:
    """`text` escaped, its http(s) addresses made links (the mailbox page is a page of its own, so a
    link opens where a mail client would open it)."""
    shown = Markup()
    position = 0
    for found in _URL.finditer(text):
        url = found.group(0).rstrip(".,;:!?)")
        shown += text[position : found.start()]  # escaped: Markup + str escapes the str
        shown += Markup('<a href="{0}">{0}</a>').format(url)
        position = found.start() + len(url)
    return shown + text[position:]


@bp.get("/")
def inbox() -> str:
    directory = current_app.config["SANDBOX_MAILDIR"]
    messages = read_mailbox(Path(directory)) if directory else []
    return render_template(
        "sandbox/mailbox.html", on=bool(directory), messages=messages, with_links=with_links
    )
