"""Live approval: a customer's request, a staff member's decision, and the completion that follows.

The staff member's approval itself completes the registration with LTIAAS (the
flow's `completion.complete`, under its claim guard), and the customer's waiting
iframe only reads the outcome and then shows the done page with LTIAAS's close
script. So the person who decided sees LTIAAS's answer and can try again when
LTIAAS is down; completion never depends on a background iframe's timers; and
no request from a frameable page changes anything on its own.

Every function commits its own changes and audits them with the actor's email.
"""

from __future__ import annotations

import logging
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.auth import service
from portal.db import add_unless_raced
from portal.ltiaas import LtiaasClient
from portal.models import (
    OPEN_STATES,
    ApprovalRequest,
    ApprovalState,
    Problem,
    Registration,
    RegistrationState,
    User,
    approval_of,
    close_as_failed,
    decide_approval,
    record_event,
)
from portal.notifications import alerts, customer_emails
from portal.registration.completion import complete
from portal.registration.lifecycle import WITHDRAWN, expire_if_past_lifetime, expire_request

logger = logging.getLogger(__name__)

REASON_MAX = 1000


class Outcome(StrEnum):
    """What a staff member's (or, for a withdrawal, the customer's) action came to."""

    COMPLETED = "completed"  # approved, and LTIAAS registered the tool
    NOT_COMPLETED = "not_completed"  # approved, but LTIAAS did not register it yet (see last_error)
    NOT_REGISTERED = "not_registered"  # approved, but refused for good (the LMS, LTIAAS): closed
    ANSWER_LOST = "answer_lost"  # approved, but LTIAAS's answer was lost: it may be registered; retry is safe
    OUTCOME_UNKNOWN = "outcome_unknown"  # approved, but whether LTIAAS registered it is unknown: to settle
    REJECTED = "rejected"
    ALREADY_DECIDED = "already_decided"  # decided before (by this staff member or another): nothing done
    ALREADY_COMPLETING = "already_completing"  # another attempt completes (or completed) it: nothing sent
    EXPIRED = "expired"  # the registration outlived its lifetime: nothing done
    WITHDRAWN = "withdrawn"  # the customer took the request back; the registration is closed


def request_approval(
    db: Session, registration: Registration, user: User, choices: dict[str, Any]
) -> ApprovalRequest:
    """Record `user`'s request to register with `choices`; or return the one already made (a double click).

    :raise AccountErased: `user` was erased meanwhile (`service.hold_unerased`): nothing was recorded.
    """
    service.hold_unerased(db, user)  # the request, its event and the staff's e-mail name them
    approval = ApprovalRequest(
        registration_id=registration.id,
        requested_by_id=user.id,
        requested_by_email=user.email,
        requested_choices=choices,
    )
    approval, added = add_unless_raced(db, approval, lambda: approval_of(db, registration))
    if not added:
        return approval
    record_event(
        db,
        "approval:requested",
        user.email,
        registration,
        details={"request": approval.public_id, "choices": choices},
    )
    alerts.approval_requested(db, approval)  # queued with the request; sent after the response
    db.commit()
    return approval


def find_by_public_id(db: Session, public_id: str, now: datetime | None = None) -> ApprovalRequest | None:
    """The request with this public id, marked expired first if its registration outlived its lifetime."""
    approval = db.scalar(select(ApprovalRequest).where(ApprovalRequest.public_id == public_id))
    if approval is not None:
        expire_if_stale(db, approval, now)
    return approval


def expire_if_stale(db: Session, approval: ApprovalRequest, now: datetime | None = None) -> bool:
    """Mark a pending request expired when its registration is past its lifetime (or closed); True if so."""
    if not approval.is_pending:
        return False
    registration = approval.registration
    if expire_if_past_lifetime(db, registration, now):
        db.refresh(approval)
        return True
    if registration.current_state in OPEN_STATES:
        return False
    # Closed some other way (LTIAAS forgot it): nobody can approve it any more. The
    # registration may also be closing because a racing approval just won: then that
    # decision stands, and this request was not expired.
    expired = expire_request(db, approval, registration.state)
    db.commit()
    return expired


def pending_requests(db: Session, now: datetime | None = None) -> list[ApprovalRequest]:
    """Requests waiting for a decision, oldest first; stale ones are marked expired on the way."""
    waiting = db.scalars(
        select(ApprovalRequest)
        .where(ApprovalRequest.state == ApprovalState.PENDING.value)
        .order_by(ApprovalRequest.created_at, ApprovalRequest.id)
    ).all()
    return [approval for approval in waiting if not expire_if_stale(db, approval, now)]


def next_pending(db: Session, after: ApprovalRequest, now: datetime | None = None) -> ApprovalRequest | None:
    """The oldest request waiting for a decision other than `after`: where staff go on to."""
    return next((approval for approval in pending_requests(db, now) if approval.id != after.id), None)


def unfinished_approvals(db: Session, now: datetime | None = None) -> list[ApprovalRequest]:
    """Approved requests whose completion did not go through and may be tried again."""
    approved = db.scalars(
        select(ApprovalRequest)
        .join(Registration, ApprovalRequest.registration_id == Registration.id)
        .where(
            ApprovalRequest.state == ApprovalState.APPROVED.value,
            Registration.state == RegistrationState.REVIEWED.value,
        )
        .order_by(ApprovalRequest.decided_at, ApprovalRequest.id)
    ).all()
    return [a for a in approved if not expire_if_past_lifetime(db, a.registration, now)]


def can_finish(approval: ApprovalRequest, now: datetime | None = None) -> bool:
    """Whether an approved request's registration still waits for its completion."""
    return approval.current_state is ApprovalState.APPROVED and approval.registration.is_open(now)


