"""The sandbox LMS's profiles: real OpenID configurations, served under the LMS's own base URL.

`lms_profiles.json` is a copy of the shared reference file; `{base}` in it stands for
the profile's base URL in the sandbox, `{host}` for the LMS's host name.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from enum import StrEnum
from functools import cache
from importlib import resources
from typing import Any
from urllib.parse import urlsplit

PLATFORM_CONFIGURATION = "https://purl.imsglobal.org/spec/lti-platform-configuration"
TOOL_CONFIGURATION = "https://purl.imsglobal.org/spec/lti-tool-configuration"
LMS_MOUNT = "/sandbox/lms"
# Its endpoints are Anthology's developer portal's own, not `{base}`: the sandbox cannot serve them,
# and its stand-in LTIAAS refuses a registration endpoint off the configuration's host.
UNPLAYABLE_PROFILES = frozenset({"blackboard-developer-portal"})
# What a newcomer sees on the admin page: a name, and what makes this LMS different.
PROFILE_LABELS: dict[str, tuple[str, str]] = {
    "moodle-4.4": ("Moodle 4.4", "Messages as objects; deep linking in ContentArea."),
    "moodle-3.11": ("Moodle 3.11", "Older shape: messages as plain strings beside one placements list."),
    "canvas": (
        "Canvas",
        "Issuer is always canvas.instructure.com; token repeated in the configuration URL; "
        "needs a User-Agent; answers errors as 422.",
    ),
    "sakai": ("Sakai", "Family code sakailms.org; messages without placements."),
    "brightspace": ("Brightspace", "No registration token; opens a new tab; new tools start disabled."),
}


class Validation(StrEnum):
    """Whose rules the LMS checks a registration request by."""

    # Every field as the spec describes it (Sakai, Brightspace: not checked against their source).
    STRICT = "strict"
    # moodle/moodle mod/lti/classes/local/ltiopenid/registration_helper.php
    MOODLE = "moodle"
    # instructure/canvas-lms app/models/lti/ims/registration.rb
    CANVAS = "canvas"


# By product_family_code: the family's own rules where the sandbox has read its source.
VALIDATION_BY_FAMILY = {"moodle": Validation.MOODLE, "canvas": Validation.CANVAS}


class UnknownProfile(LookupError):
    """No playable profile has this name."""


@dataclass(frozen=True)
class Profile:
    """One LMS as the sandbox plays it."""

    name: str
    window: str
    sends_registration_token: bool
    requires_user_agent: bool
    canvas_errors: bool
    openid_configuration_path: str
    configuration_template: dict[str, Any]

    @property
    def family_code(self) -> str:
        return str(self.configuration_template[PLATFORM_CONFIGURATION]["product_family_code"])

    @property
    def plain_text_errors(self) -> bool:
        """Moodle answers a refused registration with its message as plain text, not JSON."""
        return self.family_code == "moodle"

    @property
    def validation(self) -> Validation:
        return VALIDATION_BY_FAMILY.get(self.family_code, Validation.STRICT)

    @property
    def version(self) -> str:
        return str(self.configuration_template[PLATFORM_CONFIGURATION]["version"])

    @property
    def label(self) -> str:
        return PROFILE_LABELS.get(self.name, (self.name, ""))[0]

    @property
    def notes(self) -> str:
        return PROFILE_LABELS.get(self.name, (self.name, ""))[1]

    @property
    def opens_new_tab(self) -> bool:
        return self.window == "new tab"

    def base_url(self, lms_url: str) -> str:
        return f"{lms_url}{LMS_MOUNT}/{self.name}"

    def configuration(self, lms_url: str) -> dict[str, Any]:
        """The OpenID configuration as this LMS serves it from `lms_url`."""
        base = self.base_url(lms_url)
        host = urlsplit(lms_url).hostname or ""
        filled: dict[str, Any] = _fill(copy.deepcopy(self.configuration_template), base, host)
        return filled

    def configuration_url(self, lms_url: str) -> str:
        return self.base_url(lms_url) + self.openid_configuration_path

    def registration_path(self) -> str:
        """The registration endpoint's path below the profile's base."""
        endpoint: str = self.configuration_template["registration_endpoint"]
        return endpoint.removeprefix("{base}")

    def supported_placements(self) -> dict[str, frozenset[str]]:
        """Message type -> the placements this LMS accepts for it."""
        return supported_placements(self.configuration_template)


def _fill(value: Any, base: str, host: str) -> Any:
    if isinstance(value, str):
        return value.replace("{base}", base).replace("{host}", host)
    if isinstance(value, list):
        return [_fill(item, base, host) for item in value]
    if isinstance(value, dict):
        return {key: _fill(item, base, host) for key, item in value.items()}
    return value


def supported_placements(configuration: dict[str, Any]) -> dict[str, frozenset[str]]:
    """Message type -> supported placements, from an OpenID configuration of either shape.

    Moodle before 4.x lists messages as plain strings beside a top-level
    `placements` list, which applies to deep linking (its content-item picker).
    """
    platform = configuration.get(PLATFORM_CONFIGURATION) or {}
    legacy_placements = frozenset(p for p in platform.get("placements") or [] if isinstance(p, str))
    supported: dict[str, frozenset[str]] = {}
    for message in platform.get("messages_supported") or []:
        if isinstance(message, str):
            placements = legacy_placements if message == "LtiDeepLinkingRequest" else frozenset()
            supported[message] = placements
        elif isinstance(message, dict) and isinstance(message.get("type"), str):
            raw = message.get("placements") or []
            supported[message["type"]] = frozenset(p for p in raw if isinstance(p, str))
    return supported


@cache
def _raw_profiles() -> dict[str, dict[str, Any]]:
    text = resources.files("portal.sandbox").joinpath("lms_profiles.json").read_text(encoding="utf-8")
    profiles: dict[str, dict[str, Any]] = json.loads(text)["profiles"]
    return profiles


def _profile(name: str, raw: dict[str, Any]) -> Profile:
    return Profile(
        name=name,
        window=raw.get("window", "iframe"),
        sends_registration_token=bool(raw.get("sends_registration_token")),
        requires_user_agent=bool(raw.get("requires_user_agent")),
        canvas_errors=raw.get("error_style", "").startswith("422"),
        openid_configuration_path=raw["openid_configuration_path"],
        configuration_template=raw["configuration"],
    )


@cache
def playable_profiles() -> dict[str, Profile]:
    """Every profile the sandbox LMS can play, by name, in the file's order."""
    return {
        name: _profile(name, raw) for name, raw in _raw_profiles().items() if name not in UNPLAYABLE_PROFILES
    }


def get_profile(name: str) -> Profile:
    """The playable profile `name`; raises UnknownProfile."""
    try:
        return playable_profiles()[name]
    except KeyError:
        raise UnknownProfile(name) from None


def unplayable_profiles() -> dict[str, str]:
    """Profiles left out, with the source's own words on why."""
    raw = _raw_profiles()
    return {name: raw[name].get("source", "") for name in UNPLAYABLE_PROFILES if name in raw}
