"""The registration flow as plain functions: receive, review, configure, complete,
and who may complete (`next_step`, under the vendor's approval policy).

Views call these with the request's database session and the LTIAAS client.
Each function that changes state commits once (completion commits its claim
first, so that racing requests see it). Problems the admin must see are raised
as `RegistrationProblem`; LTIAAS errors never escape from here.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from flask import current_app, session, url_for
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from portal.billing.fulfilment import payment_required
from portal.billing.models import Payment
from portal.ltiaas import (
    InvalidIdentifier,
    LtiaasClient,
    LtiaasError,
    LtiaasUnauthorized,
    LtiaasUnavailable,
    Platform,
    RegistrationDetails,
    RegistrationNotFound,
    validate_identifier,
)
from portal.models import (
    OPEN_STATES,
    ApprovalRequest,
    ApprovalState,
    Registration,
    RegistrationState,
    claim_for_completion,
    decide_approval,
    record_event,
    transition,
    utcnow,
)
from portal.registration import labels
from portal.registration.problems import RegistrationProblem

logger = logging.getLogger(__name__)

ACTOR = "lms-admin"
# Who expires what nobody finished in time.
SYSTEM_ACTOR = "portal"
SESSION_KEY = "registrations"
# A browser rarely has more than one or two registrations open; the cap keeps
# a session from growing without bound.
MAX_SESSION_REGISTRATIONS = 10
DEFAULT_LIFETIME_SECONDS = 3600
PLATFORM_CONFIGURATION = "https://purl.imsglobal.org/spec/lti-platform-configuration"
# Types included by default; others (Canvas's EULA, unknown types) only when the
# vendor names them in DEFAULT_PLACEMENTS, since the tool may not handle them.
LAUNCH_MESSAGE_TYPES = ("LtiResourceLinkRequest", "LtiDeepLinkingRequest")
_INLINE_SCRIPT = re.compile(r"<script\b([^>]*)>(.*?)</script\s*>", re.IGNORECASE | re.DOTALL)

UNAVAILABLE_ON_COMPLETE = (
    "LTIAAS could not be reached, so nothing was registered. Your choices are saved: try again in a minute."
)
UNAUTHORIZED_ON_COMPLETE = (
    "The tool's vendor has a problem in their LTIAAS setup (LTIAAS refused their credentials), so nothing "
    "was registered. This is not caused by anything you did. Your choices are saved: try again later, or "
    "contact the tool's vendor."
)
STALE_COMPLETION = (
    "The registration was interrupted while LTIAAS was completing it, so the outcome is unknown: LTIAAS may "
    "or may not have registered the tool. The tool's vendor must check LTIAAS's platform list."
)
DEFAULT_STALE_AFTER_SECONDS = 120
INVALID_ON_COMPLETE = (
    "LTIAAS answered in a way we could not understand, so the tool may or may not have been registered. "
    "Check your LMS's list of tools before starting again, and tell the tool's vendor."
)


# Which browser may act on which registration


def remember_in_session(public_id: str) -> None:
    """Let this browser's session act on `public_id` (most recent last, capped)."""
    ids = [known for known in session.get(SESSION_KEY, []) if known != public_id]
    ids.append(public_id)
    session[SESSION_KEY] = ids[-MAX_SESSION_REGISTRATIONS:]


def may_act_on(public_id: str) -> bool:
    return public_id in session.get(SESSION_KEY, [])


def load_registration(db: Session, public_id: str, now: datetime | None = None) -> Registration:
    """The registration this browser may act on, first expiring it if it is past its lifetime
    or failing it if its completion never settled (`raise_if_closed`).

    :raise RegistrationProblem: not_in_session (unknown id or another browser's),
        expired, outcome_unknown, or failed (with LTIAAS's reason as detail).
    """
    if not may_act_on(public_id):
        raise RegistrationProblem("not_in_session")
    registration = db.scalar(select(Registration).where(Registration.public_id == public_id))
    if registration is None:
        raise RegistrationProblem("not_in_session")
    raise_if_closed(db, registration, now)
    return registration


