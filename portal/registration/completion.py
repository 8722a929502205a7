"""Step 5, completing: calling LTIAAS's complete at most once per registration, whatever the races,
and recording what came of it."""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy.orm import Session

from portal.auth.users import ANONYMOUS_ACTOR
from portal.ltiaas import (
    LtiaasClient,
    LtiaasError,
    LtiaasUnauthorized,
    LtiaasUnavailable,
    RegistrationNotFound,
)
from portal.models import Registration, RegistrationState, claim_for_completion, transition
from portal.registration.choices import current_choices

logger = logging.getLogger(__name__)

UNAVAILABLE_ON_COMPLETE = (
    "LTIAAS could not be reached, so nothing was registered. Your choices are saved: try again in a minute."
)
UNAUTHORIZED_ON_COMPLETE = (
    "The tool's vendor has a problem in their LTIAAS setup (LTIAAS refused their credentials), so nothing "
    "was registered. This is not caused by anything you did. Your choices are saved: try again later, or "
    "contact the tool's vendor."
)
INVALID_ON_COMPLETE = (
    "LTIAAS answered in a way we could not understand, so the tool may or may not have been registered. "
    "Check your LMS's list of tools before starting again, and tell the tool's vendor."
)


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
    claim (nothing done). Otherwise calls LTIAAS and leaves the registration:
    completed (platform id and close html stored); reviewed with `last_error`
    when trying again can help (LTIAAS unreachable or refusing the vendor's
    key); expired when LTIAAS no longer knows the id; failed when LTIAAS
    refused the registration itself or answered nonsense, since the same
    request would be refused again, or the tool may already be registered.
    The choices are kept in every case.
    """
    body = choices or current_choices(registration)
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
        _record_failed_completion(db, registration, error, actor)
        return True
    except Exception:
        _settle(
            db, registration, RegistrationState.FAILED, "An unexpected error stopped the registration.", actor
        )
        raise
    registration.platform_id = result.platform_id
    registration.completion_html = result.html
    # What the portal knows of activation from now on (None: LTIAAS's own default applied).
    sent_active = body.get("autoActivate")
    registration.platform_active = sent_active if isinstance(sent_active, bool) else None
    registration.last_error = None
    transition(
        db, registration, RegistrationState.COMPLETED, actor, details={"platformId": result.platform_id}
    )
    db.commit()
    return True


def _record_failed_completion(
    db: Session, registration: Registration, error: LtiaasError, actor: str
) -> None:
    logger.warning("LTIAAS complete failed (%s, status %s): %s", type(error).__name__, error.status, error)
    if isinstance(error, RegistrationNotFound):
        _settle(
            db, registration, RegistrationState.EXPIRED, "LTIAAS no longer knows this registration.", actor
        )
    elif isinstance(error, LtiaasUnavailable):
        _settle(db, registration, RegistrationState.REVIEWED, UNAVAILABLE_ON_COMPLETE, actor)
    elif isinstance(error, LtiaasUnauthorized):
        _settle(db, registration, RegistrationState.REVIEWED, UNAUTHORIZED_ON_COMPLETE, actor)
    elif error.status is not None and 400 <= error.status < 500:
        reason = error.details_description or error.details_message or str(error)
        _settle(
            db, registration, RegistrationState.FAILED, f"LTIAAS refused the registration: {reason}", actor
        )
    else:
        _settle(db, registration, RegistrationState.FAILED, INVALID_ON_COMPLETE, actor)


def _settle(
    db: Session, registration: Registration, state: RegistrationState, message: str, actor: str
) -> None:
    registration.last_error = message
    transition(db, registration, state, actor, details={"error": message})
    db.commit()
