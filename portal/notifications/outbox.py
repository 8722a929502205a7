"""The outbox: queue a notification in the caller's transaction, and send what is due, once.

Staff notifications go on every configured channel (`enqueue`); an e-mail to one person (a link
to choose a password; what a customer is told, `customer_emails`) goes by e-mail alone
(`enqueue_email_to`), a set-password link in it made only when it is sent
(`portal.auth.link_emails.text_to_send`). Such an e-mail keeps the address it was queued for; when
an account's address changes, what still waits for it is re-addressed (`readdress`).

Queueing is an INSERT beside the change it reports, committed with it, so a
notification exists exactly when its event does, and the customer's request
only pays for one row. `(event_key, channel)` is unique and the INSERT skips a
duplicate, so reporting an event twice (a retry, another process, the refund
sweep) queues it once.

Sending happens later, outside any customer's request: in each process's
background sender (`sender.py`) or in a test calling `drain`. A sender claims a
row with a conditional UPDATE (pending -> sending, `update_if`), commits the claim,
and only then talks to the mail server or webhook, so two senders, threads or
processes never send the same row. A failure is logged and kept on the row (the
console shows it); it is tried again after NOTIFY_RETRY_AFTER seconds (doubling),
NOTIFY_MAX_ATTEMPTS times in all, then left failed. A row left `sending` by a
process that died is marked failed (never resent: it may have gone out).
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, cast

from flask import current_app, g, has_app_context
from sqlalchemy import CursorResult, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from portal.db import update_if
from portal.models import ERASED_DOMAIN, Notification, NotificationChannel, NotificationState, utcnow
from portal.notifications import delivery

logger = logging.getLogger(__name__)

STALE_CLAIM_TIMEOUTS = 10  # a claim older than this many NOTIFY_TIMEOUTs belongs to a dead sender
WAKE_FLAG = "staff_notifications_queued"


def channels(config: Mapping[str, Any]) -> list[NotificationChannel]:
    """The channels staff are notified on, as configured (none: notifications are off)."""
    found = []
    if config["NOTIFY_EMAIL_TO"] and config["SMTP_HOST"]:
        found.append(NotificationChannel.EMAIL)
    if config["NOTIFY_WEBHOOK_URL"]:
        found.append(NotificationChannel.WEBHOOK)
    return found


def _insert_if_absent(db: Session, values: dict[str, Any]) -> bool:
    """INSERT ... ON CONFLICT DO NOTHING RETURNING id, in the database's own dialect (no rollback on
    a duplicate); True if the row is new."""
    unique = ["event_key", "channel"]
    dialect = postgresql if db.get_bind().dialect.name == "postgresql" else sqlite
    statement = dialect.insert(Notification).values(**values).on_conflict_do_nothing(index_elements=unique)
    return db.execute(statement.returning(Notification.id)).first() is not None


def email_configured(config: Mapping[str, Any]) -> bool:
    """Whether the portal can send e-mail at all (to staff, or to a person who asked for a link)."""
    return bool(config["SMTP_HOST"] and config["SMTP_FROM"])


def enqueue(db: Session, event_key: str, kind: str, subject: str, text: str) -> int:
    """Queue a notification of one event on every configured channel, in the caller's transaction
    (the caller commits); returns how many rows were new. An event already queued is left alone.
    """
    added = 0
    for channel in channels(current_app.config):
        added += _insert_if_absent(db, _pending(event_key, kind, channel, subject, text))
    _wake_after_commit(added)
    return added


def enqueue_email_to(
    db: Session,
    event_key: str,
    kind: str,
    recipient: str,
    subject: str,
    text: str,
    secret_seed: str | None = None,
) -> bool:
    """Queue one e-mail to `recipient` (not to staff), in the caller's transaction; True if new.

    With `secret_seed`, `text` has `portal.auth.link_emails.LINK_PLACEHOLDER` where the link made
    from it goes when it is sent.
    """
    values = _pending(event_key, kind, NotificationChannel.EMAIL, subject, text)
    added = _insert_if_absent(db, {**values, "recipient": recipient, "secret_seed": secret_seed})
    _wake_after_commit(int(added))
    return added


def readdress(db: Session, old: str, new: str, keep_kinds: Collection[str]) -> int:
    """Send the e-mails still waiting to go to `old` (pending, a retry too) to `new` instead, but
    those of `keep_kinds`; in the caller's transaction. Returns how many. A row a sender claimed
    already is left alone: it is going out to `old` now."""
    result = db.execute(
        update(Notification)
        .where(
            Notification.recipient == old,
            Notification.state == NotificationState.PENDING.value,
            Notification.kind.not_in(keep_kinds),
        )
        .values(recipient=new)
    )
    return cast(CursorResult[Any], result).rowcount


def latest_email_to(db: Session, recipient: str) -> Notification | None:
    """The newest e-mail queued to `recipient` alone (a set-password link, a customer's news),
    whatever became of it."""
    return db.scalar(
        select(Notification)
        .where(Notification.recipient == recipient)
        .order_by(Notification.id.desc())
        .limit(1)
    )


def _pending(
    event_key: str, kind: str, channel: NotificationChannel, subject: str, text: str
) -> dict[str, Any]:
    now = utcnow()
    return {
        "event_key": event_key,
        "kind": kind,
        "channel": channel.value,
        "subject": subject[:255],
        "text": text,
        "state": NotificationState.PENDING.value,
        "attempts": 0,
        "next_attempt_at": now,
        "created_at": now,
    }


def _wake_after_commit(added: int) -> None:
    if added and has_app_context():
        setattr(g, WAKE_FLAG, True)  # the request's teardown wakes this process's sender


def already_queued(db: Session, event_keys: list[str]) -> set[str]:
    if not event_keys:
        return set()
    return set(db.scalars(select(Notification.event_key).where(Notification.event_key.in_(event_keys))))


@dataclass
class DrainReport:
    sent: list[int] = field(default_factory=list)
    retrying: list[int] = field(default_factory=list)
    failed: list[int] = field(default_factory=list)


def drain(db: Session, now: datetime | None = None, limit: int = 100) -> DrainReport:
    """Send the notifications that are due (at most `limit`), each by one sender only."""
    now = now or utcnow()
    config = current_app.config
    report = DrainReport()
    _give_up_stale_claims(db, now, report)
    due = db.scalars(
        select(Notification)
        .where(Notification.state == NotificationState.PENDING.value, Notification.next_attempt_at <= now)
        .order_by(Notification.id)
        .limit(limit)
    ).all()
    db.commit()
    for notification in due:
        if not _claim(db, notification, now):
            continue  # another sender has it
        db.commit()
        failure = _deliver(db, config, notification)
        _record_outcome(db, notification, failure, now, report)
    return report


def _claim(db: Session, notification: Notification, now: datetime) -> bool:
    return update_if(
        db,
        notification,
        Notification.state == NotificationState.PENDING.value,
        Notification.next_attempt_at <= now,
        state=NotificationState.SENDING.value,
        claimed_at=utcnow(),
        attempts=Notification.attempts + 1,
    )


@dataclass(frozen=True)
class Failure:
    """Why a notification did not go out, and whether trying again later could help."""

    error: str
    retry: bool = True


def _deliver(db: Session, config: Mapping[str, Any], notification: Notification) -> Failure | None:
    """Send one claimed notification; what went wrong, or None when it went out."""
    try:
        if notification.recipient is not None:
            return _deliver_to_recipient(db, config, notification)
        if notification.channel == NotificationChannel.EMAIL.value:
            if NotificationChannel.EMAIL not in channels(config):
                return Failure("e-mail to staff is no longer configured")
            delivery.send_email(config, notification.subject, notification.text)
        else:
            if NotificationChannel.WEBHOOK not in channels(config):
                return Failure("the webhook is no longer configured")
            delivery.post_webhook(config, notification.text)
    except delivery.DeliveryFailed as error:
        return Failure(str(error))
    return None


def _deliver_to_recipient(
    db: Session, config: Mapping[str, Any], notification: Notification
) -> Failure | None:
    from portal.auth.link_emails import text_to_send  # imported here: auth imports this module

    if not email_configured(config):
        return Failure("e-mail is no longer configured")
    if str(notification.recipient).endswith(f"@{ERASED_DOMAIN}"):  # queued as its account was erased
        return Failure("not sent: the account was erased", retry=False)
    text = text_to_send(db, notification) if notification.secret_seed else notification.text
    if text is None:
        return Failure("not sent: its link stopped working first (used, replaced or expired)", retry=False)
    delivery.send_email(config, notification.subject, text, to=[str(notification.recipient)])
    return None


def _record_outcome(
    db: Session, notification: Notification, failure: Failure | None, now: datetime, report: DrainReport
) -> None:
    config = current_app.config
    error = failure.error if failure is not None else None
    if failure is None:
        values: dict[str, Any] = {"state": NotificationState.SENT.value, "sent_at": utcnow()}
        values["last_error"] = None
        outcome = report.sent
    elif failure.retry and notification.attempts < int(config["NOTIFY_MAX_ATTEMPTS"]):
        delay = int(config["NOTIFY_RETRY_AFTER"]) * 2 ** (notification.attempts - 1)
        values = {
            "state": NotificationState.PENDING.value,
            "next_attempt_at": now + timedelta(seconds=delay),
            "last_error": error,
        }
        outcome = report.retrying
    else:
        values = {"state": NotificationState.FAILED.value, "last_error": error}
        outcome = report.failed
    if error is not None:
        logger.warning(
            "staff notification %s (%s, %s) failed, attempt %d of %d: %s",
            notification.id,
            notification.event_key,
            notification.channel,
            notification.attempts,
            int(config["NOTIFY_MAX_ATTEMPTS"]),
            error,
        )
    if update_if(db, notification, Notification.state == NotificationState.SENDING.value, **values):
        db.commit()
        outcome.append(notification.id)
    else:  # given up as stale meanwhile: leave what was recorded
        logger.warning("staff notification %s finished after it was given up", notification.id)


def _give_up_stale_claims(db: Session, now: datetime, report: DrainReport) -> None:
    cutoff = now - timedelta(seconds=float(current_app.config["NOTIFY_TIMEOUT"]) * STALE_CLAIM_TIMEOUTS)
    stale = db.scalars(
        select(Notification).where(
            Notification.state == NotificationState.SENDING.value, Notification.claimed_at < cutoff
        )
    ).all()
    for notification in stale:
        error = "the process sending it stopped; it may or may not have been delivered"
        if update_if(
            db,
            notification,
            Notification.state == NotificationState.SENDING.value,
            Notification.claimed_at < cutoff,
            state=NotificationState.FAILED.value,
            last_error=error,
        ):
            db.commit()
            logger.warning("staff notification %s: %s", notification.id, error)
            report.failed.append(notification.id)


def recent(db: Session, limit: int = 50) -> list[Notification]:
    return list(db.scalars(select(Notification).order_by(Notification.id.desc()).limit(limit)))


def trouble(db: Session) -> list[Notification]:
    """What staff should hear about, one per channel: a staff notification waiting to be tried again
    after a failure, or else the channel's newest finished one if it failed. Empty while all goes out.
    (An e-mail to one person is not about staff hearing of things: its failures show in `recent`.)"""
    found = []
    for channel in NotificationChannel:
        mine = (
            select(Notification)
            .where(Notification.channel == channel.value, Notification.recipient.is_(None))
            .order_by(Notification.id.desc())
        )
        retrying = db.scalar(
            mine.where(
                Notification.state == NotificationState.PENDING.value, Notification.last_error.is_not(None)
            ).limit(1)
        )
        finished = db.scalar(
            mine.where(
                Notification.state.in_([NotificationState.SENT.value, NotificationState.FAILED.value])
            ).limit(1)
        )
        if retrying is not None:
            found.append(retrying)
        elif finished is not None and finished.current_state is NotificationState.FAILED:
            found.append(finished)
    return found
