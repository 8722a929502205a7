"""What staff read when their action finds a request decided, or its registration being registered,
already: built from the stored state, so it says who did what and when (a double submit is theirs)."""

from __future__ import annotations

from datetime import datetime

from portal.models import ApprovalRequest, ApprovalState, Registration, RegistrationState, utcnow

DECIDED_VERBS = {ApprovalState.APPROVED: "approved", ApprovalState.REJECTED: "declined"}


def at(moment: datetime, now: datetime | None = None) -> str:
    """ " at 14:02 UTC" today, " at 2026-12-01 14:02 UTC" before."""
    same_day = moment.date() == (now or utcnow()).date()
    return f" at {moment.strftime('%H:%M UTC' if same_day else '%Y-%m-%d %H:%M UTC')}"


def already_decided(approval: ApprovalRequest, staff_email: str, now: datetime | None = None) -> str:
    """A decision (or a retry) sent for a request that was decided before: by whom, how, when."""
    verb = DECIDED_VERBS.get(approval.current_state)
    if verb is None:
        return "This request is still waiting for a decision; nothing was changed."
    when = at(approval.decided_at, now) if approval.decided_at is not None else ""
    decided_by = approval.decided_by_email or ""
    if decided_by.casefold() == staff_email.casefold():
        return f"You already {verb} this request{when}; nothing was changed."
    return f"Already {verb} by {decided_by}{when}; nothing was changed."


def already_completing(registration: Registration, now: datetime | None = None) -> str:
    """A retry that found another attempt registering (or done registering) the tool."""
    state = registration.current_state
    since = at(registration.updated_at, now)
    if state is RegistrationState.COMPLETING:
        return (
            f"Another attempt is registering the tool (started{since}); nothing was sent again. "
            "Reload this page in a moment to see its outcome."
        )
    if state is RegistrationState.COMPLETED:
        return f"The tool was already registered{since}; nothing was sent again."
    if state is RegistrationState.REVIEWED:
        return "Another attempt to register the tool ended just now (see below); nothing was sent again."
    return f"The registration is already closed ({state.value}{since}); nothing was sent again."
