"""A customer's LMS connections: each registration they worked on, where it stands in plain words,
and what they paid for it.

An unfinished registration is one to finish in the LMS's window only while nothing else of the
customer's for the same LMS address replaced it: none registered the tool, none goes ahead (waits
for approval or is being registered), none took its payment (`carry_over`) and none started
later. Otherwise it is not needed (the LMS's window for it was stopped, closed or used again), and
finishing it would register the same LMS twice.

The account page is a flow page: it never asks LTIAAS. Whether a platform is active is
what the portal last knew (`Registration.platform_active`: the activation sent at
completion, then the staff's actions and reads in the console).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.billing.attention import PaidRegistration, standing_of
from portal.customers import registrations_of
from portal.models import (
    ApprovalRequest,
    ApprovalState,
    Payment,
    PaymentStatus,
    Problem,
    Registration,
    RegistrationState,
    User,
    approval_of,
)
from portal.registration import approvals
from portal.registration.display import RegistrationView, describe
from portal.registration.lifecycle import expire_if_past_lifetime, fail_if_completion_stale


class ConnectionState(StrEnum):
    WAITING_FOR_APPROVAL = "waiting_for_approval"
    ACTIVE = "active"  # registered, and LTIAAS lets the LMS launch the tool
    WAITING_FOR_ACTIVATION = "waiting_for_activation"  # registered; the vendor activates it
    DEACTIVATED = "deactivated"  # registered and active once; the vendor deactivated it since
    REGISTERED = "registered"  # registered; activation was left to the vendor's LTIAAS settings
    IN_PROGRESS = "in_progress"  # being registered (by the customer's click, or approved by the vendor)
    UNFINISHED = "unfinished"  # not registered yet: the customer may finish it in their LMS's window
    NOT_NEEDED = "not_needed"  # unfinished, but replaced by another registration of the same LMS
    NOT_REGISTERED = "not_registered"


STATE_WORDS = {
    ConnectionState.WAITING_FOR_APPROVAL: "Waiting for approval",
    ConnectionState.ACTIVE: "Registered and active",
    ConnectionState.WAITING_FOR_ACTIVATION: "Registered, waiting for activation",
    ConnectionState.DEACTIVATED: "Registered, deactivated",
    ConnectionState.REGISTERED: "Registered",
    ConnectionState.IN_PROGRESS: "Not registered yet",
    ConnectionState.UNFINISHED: "Not registered yet",
    ConnectionState.NOT_NEEDED: "Not needed",
    ConnectionState.NOT_REGISTERED: "Not registered",
}


@dataclass(frozen=True)
class Connection:
    """One registration of the customer's, as their account page shows it."""

    registration: Registration
    state: ConnectionState
    approval: ApprovalRequest | None
    paid: PaidRegistration | None
    # Why it is not (or not yet) registered, in a sentence for the customer; None when it is.
    note: str | None

    @property
    def words(self) -> str:
        return STATE_WORDS[self.state]

    @property
    def lms(self) -> RegistrationView:
        return describe(self.registration)

    @property
    def platform_name(self) -> str:
        return self.registration.shown_platform_name or self.lms.address

    @property
    def can_withdraw(self) -> bool:
        return self.approval is not None and self.approval.is_pending

    @property
    def is_registered(self) -> bool:
        return self.state in _REGISTERED

    @property
    def goes_ahead(self) -> bool:
        """Waiting for the vendor's approval, or being registered now."""
        return self.state in (ConnectionState.WAITING_FOR_APPROVAL, ConnectionState.IN_PROGRESS)


_REGISTERED = frozenset(
    {
        ConnectionState.ACTIVE,
        ConnectionState.WAITING_FOR_ACTIVATION,
        ConnectionState.DEACTIVATED,
        ConnectionState.REGISTERED,
    }
)


PAYMENT_MOVED = "Its payment moved to your later registration of this LMS, which replaces it."
NOTHING_TO_FINISH = "There is nothing to finish here."


def connections_of(db: Session, user: User, now: datetime | None = None) -> list[Connection]:
    """`user`'s registrations, newest first, each settled first (expired or failed if it is past
    its lifetime or its completion never settled) and described; an unfinished one that another
    registration of the same LMS replaced is not needed."""
    found = [_connection(db, registration, now) for registration in registrations_of(db, user)]
    return [_unless_replaced(connection, found) for connection in found]


