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

The earlier registration closes with the move (failed, `Problem.REPLACED`): one payment, one
registration. Its closing is a conditional UPDATE of the registration's own row (still open and
unfinished), the very row a completion's claim moves from reviewed to completing, so the two
exclude each other on SQLite and PostgreSQL alike: a registration being completed keeps its
payment, and one whose payment moved can no longer be completed (in another tab, say). Then the
payment moves, by a conditional UPDATE too (still that registration's, still paid and unrefunded),
so two new registrations never both take it; if that fails, the earlier registration stays open.
Both registrations' trails record it.
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
    Payment,
    PaymentStatus,
    Problem,
    Registration,
    User,
    close_as_failed,
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
    if not close_as_failed(
        db,
        earlier,
        user.email,
        _still_unfinished(utcnow()),
        problem=Problem.REPLACED,
        words=REPLACED,
        details={"reason": "replaced", "by": registration.public_id},
    ):
        return None
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
        db.refresh(earlier)
        return None
    if not moved:  # rolled back: the earlier registration is open again
        return None
    details = {"payment": payment.public_id, "from": earlier.public_id, "to": registration.public_id}
    record_event(db, CARRIED, user.email, earlier, details=details)
    record_event(db, CARRIED, user.email, registration, details=details)
    db.commit()
    forget_payment_of(earlier, registration)
    return payment


REPLACED = (
    "You started a newer registration of this LMS, and your payment counts for that one instead, so "
    "this one was closed. Nothing was registered from it."
)
