"""Step 3, the admin's choices: the body proposed for LTIAAS's complete, and saving what was chosen.

A choice set is always a complete LTIAAS complete body: platformName,
autoActivate and messages (each with its placements).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask import current_app
from sqlalchemy.orm import Session

from portal.auth.users import ANONYMOUS_ACTOR
from portal.models import Registration, RegistrationState, User, newest_choices_for_lms, transition
from portal.registration import labels

# Types included by default; others (Canvas's EULA, unknown types) only when the
# vendor names them in DEFAULT_PLACEMENTS, since the tool may not handle them.
LAUNCH_MESSAGE_TYPES = ("LtiResourceLinkRequest", "LtiDeepLinkingRequest")


def _family_defaults(registration: Registration) -> dict[str, list[str]]:
    """DEFAULT_PLACEMENTS of the registration's LMS family, by the family's name in the console
    (`brightspace`, `sakai`, ...), else by the code the LMS sent (`desire2learn`, `sakailms.org`)."""
    defaults: dict[str, dict[str, list[str]]] = current_app.config["DEFAULT_PLACEMENTS"]
    by_name = defaults.get(labels.family_slug(registration.family_code))
    return by_name if by_name is not None else defaults.get(registration.family_code, {})


def default_choices(registration: Registration) -> dict[str, Any]:
    """The complete body we propose before the admin changes anything.

    Placements come from DEFAULT_PLACEMENTS[family][type] limited to what the LMS
    supports; a type the setting does not name gets every placement it supports.
    """
    family_defaults = _family_defaults(registration)
    messages = []
    for message in registration.supported_messages:
        kind = message["type"]
        if kind not in LAUNCH_MESSAGE_TYPES and kind not in family_defaults:
            continue
        messages.append({"type": kind, "placements": default_placements(registration, kind)})
    return {
        "platformName": labels.default_platform_name(
            registration.platform_url, registration.family_code, registration.account_name
        ),
        "autoActivate": bool(current_app.config["DEFAULT_AUTO_ACTIVATE"]),
        "messages": messages,
    }


def default_placements(registration: Registration, message_type: str) -> list[str]:
    supported = supported_placements(registration, message_type)
    family_defaults = _family_defaults(registration)
    if message_type not in family_defaults:
        return supported
    wanted = set(family_defaults[message_type])
    return [placement for placement in supported if placement in wanted]


def default_placements_by_type(registration: Registration) -> dict[str, list[str]]:
    """`default_placements` of every message type the LMS supports."""
    return {m["type"]: default_placements(registration, m["type"]) for m in registration.supported_messages}


def supported_placements(registration: Registration, message_type: str) -> list[str]:
    for message in registration.supported_messages:
        if message["type"] == message_type:
            return list(message.get("placements") or [])
    return []


def current_choices(registration: Registration, remembered: dict[str, Any] | None = None) -> dict[str, Any]:
    """The saved choices; else `remembered` (`remembered_choices`); else the defaults."""
    return registration.overrides or remembered or default_choices(registration)


@dataclass(frozen=True)
class Remembered:
    """What the customer chose for an earlier registration of the same LMS, fitted to this one."""

    choices: dict[str, Any]
    saved_at: datetime


def remembered_choices(db: Session, registration: Registration, user: User | None) -> Remembered | None:
    """`user`'s choices for their newest earlier registration of this LMS address (a dialog closed
    and started again, or the LMS's tool registered anew), limited to what this one supports; None
    when there are none, or nothing of them fits."""
    if user is None or registration.overrides:
        return None
    earlier = newest_choices_for_lms(db, registration, user.id)
    if earlier is None or not earlier.overrides:
        return None
    messages = _supported_only(registration, earlier.overrides.get("messages") or [])
    if not messages:
        return None
    choices = {**default_choices(registration), **earlier.overrides, "messages": messages}
    return Remembered(choices, earlier.updated_at)


def _supported_only(registration: Registration, messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    offered = {
        message["type"]: set(message.get("placements") or []) for message in registration.supported_messages
    }
    fitted = []
    for message in messages:
        kind = message.get("type")
        if kind in offered:
            placements = [p for p in message.get("placements") or [] if p in offered[kind]]
            fitted.append({"type": kind, "placements": placements})
    return fitted


def save_choices(
    db: Session, registration: Registration, choices: dict[str, Any], actor: str = ANONYMOUS_ACTOR
) -> None:
    """Store `choices` (the exact LTIAAS complete body) and mark the registration reviewed."""
    registration.overrides = choices
    registration.last_error = None
    transition(db, registration, RegistrationState.REVIEWED, actor, details={"overrides": choices})
    db.commit()
