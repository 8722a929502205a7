"""Which customer a registration belongs to, and which registrations a customer worked on.

Until registrations name their customer directly, a registration is a person's when
they paid for it (`Payment.user_id`), asked for its approval
(`ApprovalRequest.requested_by_id`) or saved its choices in the flow (the
`state:reviewed` events of the audit trail, whose actor is the signed-in user's
email: the configure page needs an account). These two functions are the only
place that knows it, so a `Registration.customer_id` column can replace them alone.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import ColumnElement, and_, select
from sqlalchemy.orm import Session

from portal.models import ApprovalRequest, AuditEvent, Payment, Registration, RegistrationState, User

# Saving the configure form moves a registration to `reviewed` (from received or reviewed, never
# from completing: that is a failed completion going back), with the signed-in user as actor.
_CHOSE = f"state:{RegistrationState.REVIEWED.value}"
_CHOSE_FROM = (RegistrationState.RECEIVED.value, RegistrationState.REVIEWED.value)
MAX_CONNECTIONS = 200


def registrations_of(db: Session, user: User, limit: int = MAX_CONNECTIONS) -> list[Registration]:
    """The registrations `user` worked on in the flow, newest first (at most `limit`)."""
    paid = select(Payment.registration_id).where(Payment.user_id == user.id)
    asked = select(ApprovalRequest.registration_id).where(ApprovalRequest.requested_by_id == user.id)
    chose = select(AuditEvent.registration_id).where(
        _choices_saved(), AuditEvent.actor == user.email, AuditEvent.registration_id.is_not(None)
    )
    return list(
        db.scalars(
            select(Registration)
            .where(Registration.id.in_(paid.union(asked, chose).scalar_subquery()))
            .order_by(Registration.created_at.desc(), Registration.id.desc())
            .limit(limit)
        )
    )


def _choices_saved() -> ColumnElement[bool]:
    return and_(AuditEvent.action == _CHOSE, AuditEvent.from_state.in_(_CHOSE_FROM))


def customers_of(db: Session, registrations: Iterable[Registration]) -> dict[int, str]:
    """Registration id -> the email of its customer, for those with one.

    The one who asked for approval first, else the one who paid, else the last one
    who saved its choices.
    """
    ids = [registration.id for registration in registrations]
    if not ids:
        return {}
    found: dict[int, str] = {}
    chose = db.execute(
        select(AuditEvent.registration_id, AuditEvent.actor)
        .where(_choices_saved(), AuditEvent.registration_id.in_(ids))
        .order_by(AuditEvent.id)
    ).all()
    found.update({registration_id: actor for registration_id, actor in chose if registration_id is not None})
    paid = db.execute(
        select(Payment.registration_id, User.email, Payment.customer_email)
        .outerjoin(User, Payment.user_id == User.id)
        .where(Payment.registration_id.in_(ids))
    ).all()
    for registration_id, email, given in paid:
        payer = email or given
        if payer:
            found[registration_id] = payer
    asked = db.execute(
        select(ApprovalRequest.registration_id, ApprovalRequest.requested_by_email).where(
            ApprovalRequest.registration_id.in_(ids)
        )
    ).all()
    found.update(dict(asked))
    return found
