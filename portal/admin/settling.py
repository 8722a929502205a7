"""Settling a registration whose completion had an unknown outcome: look at LTIAAS, then record it.

An outcome is unknown when the portal called LTIAAS's complete and never learnt
what came of it: the registration failed with an unsettled problem
(`Registration.outcome_unknown`: its process died during the call, LTIAAS's answer
could not be read, or LTIAAS says a lost attempt used it), or it is still completing
long after any call would have ended (COMPLETION_STALE_AFTER). A staff member first
looks up LTIAAS's platforms for the LMS address (an explicit action: page views never
call LTIAAS); `outcome.find_new_platforms` tells which appeared since the registration
arrived and which one its completion most likely made. The staff member then records
the registration as registered with the platform found, or as not registered: failed
for good, and due a refund when it was paid (the payments page lists those).

Every function commits its own changes and audits them with the staff member's email.
Nothing changes when LTIAAS is down, slow or refusing.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from flask import current_app
from sqlalchemy import ColumnElement, and_, or_, select
from sqlalchemy.orm import Session

from portal.ltiaas import (
    InvalidIdentifier,
    LtiaasClient,
    LtiaasError,
    LtiaasInvalidResponse,
    LtiaasUnauthorized,
    LtiaasUnavailable,
    PlatformNotFound,
)
from portal.models import (
    UNSETTLED_PROBLEMS,
    AuditEvent,
    Payment,
    PaymentStatus,
    Problem,
    Registration,
    RegistrationState,
    record_event,
    settle_outcome,
    utcnow,
)
from portal.registration import labels
from portal.registration.lifecycle import expire_if_past_lifetime
from portal.registration.outcome import find_new_platforms, platform_summary

logger = logging.getLogger(__name__)

LOOKED_UP = "outcome:looked-up"
STUCK = "stuck completing"
# What the LMS admin reads (the flow's "failed" page shows `last_error`) once staff found nothing.
NOT_REGISTERED = (
    "The tool's vendor checked LTIAAS: the tool was not registered with this LMS. "
    "Start the registration again from your LMS."
)


class Settled(StrEnum):
    """What a staff member's decision came to."""

    REGISTERED = "registered"
    NOT_REGISTERED = "not_registered"
    # Settled already (a double submit, another staff member), or its outcome was known.
    NOTHING_TO_SETTLE = "nothing_to_settle"
    PLATFORM_NOT_FOUND = "platform_not_found"  # LTIAAS has no platform with that id (any more)
    PLATFORM_ELSEWHERE = "platform_elsewhere"  # the platform belongs to another LMS address
    PLATFORM_TAKEN = "platform_taken"  # another registration of this portal has that platform
    LTIAAS_FAILED = "ltiaas_failed"  # LTIAAS down, slow or refusing: nothing changed


@dataclass(frozen=True)
class Decision:
    outcome: Settled
    detail: str | None = None  # what LTIAAS said, for LTIAAS_FAILED


@dataclass(frozen=True)
class FoundPlatform:
    """A platform that appeared at the LMS address since the registration arrived, as a lookup saw it."""

    id: str
    name: str
    client_id: str
    active: bool
    # Its name is the platformName this registration sent to complete.
    name_matches: bool
    # The one platform the registration's completion made (new, and the only one so named).
    created: bool
    # The public id of another registration of this portal that has this platform.
    taken_by: str | None


@dataclass(frozen=True)
class Lookup:
    """What LTIAAS listed for a registration's LMS address, as the last staff lookup stored it."""

    by: str
    at: datetime
    url: str
    # New since the registration arrived (every platform of the address when `baseline_missing`).
    platforms: tuple[FoundPlatform, ...]
    # The platforms at receipt were never looked up: new and old cannot be told apart.
    baseline_missing: bool
    # The address is shared by many schools (Canvas Cloud): most platforms found are others'.
    shared_issuer: bool

    @property
    def candidates(self) -> tuple[FoundPlatform, ...]:
        return tuple(found for found in self.platforms if found.taken_by is None)


def stuck_before(now: datetime | None = None) -> datetime:
    """A registration still completing that was last touched before this has no call in flight."""
    return (now or utcnow()) - timedelta(seconds=current_app.config["COMPLETION_STALE_AFTER"])


