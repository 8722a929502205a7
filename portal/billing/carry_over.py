"""A customer's payment for an earlier registration of the same LMS that was certainly not registered
counts for their new one, so that starting again never charges twice.

An LMS cannot reopen a registration window: a customer who paid, then closed the LMS's dialog (or
let it expire, or was refused by their LMS) before the tool was registered, starts again from their
LMS, which makes a new registration. Their payment moves to the new one (one payment, one
registration), before anything is charged for it:

- the same account paid it (Stripe confirmed), and it was not refunded;
- the earlier registration is of the same LMS address, not registered, and certainly not: not
  completing or completed, no answer from LTIAAS lost or outcome unknown (its platform may exist),
  and no request for approval pending or approved (the staff may still register it);
- the new registration has no payment of its own yet (none may be open at Stripe).

The move is a conditional UPDATE (still that registration's, still paid and unrefunded), so two
new registrations never both take it; both registrations' trails record it.
"""

from __future__ import annotations

from sqlalchemy import exists, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from portal.billing.fulfilment import forget_payment_of, payment_of
from portal.db import update_if
from portal.models import (
    ApprovalRequest,
    ApprovalState,
    Payment,
    PaymentStatus,
    Problem,
    Registration,
    RegistrationState,
    User,
    record_event,
    utcnow,
)

CARRIED = "payment:carried-over"
# An earlier registration in these states, with none of these problems, was certainly not registered.
_UNREGISTERED_STATES = (
    RegistrationState.RECEIVED,
    RegistrationState.REVIEWED,
    RegistrationState.EXPIRED,
    RegistrationState.FAILED,
)
_MAY_BE_REGISTERED = [Problem.UNCONFIRMED.value, Problem.OUTCOME_UNKNOWN.value, Problem.ALREADY_USED.value]
_STAFF_MAY_REGISTER = (ApprovalState.PENDING, ApprovalState.APPROVED)


def may_carry_from(registration: Registration, approval: ApprovalRequest | None) -> bool:
    """Whether a paid, unrefunded payment of `registration` would count for a new registration of
    its LMS (`unused_payment`'s conditions, for one registration at hand)."""
    return (
        registration.current_state in _UNREGISTERED_STATES
        and registration.problem not in _MAY_BE_REGISTERED
        and (approval is None or approval.current_state not in _STAFF_MAY_REGISTER)
    )


def unused_payment(db: Session, registration: Registration, user: User) -> Payment | None:
    """`user`'s paid, unrefunded payment for an earlier registration of `registration`'s LMS that
    was certainly not registered (the newest), or None."""
    earlier = Registration.id == Payment.registration_id
    staff_may_register = exists().where(
        ApprovalRequest.registration_id == Registration.id,
        ApprovalRequest.state.in_([state.value for state in _STAFF_MAY_REGISTER]),
    )
    return db.scalar(
        select(Payment)
        .join(Registration, earlier)
        .where(
            Payment.user_id == user.id,
            Payment.status == PaymentStatus.PAID.value,
            Payment.refunded_at.is_(None),
            Registration.id != registration.id,
            Registration.platform_url == registration.platform_url,
            Registration.state.in_([state.value for state in _UNREGISTERED_STATES]),
            or_(Registration.problem.is_(None), Registration.problem.not_in(_MAY_BE_REGISTERED)),
            ~staff_may_register,
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
