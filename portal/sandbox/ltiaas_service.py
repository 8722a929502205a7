"""The LTIAAS stand-in's registrations: receive from the LMS, read, and complete.

`receive_registration` plays LTIAAS's `/lti/register` with pre-approval on;
`complete_registration` builds a real Dynamic Registration request and posts it
to the LMS, then creates the platform. Each registrationId completes at most
once: a conditional UPDATE (pending -> completing) decides between racing calls.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import timedelta
from http import HTTPStatus
from typing import Any
from urllib.parse import urlsplit

import requests
from sqlalchemy.orm import Session

from portal.db import update_if
from portal.models import utcnow
from portal.sandbox.api_errors import LtiaasApiError, bad_request, registration_not_found
from portal.sandbox.models import RegistrationStatus, SandboxLtiaasRegistration, SandboxPlatform
from portal.sandbox.platforms import new_platform_id, placeholder_public_key, refuse_duplicate
from portal.sandbox.profiles import PLATFORM_CONFIGURATION, TOOL_CONFIGURATION, supported_placements

CLOSE_HTML = (
    "<script>(window.opener || window.parent).postMessage({subject:'org.imsglobal.lti.close'}, '*');</script>"
)
USER_AGENT = "approval-portal-sandbox-ltiaas/1.0 (+LTI Dynamic Registration)"
TIMEOUT = (3.05, 10)
DEFAULT_CLIENT_NAME = "Sandbox Tool"
# The scopes ltijs (the engine under LTIAAS) asks every LMS for, whatever the vendor's tool: grades
# (AGS) and the class roster (NRPS). Never the LMS's whole `scopes_supported`, which for Canvas holds
# Canvas's own API and registration scopes.
TOOL_SCOPES = (
    "https://purl.imsglobal.org/spec/lti-ags/scope/lineitem.readonly",
    "https://purl.imsglobal.org/spec/lti-ags/scope/lineitem",
    "https://purl.imsglobal.org/spec/lti-ags/scope/score",
    "https://purl.imsglobal.org/spec/lti-ags/scope/result.readonly",
    "https://purl.imsglobal.org/spec/lti-nrps/scope/contextmembership.readonly",
)


class RegisterError(Exception):
    """`/lti/register` cannot go on; shown to the LMS admin as a small HTML page."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class ToolUrls:
    """The fake tool LTIAAS registers, under the portal's origin, with the name the vendor gave it on
    LTIAAS's dashboard (what the LMS lists it as; the platform's name is LTIAAS's own label)."""

    portal_url: str
    name: str = DEFAULT_CLIENT_NAME

    @property
    def domain(self) -> str:
        return urlsplit(self.portal_url).netloc

    def url(self, name: str) -> str:
        return f"{self.portal_url}/sandbox/tool/{name}"


def _origin(url: str) -> tuple[str, int | None]:
    parts = urlsplit(url)
    default_port = {"http": 80, "https": 443}.get(parts.scheme)
    return (parts.hostname or "").lower(), parts.port or default_port


