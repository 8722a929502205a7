"""Notifications to the vendor's staff, by e-mail and/or a chat webhook: a live-approval request is
waiting, a paid registration needs a refund.

- `alerts`: what each notification says, queued in the caller's transaction
- `outbox`: queueing once per event and channel, and sending each once (`drain`)
- `delivery`: SMTP and the webhook
- `sweep`: finding refunds due
- `sender`: each process's background thread that runs the sweep and the drain

Nothing here runs inside a customer's request but one INSERT.
"""

from __future__ import annotations

from flask import Flask


def init_notifications(app: Flask) -> None:
    from portal.notifications.sender import init_sender

    init_sender(app)
