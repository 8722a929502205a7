"""The portal's records and the state changes of a registration, in one place.

A registration moves through a small state machine::

    received -> reviewed -> completing -> completed
         \\          \\           \\-> reviewed (a failed complete that may be retried)
          \\-> failed / expired (from any state before completed)

`completing` is held only while the one LTIAAS complete call is in flight; it is
taken with a conditional UPDATE so that two clicks, tabs or processes can never
both call LTIAAS.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from flask_login import UserMixin
from sqlalchemy import JSON, Boolean, DateTime, ForeignKey, Integer, String, Text, TypeDecorator, update
from sqlalchemy.orm import Mapped, Session, mapped_column, relationship

from portal.db import Base


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite forgets the zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("naive datetime given; use portal.models.utcnow()")
        return value.astimezone(UTC) if value is not None else None

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value


class RegistrationState(StrEnum):
    RECEIVED = "received"
    REVIEWED = "reviewed"
    COMPLETING = "completing"
    COMPLETED = "completed"
    FAILED = "failed"
    EXPIRED = "expired"


ALLOWED_TRANSITIONS: dict[RegistrationState, frozenset[RegistrationState]] = {
    RegistrationState.RECEIVED: frozenset(
        {RegistrationState.REVIEWED, RegistrationState.FAILED, RegistrationState.EXPIRED}
    ),
    RegistrationState.REVIEWED: frozenset(
        {
            RegistrationState.REVIEWED,
            RegistrationState.COMPLETING,
            RegistrationState.FAILED,
            RegistrationState.EXPIRED,
        }
    ),
    RegistrationState.COMPLETING: frozenset(
        {
            RegistrationState.COMPLETED,
            RegistrationState.REVIEWED,
            RegistrationState.FAILED,
            RegistrationState.EXPIRED,
        }
    ),
    RegistrationState.COMPLETED: frozenset(),
    RegistrationState.FAILED: frozenset(),
    RegistrationState.EXPIRED: frozenset(),
}

OPEN_STATES = frozenset({RegistrationState.RECEIVED, RegistrationState.REVIEWED})


class InvalidTransition(RuntimeError):
    """A state change the state machine does not allow."""


def new_public_id() -> str:
    return secrets.token_urlsafe(16)


class Registration(Base):
    """One Dynamic Registration as the portal sees it, keyed by our own public id."""

    __tablename__ = "registrations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    public_id: Mapped[str] = mapped_column(String(32), unique=True, default=new_public_id)
    ltiaas_registration_id: Mapped[str] = mapped_column(String(255), unique=True)
    platform_url: Mapped[str] = mapped_column(String(2048))
    family_code: Mapped[str] = mapped_column(String(255), default="")
    platform_version: Mapped[str] = mapped_column(String(255), default="")
    supported_scopes: Mapped[list[str]] = mapped_column(JSON, default=list)
    # [{"type": ..., "placements": [...]}]: normalised by the LTIAAS client.
    supported_messages: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    state: Mapped[str] = mapped_column(String(20), default=RegistrationState.RECEIVED.value)
    # What was (or will be) sent to LTIAAS's complete: platformName, autoActivate, messages.
    overrides: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    platform_id: Mapped[str | None] = mapped_column(String(255), nullable=True)
    completion_html: Mapped[str | None] = mapped_column(Text, nullable=True)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    audit_events: Mapped[list[AuditEvent]] = relationship(
        back_populates="registration", order_by="AuditEvent.id"
    )

    @property
    def current_state(self) -> RegistrationState:
        return RegistrationState(self.state)

    def is_past_lifetime(self, now: datetime | None = None) -> bool:
        return (now or utcnow()) >= self.expires_at

    def is_open(self, now: datetime | None = None) -> bool:
        """Still waiting for the admin, and LTIAAS should still know the registrationId."""
        return self.current_state in OPEN_STATES and not self.is_past_lifetime(now)


class AuditEvent(Base):
    """An append-only line of the audit trail: who changed what, and when."""

    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    registration_id: Mapped[int | None] = mapped_column(
        ForeignKey("registrations.id"), nullable=True, index=True
    )
    actor: Mapped[str] = mapped_column(String(255))
    action: Mapped[str] = mapped_column(String(64))
    from_state: Mapped[str | None] = mapped_column(String(20), nullable=True)
    to_state: Mapped[str | None] = mapped_column(String(20), nullable=True)
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    registration: Mapped[Registration | None] = relationship(back_populates="audit_events")


class WebSession(Base):
    """Server-side session data; the browser holds only the session id (cookie or token)."""

    __tablename__ = "web_sessions"

    # sha256 of the session id, so a database leak does not hand out live sessions.
    id_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


def record_event(
    session: Session,
    action: str,
    actor: str,
    registration: Registration | None = None,
    details: dict[str, Any] | None = None,
    from_state: str | None = None,
    to_state: str | None = None,
) -> AuditEvent:
    event = AuditEvent(
        registration=registration,
        action=action,
        actor=actor,
        details=details or {},
        from_state=from_state,
        to_state=to_state,
    )
    session.add(event)
    return event


def transition(
    session: Session,
    registration: Registration,
    new_state: RegistrationState,
    actor: str,
    details: dict[str, Any] | None = None,
) -> None:
    """Move `registration` to `new_state` and audit it; raises InvalidTransition."""
    old_state = registration.current_state
    if new_state not in ALLOWED_TRANSITIONS[old_state]:
        raise InvalidTransition(f"{old_state} -> {new_state} is not allowed")
    registration.state = new_state.value
    if new_state is RegistrationState.COMPLETED:
        registration.completed_at = utcnow()
    record_event(
        session,
        action=f"state:{new_state.value}",
        actor=actor,
        registration=registration,
        details=details,
        from_state=old_state.value,
        to_state=new_state.value,
    )


def claim_for_completion(
    session: Session, registration: Registration, actor: str, details: dict[str, Any] | None = None
) -> bool:
    """Take the one right to call LTIAAS's complete for `registration`.

    A conditional UPDATE (state reviewed -> completing) decides between racing
    requests in the database itself; only the winner gets True, and its event
    carries `details` (e.g. the choices it will send). The caller commits right
    away so the claim is visible to everyone else.
    """
    result = session.execute(
        update(Registration)
        .where(
            Registration.id == registration.id,
            Registration.state == RegistrationState.REVIEWED.value,
        )
        .values(state=RegistrationState.COMPLETING.value, updated_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        session.refresh(registration)
        return False
    session.refresh(registration)
    record_event(
        session,
        action=f"state:{RegistrationState.COMPLETING.value}",
        actor=actor,
        registration=registration,
        details=details,
        from_state=RegistrationState.REVIEWED.value,
        to_state=RegistrationState.COMPLETING.value,
    )
    return True


def registration_lifetime_end(created_at: datetime, lifetime_seconds: int) -> datetime:
    return created_at + timedelta(seconds=lifetime_seconds)


class UserRole(StrEnum):
    STAFF = "staff"  # the vendor's people
    CUSTOMER = "customer"  # an institution's admin, who may pay


class User(UserMixin, Base):
    """Someone who signs in: the vendor's staff or an institution's admin.

    `email` is stored lower-cased, so uniqueness is case-insensitive. A disabled
    user is not `is_active`: Flask-Login refuses to sign them in, and the user
    loader drops them on their next request.
    """

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(20))
    organisation: Mapped[str | None] = mapped_column(String(255), nullable=True)
    is_disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    @property
    def is_active(self) -> bool:  # type: ignore[override]
        return not self.is_disabled

    @property
    def is_staff(self) -> bool:
        return self.role == UserRole.STAFF.value


class LoginAttempt(Base):
    """A failed sign-in, kept for the per-account limit (the window's worth only)."""

    __tablename__ = "login_attempts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # sha256 of the normalised email typed, known account or not, so that
    # unknown emails are limited alike and the table holds no addresses.
    email_key: Mapped[str] = mapped_column(String(64), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)


class ApprovalState(StrEnum):
    PENDING = "pending"  # waiting for a staff member
    APPROVED = "approved"  # a staff member approved (the registration is then completed)
    REJECTED = "rejected"  # a staff member declined, with a reason for the customer
    EXPIRED = "expired"  # nobody decided within the registration's lifetime


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
    **values: Any,
) -> bool:
    """Move a pending `approval` to `new_state` (approved, rejected or expired) and audit it.

    A conditional UPDATE (state pending -> `new_state`) decides between racing
    requests: only the winner gets True, with `values` (approved_choices,
    reason, ...) written and an `approval:<state>` event recorded. The caller
    commits. :raise InvalidTransition: `new_state` is pending.
    """
    if new_state is ApprovalState.PENDING:
        raise InvalidTransition("an approval request cannot become pending again")
    decided_by = None if new_state is ApprovalState.EXPIRED else actor
    result = session.execute(
        update(ApprovalRequest)
        .where(ApprovalRequest.id == approval.id, ApprovalRequest.state == ApprovalState.PENDING.value)
        .values(state=new_state.value, decided_at=utcnow(), decided_by_email=decided_by, **values)
        .execution_options(synchronize_session=False)
    )
    session.refresh(approval)
    if result.rowcount != 1:
        return False
    record_event(
        session,
        action=f"approval:{new_state.value}",
        actor=actor,
        registration=approval.registration,
        details={"request": approval.public_id, **(details or {})},
    )
    return True
