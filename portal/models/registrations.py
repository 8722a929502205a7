"""A registration as the portal sees it, the state changes it may make, and the audit trail.

A registration moves through a small state machine::

    received -> reviewed -> completing -> completed
         \\          \\           \\-> reviewed (a failed complete that may be retried)
          \\-> failed / expired (from any state before completed)

    completing (stuck) / failed (outcome unknown) -> completed | failed (`settle_outcome`)

`completing` is held only while the one LTIAAS complete call is in flight; it is
taken with a conditional UPDATE so that two clicks, tabs or processes can never
both call LTIAAS. When that call's outcome was never known (the process died,
or LTIAAS's answer could not be read), a staff member who looked at LTIAAS's
platforms settles it: completed with the platform found, or failed for good.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    ColumnElement,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    event,
    select,
)
from sqlalchemy.orm import Mapped, Session, mapped_column, relationship, validates

from portal.db import Base, update_if
from portal.models.columns import UTCDateTime, new_public_id, utcnow
from portal.models.users import User


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
# A staff member's finding on a completion whose outcome was unknown (`settle_outcome` only):
# a stuck completing one, or one failed with an unknown outcome, becomes completed or failed for good.
SETTLEMENTS: dict[RegistrationState, frozenset[RegistrationState]] = {
    RegistrationState.COMPLETING: frozenset({RegistrationState.COMPLETED, RegistrationState.FAILED}),
    RegistrationState.FAILED: frozenset({RegistrationState.COMPLETED, RegistrationState.FAILED}),
}
# `Registration.family` of an LMS whose family the portal does not know (labels.OTHER_FAMILY).
OTHER_FAMILY = "other"


class Problem(StrEnum):
    """What the last attempt to complete a registration ran into (`Registration.problem`)."""

    NOT_SENT = "not_sent"  # LTIAAS was not reached: nothing was registered (reviewed, may retry)
    UNCONFIRMED = "unconfirmed"  # LTIAAS may have acted; nothing found yet (reviewed, retry is safe)
    VENDOR_SETUP = "vendor_setup"  # LTIAAS refused the vendor's API key (reviewed, may retry later)
    LMS_REFUSED = "lms_refused"  # the LMS refused the registration (failed)
    REFUSED = "refused"  # LTIAAS refused the registration itself (failed)
    ALREADY_USED = "already_used"  # a retry after an unconfirmed attempt: LTIAAS says it was used (failed)
    OUTCOME_UNKNOWN = "outcome_unknown"  # interrupted mid-call, or an answer we cannot read (failed)
    WITHDRAWN = "withdrawn"  # the customer withdrew their request for approval (failed)
    NOT_REGISTERED = "not_registered"  # staff looked LTIAAS up after an unknown outcome: nothing (failed)
    GONE_AT_LTIAAS = "gone_at_ltiaas"  # LTIAAS no longer knew the registrationId at complete (expired)
    REPLACED = "replaced"  # its payment moved to a newer registration of the same LMS (failed)


# Failed, but the tool may be registered: staff look LTIAAS up and settle it.
UNSETTLED_PROBLEMS = frozenset({Problem.OUTCOME_UNKNOWN.value, Problem.ALREADY_USED.value})


class InvalidTransition(RuntimeError):
    """A state change the state machine does not allow."""


# LTIAAS sets no limit on a platform's name (an LMS admin may rename it on LTIAAS's dashboard); the
# copy kept here, which pages show and the console searches, is cut to this many characters.
PLATFORM_NAME_LENGTH = 255


def fit_platform_name(name: str | None) -> str | None:
    """`name` as the registrations table keeps it."""
    return name[:PLATFORM_NAME_LENGTH] if name else name


class Registration(Base):
    """One Dynamic Registration as the portal sees it, keyed by our own public id."""

    __tablename__ = "registrations"
    # The staff's list sorts newest first and pages by (created_at, id); its filters lead.
    __table_args__ = (
        Index("ix_registrations_created_at_id", "created_at", "id"),
        Index("ix_registrations_state_created_at_id", "state", "created_at", "id"),
        Index("ix_registrations_family_created_at_id", "family", "created_at", "id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    public_id: Mapped[str] = mapped_column(String(32), unique=True, default=new_public_id)
    ltiaas_registration_id: Mapped[str] = mapped_column(String(255), unique=True)
    platform_url: Mapped[str] = mapped_column(String(2048))
    family_code: Mapped[str] = mapped_column(String(255), default="")
    # The canonical slug of `family_code` (labels.family_slug), set at receipt; an empty code is "other".
    family: Mapped[str] = mapped_column(String(32), default=OTHER_FAMILY, server_default=OTHER_FAMILY)
    # The APPROVAL_POLICY in force when the registration arrived; None: arrived before the portal kept it.
    policy: Mapped[str | None] = mapped_column(String(20), nullable=True)
    # The customer account that worked on it in the LMS dialog: the first one a flow page served
    # signed in (`portal.registration.access.keep_to_its_account`, the one place that sets it); no
    # other customer account may go on with it. Staff never own one.
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True, index=True)
    platform_version: Mapped[str] = mapped_column(String(255), default="")
    supported_scopes: Mapped[list[str]] = mapped_column(JSON, default=list)
    # [{"type": ..., "placements": [...]}]: normalised by the LTIAAS client.
    supported_messages: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    state: Mapped[str] = mapped_column(String(20), default=RegistrationState.RECEIVED.value)
    # What was (or will be) sent to LTIAAS's complete: platformName, autoActivate, messages.
    overrides: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    platform_id: Mapped[str | None] = mapped_column(String(255), nullable=True, index=True)
    # What the portal last knew of the platform at LTIAAS (LTIAAS holds the truth; the customer's
    # pages never ask it): `autoActivate` sent at completion (None: LTIAAS's own default applied),
    # then each staff activation, and what the staff's platforms page last read.
    platform_active: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    # When the portal first knew it active (`_note_first_active`): an inactive platform that never
    # was awaits activation; one that was has been deactivated since.
    platform_active_since: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # The platform's name as the portal last knew it: the platformName chosen (copied by
    # `_copy_platform_name` whenever the choices are set), then its name at LTIAAS once the staff's
    # platforms page read or renamed it. The staff's search reads this column, not the JSON.
    platform_name: Mapped[str | None] = mapped_column(String(PLATFORM_NAME_LENGTH), nullable=True)
    # Set when a staff member deleted the platform from the console: the tool is not registered any more.
    platform_deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    completion_html: Mapped[str | None] = mapped_column(Text, nullable=True)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    # What the last attempt to complete ran into (a `Problem`), or None; see `settling`.
    problem: Mapped[str | None] = mapped_column(String(40), nullable=True)
    # The school's name when the LMS gives one (Canvas's account name).
    account_name: Mapped[str | None] = mapped_column(String(255), nullable=True)
    # The platforms LTIAAS held for this LMS's url when the registration arrived
    # ([{"id", "name", "clientId", "active"}]), or None when that lookup failed.
    known_platforms: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    audit_events: Mapped[list[AuditEvent]] = relationship(
        back_populates="registration", order_by="AuditEvent.id"
    )
    customer: Mapped[User | None] = relationship()

    @property
    def current_state(self) -> RegistrationState:
        return RegistrationState(self.state)

    def is_past_lifetime(self, now: datetime | None = None) -> bool:
        return (now or utcnow()) >= self.expires_at

    def is_open(self, now: datetime | None = None) -> bool:
        """Still waiting for the admin, and LTIAAS should still know the registrationId."""
        return self.current_state in OPEN_STATES and not self.is_past_lifetime(now)

    @validates("platform_name")
    def _fit_platform_name(self, _key: str, name: str | None) -> str | None:
        return fit_platform_name(name)

    @property
    def shown_platform_name(self) -> str | None:
        """The platform's name as last known, else as chosen; None when it has neither."""
        return self.platform_name or (self.overrides or {}).get("platformName") or None

    @property
    def outcome_unknown(self) -> bool:
        """Failed without knowing whether LTIAAS registered the tool: the staff must settle it."""
        return self.current_state is RegistrationState.FAILED and self.problem in UNSETTLED_PROBLEMS

    @property
    def answer_lost(self) -> bool:
        """LTIAAS's answer to the last attempt was lost and nothing was found: it may have registered
        the tool. Trying again is safe (it finds the platform, or LTIAAS refuses a used registration)."""
        return self.current_state is RegistrationState.REVIEWED and self.problem == Problem.UNCONFIRMED.value


