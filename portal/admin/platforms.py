"""The platforms LTIAAS holds for the tool, as the staff see and change them.

Reading: every platform LTIAAS lists (the portal's own and those registered by hand),
each with the registration it came from and that registration's customer where the
portal knows them, grouped by LMS address so that duplicates stand out. A staff read
also refreshes what the portal remembers of each platform (`Registration.platform_active`
and `platform_name`), which is what customers' pages show without asking LTIAAS.

Changing: activate, deactivate, rename (LTIAAS's update is a full replace, so the
platform is read first and written back whole) and delete. Each runs once per form:
the form's token is claimed in `platform_actions` (a unique column) before LTIAAS is
called, so a double submit makes one LTIAAS call and one audit entry. The outcome is
only "done" when LTIAAS said so (or, after an answer that never came, a fresh read
shows it done); otherwise "failed" when LTIAAS certainly did nothing, or "unknown".
Every action is audited once, with its outcome, as `platform:<kind>`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from portal.customers import customers_of
from portal.ltiaas import (
    LtiaasClient,
    LtiaasError,
    LtiaasInvalidResponse,
    LtiaasRequestRejected,
    LtiaasUnauthorized,
    LtiaasUnavailable,
    Platform,
    PlatformNotFound,
    validate_identifier,
)
from portal.models import (
    PlatformAction,
    PlatformActionKind,
    PlatformActionState,
    Registration,
    fit_platform_name,
    record_event,
    utcnow,
)
from portal.notifications import customer_emails
from portal.registration import labels

logger = logging.getLogger(__name__)

# The fields LTIAAS's update requires (PartialPlatform): a rename writes all of them back.
PARTIAL_PLATFORM_FIELDS = (
    "url",
    "clientId",
    "name",
    "authenticationEndpoint",
    "accesstokenEndpoint",
    "authConfig",
)
NAME_MAX = 255
RECENT_ACTIONS = 20


# Reading


@dataclass(frozen=True)
class PlatformRow:
    """A platform at LTIAAS, with where it came from when the portal knows."""

    platform: Platform
    registration: Registration | None = None
    customer: str | None = None

    @property
    def registered_by_hand(self) -> bool:
        """No registration of this portal created it: someone registered it by hand (or elsewhere)."""
        return self.registration is None


@dataclass(frozen=True)
class LmsGroup:
    """The platforms of one LMS address (issuer)."""

    url: str
    rows: tuple[PlatformRow, ...]

    @property
    def host(self) -> str:
        return labels.lms_host(self.url)

    @property
    def shared_issuer(self) -> bool:
        """Many separate schools share this address (Canvas Cloud): several platforms are normal."""
        return labels.is_shared_issuer(self.url)

    @property
    def has_duplicates(self) -> bool:
        return len(self.rows) > 1 and not self.shared_issuer


@dataclass(frozen=True)
class PlatformListing:
    """The staff's view of LTIAAS's platforms; `error` says why there is none."""

    groups: tuple[LmsGroup, ...] = ()
    error: str | None = None

    @property
    def rows(self) -> list[PlatformRow]:
        return [row for group in self.groups for row in group.rows]

    @property
    def active_count(self) -> int:
        return sum(1 for row in self.rows if row.platform.active)


@dataclass(frozen=True)
class PlatformDetail:
    """One platform as LTIAAS has it now, or why it could not be read (`error`, `not_found`)."""

    platform_id: str
    row: PlatformRow | None = None
    error: str | None = None
    not_found: bool = False
    actions: tuple[PlatformAction, ...] = field(default_factory=tuple)


def read_failure(error: LtiaasError) -> str:
    """Why LTIAAS's platforms could not be read, in words for the staff."""
    if isinstance(error, LtiaasUnauthorized):
        return (
            "LTIAAS refused the portal's API key, so its platforms cannot be shown. Check the "
            "LTIAAS_API_KEY and LTIAAS_URL settings."
        )
    if isinstance(error, LtiaasUnavailable):
        return f"LTIAAS could not be read just now ({error}). Try again in a minute."
    if isinstance(error, LtiaasInvalidResponse):
        return f"LTIAAS answered in a way the portal could not read ({error})."
    return f"LTIAAS refused to list its platforms ({error})."