def expire_if_past_lifetime(db: Session, registration: Registration, now: datetime | None = None) -> bool:
    """Expire an open registration past its lifetime, with its pending approval request; True if it did."""
    if registration.current_state not in OPEN_STATES or not registration.is_past_lifetime(now):
        return False
    transition(db, registration, RegistrationState.EXPIRED, SYSTEM_ACTOR, details={"reason": "lifetime"})
    request = find_approval(db, registration)
    if request is not None and request.is_pending:
        decide_approval(db, request, ApprovalState.EXPIRED, SYSTEM_ACTOR, details={"reason": "lifetime"})
    db.commit()
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
    stale_after = current_app.config.get("COMPLETION_STALE_AFTER", DEFAULT_STALE_AFTER_SECONDS)
    cutoff = (now or utcnow()) - timedelta(seconds=stale_after)
    if registration.updated_at > cutoff:
        return False
    result = db.execute(
        update(Registration)
        .where(
            Registration.id == registration.id,
            Registration.state == RegistrationState.COMPLETING.value,
            Registration.updated_at <= cutoff,
        )
        .values(last_error=STALE_COMPLETION, updated_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        db.rollback()  # release the losing UPDATE's lock (SQLite); the refresh shows the winner
        db.refresh(registration)
        return False
    db.refresh(registration)
    logger.warning("registration %s was left completing; marked failed", registration.public_id)
    transition(
        db,
        registration,
        RegistrationState.FAILED,
        SYSTEM_ACTOR,
        details={"reason": "completion-stale", "error": STALE_COMPLETION},
    )
    db.commit()
    return True


def raise_if_closed(db: Session, registration: Registration, now: datetime | None = None) -> None:
    """Expire an open registration past its lifetime and fail a stale completion; raise for
    an expired or failed one.

    :raise RegistrationProblem: expired, outcome_unknown (a completion that never
        settled), or failed (with the stored reason as detail).
    """
    expire_if_past_lifetime(db, registration, now)
    fail_if_completion_stale(db, registration, now)
    if registration.current_state is RegistrationState.EXPIRED:
        raise RegistrationProblem("expired")
    if registration.current_state is RegistrationState.FAILED:
        if registration.last_error == STALE_COMPLETION:
            raise RegistrationProblem("outcome_unknown")
        raise RegistrationProblem("failed", detail=registration.last_error)


# Pages allowed in each state; anything else is redirected to the state's own page.
_PAGE_STATES: dict[str, frozenset[RegistrationState]] = {
    "review": OPEN_STATES,
    "configure": OPEN_STATES,
    "confirm": frozenset({RegistrationState.REVIEWED}),
    "waiting": frozenset({RegistrationState.REVIEWED}),
    "done": frozenset({RegistrationState.COMPLETING, RegistrationState.COMPLETED}),
}
_HOME_PAGE: dict[RegistrationState, str] = {
    RegistrationState.RECEIVED: "review",
    RegistrationState.REVIEWED: "confirm",
    RegistrationState.COMPLETING: "done",
    RegistrationState.COMPLETED: "done",
}


def page_to_redirect_to(registration: Registration, page: str) -> str | None:
    """The page to show instead of `page` in the registration's state, or None to show `page`."""
    if registration.current_state in _PAGE_STATES[page]:
        return None
    if page == "confirm" and registration.current_state is RegistrationState.RECEIVED:
        return "configure"
    return _HOME_PAGE[registration.current_state]


# Step 1: the intermediate target


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
    """Record the registration LTIAAS sent us, reading it from LTIAAS once.

    A registration already recorded under that LTIAAS id is returned without a
    second read while it is open, completing or completed.

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
    db.add(registration)
    record_event(
        db,
        "received",
        ACTOR,
        registration,
        details={"url": details.url, "familyCode": details.family_code},
        to_state=RegistrationState.RECEIVED.value,
    )
    try:
        db.commit()
    except IntegrityError:
        # A parallel request (a double load of the iframe) recorded it first.
        db.rollback()
        existing = _find_by_ltiaas_id(db, ltiaas_id)
        if existing is None:
            raise
        raise_if_closed(db, existing, now)
        return existing
    return registration


def _find_by_ltiaas_id(db: Session, ltiaas_id: str) -> Registration | None:
    return db.scalar(select(Registration).where(Registration.ltiaas_registration_id == ltiaas_id))


def _new_registration(ltiaas_id: str, details: RegistrationDetails, now: datetime | None) -> Registration:
    lifetime = int(current_app.config.get("REGISTRATION_LIFETIME", DEFAULT_LIFETIME_SECONDS))
    created = now or utcnow()
    return Registration(
        ltiaas_registration_id=ltiaas_id,
        platform_url=details.url,
        family_code=details.family_code,
        platform_version=details.version,
        supported_scopes=list(details.supported_scopes),
        supported_messages=[message.to_dict() for message in details.supported_messages],
        state=RegistrationState.RECEIVED.value,
        created_at=created,
        expires_at=created + timedelta(seconds=lifetime),
    )


def _read_from_ltiaas(ltiaas: LtiaasClient, ltiaas_id: str) -> RegistrationDetails:
    try:
        details = ltiaas.get_registration(ltiaas_id)
        if details.legacy_message_shape:
            raw = ltiaas.get_raw_registration(ltiaas_id)
            details = with_legacy_placements(details, raw.openid_configuration)
    except RegistrationNotFound as error:
        raise RegistrationProblem("unknown_registration") from error
    except LtiaasUnavailable as error:
        logger.warning("LTIAAS unavailable while reading a registration: %s", error)
        retry_url = url_for("registration.intermediate_target", registrationId=ltiaas_id)
        raise RegistrationProblem("ltiaas_unavailable", retry_url=retry_url) from error
    except LtiaasError as error:
        logger.error("LTIAAS refused to read a registration (%s): %s", type(error).__name__, error)
        raise RegistrationProblem("vendor_setup") from error
    return details


def legacy_placements(openid_configuration: dict[str, Any]) -> list[str]:
    """The separate `placements` list of Moodle before 4.x.

    Read at the top level of the OpenID configuration, or failing that inside
    its platform configuration, where Moodle 3.x puts it.
    """
    platform = openid_configuration.get(PLATFORM_CONFIGURATION)
    for source in (openid_configuration, platform if isinstance(platform, dict) else {}):
        value = source.get("placements")
        if isinstance(value, list):
            return [item for item in value if isinstance(item, str) and item]
    return []


def with_legacy_placements(
    details: RegistrationDetails, openid_configuration: dict[str, Any]
) -> RegistrationDetails:
    """`details` with the legacy placements given to LtiDeepLinkingRequest (if it has none)."""
    placements = tuple(legacy_placements(openid_configuration))
    if not placements:
        return details
    messages = tuple(
        type(message)(type=message.type, placements=placements)
        if message.type == "LtiDeepLinkingRequest" and not message.placements
        else message
        for message in details.supported_messages
    )
    return RegistrationDetails(
        url=details.url,
        family_code=details.family_code,
        version=details.version,
        supported_scopes=details.supported_scopes,
        supported_messages=messages,
        legacy_message_shape=details.legacy_message_shape,
    )


# Step 2: review


@dataclass(frozen=True)
class MessageView:
    type: str
    label: str
    placements: tuple[tuple[str, str], ...]  # (value, label)


@dataclass(frozen=True)
class RegistrationView:
    """What the pages show about the LMS, in plain words."""

    url: str
    host: str
    family: labels.Family
    version: str
    scopes: tuple[tuple[str, str], ...]  # (scope, label)
    messages: tuple[MessageView, ...]


@dataclass(frozen=True)
class EarlierPlatforms:
    platforms: tuple[Platform, ...] = ()
    lookup_failed: bool = False
    # The issuer is shared by many schools (Canvas Cloud), so a url match means nothing.
    shared_issuer: bool = False


def describe(registration: Registration) -> RegistrationView:
    return RegistrationView(
        url=registration.platform_url,
        host=labels.lms_host(registration.platform_url),
        family=labels.family(registration.family_code),
        version=registration.platform_version,
        scopes=tuple((scope, labels.scope_label(scope)) for scope in registration.supported_scopes),
        messages=tuple(_message_view(message) for message in registration.supported_messages),
    )


def _message_view(message: dict[str, Any]) -> MessageView:
    placements = tuple((p, labels.placement_label(p)) for p in message.get("placements") or ())
    return MessageView(
        type=message["type"], label=labels.message_type_label(message["type"]), placements=placements
    )


def earlier_platforms(ltiaas: LtiaasClient, registration: Registration) -> EarlierPlatforms:
    """Platforms LTIAAS already holds for this LMS url; a failed lookup is reported, not raised."""
    if labels.is_shared_issuer(registration.platform_url):
        return EarlierPlatforms(shared_issuer=True)
    try:
        found = ltiaas.list_platforms(url=registration.platform_url)
    except LtiaasError as error:
        logger.warning("could not list earlier platforms (%s): %s", type(error).__name__, error)
        return EarlierPlatforms(lookup_failed=True)
    return EarlierPlatforms(platforms=tuple(found))


# Who may complete: the approval policy


SELF_SERVICE = "self-service"
REVIEW_LATER = "review-later"
LIVE_APPROVAL = "live-approval"

Step = Literal["sign_in", "wait", "pay", "request", "confirm"]


def approval_policy() -> str:
    return str(current_app.config.get("APPROVAL_POLICY", SELF_SERVICE))


def is_signed_in(user: Any) -> bool:
    return bool(getattr(user, "is_authenticated", False)) and bool(getattr(user, "is_active", False))


def is_staff(user: Any) -> bool:
    return is_signed_in(user) and bool(getattr(user, "is_staff", False))


def actor_of(user: Any) -> str:
    """The audit trail's name for `user`: their email, or the anonymous LMS admin."""
    return str(user.email) if is_signed_in(user) else ACTOR


def find_approval(db: Session, registration: Registration) -> ApprovalRequest | None:
    return db.scalar(select(ApprovalRequest).where(ApprovalRequest.registration_id == registration.id))


def paid_payment(db: Session, registration: Registration) -> Payment | None:
    """The registration's payment once Stripe confirmed it (our record says paid), else None."""
    payment = db.scalar(select(Payment).where(Payment.registration_id == registration.id))
    return payment if payment is not None and payment.is_paid else None


def is_paid(db: Session, registration: Registration) -> bool:
    return paid_payment(db, registration) is not None


def next_step(db: Session, registration: Registration, user: Any) -> Step:
    """What must happen next before `user` may complete `registration`: the one place that decides.

    - "sign_in": nobody (or a disabled account) is signed in;
    - "wait": a request for approval exists: its page shows where it stands;
    - "pay": a customer must pay first (a price is set and this registration is not paid);
    - "request": live approval: the customer's confirmation sends a request to the staff;
    - "confirm": `user` may complete now (staff always may, under every policy).
    """
    if not is_signed_in(user):
        return "sign_in"
    if find_approval(db, registration) is not None:
        return "wait"
    if is_staff(user):
        return "confirm"
    if payment_required(user) and not is_paid(db, registration):
        return "pay"
    if approval_policy() == LIVE_APPROVAL:
        return "request"
    return "confirm"


def choices_for(registration: Registration, user: Any) -> dict[str, Any]:
    """The body `user` may send: the saved choices, with activation forced off where the policy says."""
    choices = dict(current_choices(registration))
    fixed = fixed_auto_activate(user)
    if fixed is not None:
        choices["autoActivate"] = fixed
    return choices


# Step 3: configure


def default_choices(registration: Registration) -> dict[str, Any]:
    """The complete body we propose before the admin changes anything.

    Placements come from DEFAULT_PLACEMENTS[family][type] limited to what the LMS
    supports; a type the setting does not name gets every placement it supports.
    """
    config = current_app.config
    family_defaults = config.get("DEFAULT_PLACEMENTS", {}).get(registration.family_code, {})
    messages = []
    for message in registration.supported_messages:
        kind = message["type"]
        if kind not in LAUNCH_MESSAGE_TYPES and kind not in family_defaults:
            continue
        messages.append({"type": kind, "placements": default_placements(registration, kind)})
    return {
        "platformName": labels.default_platform_name(registration.platform_url, registration.family_code),
        "autoActivate": bool(config.get("DEFAULT_AUTO_ACTIVATE", True)),
        "messages": messages,
    }


def default_placements(registration: Registration, message_type: str) -> list[str]:
    supported = supported_placements(registration, message_type)
    family_defaults = current_app.config.get("DEFAULT_PLACEMENTS", {}).get(registration.family_code, {})
    if message_type not in family_defaults:
        return supported
    wanted = set(family_defaults[message_type])
    return [placement for placement in supported if placement in wanted]


def supported_placements(registration: Registration, message_type: str) -> list[str]:
    for message in registration.supported_messages:
        if message["type"] == message_type:
            return list(message.get("placements") or [])
    return []


def current_choices(registration: Registration) -> dict[str, Any]:
    """The saved choices, or the defaults when nothing was saved yet."""
    return registration.overrides or default_choices(registration)


def auto_activate_choice_allowed() -> bool:
    return bool(current_app.config.get("ALLOW_AUTO_ACTIVATE_CHOICE", True))


def fixed_auto_activate(user: Any = None) -> bool | None:
    """The activation `user` must accept, or None when they may choose it.

    Staff always choose. Under review-later a customer's platform is always
    created inactive; otherwise the vendor's settings decide.
    """
    if is_staff(user):
        return None
    if approval_policy() == REVIEW_LATER:
        return False
    if auto_activate_choice_allowed():
        return None
    return bool(current_app.config.get("DEFAULT_AUTO_ACTIVATE", True))


def save_choices(
    db: Session, registration: Registration, choices: dict[str, Any], actor: str = ACTOR
) -> None:
    """Store `choices` (the exact LTIAAS complete body) and mark the registration reviewed."""
    registration.overrides = choices
    registration.last_error = None
    transition(db, registration, RegistrationState.REVIEWED, actor, details={"overrides": choices})
    db.commit()


# Step 5: complete


def complete(
    db: Session,
    ltiaas: LtiaasClient,
    registration: Registration,
    actor: str = ACTOR,
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
    body = choices or registration.overrides or default_choices(registration)
    if not claim_for_completion(db, registration, actor, details={"choices": body}):
        # End the losing UPDATE's transaction now: on SQLite it holds the write
        # lock, which the session store needs before this request ends.
        db.rollback()
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


# Step 6: done


def inline_scripts(html: str) -> list[str]:
    """The exact text of each inline <script> in `html` (scripts with a src are skipped)."""
    return [body for attributes, body in _INLINE_SCRIPT.findall(html) if "src=" not in attributes.lower()]


def is_active(registration: Registration) -> bool:
    """Whether the tool was asked to be active right away (else it awaits the vendor's activation)."""
    return bool((registration.overrides or {}).get("autoActivate", False))
