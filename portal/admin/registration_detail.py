"""One registration as the staff see it: the LMS, the choices sent, the approval, the payment, and the
audit trail. Read from the database only: a page view never calls LTIAAS."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.admin.registration_list import POLICY_LABELS, UNRECORDED_POLICY, standing_label
from portal.admin.settling import Lookup, last_lookup, needs_settling
from portal.models import ApprovalRequest, AuditEvent, Payment, Registration, User, approval_of
from portal.registration.display import RegistrationView, describe


@dataclass(frozen=True)
class RegistrationDetail:
    registration: Registration
    lms: RegistrationView
    standing: str
    policy: str
    customer: User | None
    approval: ApprovalRequest | None
    payment: Payment | None
    events: list[AuditEvent]  # newest first
    needs_settling: bool
    # The platforms the last staff lookup found, while there is something to settle.
    lookup: Lookup | None


def find(db: Session, public_id: str) -> Registration | None:
    return db.scalar(select(Registration).where(Registration.public_id == public_id))


def detail_of(db: Session, registration: Registration) -> RegistrationDetail:
    approval = approval_of(db, registration)
    unsettled = needs_settling(registration)
    events = db.scalars(
        select(AuditEvent).where(AuditEvent.registration_id == registration.id).order_by(AuditEvent.id.desc())
    ).all()
    return RegistrationDetail(
        registration=registration,
        lms=describe(registration),
        standing=standing_label(registration, approval.state if approval is not None else None),
        policy=POLICY_LABELS.get(registration.policy or UNRECORDED_POLICY, registration.policy or ""),
        customer=registration.customer,
        approval=approval,
        payment=db.scalar(select(Payment).where(Payment.registration_id == registration.id)),
        events=list(events),
        needs_settling=unsettled,
        lookup=last_lookup(db, registration) if unsettled else None,
    )


def readable(value: Any) -> str:
    """An audit detail's value in plain text: words as they are, lists joined, anything nested as JSON."""
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, str | int | float):
        return str(value)
    if isinstance(value, list) and all(isinstance(item, str | int | float) for item in value):
        return ", ".join(str(item) for item in value) or "none"
    return json.dumps(value, ensure_ascii=False, sort_keys=True)