def list_platforms(db: Session, ltiaas: LtiaasClient) -> PlatformListing:
    """Every platform LTIAAS holds (one call, within the client's read budget), grouped by LMS address."""
    try:
        platforms = ltiaas.list_platforms()
    except LtiaasError as error:
        logger.warning("could not list LTIAAS's platforms: %s", type(error).__name__)
        return PlatformListing(error=read_failure(error))
    rows = _rows_for(db, platforms)
    by_url: dict[str, list[PlatformRow]] = {}
    for row in rows:
        by_url.setdefault(_address_key(row.platform.url), []).append(row)
    groups = [
        LmsGroup(url=members[0].platform.url, rows=tuple(sorted(members, key=_row_order)))
        for members in by_url.values()
    ]
    groups.sort(key=lambda group: (not group.has_duplicates, group.host, group.url))
    return PlatformListing(groups=tuple(groups))


def read_platform(db: Session, ltiaas: LtiaasClient, platform_id: str) -> PlatformDetail:
    """One platform from LTIAAS (one call), with its registration and the staff's recent actions on it.

    :raise InvalidIdentifier: `platform_id` is not a safe LTIAAS id (nothing is sent).
    """
    actions = recent_actions(db, platform_id)
    try:
        platform = ltiaas.get_platform(platform_id)
    except PlatformNotFound:
        return PlatformDetail(platform_id, not_found=True, actions=actions)
    except LtiaasError as error:
        logger.warning("could not read LTIAAS platform: %s", type(error).__name__)
        return PlatformDetail(platform_id, error=read_failure(error), actions=actions)
    (row,) = _rows_for(db, [platform])
    return PlatformDetail(platform_id, row=row, actions=actions)


def recent_actions(db: Session, platform_id: str) -> tuple[PlatformAction, ...]:
    return tuple(
        db.scalars(
            select(PlatformAction)
            .where(PlatformAction.platform_id == platform_id)
            .order_by(PlatformAction.id.desc())
            .limit(RECENT_ACTIONS)
        )
    )


def _address_key(url: str) -> str:
    return url.rstrip("/").lower()


def _row_order(row: PlatformRow) -> tuple[str, str]:
    return (row.platform.name.lower(), row.platform.id)


def _rows_for(db: Session, platforms: list[Platform]) -> list[PlatformRow]:
    """The platforms with their registrations and customers; remembers what LTIAAS says of them."""
    registrations = _registrations_by_platform(db, [platform.id for platform in platforms])
    customers = customers_of(db, registrations.values())
    _remember(db, platforms, registrations)
    rows = []
    for platform in platforms:
        registration = registrations.get(platform.id)
        customer = customers.get(registration.id) if registration is not None else None
        rows.append(PlatformRow(platform, registration, customer))
    return rows


def _registrations_by_platform(db: Session, platform_ids: Iterable[str]) -> dict[str, Registration]:
    """The registration that created each platform (the newest, should LTIAAS ever reuse an id)."""
    ids = list(platform_ids)
    found: dict[str, Registration] = {}
    for start in range(0, len(ids), 500):  # stay far below every database's bound-parameter limit
        chunk = ids[start : start + 500]
        for registration in db.scalars(
            select(Registration).where(Registration.platform_id.in_(chunk)).order_by(Registration.id)
        ):
            if registration.platform_id is not None:
                found[registration.platform_id] = registration
    return found


@dataclass(frozen=True)
class RememberedChange:
    """What a read of LTIAAS changed in the portal's copy of one registration's platform."""

    registration: Registration
    was_active: bool | None
    renamed: bool
    customer_told: bool

    def line(self) -> str:
        registration = self.registration
        what = []
        if registration.platform_active is not self.was_active:
            what.append("now active" if registration.platform_active else "now inactive")
        if self.renamed:
            what.append(f'now named "{registration.platform_name}"')
        told = " (the customer is e-mailed)" if self.customer_told else ""
        return (
            f"{registration.public_id} {labels.lms_host(registration.platform_url)}: {', '.join(what)}{told}"
        )