@event.listens_for(Registration.overrides, "set")
def _copy_platform_name(
    registration: Registration, overrides: dict[str, Any] | None, _old: Any, _initiator: Any
) -> None:
    name = (overrides or {}).get("platformName")
    registration.platform_name = name if isinstance(name, str) else None


@event.listens_for(Registration.platform_active, "set")
def _note_first_active(registration: Registration, active: bool | None, _old: Any, _initiator: Any) -> None:
    if active is True and registration.platform_active_since is None:
        registration.platform_active_since = utcnow()


class AuditEvent(Base):
    """An append-only line of the audit trail: who changed what, and when."""

    __tablename__ = "audit_events"
    # The trail's filters (portal.admin.trail) read newest first by actor or action, or by date.
    __table_args__ = (
        Index("ix_audit_events_actor_id", "actor", "id"),
        Index("ix_audit_events_action_id", "action", "id"),
        Index("ix_audit_events_created_at", "created_at"),
    )

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


def close_as_failed(
    session: Session,
    registration: Registration,
    actor: str,
    *conditions: ColumnElement[bool],
    problem: Problem,
    words: str,
    details: dict[str, Any] | None = None,
    rollback_on_loss: bool = True,
) -> bool:
    """Close an unfinished `registration` for good (failed, with the `problem` and the `words` its
    pages show) if `conditions` still hold in the database; audited once. True if this call did.

    One conditional UPDATE decides between this and anything else moving the registration (a
    completion's claim takes the same row). The caller commits; a loser's transaction is rolled back
    (unless `rollback_on_loss` is False: see `update_if`).
    """
    was = registration.state
    failed = RegistrationState.FAILED.value
    won = update_if(
        session,
        registration,
        *conditions,
        rollback_on_loss=rollback_on_loss,
        state=failed,
        problem=problem.value,
        last_error=words,
        updated_at=utcnow(),
    )
    if won:
        record_event(
            session, f"state:{failed}", actor, registration, details=details, from_state=was, to_state=failed
        )
    return won


