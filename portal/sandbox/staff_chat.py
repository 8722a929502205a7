"""A stand-in for the staff's chat (a Slack incoming webhook), so a newcomer running the sandbox can
watch a notification arrive: `scripts/run` points NOTIFY_WEBHOOK_URL at `/sandbox/chat/webhook`,
and `/sandbox/chat/` shows what arrived.

It answers as Slack's incoming webhooks do: a JSON body with a non-empty `text`
gets 200 `ok` (text/plain); a body that is not a JSON object, 400 `invalid_payload`;
one without text, 400 `no_text`. Messages live in this process's memory (the
sandbox runs one process), the newest 100.
"""

from __future__ import annotations

from collections import deque
from datetime import datetime

from flask import Blueprint, current_app, render_template, request

from portal.models import utcnow

bp = Blueprint("sandbox_chat", __name__, url_prefix="/sandbox/chat")
KEPT = 100
_SLACK_UNESCAPES = (("&lt;", "<"), ("&gt;", ">"), ("&amp;", "&"))


def _messages() -> deque[tuple[datetime, str]]:
    kept: deque[tuple[datetime, str]] = current_app.extensions.setdefault(
        "sandbox_chat_messages", deque(maxlen=KEPT)
    )
    return kept


def _plain(text: str) -> str:
    for escaped, char in _SLACK_UNESCAPES:
        text = text.replace(escaped, char)
    return text


@bp.post("/webhook")
def webhook() -> tuple[str, int, dict[str, str]]:
    body = request.get_json(silent=True)
    plain = {"Content-Type": "text/plain; charset=utf-8"}
    if not isinstance(body, dict):
        return "invalid_payload", 400, plain
    text = body.get("text")
    if not isinstance(text, str) or not text.strip():
        return "no_text", 400, plain
    _messages().appendleft((utcnow(), _plain(text)))
    return "ok", 200, plain


@bp.get("/")
def channel() -> str:
    return render_template("sandbox/staff_chat.html", messages=list(_messages()))
