"""Step 3, the admin's choices: the body proposed for LTIAAS's complete, and saving what was chosen.

A choice set is always a complete LTIAAS complete body: platformName,
autoActivate and messages (each with its placements).
"""

from __future__ import annotations

from typing import Any

from flask import current_app
from sqlalchemy.orm import Session

from portal.auth.users import ANONYMOUS_ACTOR
from portal.models import Registration, RegistrationState, transition
from portal.registration import labels

# Types included by default; others (Canvas's EULA, unknown types) only when the
# vendor names them in DEFAULT_PLACEMENTS, since the tool may not handle them.
LAUNCH_MESSAGE_TYPES = ("LtiResourceLinkRequest", "LtiDeepLinkingRequest")


def _family_defaults(registration: Registration) -> dict[str, list[str]]:
    defaults: dict[str, dict[str, list[str]]] = current_app.config["DEFAULT_PLACEMENTS"]
    return defaults.get(registration.family_code, {})


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


def current_choices(registration: Registration) -> dict[str, Any]:
    """The saved choices, or the defaults when nothing was saved yet."""
    return registration.overrides or default_choices(registration)


def save_choices(
    db: Session, registration: Registration, choices: dict[str, Any], actor: str = ANONYMOUS_ACTOR
) -> None:
    """Store `choices` (the exact LTIAAS complete body) and mark the registration reviewed."""
    registration.overrides = choices
    registration.last_error = None
    transition(db, registration, RegistrationState.REVIEWED, actor, details={"overrides": choices})
    db.commit()
