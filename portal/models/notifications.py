"""The notifications outbox: one row per event and channel, sent once by whichever process claims it.

Most rows are for the vendor's staff. A row with a `recipient` is an e-mail to that one person (a
link to choose a new password, which they asked for); its text holds a placeholder where the link
goes, and the link is made from `secret_seed` and SECRET_KEY only when it is sent.

A notification moves through a small state machine::

    pending -> sending -> sent
       ^          |  \\-> failed (gave up, or the sender died mid-send: shown on the console)
       \\----------/ (a failure with attempts left: pending again, later)

`(event_key, channel)` is unique, so an event is queued once per channel however
many requests or processes report it, and `sending` is taken with a conditional
UPDATE (`portal.db.update_if`), so two senders never both send it.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from portal.db import Base
from portal.models.columns import UTCDateTime, utcnow


class NotificationState(StrEnum):
    PENDING = "pending"  # waiting to be sent (again, from `next_attempt_at`)
    SENDING = "sending"  # claimed by one sender, which is sending it now
    SENT = "sent"
    FAILED = "failed"  # not sent: no attempts left, or the outcome is unknown


class NotificationChannel(StrEnum):
    EMAIL = "email"
    WEBHOOK = "webhook"


class Notification(Base):
    """A message about one event (`event_key`, e.g. `approval-requested:<id>`): to the vendor's staff,
    or by e-mail to `recipient`."""

    __tablename__ = "staff_notifications"
    __table_args__ = (
        UniqueConstraint("event_key", "channel", name="uq_staff_notifications_event_channel"),
        Index("ix_staff_notifications_state_due", "state", "next_attempt_at"),
        Index("ix_staff_notifications_recipient", "recipient", "id"),  # a person's newest e-mail
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    event_key: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(40))
    channel: Mapped[str] = mapped_column(String(20))
    subject: Mapped[str] = mapped_column(String(255))
    text: Mapped[str] = mapped_column(Text)
    state: Mapped[str] = mapped_column(String(20), default=NotificationState.PENDING.value)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # An e-mail to one person rather than to staff, and what its one-time link is made from.
    recipient: Mapped[str | None] = mapped_column(String(320), nullable=True)
    secret_seed: Mapped[str | None] = mapped_column(String(64), nullable=True)

    @property
    def current_state(self) -> NotificationState:
        return NotificationState(self.state)
