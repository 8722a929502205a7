"""Step 1, the intermediate target: take the registrationId LTIAAS sent, read the registration
from LTIAAS once, and record what the LMS said about itself."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from flask import current_app, url_for
from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.auth.users import ANONYMOUS_ACTOR
from portal.db import add_unless_raced
from portal.ltiaas import (
    InvalidIdentifier,
    LtiaasClient,
    LtiaasError,
    LtiaasInvalidResponse,
    LtiaasUnavailable,
    RegistrationDetails,
    RegistrationNotFound,
    validate_identifier,
)
from portal.models import Registration, RegistrationState, record_event, utcnow
from portal.registration import labels
from portal.registration.lifecycle import raise_if_closed
from portal.registration.outcome import platform_summary
from portal.registration.problems import RegistrationProblem

logger = logging.getLogger(__name__)


def parse_registration_id(raw: str | None) -> str:
    """:raise RegistrationProblem: missing_id or malformed_id."""
    if raw is None or raw == "":
        raise RegistrationProblem("missing_id")
    try:
        return validate_identifier(raw)
    except InvalidIdentifier as error:
        raise RegistrationProblem("malformed_id") from error


def receive_registration(
    db: Session, ltiaas: LtiaasClient, raw_id: str | None, now: datetime | None = None
) -> Registration:
    """Record the registration LTIAAS sent us: one read of the registration and one lookup of the
    platforms LTIAAS already holds for that LMS, stored, so that no page view asks LTIAAS again.

    A registration already recorded under that LTIAAS id is returned without
    asking LTIAAS while it is open, completing or completed.

    :raise RegistrationProblem: for a missing or malformed id, an id LTIAAS does
        not know, LTIAAS down (with a retry link) or misconfigured, or a
        registration that expired or failed earlier.
    """
    ltiaas_id = parse_registration_id(raw_id)
    existing = _find_by_ltiaas_id(db, ltiaas_id)
    if existing is not None:
        raise_if_closed(db, existing, now)
        return existing
    details = _read_from_ltiaas(ltiaas, ltiaas_id)
    registration = _new_registration(ltiaas_id, details, now)
    registration.known_platforms = _platforms_known_now(ltiaas, details.url)
    # A parallel request (a double load of the iframe) may have recorded it first.
    registration, added = add_unless_raced(db, registration, lambda: _find_by_ltiaas_id(db, ltiaas_id))
    if not added:
        raise_if_closed(db, registration, now)
        return registration
    record_event(
        db,
        "received",
        ANONYMOUS_ACTOR,
        registration,
        details={"url": details.url, "familyCode": details.family_code},
        to_state=RegistrationState.RECEIVED.value,
    )
    db.commit()
    return registration


def _find_by_ltiaas_id(db: Session, ltiaas_id: str) -> Registration | None:
    return db.scalar(select(Registration).where(Registration.ltiaas_registration_id == ltiaas_id))


def _new_registration(ltiaas_id: str, details: RegistrationDetails, now: datetime | None) -> Registration:
    created = now or utcnow()
    return Registration(
        ltiaas_registration_id=ltiaas_id,
        platform_url=details.url,
        family_code=details.family_code,
        family=labels.family_slug(details.family_code),
        policy=str(current_app.config["APPROVAL_POLICY"]),
        platform_version=details.version,
        supported_scopes=list(details.supported_scopes),
        supported_messages=[message.to_dict() for message in details.supported_messages],
        account_name=details.account_name,
        state=RegistrationState.RECEIVED.value,
        created_at=created,
        expires_at=created + timedelta(seconds=current_app.config["REGISTRATION_LIFETIME"]),
    )


def _read_from_ltiaas(ltiaas: LtiaasClient, ltiaas_id: str) -> RegistrationDetails:
    retry_url = url_for("registration.intermediate_target", registrationId=ltiaas_id)
    try:
        return ltiaas.read_registration(ltiaas_id)
    except RegistrationNotFound as error:
        detail = f"LTIAAS said: {error.said}" if error.said else None
        raise RegistrationProblem("unknown_registration", detail=detail) from error
    except LtiaasUnavailable as error:
        logger.warning("LTIAAS unavailable while reading a registration: %s", error)
        raise RegistrationProblem("ltiaas_unavailable", retry_url=retry_url) from error
    except LtiaasInvalidResponse as error:  # maybe a proxy's passing error page: worth another try
        logger.error("LTIAAS's answer to a registration read could not be read: %s", error)
        raise RegistrationProblem("vendor_setup", retry_url=retry_url) from error
    except LtiaasError as error:
        logger.error("LTIAAS refused to read a registration (%s): %s", type(error).__name__, error)
        raise RegistrationProblem("vendor_setup") from error


def _platforms_known_now(ltiaas: LtiaasClient, url: str) -> list[dict[str, Any]] | None:
    """What LTIAAS holds for the LMS's url now (earlier registrations, and the baseline that tells
    a platform this registration creates from those); None when LTIAAS could not say."""
    try:
        return [platform_summary(platform) for platform in ltiaas.list_platforms(url=url)]
    except LtiaasError as error:
        logger.warning("could not list the LMS's earlier platforms (%s): %s", type(error).__name__, error)
        return None