def needs_settling(registration: Registration, now: datetime | None = None) -> bool:
    """Whether the registration's completion has an unknown outcome a staff member may settle."""
    if registration.current_state is RegistrationState.COMPLETING:
        return registration.updated_at <= stuck_before(now)
    if registration.answer_lost:  # nobody tried again in time: it fails with an unknown outcome
        return registration.is_past_lifetime(now)
    return registration.outcome_unknown


def needs_settling_clause(now: datetime | None = None) -> ColumnElement[bool]:
    """`needs_settling` as a WHERE clause, for lists and counts."""
    return or_(
        and_(
            Registration.state == RegistrationState.FAILED.value,
            Registration.problem.in_(UNSETTLED_PROBLEMS),
        ),
        and_(
            Registration.state == RegistrationState.COMPLETING.value,
            Registration.updated_at <= stuck_before(now),
        ),
        and_(_answer_lost_clause(), Registration.expires_at <= (now or utcnow())),
    )


def answer_lost_clause(now: datetime | None = None) -> ColumnElement[bool]:
    """`Registration.answer_lost` and still open (past its lifetime it needs settling instead), for
    lists and counts."""
    return and_(_answer_lost_clause(), Registration.expires_at > (now or utcnow()))


def _answer_lost_clause() -> ColumnElement[bool]:
    return and_(
        Registration.state == RegistrationState.REVIEWED.value,
        Registration.problem == Problem.UNCONFIRMED.value,
    )


def look_up(db: Session, ltiaas: LtiaasClient, registration: Registration, actor: str) -> str | None:
    """Ask LTIAAS for the platforms of the registration's LMS address (one call) and store which
    appeared since it arrived in the audit trail (`last_lookup` reads them back); None when it answered.

    Returns why nothing could be looked up when LTIAAS is down, slow or refusing: then nothing changed.
    """
    found = find_new_platforms(ltiaas, registration)
    if not found.looked_up:
        reason = found.failure or LtiaasUnavailable("no answer")
        return ltiaas_problem(reason, "nothing was looked up")
    details = {
        "url": registration.platform_url,
        "platforms": [platform_summary(platform) for platform in found.candidates],
        "created": found.created.id if found.created is not None else None,
        "baselineMissing": found.baseline_missing,
    }
    record_event(db, LOOKED_UP, actor, registration, details=details)
    db.commit()
    return None


def last_lookup(db: Session, registration: Registration) -> Lookup | None:
    """The platforms the last staff lookup found for this registration's LMS address, if any."""
    event = db.scalar(
        select(AuditEvent)
        .where(AuditEvent.registration_id == registration.id, AuditEvent.action == LOOKED_UP)
        .order_by(AuditEvent.id.desc())
        .limit(1)
    )
    if event is None:
        return None
    listed = [entry for entry in event.details.get("platforms", []) if isinstance(entry, dict)]
    taken = _taken_by_others(db, registration, [str(entry.get("id")) for entry in listed])
    sent_name = (registration.overrides or {}).get("platformName")
    platforms = tuple(
        FoundPlatform(
            id=str(entry.get("id")),
            name=str(entry.get("name") or ""),
            client_id=str(entry.get("clientId") or ""),
            active=bool(entry.get("active")),
            name_matches=bool(sent_name) and entry.get("name") == sent_name,
            created=entry.get("id") == event.details.get("created"),
            taken_by=taken.get(str(entry.get("id"))),
        )
        for entry in listed
    )
    url = str(event.details.get("url") or registration.platform_url)
    return Lookup(
        by=event.actor,
        at=event.created_at,
        url=url,
        platforms=platforms,
        baseline_missing=bool(event.details.get("baselineMissing")),
        shared_issuer=labels.is_shared_issuer(url),
    )


