"""Live approval: a customer's request to register, and a staff member's final decision on it."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from sqlalchemy import JSON, ForeignKey, Integer, String, Text, bindparam, select
from sqlalchemy.orm import Mapped, Session, mapped_column, relationship

from portal.db import Base, update_if
from portal.models.columns import UTCDateTime, new_public_id, utcnow
from portal.models.registrations import OPEN_STATES, InvalidTransition, Registration, record_event

if TYPE_CHECKING:
    from portal.models.users import User


class ApprovalState(StrEnum):
    PENDING = "pending"  # waiting for a staff member
    APPROVED = "approved"  # a staff member approved (the registration is then completed)
    REJECTED = "rejected"  # a staff member declined, with a reason for the customer
    EXPIRED = "expired"  # nobody decided within the registration's lifetime
    WITHDRAWN = "withdrawn"  # the customer took the request back (the registration is closed with it)


class ApprovalRequest(Base):
    """A customer's request to register, under the live-approval policy: one per registration.

    `requested_choices` is what the customer asked for and `approved_choices`
    what the staff member approved (the body sent to LTIAAS's complete); both
    are complete bodies like `Registration.overrides`. Decisions are final and
    are taken with a conditional UPDATE (`decide_approval`), so two staff
    members deciding at once cannot both win.
    """

    __tablename__ = "approval_requests"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    public_id: Mapped[str] = mapped_column(String(32), unique=True, default=new_public_id)
    registration_id: Mapped[int] = mapped_column(ForeignKey("registrations.id"), unique=True)
    requested_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    requested_by_email: Mapped[str] = mapped_column(String(320))
    state: Mapped[str] = mapped_column(String(20), default=ApprovalState.PENDING.value, index=True)
    requested_choices: Mapped[dict[str, Any]] = mapped_column(JSON)
    approved_choices: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    decided_by_email: Mapped[str | None] = mapped_column(String(320), nullable=True)
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    registration: Mapped[Registration] = relationship()
    # Who asked, as the account is now (it may have changed its e-mail address since:
    # `requested_by_email` keeps the one it asked with).
    requested_by: Mapped[User | None] = relationship()

    @property
    def current_state(self) -> ApprovalState:
        return ApprovalState(self.state)

    @property
    def is_pending(self) -> bool:
        return self.current_state is ApprovalState.PENDING


def decide_approval(
    session: Session,
    approval: ApprovalRequest,
    new_state: ApprovalState,
    actor: str,
    details: dict[str, Any] | None = None,
    rollback_on_loss: bool = True,
    **values: Any,
) -> bool:
    """Move a pending `approval` to `new_state` (approved, rejected, expired or withdrawn) and audit it.

    A conditional UPDATE (state pending -> `new_state`) decides between racing
    requests: only the winner gets True, with `values` (approved_choices,
    reason, ...) written and an `approval:<state>` event recorded. The caller
    commits; a loser's transaction is rolled back (`update_if`, unless `rollback_on_loss`
    is False), so commit what must survive first. :raise InvalidTransition: `new_state` is pending.
    """
    if new_state is ApprovalState.PENDING:
        raise InvalidTransition("an approval request cannot become pending again")
    decided_by = None if new_state is ApprovalState.EXPIRED else actor
    won = update_if(
        session,
        approval,
        ApprovalRequest.state == ApprovalState.PENDING.value,
        rollback_on_loss=rollback_on_loss,
        state=new_state.value,
        decided_at=utcnow(),
        decided_by_email=decided_by,
        **values,
    )
    if not won:
        return False
    record_event(
        session,
        action=f"approval:{new_state.value}",
        actor=actor,
        registration=approval.registration,
        details={"request": approval.public_id, **(details or {})},
    )
    return True


_APPROVAL_OF_REGISTRATION = select(ApprovalRequest).where(
    ApprovalRequest.registration_id == bindparam("registration_id")
)


def approval_of(session: Session, registration: Registration) -> ApprovalRequest | None:
    """The registration's request for approval (live approval), if one was made."""
    return session.scalar(_APPROVAL_OF_REGISTRATION, {"registration_id": registration.id})


def other_requests_for_lms(
    session: Session, registration: Registration, requested_by_id: int, undecided_only: bool = False
) -> list[ApprovalRequest]:
    """The requests `requested_by_id` made for other registrations of the same LMS address, newest
    first; with `undecided_only`, those the staff may still register (pending, or approved and not
    yet finished, while their registration is open)."""
    query = (
        select(ApprovalRequest)
        .join(Registration, Registration.id == ApprovalRequest.registration_id)
        .where(
            ApprovalRequest.requested_by_id == requested_by_id,
            Registration.platform_url == registration.platform_url,
            Registration.id != registration.id,
        )
        .order_by(ApprovalRequest.id.desc())
    )
    if undecided_only:
        still = (ApprovalState.PENDING.value, ApprovalState.APPROVED.value)
        query = query.where(
            ApprovalRequest.state.in_(still),
            Registration.state.in_([state.value for state in OPEN_STATES]),
            Registration.expires_at > utcnow(),
        )
    return list(session.scalars(query))
