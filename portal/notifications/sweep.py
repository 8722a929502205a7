"""What a periodic sweep finds rather than the moment it happens: refunds due, and requests for
approval that expired before anyone decided (so that their customers hear of it by e-mail, as the
waiting page promised, even when nobody looks at them).

A refund is due at many moments spread over the flow (expiry, which happens lazily when
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
from portal.registration import approvals


def enqueue_refunds_due(db: Session, now: datetime | None = None) -> int:
    """Queue a notification for each refund due not notified yet; returns how many were queued."""
    if not outbox.channels(current_app.config):
        return 0
    due = [item for item in needing_attention(db, now) if item.refund_due]
    known = outbox.already_queued(db, [alerts.refund_due_key(item) for item in due])
    queued = sum(alerts.refund_due(db, item) for item in due if alerts.refund_due_key(item) not in known)
    db.commit()
    return queued


def expire_stale_requests(db: Session, now: datetime | None = None) -> int:
    """Expire the pending requests whose registration outlived its lifetime (each expiry e-mails its
    customer); returns how many are still pending."""
    return len(approvals.pending_requests(db, now))