def settle_registered(
    db: Session, ltiaas: LtiaasClient, registration: Registration, platform_id: str, actor: str
) -> Decision:
    """Record the registration as completed with `platform_id`, once LTIAAS confirms that platform is
    this LMS's (one read) and no other registration of the portal has it."""
    expire_if_past_lifetime(db, registration)  # an answer lost, then nobody tried again: now failed
    if not needs_settling(registration):
        return Decision(Settled.NOTHING_TO_SETTLE)
    try:
        platform = ltiaas.get_platform(platform_id)
    except (PlatformNotFound, InvalidIdentifier):
        return Decision(Settled.PLATFORM_NOT_FOUND)
    except LtiaasError as error:
        return Decision(Settled.LTIAAS_FAILED, ltiaas_problem(error, "nothing was checked"))
    if _same_address(platform.url) != _same_address(registration.platform_url):
        return Decision(Settled.PLATFORM_ELSEWHERE)
    if _taken_by_others(db, registration, [platform.id]):
        return Decision(Settled.PLATFORM_TAKEN)
    won = settle_outcome(
        db,
        registration,
        RegistrationState.COMPLETED,
        actor,
        *_unchanged(registration),
        action="outcome:registered",
        details={
            "platformId": platform.id,
            "platformName": platform.name,
            "active": platform.active,
            "unknownOutcome": registration.problem or STUCK,
        },
        platform_id=platform.id,
        last_error=None,
        problem=None,
    )
    if not won:
        return Decision(Settled.NOTHING_TO_SETTLE)
    db.commit()
    return Decision(Settled.REGISTERED)


def settle_not_registered(db: Session, registration: Registration, actor: str) -> Decision:
    """Record that LTIAAS did not register it: failed for good (a paid one is then due a refund)."""
    expire_if_past_lifetime(db, registration)
    if not needs_settling(registration):
        return Decision(Settled.NOTHING_TO_SETTLE)
    payment = _unrefunded_payment(db, registration)
    won = settle_outcome(
        db,
        registration,
        RegistrationState.FAILED,
        actor,
        *_unchanged(registration),
        action="outcome:not-registered",
        details={
            "refundDue": payment is not None,
            "payment": payment.public_id if payment is not None else None,
            "unknownOutcome": registration.problem or STUCK,
        },
        last_error=NOT_REGISTERED,
        problem=Problem.NOT_REGISTERED.value,
    )
    if not won:
        return Decision(Settled.NOTHING_TO_SETTLE)
    db.commit()
    return Decision(Settled.NOT_REGISTERED)


def ltiaas_problem(error: LtiaasError, consequence: str) -> str:
    """Plain words for a failed LTIAAS call that changed nothing, e.g. "..., so nothing was looked up"."""
    advice = " Try again in a minute."
    if isinstance(error, LtiaasUnauthorized):
        reason = "LTIAAS refused the portal's API key"
        advice = " Check the LTIAAS_API_KEY setting, then try again."
    elif isinstance(error, LtiaasUnavailable):
        reason = "LTIAAS could not be reached or did not answer in time"
    elif isinstance(error, LtiaasInvalidResponse):
        reason = "LTIAAS answered in a way the portal could not read"
    else:
        said = error.said or "no reason given"
        reason = f"LTIAAS refused the request (HTTP {error.status}: {said})"
        advice = ""
    return f"{reason}, so {consequence} and nothing changed.{advice}"


def _unchanged(registration: Registration) -> list[ColumnElement[bool]]:
    """Still the unknown outcome this decision was taken on (a double submit finds it settled)."""
    if registration.current_state is RegistrationState.COMPLETING:
        return [Registration.updated_at <= stuck_before()]
    return [Registration.problem == registration.problem]


def _same_address(url: str) -> str:
    return url.rstrip("/").lower()


def _taken_by_others(db: Session, registration: Registration, platform_ids: list[str]) -> dict[str, str]:
    """platform id -> public id of another registration of this portal that has it."""
    if not platform_ids:
        return {}
    rows = db.execute(
        select(Registration.platform_id, Registration.public_id).where(
            Registration.platform_id.in_(platform_ids), Registration.id != registration.id
        )
    ).all()
    return {platform_id: public_id for platform_id, public_id in rows if platform_id is not None}


def _unrefunded_payment(db: Session, registration: Registration) -> Payment | None:
    return db.scalar(
        select(Payment).where(
            Payment.registration_id == registration.id,
            Payment.status == PaymentStatus.PAID.value,
            Payment.refunded_at.is_(None),
        )
    )
