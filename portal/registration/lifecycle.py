"""A registration's lifetime: expiring what nobody finished in time, failing a completion that
never settled, and refusing to go on with a closed registration.

Run before any page acts on a registration, so that no page shows or does
anything with a registration LTIAAS no longer knows.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import ColumnElement
from sqlalchemy.orm import Session

from portal.db import update_if
from portal.models import (
    OPEN_STATES,
    ApprovalRequest,
    ApprovalState,
    Problem,
    Registration,
    RegistrationState,
    approval_of,
    decide_approval,
    record_event,
    transition,
    utcnow,
)
from portal.notifications import customer_emails
from portal.registration.problems import RegistrationProblem

logger = logging.getLogger(__name__)

# The problem page a failed registration shows, by what its last attempt ran into.
_PROBLEM_PAGES = {
    Problem.OUTCOME_UNKNOWN.value: "outcome_unknown",
    Problem.ALREADY_USED.value: "already_used",
    Problem.LMS_REFUSED.value: "lms_refused",
    Problem.WITHDRAWN.value: "withdrawn",
    Problem.REPLACED.value: "replaced",
}
# Who expires what nobody finished in time.
SYSTEM_ACTOR = "portal"
STALE_COMPLETION = (
    "The registration was interrupted while LTIAAS was completing it, so the outcome is unknown: LTIAAS may "
    "or may not have registered the tool. The tool's vendor must check LTIAAS's platform list."
)
UNCONFIRMED_AT_EXPIRY = (
    "LTIAAS's answer to the last attempt was lost, and the registration expired before anyone tried "
    "again, so the outcome is unknown: LTIAAS may or may not have registered the tool. The tool's "
    "vendor must check LTIAAS's platform list."
)
WITHDRAWN = "You withdrew your request for approval, so nothing was registered."


def expire_if_past_lifetime(db: Session, registration: Registration, now: datetime | None = None) -> bool:
    """Expire an open registration past its lifetime, with its pending approval request; True if this
    call did (a conditional UPDATE: two processes sweeping at once expire it once, audited once).

    One whose last attempt's answer from LTIAAS was lost (unconfirmed) is not simply expired:
    LTIAAS may have registered the tool, so it fails with an unknown outcome, for the staff to
    settle, as a stale completion does (its request, if any, was approved already).
    """
    if registration.current_state not in OPEN_STATES or not registration.is_past_lifetime(now):
        return False
    still_open = Registration.state.in_([state.value for state in OPEN_STATES])
    if registration.problem == Problem.UNCONFIRMED.value:
        return _fail_with_unknown_outcome(
            db, registration, UNCONFIRMED_AT_EXPIRY, "expired-unconfirmed", still_open
        )
    was = registration.state
    won = update_if(db, registration, still_open, state=RegistrationState.EXPIRED.value, updated_at=utcnow())
    if not won:
        return False
    expired = RegistrationState.EXPIRED.value
    details = {"reason": "lifetime"}
    record_event(
        db, f"state:{expired}", SYSTEM_ACTOR, registration, details, from_state=was, to_state=expired
    )
    db.commit()
    request = approval_of(db, registration)
    if request is not None and request.is_pending:
        expire_request(db, request, "lifetime")
        db.commit()
    return True


def expire_request(db: Session, request: ApprovalRequest, reason: str) -> bool:
    """Expire a pending request nobody decided (audited with `reason`) and e-mail its customer, who
    was promised the outcome; True if this call did. The caller commits."""
    if not decide_approval(db, request, ApprovalState.EXPIRED, SYSTEM_ACTOR, details={"reason": reason}):
        return False
    customer_emails.request_expired(db, request)
    return True


def fail_if_completion_stale(db: Session, registration: Registration, now: datetime | None = None) -> bool:
    """Fail a registration left `completing` longer than COMPLETION_STALE_AFTER; True if it did.

    Its process died during LTIAAS's complete call, so nobody will settle it. A
    conditional UPDATE (still completing, not touched since the cutoff) loses to
    a completion finishing at that moment; either way `registration` is
    refreshed. The outcome is unknown, so `last_error` says to check LTIAAS.
    """
    if registration.current_state is not RegistrationState.COMPLETING:
        return False
    cutoff = (now or utcnow()) - timedelta(seconds=current_app.config["COMPLETION_STALE_AFTER"])
    if registration.updated_at > cutoff:
        return False
    still_stale = (
        Registration.state == RegistrationState.COMPLETING.value,
        Registration.updated_at <= cutoff,
    )
    if not _fail_with_unknown_outcome(db, registration, STALE_COMPLETION, "completion-stale", *still_stale):
        return False
    logger.warning("registration %s was left completing; marked failed", registration.public_id)
    return True


def _fail_with_unknown_outcome(
    db: Session, registration: Registration, message: str, reason: str, *still: ColumnElement[bool]
) -> bool:
    """Fail `registration` with an unknown outcome (the staff settle it), if `still` holds; True if
    this call did."""
    won = update_if(
        db,
        registration,
        *still,
        last_error=message,
        problem=Problem.OUTCOME_UNKNOWN.value,
        updated_at=utcnow(),
    )
    if not won:
        return False
    transition(
        db, registration, RegistrationState.FAILED, SYSTEM_ACTOR, details={"reason": reason, "error": message}
    )
    db.commit()
    return True


def raise_if_closed(db: Session, registration: Registration, now: datetime | None = None) -> None:
    """Expire an open registration past its lifetime and fail a stale completion; raise for
    an expired or failed one.

    :raise RegistrationProblem: expired (gone_at_ltiaas, with LTIAAS's words, when LTIAAS said so;
        declined, with the staff's reason, when its request had been declined before it expired);
        for a failed one, the page of what it ran into (outcome_unknown, already_used, lms_refused,
        withdrawn, or failed), with the stored reason as detail.
    """
    expire_if_past_lifetime(db, registration, now)
    fail_if_completion_stale(db, registration, now)
    if registration.current_state is RegistrationState.EXPIRED:
        if registration.problem == Problem.GONE_AT_LTIAAS.value:  # LTIAAS's word, not our clock's
            raise RegistrationProblem("gone_at_ltiaas", detail=registration.last_error)
        request = approval_of(db, registration)
        if request is not None and request.current_state is ApprovalState.REJECTED:  # the decision stands
            raise RegistrationProblem("declined", detail=f"Their reason: {request.reason}")
        raise RegistrationProblem("expired")
    if registration.current_state is RegistrationState.FAILED:
        kind = _PROBLEM_PAGES.get(registration.problem or "", "failed")
        raise RegistrationProblem(kind, detail=registration.last_error)