@dataclass(frozen=True)
class Refresh:
    """A read of every platform LTIAAS holds, and what it changed; `error` says why there was none."""

    platforms_read: int = 0
    changes: tuple[RememberedChange, ...] = ()
    error: str | None = None

    def summary(self) -> str:
        if self.error is not None:
            return self.error
        told = sum(1 for change in self.changes if change.customer_told)
        return (
            f"Read {self.platforms_read} platforms from LTIAAS: {len(self.changes)} registrations "
            f"changed, {told} customers to be e-mailed that their LMS is active."
        )


def refresh_remembered(db: Session, ltiaas: LtiaasClient) -> Refresh:
    """Read every platform from LTIAAS (one call) and remember what it says of the portal's
    registrations, as a staff member's read of the platforms page does: for a timer, so that a
    platform activated on LTIAAS's own dashboard is learnt (and its customer told) without one."""
    try:
        platforms = ltiaas.list_platforms()
    except LtiaasError as error:
        logger.warning("could not list LTIAAS's platforms: %s", type(error).__name__)
        return Refresh(error=read_failure(error))
    registrations = _registrations_by_platform(db, [platform.id for platform in platforms])
    changes = _remember(db, platforms, registrations)
    return Refresh(platforms_read=len(platforms), changes=tuple(changes))


def _remember(
    db: Session, platforms: list[Platform], registrations: dict[str, Registration]
) -> list[RememberedChange]:
    """Keep the portal's copy of LTIAAS's truth current (what customers' pages show); one commit."""
    changes = []
    for platform in platforms:
        registration = registrations.get(platform.id)
        if registration is None:
            continue
        name = fit_platform_name(platform.name) or registration.platform_name
        if registration.platform_active is not platform.active or registration.platform_name != name:
            was_active, renamed = registration.platform_active, registration.platform_name != name
            registration.platform_active = platform.active
            registration.platform_name = name
            told = _tell_customer_if_now_active(db, registration, was_active)  # activated outside the portal
            changes.append(RememberedChange(registration, was_active, renamed, told))
    if changes:
        db.commit()
    return changes


def _tell_customer_if_now_active(db: Session, registration: Registration, was_active: bool | None) -> bool:
    """The customer hears when a platform known to be inactive becomes active, whoever activated
    it (the done page promised it); `customer_emails` tells them once per registration. True if
    an e-mail was queued."""
    if was_active is False and registration.platform_active is True:
        return customer_emails.tool_active(db, registration)
    return False


# Changing


@dataclass(frozen=True)
class ActionResult:
    """The action a form asked for, and whether this request carried it out (False: a repeat)."""

    action: PlatformAction
    carried_out: bool


@dataclass(frozen=True)
class _Effect:
    """How one kind of action runs at LTIAAS, shows in a fresh read, and changes the registration."""

    call: Callable[[LtiaasClient, str, dict[str, Any]], None]
    shows_done: Callable[[Platform, dict[str, Any]], bool]
    apply: Callable[[Registration, dict[str, Any]], None]


def activate(
    db: Session, ltiaas: LtiaasClient, platform_id: str, staff_email: str, token: str
) -> ActionResult:
    """Let the platform launch the tool."""
    return _carry_out(db, ltiaas, PlatformActionKind.ACTIVATE, platform_id, staff_email, token, {})


def deactivate(
    db: Session, ltiaas: LtiaasClient, platform_id: str, staff_email: str, token: str
) -> ActionResult:
    """Refuse the platform's launches until it is activated again."""
    return _carry_out(db, ltiaas, PlatformActionKind.DEACTIVATE, platform_id, staff_email, token, {})


def rename(
    db: Session, ltiaas: LtiaasClient, platform_id: str, new_name: str, staff_email: str, token: str
) -> ActionResult:
    """Rename the platform: read it, then write back its six required fields with the name changed."""
    name = " ".join(new_name.split())[:NAME_MAX]
    return _carry_out(db, ltiaas, PlatformActionKind.RENAME, platform_id, staff_email, token, {"name": name})


