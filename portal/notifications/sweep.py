"""Refunds due, found by a periodic sweep rather than at each moment a paid registration stops being
registrable.

Those moments are many and spread over the flow (expiry, which happens lazily when
someone looks; a failed or stale completion; a declined, expired or withdrawn
request), and `billing.attention` already knows the whole rule (`Standing`). So
each process's sender asks it on every round and queues a notification for each
refund due that has none yet; the unique event key (`refund-due:<payment>`) makes
several processes sweeping at once harmless. The set it reads is small: paid,
unrefunded payments whose registration did not complete.
"""

from __future__ import annotations

from datetime import datetime

from flask import current_app
from sqlalchemy.orm import Session

from portal.billing.attention import needing_attention
from portal.notifications import alerts, outbox


def enqueue_refunds_due(db: Session, now: datetime | None = None) -> int:
    """Queue a notification for each refund due not notified yet; returns how many were queued."""
    if not outbox.channels(current_app.config):
        return 0
    due = [item for item in needing_attention(db, now) if item.refund_due]
    known = outbox.already_queued(db, [alerts.refund_due_key(item) for item in due])
    queued = sum(alerts.refund_due(db, item) for item in due if alerts.refund_due_key(item) not in known)
    db.commit()
    return queued
