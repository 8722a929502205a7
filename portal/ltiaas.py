"""The one module that talks to LTIAAS (or the sandbox standing in for it).

INTERFACE DRAFT: types, errors and method signatures are fixed; bodies are
being implemented.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from flask import current_app


class InvalidIdentifier(ValueError):
    """A registrationId or platformId from outside that is not a bounded, URL-safe token."""


class LtiaasError(Exception):
    """Any failure talking to LTIAAS. `status` is the HTTP status when there was one."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        details_message: str | None = None,
        details_description: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.details_message = details_message
        self.details_description = details_description


class RegistrationNotFound(LtiaasError):
    """LTIAAS does not know the registrationId (unknown, expired or already used): 4xx on a registration."""


class LtiaasUnauthorized(LtiaasError):
    """LTIAAS refused our API key (401/403 auth): an operator problem, never the user's."""


class LtiaasUnavailable(LtiaasError):
    """LTIAAS could not be reached in time or answered 5xx."""


class LtiaasInvalidResponse(LtiaasError):
    """LTIAAS answered 2xx with something that is not the documented JSON shape."""


class LtiaasRequestRejected(LtiaasError):
    """Any other 4xx (e.g. 403 "Platform already registered.", 400, 404 on a platform)."""


@dataclass(frozen=True)
class SupportedMessage:
    type: str
    placements: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.type, "placements": list(self.placements)}


@dataclass(frozen=True)
class RegistrationDetails:
    """GET /api/registrations/{id}: what the LMS told LTIAAS about itself."""

    url: str
    family_code: str
    version: str
    supported_scopes: tuple[str, ...]
    supported_messages: tuple[SupportedMessage, ...]
    # True when the LMS listed messages as plain strings (Moodle before 4.x).
    legacy_message_shape: bool = False


@dataclass(frozen=True)
class RawRegistration:
    """GET /api/registrations/{id}?raw=true."""

    openid_configuration: dict[str, Any]
    registration_token: str | None


@dataclass(frozen=True)
class CompletionResult:
    platform_id: str
    html: str


@dataclass(frozen=True)
class Platform:
    id: str
    url: str
    client_id: str
    name: str
    authentication_endpoint: str
    accesstoken_endpoint: str
    auth_config: dict[str, Any]
    public_key: str | None
    active: bool
    authorization_server: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def get_ltiaas() -> LtiaasClient:
    """The app's LTIAAS client (built once in the factory)."""
    return current_app.extensions["ltiaas"]


class LtiaasClient:
    """Placeholder; being implemented."""

    @classmethod
    def from_config(cls, config: Any) -> LtiaasClient:
        return cls()


def init_ltiaas(app: Any) -> None:
    app.extensions["ltiaas"] = LtiaasClient.from_config(app.config)