def delete(db: Session, ltiaas: LtiaasClient, platform_id: str, staff_email: str, token: str) -> ActionResult:
    """Delete the platform at LTIAAS for good; its registration, if any, notes it."""
    return _carry_out(db, ltiaas, PlatformActionKind.DELETE, platform_id, staff_email, token, {})


def _carry_out(
    db: Session,
    ltiaas: LtiaasClient,
    kind: PlatformActionKind,
    platform_id: str,
    staff_email: str,
    token: str,
    asked: dict[str, Any],
) -> ActionResult:
    """:raise InvalidIdentifier: `platform_id` is not a safe LTIAAS id (nothing is claimed or sent)."""
    validate_identifier(platform_id)
    registration = _registrations_by_platform(db, [platform_id]).get(platform_id)
    action, won = _claim(db, token, platform_id, kind, staff_email, registration, asked)
    if not won:
        return ActionResult(action, carried_out=False)
    effect = _EFFECTS[kind]
    details = dict(action.details)  # the call notes what it found (e.g. the old name) in its own copy
    try:
        effect.call(ltiaas, platform_id, details)
    except LtiaasError as error:
        state, message = _failure(error)
        if state is PlatformActionState.UNKNOWN and _fresh_read_shows_done(
            ltiaas, platform_id, effect, details
        ):
            state, message = (
                PlatformActionState.DONE,
                "LTIAAS did not answer in time, but a fresh read shows it done.",
            )
        _finish(db, action, details, state, message, error)
    else:
        _finish(db, action, details, PlatformActionState.DONE, None, None)
    if action.current_state is PlatformActionState.DONE and registration is not None:
        was_active = registration.platform_active
        effect.apply(registration, action.details)
        _tell_customer_if_now_active(db, registration, was_active)
    db.commit()
    return ActionResult(action, carried_out=True)


def _claim(
    db: Session,
    token: str,
    platform_id: str,
    kind: PlatformActionKind,
    actor: str,
    registration: Registration | None,
    asked: dict[str, Any],
) -> tuple[PlatformAction, bool]:
    """Insert the action under the form's token and commit; or return the row already there (a repeat)."""
    action = PlatformAction(
        token=token,
        platform_id=platform_id,
        kind=kind.value,
        actor=actor,
        registration=registration,
        details=dict(asked),
    )
    db.add(action)
    try:
        db.commit()
    except IntegrityError:
        db.rollback()
        existing = db.scalar(select(PlatformAction).where(PlatformAction.token == token))
        if existing is None:
            raise
        return existing, False
    return action, True


def _finish(
    db: Session,
    action: PlatformAction,
    details: dict[str, Any],
    state: PlatformActionState,
    message: str | None,
    error: LtiaasError | None,
) -> None:
    """Record what came of the action, and audit it once (with the registration when known)."""
    action.state = state.value
    action.details = details
    action.message = message
    action.finished_at = utcnow()
    audited: dict[str, Any] = {"platform": action.platform_id, "outcome": state.value, **details}
    if message:
        audited["message"] = message
    if error is not None:
        audited["error"] = type(error).__name__
        audited["status"] = error.status
    record_event(db, f"platform:{action.kind}", action.actor, action.registration, details=audited)


class _ReadFailed(LtiaasError):
    """The read before a write failed: the write was never sent."""

    def __init__(self, error: LtiaasError) -> None:
        super().__init__(str(error), status=error.status, request_sent=False)