def _fetch_configuration(url: str, token: str | None) -> dict[str, Any]:
    headers = {"User-Agent": USER_AGENT, "Accept": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    try:
        response = requests.get(url, headers=headers, timeout=TIMEOUT, allow_redirects=False)
    except requests.RequestException as error:
        reason = type(error).__name__
        raise RegisterError(502, f"Could not reach the LMS's OpenID configuration ({reason}).") from error
    if response.status_code != 200:
        raise RegisterError(502, f"The LMS's OpenID configuration answered HTTP {response.status_code}.")
    try:
        configuration = response.json()
    except ValueError:
        raise RegisterError(502, "The LMS's OpenID configuration is not valid JSON.") from None
    if not isinstance(configuration, dict):
        raise RegisterError(502, "The LMS's OpenID configuration is not a JSON object.")
    return configuration


def _check_configuration(url: str, configuration: dict[str, Any]) -> None:
    if not isinstance(configuration.get("issuer"), str) or not configuration["issuer"]:
        raise RegisterError(400, "The LMS's OpenID configuration has no issuer.")
    endpoint = configuration.get("registration_endpoint")
    if not isinstance(endpoint, str) or not endpoint.startswith(("http://", "https://")):
        raise RegisterError(400, "The LMS's OpenID configuration has no registration endpoint.")
    # The sandbox's own check, stricter than ltijs (which checks neither, lti-dynamic-registration.md):
    # it fetches whatever URL it is given, and must not post a registration to another host. The
    # endpoint, not the issuer: Canvas's issuer is https://canvas.instructure.com for every school.
    if _origin(endpoint) != _origin(url):
        raise RegisterError(400, "The registration endpoint is not on the host of the OpenID configuration.")


def receive_registration(
    session: Session, openid_configuration: str | None, registration_token: str | None, *, lifetime: int
) -> SandboxLtiaasRegistration:
    """Fetch and check the LMS's configuration, then keep it under a new registrationId (commits)."""
    if not openid_configuration:
        raise RegisterError(400, "The openid_configuration parameter is missing.")
    if not openid_configuration.startswith(("http://", "https://")):
        raise RegisterError(400, "The openid_configuration parameter is not an http(s) URL.")
    configuration = _fetch_configuration(openid_configuration, registration_token)
    _check_configuration(openid_configuration, configuration)
    now = utcnow()
    registration = SandboxLtiaasRegistration(
        id=secrets.token_urlsafe(24),
        openid_configuration_url=openid_configuration,
        openid_configuration=configuration,
        registration_token=registration_token or None,
        status=RegistrationStatus.PENDING.value,
        created_at=now,
        expires_at=now + timedelta(seconds=lifetime),
    )
    session.add(registration)
    session.commit()
    return registration


def open_registration(session: Session, registration_id: str) -> SandboxLtiaasRegistration:
    """A pending, unexpired registration; raises 404 for unknown, expired or used ids."""
    registration = session.get(SandboxLtiaasRegistration, registration_id)
    if (
        registration is None
        or registration.status != RegistrationStatus.PENDING.value
        or registration.expires_at <= utcnow()
    ):
        raise registration_not_found()
    return registration


def registration_details(registration: SandboxLtiaasRegistration) -> dict[str, Any]:
    """GET /api/registrations/{id}: the LMS's own values, passed through as it gave them."""
    configuration = registration.openid_configuration
    platform = configuration.get(PLATFORM_CONFIGURATION) or {}
    return {
        "url": configuration.get("issuer"),
        "familyCode": platform.get("product_family_code"),
        "version": platform.get("version"),
        "supportedScopes": configuration.get("scopes_supported") or [],
        "supportedMessages": platform.get("messages_supported") or [],
    }


def raw_registration(registration: SandboxLtiaasRegistration) -> dict[str, Any]:
    return {
        "openIdConfiguration": registration.openid_configuration,
        "registrationToken": registration.registration_token,
    }


@dataclass(frozen=True)
class CompleteOptions:
    platform_name: str | None
    auto_activate: bool | None  # None: the vendor's setting in LTIAAS
    messages: list[dict[str, Any]] | None


def parse_complete_body(body: Any) -> CompleteOptions:
    """The complete call's options (every field optional); raises 400 on wrong types."""
    body = {} if body is None else body
    if not isinstance(body, dict):
        raise bad_request("The body must be a JSON object.")
    name = body.get("platformName")
    if name is not None and not isinstance(name, str):
        raise bad_request("platformName must be a string.")
    auto_activate = body.get("autoActivate")
    if auto_activate is not None and not isinstance(auto_activate, bool):
        raise bad_request("autoActivate must be a boolean.")
    messages = body.get("messages")
    if messages is not None and not _valid_messages(messages):
        raise bad_request("messages must be a list of {type, placements?}.")
    return CompleteOptions(platform_name=name or None, auto_activate=auto_activate, messages=messages)


def _valid_messages(messages: Any) -> bool:
    if not isinstance(messages, list):
        return False
    for message in messages:
        if not isinstance(message, dict) or not isinstance(message.get("type"), str):
            return False
        placements = message.get("placements", [])
        if placements is not None and (
            not isinstance(placements, list) or not all(isinstance(p, str) for p in placements)
        ):
            return False
    return True


def tool_messages(
    configuration: dict[str, Any], requested: list[dict[str, Any]] | None, tool: ToolUrls
) -> list[dict[str, Any]]:
    """The messages to register: those asked for that the LMS supports, placements filtered.

    Nothing asked for means every message the LMS supports, with no placements.
    """
    supported = supported_placements(configuration)
    if requested is None:
        requested = [{"type": kind} for kind in supported]
    messages: list[dict[str, Any]] = []
    for wanted in requested:
        kind = wanted["type"]
        if kind not in supported or any(m["type"] == kind for m in messages):
            continue
        message: dict[str, Any] = {"type": kind, "label": tool.name}
        if kind == "LtiDeepLinkingRequest":
            message["target_link_uri"] = tool.url("deep-linking")
        placements = list(dict.fromkeys(p for p in wanted.get("placements") or [] if p in supported[kind]))
        if placements:
            message["placements"] = placements
        messages.append(message)
    return messages


def registration_request(
    configuration: dict[str, Any], options: CompleteOptions, tool: ToolUrls
) -> dict[str, Any]:
    """The Dynamic Registration request (OpenID client metadata + LTI tool configuration), as
    ltijs builds it: its fixed scopes, those the LMS lists (as its newer releases filter them),
    and the claims the LMS says it supports."""
    supported = configuration.get("scopes_supported") or []
    scopes = [scope for scope in TOOL_SCOPES if scope in supported]
    tool_configuration: dict[str, Any] = {"domain": tool.domain, "target_link_uri": tool.url("launch")}
    if "claims_supported" in configuration:  # ltijs copies it as it is, and omits it when absent
        tool_configuration["claims"] = configuration["claims_supported"]
    tool_configuration["messages"] = tool_messages(configuration, options.messages, tool)
    return {
        "application_type": "web",
        "grant_types": ["client_credentials", "implicit"],
        "response_types": ["id_token"],
        "initiate_login_uri": tool.url("login"),
        "redirect_uris": [tool.url("launch")],
        "client_name": tool.name,
        "jwks_uri": tool.url("keys"),
        "token_endpoint_auth_method": "private_key_jwt",
        "scope": " ".join(scopes),
        TOOL_CONFIGURATION: tool_configuration,
    }


def _claim(session: Session, registration_id: str) -> SandboxLtiaasRegistration:
    """Take the registration for this complete call (commits), or raise 404."""
    registration = session.get(SandboxLtiaasRegistration, registration_id)
    claimed = registration is not None and update_if(
        session,
        registration,
        SandboxLtiaasRegistration.status == RegistrationStatus.PENDING.value,
        SandboxLtiaasRegistration.expires_at > utcnow(),
        status=RegistrationStatus.COMPLETING.value,
    )
    session.commit()
    if registration is None or not claimed:
        raise registration_not_found()
    return registration


def _release(session: Session, registration: SandboxLtiaasRegistration) -> None:
    registration.status = RegistrationStatus.PENDING.value
    session.commit()


def _lms_error(response: requests.Response, endpoint: str) -> LtiaasApiError:
    """The LMS's refusal as LTIAAS reports it: ltijs's HTTP 500 wrapping the LMS's answer.

    `message` words the LMS's status as got does; as LTIAAS's SDK reads them,
    `externalError` is true, `bodyReceived` holds the LMS's body (parsed when it
    is JSON, else its text) and `externalUrl` the registration endpoint.
    """
    try:
        received: Any = response.json()
    except ValueError:
        received = response.text[:2000]
    try:
        phrase = HTTPStatus(response.status_code).phrase
    except ValueError:
        phrase = "Unknown"
    return LtiaasApiError(
        500,
        f"Response code {response.status_code} ({phrase})",
        None,
        externalError=True,
        bodyReceived=received,
        externalUrl=endpoint,
    )


def _post_to_lms(endpoint: str, token: str | None, payload: dict[str, Any]) -> dict[str, Any]:
    headers = {"User-Agent": USER_AGENT, "Accept": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    try:
        response = requests.post(
            endpoint, json=payload, headers=headers, timeout=TIMEOUT, allow_redirects=False
        )
    except requests.RequestException as error:
        raise LtiaasApiError(
            500,
            "REGISTRATION_REQUEST_FAILED",
            f"Could not reach the LMS ({type(error).__name__}).",
            externalUrl=endpoint,
        ) from error
    if not 200 <= response.status_code < 300:
        raise _lms_error(response, endpoint)
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict) or not isinstance(body.get("client_id"), str | int):
        raise LtiaasApiError(
            500,
            "INVALID_REGISTRATION_RESPONSE",
            "The LMS answered without a client_id.",
            externalUrl=endpoint,
        )
    return body


def _deployment_id(lms_response: dict[str, Any]) -> str | None:
    value = lms_response.get("deployment_id")
    if value is None:
        value = (lms_response.get(TOOL_CONFIGURATION) or {}).get("deployment_id")
    return None if value is None else str(value)


def _new_platform(
    configuration: dict[str, Any], lms_response: dict[str, Any], options: CompleteOptions, auto_activate: bool
) -> SandboxPlatform:
    family = (configuration.get(PLATFORM_CONFIGURATION) or {}).get("product_family_code") or "platform"
    return SandboxPlatform(
        id=new_platform_id(),
        url=configuration["issuer"],
        client_id=str(lms_response["client_id"]),
        # ltijs's own default name when none is given.
        name=options.platform_name or f"{family}_DynReg_{secrets.token_hex(16)}",
        authentication_endpoint=configuration.get("authorization_endpoint", ""),
        accesstoken_endpoint=configuration.get("token_endpoint", ""),
        auth_config={"method": "JWK_SET", "key": configuration.get("jwks_uri", "")},
        public_key=placeholder_public_key(),
        active=auto_activate if options.auto_activate is None else options.auto_activate,
        # ltijs's fallback: an LMS that names no authorization server uses its token endpoint.
        authorization_server=configuration.get("authorization_server") or configuration.get("token_endpoint"),
        deployment_id=_deployment_id(lms_response),
    )


def complete_registration(
    session: Session,
    registration_id: str,
    body: Any,
    *,
    portal_url: str,
    tool_name: str = DEFAULT_CLIENT_NAME,
    auto_activate: bool = True,
) -> dict[str, Any]:
    """POST /api/registrations/{id}/complete: register with the LMS, then create the platform
    (active as the body says, else as the vendor's `auto_activate` setting says).

    Returns `{platformId, html}`. Raises LtiaasApiError: 400 bad body, 404 not
    pending (unknown, expired, used, or being completed right now), 500 the LMS
    refused, 403 "Platform already registered." when LTIAAS already holds the
    issuer and the client id the LMS answered with (checked after the LMS
    registered the tool, as ltijs does: the LMS keeps an orphan). After a 500
    or 403 the registration stays pending and may be completed again (the
    reference is silent on this).
    """
    options = parse_complete_body(body)
    registration = _claim(session, registration_id)
    configuration = registration.openid_configuration
    payload = registration_request(configuration, options, ToolUrls(portal_url, tool_name))
    try:
        lms_response = _post_to_lms(
            configuration["registration_endpoint"], registration.registration_token, payload
        )
        # ltijs checks for a duplicate only now, after the LMS registered the tool (an orphan there).
        refuse_duplicate(session, configuration["issuer"], str(lms_response["client_id"]))
    except LtiaasApiError:
        _release(session, registration)
        raise
    platform = _new_platform(configuration, lms_response, options, auto_activate)
    session.add(platform)
    registration.status = RegistrationStatus.COMPLETED.value
    registration.platform_id = platform.id
    registration.completed_at = utcnow()
    session.commit()
    return {"platformId": platform.id, "html": CLOSE_HTML}
