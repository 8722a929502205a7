"""What the flow's pages show about a registration and its LMS, in plain words (view models)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from portal.models import Registration
from portal.registration import labels

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
    address: str  # host and path (`labels.lms_address`)
    family: labels.Family
    version: str
    scopes: tuple[tuple[str, str], ...]  # (scope, label)
    messages: tuple[MessageView, ...]


@dataclass(frozen=True)
class EarlierPlatform:
    id: str
    name: str
    active: bool


@dataclass(frozen=True)
class EarlierPlatforms:
    platforms: tuple[EarlierPlatform, ...] = ()
    lookup_failed: bool = False
    # The issuer is shared by many schools (Canvas Cloud), so a url match means nothing.
    shared_issuer: bool = False


def describe(registration: Registration) -> RegistrationView:
    return RegistrationView(
        url=registration.platform_url,
        host=labels.lms_host(registration.platform_url),
        address=labels.lms_address(registration.platform_url),
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


def earlier_platforms(registration: Registration) -> EarlierPlatforms:
    """The platforms LTIAAS held for this LMS url when the registration arrived (as stored then)."""
    if labels.is_shared_issuer(registration.platform_url):
        return EarlierPlatforms(shared_issuer=True)
    if registration.known_platforms is None:
        return EarlierPlatforms(lookup_failed=True)
    found = (
        EarlierPlatform(str(entry.get("id", "")), str(entry.get("name") or ""), entry.get("active") is True)
        for entry in registration.known_platforms
    )
    return EarlierPlatforms(platforms=tuple(found))


def inline_scripts(html: str) -> list[str]:
    """The exact text of each inline <script> in `html` (scripts with a src are skipped)."""
    return [body for attributes, body in _INLINE_SCRIPT.findall(html) if "src=" not in attributes.lower()]


def is_active(registration: Registration) -> bool:
    """Whether the tool was asked to be active right away (else it awaits the vendor's activation)."""
    return bool((registration.overrides or {}).get("autoActivate", False))