def _failure(error: LtiaasError) -> tuple[PlatformActionState, str]:
    """What a failed call says about what LTIAAS did: certainly nothing, or perhaps it acted."""
    if isinstance(error, _ReadFailed):
        return PlatformActionState.FAILED, (
            f"The platform could not be read from LTIAAS first ({error}), so nothing was changed. Try again."
        )
    if isinstance(error, PlatformNotFound):
        return (
            PlatformActionState.FAILED,
            "LTIAAS has no platform with this id (was it deleted?). Nothing was done.",
        )
    if isinstance(error, LtiaasUnauthorized):
        return PlatformActionState.FAILED, (
            "LTIAAS refused the portal's API key, so nothing was done. Check the LTIAAS_API_KEY "
            "and LTIAAS_URL settings."
        )
    if isinstance(error, LtiaasRequestRejected):
        said = error.said or f"HTTP {error.status}"
        return PlatformActionState.FAILED, f"LTIAAS refused it ({said}), so nothing was done."
    if not error.request_sent:
        return PlatformActionState.FAILED, "LTIAAS could not be reached, so nothing was done. Try again."
    if isinstance(error, LtiaasUnavailable) and error.status in (408, 429):
        return PlatformActionState.FAILED, (
            f"LTIAAS was busy and refused it before acting (HTTP {error.status}), so nothing was done. "
            "Try again in a minute."
        )
    return PlatformActionState.UNKNOWN, (
        f"LTIAAS did not give a usable answer ({error}), so it may or may not have done it. "
        "The page shows what LTIAAS says now; trying again is safe."
    )


def _fresh_read_shows_done(
    ltiaas: LtiaasClient, platform_id: str, effect: _Effect, details: dict[str, Any]
) -> bool:
    """After an answer that never came: one read (within the read budget) to see whether it was done."""
    try:
        platform = ltiaas.get_platform(platform_id)
    except PlatformNotFound:
        return effect is _EFFECTS[PlatformActionKind.DELETE]
    except LtiaasError:
        return False
    return effect.shows_done(platform, details)


# Each kind of action


def _rename_call(ltiaas: LtiaasClient, platform_id: str, details: dict[str, Any]) -> None:
    """GET, then PUT the whole PartialPlatform back with the new name (LTIAAS's update replaces)."""
    try:
        platform = ltiaas.get_platform(platform_id)
    except PlatformNotFound:
        raise
    except LtiaasError as error:
        raise _ReadFailed(error) from error
    details["old_name"] = platform.name
    if platform.name == details["name"]:
        details["unchanged"] = True
        return
    ltiaas.update_platform(platform_id, replacement_with_name(platform, details["name"]))


def replacement_with_name(platform: Platform, name: str) -> dict[str, Any]:
    """The six fields LTIAAS's update requires, as read, with `name` changed."""
    return {
        "url": platform.url,
        "clientId": platform.client_id,
        "name": name,
        "authenticationEndpoint": platform.authentication_endpoint,
        "accesstokenEndpoint": platform.accesstoken_endpoint,
        "authConfig": dict(platform.auth_config),
    }


def _delete_call(ltiaas: LtiaasClient, platform_id: str, details: dict[str, Any]) -> None:
    """DELETE; a 404 means it is gone already (another staff member, or an earlier retry)."""
    try:
        ltiaas.delete_platform(platform_id)
    except PlatformNotFound:
        details["already_gone"] = True


def _set_active(registration: Registration, active: bool) -> None:
    registration.platform_active = active


def _set_name(registration: Registration, details: dict[str, Any]) -> None:
    registration.platform_name = details["name"]


def _set_deleted(registration: Registration, details: dict[str, Any]) -> None:
    if registration.platform_deleted_at is None:
        registration.platform_deleted_at = utcnow()


_EFFECTS: dict[PlatformActionKind, _Effect] = {
    PlatformActionKind.ACTIVATE: _Effect(
        call=lambda ltiaas, platform_id, _: ltiaas.activate_platform(platform_id),
        shows_done=lambda platform, _: platform.active,
        apply=lambda registration, _: _set_active(registration, True),
    ),
    PlatformActionKind.DEACTIVATE: _Effect(
        call=lambda ltiaas, platform_id, _: ltiaas.deactivate_platform(platform_id),
        shows_done=lambda platform, _: not platform.active,
        apply=lambda registration, _: _set_active(registration, False),
    ),
    PlatformActionKind.RENAME: _Effect(
        call=_rename_call,
        shows_done=lambda platform, details: platform.name == details["name"],
        apply=_set_name,
    ),
    PlatformActionKind.DELETE: _Effect(
        call=_delete_call,
        shows_done=lambda platform, _: False,
        apply=_set_deleted,
    ),
}