def why_not_pending(approval: ApprovalRequest) -> Outcome:
    """Why a request that is no longer pending cannot be decided now (as stored)."""
    if approval.current_state is ApprovalState.WITHDRAWN:
        return Outcome.WITHDRAWN
    return Outcome.EXPIRED if approval.current_state is ApprovalState.EXPIRED else Outcome.ALREADY_DECIDED


def may_still_register(approval: ApprovalRequest, now: datetime | None = None) -> bool:
    """Whether the tool may still be registered through this request: it waits for a decision, or
    it was approved and its registration is still to finish or being completed."""
    registration = approval.registration
    if approval.current_state is ApprovalState.PENDING:
        return registration.is_open(now)
    if approval.current_state is ApprovalState.APPROVED:
        return registration.is_open(now) or registration.current_state is RegistrationState.COMPLETING
    return False


def registered_through(approval: ApprovalRequest) -> bool:
    """Whether this request was approved and its registration registered the tool."""
    registered = approval.registration.current_state is RegistrationState.COMPLETED
    return registered and approval.current_state is ApprovalState.APPROVED


def approve(
    db: Session,
    ltiaas: LtiaasClient,
    approval: ApprovalRequest,
    staff: User,
    choices: dict[str, Any],
    now: datetime | None = None,
) -> Outcome:
    """Approve a pending request with `choices` (the staff member's, within what the LMS supports)
    and complete the registration with them, once, whoever else clicks.
    """
    if expire_if_stale(db, approval, now):
        return Outcome.EXPIRED
    details = {"choices": choices, "requested": approval.requested_choices}
    if not decide_approval(
        db, approval, ApprovalState.APPROVED, staff.email, details=details, approved_choices=choices
    ):
        return why_not_pending(approval)
    db.commit()
    return _complete(db, ltiaas, approval, staff)


def finish(
    db: Session, ltiaas: LtiaasClient, approval: ApprovalRequest, staff: User, now: datetime | None = None
) -> Outcome:
    """Try again to complete an approved request whose completion did not go through."""
    registration = approval.registration
    expire_if_past_lifetime(db, registration, now)
    if registration.current_state is RegistrationState.EXPIRED:
        return Outcome.EXPIRED
    if registration.outcome_unknown:  # its answer was lost and it expired before anyone tried again
        return Outcome.OUTCOME_UNKNOWN
    if approval.current_state is not ApprovalState.APPROVED:
        return why_not_pending(approval)
    if not can_finish(approval, now):
        return Outcome.ALREADY_COMPLETING
    return _complete(db, ltiaas, approval, staff)


def _complete(db: Session, ltiaas: LtiaasClient, approval: ApprovalRequest, staff: User) -> Outcome:
    registration = approval.registration
    if not complete(db, ltiaas, registration, actor=staff.email, choices=approval.approved_choices):
        return Outcome.ALREADY_COMPLETING
    if registration.current_state is RegistrationState.COMPLETED:
        customer_emails.request_registered(db, approval)
        db.commit()
        return Outcome.COMPLETED
    logger.warning("approved request %s did not complete: %s", approval.public_id, registration.last_error)
    if registration.answer_lost:
        return Outcome.ANSWER_LOST
    if registration.outcome_unknown:
        return Outcome.OUTCOME_UNKNOWN
    if not registration.is_open():  # refused for good: the customer hears the outcome, as of a decision
        customer_emails.request_not_registered(db, approval)
        db.commit()
        return Outcome.NOT_REGISTERED
    return Outcome.NOT_COMPLETED


def reject(
    db: Session, approval: ApprovalRequest, staff: User, reason: str, now: datetime | None = None
) -> Outcome:
    """Decline a pending request; `reason` is shown to the customer in their waiting iframe."""
    if expire_if_stale(db, approval, now):
        return Outcome.EXPIRED
    reason = reason.strip()[:REASON_MAX]
    if not decide_approval(
        db, approval, ApprovalState.REJECTED, staff.email, details={"reason": reason}, reason=reason
    ):
        return why_not_pending(approval)
    customer_emails.request_declined(db, approval)
    db.commit()
    return Outcome.REJECTED


def requested_by(approval: ApprovalRequest, user: User | None) -> bool:
    """Whether `user` is the customer who asked for this approval (and so may withdraw it)."""
    return user is not None and approval.requested_by_id == user.id


def withdraw(db: Session, approval: ApprovalRequest, user: User, now: datetime | None = None) -> Outcome:
    """The customer takes back their pending request; the registration closes with it (failed).

    A withdrawal is the customer's decision on their own request, taken like a staff
    member's (pending -> withdrawn, a conditional UPDATE): whoever decides first wins, so
    an approval that won first stands, and a withdrawal that won first stops any approval.
    The registration is then failed, with `WITHDRAWN` as its reason: LTIAAS's
    registrationId is abandoned and its pages say the customer withdrew; a payment for it
    becomes due for a refund (billing's standing of a failed registration). Both audited.
    The caller checks that `user` made the request (`requested_by`).
    """
    if expire_if_stale(db, approval, now):
        return Outcome.EXPIRED
    if not decide_approval(db, approval, ApprovalState.WITHDRAWN, user.email):
        return Outcome.ALREADY_DECIDED
    db.commit()
    if close_as_failed(
        db,
        approval.registration,
        user.email,
        Registration.state.in_([state.value for state in OPEN_STATES]),
        problem=Problem.WITHDRAWN,
        words=WITHDRAWN,
        details={"reason": "withdrawn", "request": approval.public_id},
    ):
        db.commit()
    return Outcome.WITHDRAWN
