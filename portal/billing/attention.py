"""Paid registrations that are not registered: what the customer and the vendor's staff must see.

A payment is never lost when the registration it paid for does not go through
(LTIAAS down, the registration expired, a live-approval request declined). Each
paid payment has a standing (`Standing`), worked out from its registration and
approval request as they are now (expiring stale ones on the way):

- registered: the tool was registered; nothing to do;
- in progress: the registration is still open, so the customer (or, for an
  approved request, the staff) can still register it, without paying again;
- awaiting decision: a live-approval request waits for the staff;
- outcome unknown: LTIAAS may have registered it (its answer was lost); the staff
  check LTIAAS and settle the registration before anyone refunds anything;
- refund due: the registration can no longer be registered; the staff refund
  it in Stripe and record that here (`record_refund`), which takes it off the list;
- refunded: recorded as refunded.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.billing.carry_over import may_carry_from
from portal.db import update_if
from portal.models import (
    ApprovalRequest,
    ApprovalState,
    Payment,
    PaymentStatus,
    Registration,
    RegistrationState,
    User,
    approval_of,
    record_event,
    utcnow,
)
from portal.registration import approvals
from portal.registration.lifecycle import expire_if_past_lifetime, fail_if_completion_stale


class Standing(StrEnum):
    REGISTERED = "registered"
    IN_PROGRESS = "in_progress"
    AWAITING_DECISION = "awaiting_decision"
    OUTCOME_UNKNOWN = "outcome_unknown"
    REFUND_DUE = "refund_due"
    REFUNDED = "refunded"


_ORDER = {
    Standing.OUTCOME_UNKNOWN: 0,
    Standing.REFUND_DUE: 0,
    Standing.IN_PROGRESS: 1,
    Standing.AWAITING_DECISION: 2,
    Standing.REFUNDED: 3,
    Standing.REGISTERED: 4,
}


@dataclass(frozen=True)
class PaidRegistration:
    """A paid payment with what became of the registration it paid for."""

    payment: Payment
    registration: Registration
    approval: ApprovalRequest | None
    standing: Standing

    @property
    def needs_attention(self) -> bool:
        return self.standing not in (Standing.REGISTERED, Standing.REFUNDED)

    @property
    def refund_due(self) -> bool:
        return self.standing is Standing.REFUND_DUE

    @property
    def can_retry(self) -> bool:
        return self.standing is Standing.IN_PROGRESS

    @property
    def counts_if_started_again(self) -> bool:
        """Whether the payment would count for a new registration of the same LMS (`carry_over`)."""
        return self.payment.refunded_at is None and may_carry_from(self.registration, self.approval)


def standing_of(db: Session, payment: Payment, now: datetime | None = None) -> PaidRegistration:
    """Where a paid `payment` stands now; expires its registration (and request) if past their
    lifetime, and fails it if its completion never settled (refund due once the staff checked LTIAAS).
    """
    registration = payment.registration
    expire_if_past_lifetime(db, registration, now)
    fail_if_completion_stale(db, registration, now)
    approval = approval_of(db, registration)
    if approval is not None:
        approvals.expire_if_stale(db, approval, now)
    return PaidRegistration(payment, registration, approval, _standing(payment, registration, approval))


def _standing(payment: Payment, registration: Registration, approval: ApprovalRequest | None) -> Standing:
    if payment.refunded_at is not None:
        return Standing.REFUNDED
    state = registration.current_state
    if state is RegistrationState.COMPLETED:
        return Standing.REGISTERED
    if registration.outcome_unknown:
        return Standing.OUTCOME_UNKNOWN
    if state in (RegistrationState.EXPIRED, RegistrationState.FAILED):
        return Standing.REFUND_DUE
    if approval is not None and approval.current_state in (ApprovalState.REJECTED, ApprovalState.EXPIRED):
        return Standing.REFUND_DUE
    if approval is not None and approval.is_pending:
        return Standing.AWAITING_DECISION
    return Standing.IN_PROGRESS


def _paid() -> Any:
    return select(Payment).where(Payment.status == PaymentStatus.PAID.value)


def needing_attention(db: Session, now: datetime | None = None) -> list[PaidRegistration]:
    """Paid payments whose registration is not registered (refunds due first, then oldest first)."""
    candidates = db.scalars(
        _paid()
        .join(Registration, Payment.registration_id == Registration.id)
        .where(Payment.refunded_at.is_(None), Registration.state != RegistrationState.COMPLETED.value)
        .order_by(Payment.paid_at, Payment.id)
    ).all()
    found = [standing_of(db, payment, now) for payment in candidates]
    return sorted((item for item in found if item.needs_attention), key=lambda item: _ORDER[item.standing])


def customer_payments(db: Session, user: User, now: datetime | None = None) -> list[PaidRegistration]:
    """What `user` paid for, newest first, each with where it stands."""
    payments = db.scalars(_paid().where(Payment.user_id == user.id).order_by(Payment.paid_at.desc())).all()
    return [standing_of(db, payment, now) for payment in payments]


def find_payment(db: Session, public_id: str) -> Payment | None:
    return db.scalar(select(Payment).where(Payment.public_id == public_id))


def record_refund(db: Session, payment: Payment, staff_email: str, now: datetime | None = None) -> bool:
    """Record that the staff refunded `payment` in Stripe; only while a refund is due, and once.

    Returns False (nothing changed) when no refund is due: the registration may still be
    registered (or was), or someone recorded the refund already.
    """
    if not standing_of(db, payment, now).refund_due:
        return False
    won = update_if(
        db,
        payment,
        Payment.status == PaymentStatus.PAID.value,
        Payment.refunded_at.is_(None),
        refunded_at=utcnow(),
        refunded_by=staff_email,
        updated_at=utcnow(),
    )
    if not won:
        return False
    record_event(
        db,
        action="payment:refunded",
        actor=staff_email,
        registration=payment.registration,
        details={
            "payment": payment.public_id,
            "amount_total": payment.amount_total,
            "currency": payment.currency,
            "payment_intent": payment.stripe_payment_intent,
            "session": payment.stripe_session_id,
        },
    )
    db.commit()
    return True
