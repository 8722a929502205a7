"""Step 5, completing: calling LTIAAS's complete at most once per registration, whatever the races,
and recording only what is known of the outcome.

- LTIAAS answered with the platform: completed.
- Nothing reached LTIAAS (or it said "not now"): reviewed, nothing was registered, try again.
- LTIAAS may have acted (answer lost, 5xx, unreadable): LTIAAS's platforms are looked up at
  once. The platform this completion made: completed, without LTIAAS's close script. None found:
  reviewed, "we could not confirm it", and a retry is safe (LTIAAS refuses a used registrationId).
- A retry after such an attempt (however many retries ago) that LTIAAS refuses as unknown:
  "already used", failed, for the staff to settle (unless the lookup now finds the platform).
- The LMS refused: failed, in the LMS's own words. LTIAAS refused the vendor's key: reviewed.

An erasure of the customer's account leaves a registration being completed to the completion. One
that would come back to reviewed (nothing or maybe something registered) closes instead, as the
erasure closes what it finds unfinished: nobody could finish it now.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy.orm import Session

from portal.auth import erasure
from portal.auth.users import ANONYMOUS_ACTOR
from portal.db import update_if
from portal.ltiaas import (
    LmsRefusedRegistration,
    LtiaasClient,
    LtiaasError,
    LtiaasOutcomeUnknown,
    LtiaasRequestRejected,
    LtiaasUnauthorized,
    LtiaasUnavailable,
    RegistrationNotFound,
)
from portal.models import Problem, Registration, RegistrationState, User, claim_for_completion, transition
from portal.notifications import alerts
from portal.registration.choices import current_choices
from portal.registration.outcome import find_new_platforms

logger = logging.getLogger(__name__)

NOT_SENT = (
    "LTIAAS did not take the request (it could not be reached, or asked us to wait), so nothing was "
    "registered. Your choices are saved: try again in a minute."
)
UNCONFIRMED = (
    "LTIAAS's answer was lost, and we could not confirm whether the tool was registered. Trying again is "
    "safe: LTIAAS refuses to register the same request twice."
)
VENDOR_SETUP = (
    "The tool's vendor has a problem in their LTIAAS setup (LTIAAS refused their credentials), so nothing "
    "was registered. This is not caused by anything you did. Your choices are saved: try again later, or "
    "contact the tool's vendor."
)
LMS_FAILED = (
    "Your LMS answered the registration with an error of its own ({detail}), so nothing was registered. "
    "This is usually temporary: try again in a minute."
)
ALREADY_USED = (
    "LTIAAS says this registration was already used: your earlier attempt most likely registered the "
    "tool, but its answer was lost."
)
OUTCOME_UNKNOWN = (
    "LTIAAS answered in a way we could not understand, so the tool may or may not have been registered."
)
UNEXPECTED = "An unexpected error stopped the registration, so the tool may or may not have been registered."


def complete(
    db: Session,
    ltiaas: LtiaasClient,
    registration: Registration,
    actor: str = ANONYMOUS_ACTOR,
    choices: dict[str, Any] | None = None,
) -> bool:
    """Call LTIAAS's complete at most once for `registration`, whatever the races.

    Sends `choices` (stored as the registration's overrides once the claim is
    won) or else the saved choices; `actor` (a user's email) is audited with
    the choices it sent. Returns False when another request holds or held the
    claim (nothing done). Otherwise calls LTIAAS and records the outcome (see
    the module's docstring). The choices are kept in every case.
    """
    body = choices or current_choices(registration)
    retrying_unconfirmed = _an_earlier_attempt_may_have_registered(registration)
    customer = registration.customer if registration.customer_id is not None else None
    acting = customer is not None and customer.email == actor
    if not claim_for_completion(db, registration, actor, details={"choices": body}):
        return False
    registration.overrides = body
    db.commit()
    try:
        result = ltiaas.complete_registration(
            registration.ltiaas_registration_id,
            platform_name=body.get("platformName"),
            auto_activate=body.get("autoActivate"),
            messages=body.get("messages"),
        )
    except LtiaasError as error:
        actor = _as_recorded(db, customer, acting, actor)
        logger.warning(
            "LTIAAS complete failed (%s, status %s): %s", type(error).__name__, error.status, error
        )
        _record_failure(db, ltiaas, registration, error, actor, retrying_unconfirmed)
        return True
    except Exception:
        actor = _as_recorded(db, customer, acting, actor)
        _settle(db, registration, RegistrationState.FAILED, Problem.OUTCOME_UNKNOWN, UNEXPECTED, actor)
        raise
    actor = _as_recorded(db, customer, acting, actor)
    sent_active = body.get("autoActivate")
    active = sent_active if isinstance(sent_active, bool) else None
    _record_completed(db, registration, result.platform_id, result.html, actor, active)
    return True


def _as_recorded(db: Session, customer: User | None, acting: bool, actor: str) -> str:
    """Who the outcome is recorded by: `actor`; or, when it is `customer` (`acting`; the
    registration's, read before LTIAAS was asked) and they erased their account meanwhile, their
    erased address (the trail must not name them again).

    Takes the customer's row as `service.hold_unerased` does, whoever acts: an erasure starting now
    waits for the outcome's commit, and then erases it from the trail and closes the registration
    if it is still unfinished, with the rest; one that committed first, `_settle` sees.
    """
    if customer is None:
        return actor
    if update_if(db, customer, User.erased_at.is_(None), erased_at=None, rollback_on_loss=False):
        return actor
    return customer.email if acting else actor  # refreshed: `erased_address`


def _an_earlier_attempt_may_have_registered(registration: Registration) -> bool:
    """Whether an earlier attempt's outcome was never confirmed (even if a later one then failed
    before sending): LTIAAS refusing the registrationId now may be that attempt's doing."""
    unconfirmed = Problem.UNCONFIRMED.value
    return registration.problem == unconfirmed or any(
        (event.details or {}).get("problem") == unconfirmed for event in registration.audit_events
    )


def _record_completed(
    db: Session,
    registration: Registration,
    platform_id: str,
    html: str | None,
    actor: str,
    active: bool | None,
    **details: Any,
) -> None:
    """`active`: what the portal knows of the platform's activation (None: LTIAAS's own default)."""
    registration.platform_id = platform_id
    registration.platform_active = active
    registration.completion_html = html
    registration.last_error = None
    registration.problem = None
    transition(
        db, registration, RegistrationState.COMPLETED, actor, details={"platformId": platform_id, **details}
    )
    if active is False:  # the customer was told the vendor's staff would activate it: tell them
        alerts.activation_due(db, registration)
    db.commit()


def _record_failure(
    db: Session,
    ltiaas: LtiaasClient,
    registration: Registration,
    error: LtiaasError,
    actor: str,
    retrying_unconfirmed: bool,
) -> None:
    if isinstance(error, LmsRefusedRegistration):
        _record_lms_refusal(db, registration, error, actor)
    elif isinstance(error, LtiaasOutcomeUnknown):
        _look_for_the_platform(db, ltiaas, registration, actor, Problem.UNCONFIRMED, UNCONFIRMED)
    elif isinstance(error, RegistrationNotFound | LtiaasRequestRejected) and retrying_unconfirmed:
        _look_for_the_platform(db, ltiaas, registration, actor, Problem.ALREADY_USED, ALREADY_USED)
    elif isinstance(error, RegistrationNotFound):
        message = f"LTIAAS no longer knows this registration. It said: {error.said or f'HTTP {error.status}'}"
        _settle(db, registration, RegistrationState.EXPIRED, Problem.GONE_AT_LTIAAS, message, actor)
    elif isinstance(error, LtiaasUnavailable):
        _settle(db, registration, RegistrationState.REVIEWED, Problem.NOT_SENT, NOT_SENT, actor)
    elif isinstance(error, LtiaasUnauthorized):
        _settle(db, registration, RegistrationState.REVIEWED, Problem.VENDOR_SETUP, VENDOR_SETUP, actor)
    elif error.status is not None and 400 <= error.status < 500:
        message = (
            f"LTIAAS refused the registration: {error.said}"
            if error.said
            else f"LTIAAS refused the registration (HTTP {error.status}) without saying why."
        )
        _settle(db, registration, RegistrationState.FAILED, Problem.REFUSED, message, actor)
    else:
        _settle(db, registration, RegistrationState.FAILED, Problem.OUTCOME_UNKNOWN, OUTCOME_UNKNOWN, actor)


def _record_lms_refusal(
    db: Session, registration: Registration, error: LmsRefusedRegistration, actor: str
) -> None:
    said = error.lms_error_description or error.lms_error or f"HTTP {error.lms_status or 'error'}"
    if error.lms_status is not None and error.lms_status >= 500:
        message = LMS_FAILED.format(detail=said)
        _settle(db, registration, RegistrationState.REVIEWED, Problem.NOT_SENT, message, actor)
        return
    _settle(db, registration, RegistrationState.FAILED, Problem.LMS_REFUSED, said, actor)


def _look_for_the_platform(
    db: Session,
    ltiaas: LtiaasClient,
    registration: Registration,
    actor: str,
    problem: Problem,
    message: str,
) -> None:
    """LTIAAS may have registered the tool: record it as completed if its platform is found, else
    `problem` (unconfirmed: reviewed, may retry; already used: failed, for the staff to settle)."""
    lookup = find_new_platforms(ltiaas, registration)
    if lookup.created is not None:
        logger.info("registration %s: its platform was found after a lost answer", registration.public_id)
        created = lookup.created
        _record_completed(
            db, registration, created.id, None, actor, created.active, found_after_lost_answer=True
        )
        return
    state = RegistrationState.REVIEWED if problem is Problem.UNCONFIRMED else RegistrationState.FAILED
    _settle(db, registration, state, problem, message, actor, looked_up=lookup.looked_up)


def _settle(
    db: Session,
    registration: Registration,
    state: RegistrationState,
    problem: Problem | None,
    message: str,
    actor: str,
    **details: Any,
) -> None:
    registration.last_error = message
    registration.problem = problem.value if problem is not None else None
    event = {"error": message, "problem": registration.problem, **details}
    transition(db, registration, state, actor, details=event)
    customer = registration.customer  # refreshed and held by `_as_recorded`
    if state is RegistrationState.REVIEWED and customer is not None and customer.is_erased:
        erasure.close_unfinished(db, registration, customer.email)
    db.commit()
