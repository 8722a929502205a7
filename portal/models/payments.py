"""What the portal remembers about payments: one `Payment` per registration, and each Stripe event once.

A payment moves through a small state machine::

    pending -> paid
       |  \\-> failed / expired -> pending (a new attempt, with a new Checkout Session)

`paid` is final and is written only by a conditional UPDATE (`... WHERE status != 'paid'`),
so the webhook, the return page and the status poll can all race to record it and only
one of them wins.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.db import Base
from portal.models.columns import UTCDateTime, new_public_id, utcnow
from portal.models.registrations import Registration


class PaymentStatus(StrEnum):
    PENDING = "pending"
    PAID = "paid"
    FAILED = "failed"
    EXPIRED = "expired"


class Payment(Base):
    """The fee for one registration. `attempt` counts the Checkout Sessions started for it."""

    __tablename__ = "payments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    public_id: Mapped[str] = mapped_column(String(32), unique=True, default=new_public_id)
    registration_id: Mapped[int] = mapped_column(ForeignKey("registrations.id"), unique=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True, index=True)
    customer_email: Mapped[str | None] = mapped_column(String(320), nullable=True)
    status: Mapped[str] = mapped_column(String(20), default=PaymentStatus.PENDING.value)
    attempt: Mapped[int] = mapped_column(Integer, default=1)
    # The current attempt's session; a paid payment keeps the session that paid.
    stripe_session_id: Mapped[str | None] = mapped_column(String(255), unique=True, nullable=True)
    ui_mode: Mapped[str | None] = mapped_column(String(20), nullable=True)
    # The current embedded session's client secret, as create returned it: Stripe's retrieve is
    # not documented to return it. Cleared when the attempt ends.
    stripe_client_secret: Mapped[str | None] = mapped_column(Text, nullable=True)
    amount_total: Mapped[int | None] = mapped_column(Integer, nullable=True)
    currency: Mapped[str | None] = mapped_column(String(3), nullable=True)
    stripe_customer: Mapped[str | None] = mapped_column(String(255), nullable=True)
    stripe_payment_intent: Mapped[str | None] = mapped_column(String(255), nullable=True)
    stripe_subscription: Mapped[str | None] = mapped_column(String(255), nullable=True)
    # Stripe's hosted receipt of the paying charge (or a subscription's paid first invoice page), read
    # with the session that recorded the payment (None when Stripe had none to give: a free
    # one-time session, a refused expansion).
    receipt_url: Mapped[str | None] = mapped_column(String(2048), nullable=True)
    # A local path of the flow to continue with once paid (never carries a session token).
    next_url: Mapped[str | None] = mapped_column(Text, nullable=True)
    paid_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # When the portal last learned the current session's state from Stripe (created or read it),
    # so that polling pages ask Stripe at most every STRIPE_RECHECK_AFTER seconds.
    stripe_checked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # Recorded by the staff once they refunded a payment whose registration could not be
    # registered (see billing.attention); `status` stays paid, so no late event re-opens it.
    refunded_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    refunded_by: Mapped[str | None] = mapped_column(String(320), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    registration: Mapped[Registration] = relationship()

    @property
    def is_paid(self) -> bool:
        return self.status == PaymentStatus.PAID.value


class StripeEvent(Base):
    """A webhook event, stored once by its Stripe id; `result` says what it did."""

    __tablename__ = "stripe_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    stripe_event_id: Mapped[str] = mapped_column(String(255), unique=True)
    type: Mapped[str] = mapped_column(String(100))
    object_id: Mapped[str | None] = mapped_column(String(255), nullable=True, index=True)
    # processing, retry (failed for a reason Stripe's redelivery may fix), or the outcome.
    result: Mapped[str] = mapped_column(String(40), default="processing")
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    processed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class HostedCheckoutToken(Base):
    """A used one-time link into hosted Checkout; its presence is what makes it used."""

    __tablename__ = "hosted_checkout_tokens"

    nonce: Mapped[str] = mapped_column(String(64), primary_key=True)
    payment_id: Mapped[int] = mapped_column(ForeignKey("payments.id"), index=True)
    used_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
