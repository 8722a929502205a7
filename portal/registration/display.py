"""What the flow's pages show about a registration and its LMS, in plain words (view models)."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Any

from portal.ltiaas import LtiaasClient, LtiaasError, Platform
from portal.models import Registration
from portal.registration import labels

logger = logging.getLogger(__name__)

_INLINE_SCRIPT = re.compile(r"<script\b([^>]*)>(.*?)</script\s*>", re.IGNORECASE | re.DOTALL)


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


def inline_scripts(html: str) -> list[str]:
    """The exact text of each inline <script> in `html` (scripts with a src are skipped)."""
    return [body for attributes, body in _INLINE_SCRIPT.findall(html) if "src=" not in attributes.lower()]


def is_active(registration: Registration) -> bool:
    """Whether the tool was asked to be active right away (else it awaits the vendor's activation)."""
    return bool((registration.overrides or {}).get("autoActivate", False))
