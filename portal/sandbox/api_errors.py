"""LTIAAS's error body, shared by every API the LTIAAS stand-in serves."""

from __future__ import annotations

from http import HTTPStatus
from typing import Any


class LtiaasApiError(Exception):
    """An API error answered as `{status, error, details: {message, description?, ...}}`."""

    def __init__(self, status: int, message: str, description: str | None, **extra_details: Any) -> None:
        super().__init__(f"{status} {message}: {description}")
        self.status = status
        self.message = message
        self.description = description
        self.extra_details = extra_details

    def body(self) -> dict[str, Any]:
        details: dict[str, Any] = {"message": self.message}
        if self.description is not None:
            details["description"] = self.description
        details.update(self.extra_details)
        return {"status": self.status, "error": HTTPStatus(self.status).phrase, "details": details}


def unauthorized() -> LtiaasApiError:
    return LtiaasApiError(401, "INVALID_LTIK_AUTH_AUTHORIZATION_HEADER", "Invalid API key")  # as documented


def registration_not_found() -> LtiaasApiError:
    return LtiaasApiError(
        404, "REGISTRATION_NOT_FOUND", "Registration not found, expired or already completed."
    )


def platform_not_found() -> LtiaasApiError:
    return LtiaasApiError(404, "PLATFORM_NOT_FOUND", "Platform not found.")


def bad_request(description: str) -> LtiaasApiError:
    return LtiaasApiError(400, "MISSING_OR_INVALID_PARAMETER", description)
