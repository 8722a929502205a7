"""A customer's payment for an earlier, unfinished registration of the same LMS counts for their new
one, so that closing the LMS's dialog and starting again never charges twice.

An LMS cannot reopen a registration window: a customer who paid, then closed the LMS's dialog
before the tool was registered, starts again from their LMS, which makes a new registration. Their
payment moves to the new one (one payment, one registration), before anything is charged for it:

- the same account paid it (Stripe confirmed), and it was not refunded;
- the earlier registration is of the same LMS address and still open (within its lifetime), so
  nobody was told its payment will be refunded: one that expired, failed, was refused by the LMS
  or declined is refunded (the customer's page says so, and the staff are told), never carried;
- it is certainly not registered: no answer from LTIAAS lost (its platform may exist), and no
  request for approval (the staff may still register it, or have declined it);
- the new registration has no payment of its own yet (none may be open at Stripe).

The move is a conditional UPDATE (still that registration's, still paid and unrefunded, the
registration still open), so two new registrations never both take it, and a registration that
expires at that moment keeps its payment for the refund; both registrations' trails record it.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ColumnElement, and_, exists, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from portal.billing.fulfilment import forget_payment_of, payment_of
from portal.db import update_if
from portal.models import (
    OPEN_STATES,
    ApprovalRequest,
    AuditEvent,
    Payment,
    PaymentStatus,
    Problem,
    Registration,
    User,
    record_event,
    utcnow,
)

CARRIED = "payment:carried-over"
_MAY_BE_REGISTERED = [Problem.UNCONFIRMED.value, Problem.OUTCOME_UNKNOWN.value, Problem.ALREADY_USED.value]


def may_carry_from(registration: Registration, approval: ApprovalRequest | None) -> bool:
    """Whether a paid, unrefunded payment of `registration` would count for a new registration of
    its LMS (`unused_payment`'s conditions, for one registration at hand)."""
    return registration.is_open() and registration.problem not in _MAY_BE_REGISTERED and approval is None


def _still_unfinished(now: datetime) -> ColumnElement[bool]:
    """An earlier registration a payment may move from: open, within its lifetime, certainly not
    registered, and without a request for approval."""
    return and_(
        Registration.state.in_([state.value for state in OPEN_STATES]),
        Registration.expires_at > now,
        or_(Registration.problem.is_(None), Registration.problem.not_in(_MAY_BE_REGISTERED)),
        ~exists().where(ApprovalRequest.registration_id == Registration.id),
    )


def unused_payment(db: Session, registration: Registration, user: User) -> Payment | None:
    """`user`'s paid, unrefunded payment for an earlier, unfinished registration of
    `registration`'s LMS (the newest), or None."""
    return db.scalar(
        select(Payment)
        .join(Registration, Registration.id == Payment.registration_id)
        .where(
            Payment.user_id == user.id,
            Payment.status == PaymentStatus.PAID.value,
            Payment.refunded_at.is_(None),
            Registration.id != registration.id,
            Registration.platform_url == registration.platform_url,
            _still_unfinished(utcnow()),
        )
        .order_by(Payment.paid_at.desc(), Payment.id.desc())
        .limit(1)
    )


def carry_over(db: Session, registration: Registration, user: User) -> Payment | None:
    """Move `user`'s unused payment for an earlier registration of the same LMS to `registration`,
    which has none; the payment if this call moved it (and committed), else None."""
    if payment_of(db, registration) is not None:
        return None
    payment = unused_payment(db, registration, user)
    if payment is None:
        return None
    earlier = payment.registration
    try:
        moved = update_if(
            db,
            payment,
            Payment.registration_id == earlier.id,
            Payment.status == PaymentStatus.PAID.value,
            Payment.refunded_at.is_(None),
            exists().where(Registration.id == earlier.id, _still_unfinished(utcnow())),
            registration_id=registration.id,
            updated_at=utcnow(),
        )
    except IntegrityError:  # the new registration got a payment of its own meanwhile
        db.rollback()
        return None
    if not moved:
        return None
    details = {"payment": payment.public_id, "from": earlier.public_id, "to": registration.public_id}
    record_event(db, CARRIED, user.email, earlier, details=details)
    record_event(db, CARRIED, user.email, registration, details=details)
    db.commit()
    forget_payment_of(earlier, registration)
    return payment


def payments_moved_away(db: Session, registrations: list[Registration]) -> set[int]:
    """The ids of `registrations` whose payment moved to a later registration of their LMS."""
    by_public_id = {registration.public_id: registration.id for registration in registrations}
    moves = db.scalars(
        select(AuditEvent.details).where(
            AuditEvent.action == CARRIED, AuditEvent.registration_id.in_(by_public_id.values())
        )
    )
    return {by_public_id[move["from"]] for move in moves if move.get("from") in by_public_id}