def claim_for_completion(
    session: Session, registration: Registration, actor: str, details: dict[str, Any] | None = None
) -> bool:
    """Take the one right to call LTIAAS's complete for `registration`.

    A conditional UPDATE (state reviewed -> completing) decides between racing
    requests in the database itself; only the winner gets True, and its event
    carries `details` (e.g. the choices it will send). The caller commits right
    away so the claim is visible to everyone else; a loser's transaction is
    rolled back (`update_if`).
    """
    won = update_if(
        session,
        registration,
        Registration.state == RegistrationState.REVIEWED.value,
        state=RegistrationState.COMPLETING.value,
        updated_at=utcnow(),
    )
    if not won:
        return False
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


def settle_outcome(
    session: Session,
    registration: Registration,
    new_state: RegistrationState,
    actor: str,
    *conditions: ColumnElement[bool],
    action: str,
    details: dict[str, Any] | None = None,
    **values: Any,
) -> bool:
    """Record a staff member's finding on a completion whose outcome was unknown; True if this call won.

    From completing (stuck) or failed to completed (with the platform LTIAAS holds,
    in `values`) or failed for good. A conditional UPDATE (still in the state it was
    read in, and `conditions` still hold, e.g. the same `last_error`) decides between
    double submits and two staff members: only the winner writes `values` and records
    one `action` event. The caller commits; a loser's transaction is rolled back.

    :raise InvalidTransition: `new_state` is not completed or failed, or the
        registration is in no state an unknown outcome leaves.
    """
    old_state = registration.current_state
    if new_state not in SETTLEMENTS.get(old_state, frozenset()):
        raise InvalidTransition(f"{old_state} -> {new_state} is not a settlement")
    now = utcnow()
    if new_state is RegistrationState.COMPLETED:
        values["completed_at"] = now
    won = update_if(
        session,
        registration,
        Registration.state == old_state.value,
        *conditions,
        state=new_state.value,
        updated_at=now,
        **values,
    )
    if not won:
        return False
    record_event(
        session,
        action=action,
        actor=actor,
        registration=registration,
        details=details,
        from_state=old_state.value,
        to_state=new_state.value,
    )
    return True


def newest_choices_for_lms(
    session: Session, registration: Registration, customer_id: int
) -> Registration | None:
    """`customer_id`'s newest other registration of the same LMS address with saved choices, or None
    (among their five newest there: a JSON column may hold JSON's null, which SQL's IS NULL misses)."""
    newest = session.scalars(
        select(Registration)
        .where(
            Registration.customer_id == customer_id,
            Registration.platform_url == registration.platform_url,
            Registration.id != registration.id,
        )
        .order_by(Registration.id.desc())
        .limit(5)
    )
    return next((earlier for earlier in newest if earlier.overrides), None)


def registration_lifetime_end(created_at: datetime, lifetime_seconds: int) -> datetime:
    return created_at + timedelta(seconds=lifetime_seconds)