def _unless_replaced(connection: Connection, everyone: list[Connection]) -> Connection:
    if connection.state is not ConnectionState.UNFINISHED:
        return connection
    why = _why_not_needed(connection.registration, everyone)
    if why is None:
        return connection
    return replace(connection, state=ConnectionState.NOT_NEEDED, note=f"{why} {NOTHING_TO_FINISH}")


def _why_not_needed(registration: Registration, everyone: list[Connection]) -> str | None:
    """Why the unfinished `registration` is replaced by another of the same LMS; None if it is not."""
    others = [
        other
        for other in everyone
        if other.registration.platform_url == registration.platform_url
        and other.registration is not registration
    ]
    if any(other.is_registered for other in others):
        return "The tool is registered with this LMS by another of your registrations."
    if any(other.goes_ahead for other in others):
        return "Your other request for this LMS goes ahead instead, so this one stopped."
    if any(_started_later(other.registration, registration) for other in others):
        return "You started again from this LMS later, which replaces it."
    return None


def _started_later(other: Registration, registration: Registration) -> bool:
    return (other.created_at, other.id) > (registration.created_at, registration.id)


def _connection(db: Session, registration: Registration, now: datetime | None) -> Connection:
    payment = db.scalar(
        select(Payment).where(
            Payment.registration_id == registration.id, Payment.status == PaymentStatus.PAID.value
        )
    )
    if payment is not None:
        paid: PaidRegistration | None = standing_of(db, payment, now)
    else:
        paid = None
        expire_if_past_lifetime(db, registration, now)
        fail_if_completion_stale(db, registration, now)
    approval = approval_of(db, registration)
    if approval is not None and payment is None:
        approvals.expire_if_stale(db, approval, now)
    state, note = _where_it_stands(registration, approval)
    return Connection(registration, state, approval, paid, note)


def _where_it_stands(
    registration: Registration, approval: ApprovalRequest | None
) -> tuple[ConnectionState, str | None]:
    if registration.platform_deleted_at is not None:
        removed = registration.platform_deleted_at.strftime("%Y-%m-%d")
        return ConnectionState.NOT_REGISTERED, f"The tool's vendor removed this registration on {removed}."
    state = registration.current_state
    if state is RegistrationState.COMPLETED:
        return _registered(registration), None
    decided = approval.current_state if approval is not None else None
    if decided is ApprovalState.REJECTED:
        return ConnectionState.NOT_REGISTERED, "The tool's vendor declined your request."
    if decided is ApprovalState.WITHDRAWN:
        return ConnectionState.NOT_REGISTERED, "You withdrew your request."
    if state is RegistrationState.EXPIRED or decided is ApprovalState.EXPIRED:
        return ConnectionState.NOT_REGISTERED, "Nobody finished it in time, so it expired."
    if registration.problem == Problem.REPLACED.value:  # closed when its payment moved (carry-over)
        return ConnectionState.NOT_NEEDED, f"{PAYMENT_MOVED} {NOTHING_TO_FINISH}"
    if state is RegistrationState.FAILED:
        return ConnectionState.NOT_REGISTERED, registration.last_error
    if state is RegistrationState.COMPLETING:
        return ConnectionState.IN_PROGRESS, "The tool is being registered right now."
    if decided is ApprovalState.PENDING:
        return ConnectionState.WAITING_FOR_APPROVAL, None
    if decided is ApprovalState.APPROVED:
        return ConnectionState.IN_PROGRESS, "The tool's vendor approved it and is finishing the registration."
    until = registration.expires_at.strftime("%H:%M UTC")
    return ConnectionState.UNFINISHED, f"Finish it in your LMS's registration window (until {until})."


def _registered(registration: Registration) -> ConnectionState:
    if registration.platform_active is True:
        return ConnectionState.ACTIVE
    if registration.platform_active is False and registration.platform_active_since is not None:
        return ConnectionState.DEACTIVATED
    if registration.platform_active is False:
        return ConnectionState.WAITING_FOR_ACTIVATION
    return ConnectionState.REGISTERED
