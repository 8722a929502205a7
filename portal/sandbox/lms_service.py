"""The sandbox LMS: registration attempts, registration tokens, and the registration endpoint.

It plays the platform's side of LTI Dynamic Registration: it mints the
registration token (an HS256 JWT, valid 3600 s, single use), serves its OpenID
configuration, and validates and stores the tool's registration request by that LMS's
own rules (`Profile.validation`: Moodle's and Canvas's as their source has them, the spec's
strictly for the others), answering errors as that LMS does: RFC 7591's shape, Canvas's 422
`errors`, or Moodle's plain text (`mod/lti/openid-registration.php` echoes its exception's
message, such as `token_already_used`, as the whole body).
An attempt started with a `refusal` is refused by policy, in those words, after
its token and request checked out (the token stays unused).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode, urlsplit

import jwt
from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.db import update_if
from portal.models import utcnow
from portal.sandbox.models import SandboxLmsAttempt, SandboxLmsTool
from portal.sandbox.profiles import TOOL_CONFIGURATION, Profile, Validation

TOKEN_LIFETIME = timedelta(seconds=3600)
ATTEMPT_PARAM = "attempt"
MAX_REFUSAL_CHARS = 1000


class LmsRejected(Exception):
    """The LMS refuses a request. `token_problem` selects 401 over 400 (422 for Canvas);
    `moodle_words` are Moodle's own for the same refusal, where Moodle has some."""

    def __init__(
        self,
        description: str,
        *,
        token_problem: bool = False,
        status: int | None = None,
        moodle_words: str | None = None,
    ) -> None:
        super().__init__(description)
        self.description = description
        self.token_problem = token_problem
        self.status = status
        self.moodle_words = moodle_words

    def response(self, profile: Profile) -> tuple[dict[str, Any] | str, int]:
        """The body (JSON, or Moodle's plain text) and status this LMS answers with."""
        if profile.canvas_errors:
            status = self.status or (401 if self.token_problem else 422)
            return {"errors": [{"message": self.description}]}, status
        if profile.plain_text_errors:
            return self.moodle_words or self.description, self.status or (401 if self.token_problem else 400)
        if self.token_problem:
            return {"error": "invalid_token", "error_description": self.description}, self.status or 401
        return {"error": "invalid_client_metadata", "error_description": self.description}, self.status or 400


@dataclass(frozen=True)
class StartedAttempt:
    """What the admin page needs to send the admin's window to the tool."""

    attempt_id: str
    profile: str
    window: str
    openid_configuration_url: str
    registration_token: str | None
    register_url: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "attempt_id": self.attempt_id,
            "profile": self.profile,
            "window": self.window,
            "openid_configuration_url": self.openid_configuration_url,
            "registration_token": self.registration_token,
            "register_url": self.register_url,
        }


def _token_key(secret_key: str) -> bytes:
    return hmac.new(secret_key.encode(), b"sandbox-lms-registration-token", hashlib.sha256).digest()


def mint_registration_token(attempt_id: str, jti: str, secret_key: str, issued_at: datetime) -> str:
    """A registration token like Moodle's: {sub, scope: 'reg', iat, exp: iat + 3600, jti}."""
    iat = int(issued_at.timestamp())
    claims = {"sub": attempt_id, "scope": "reg", "iat": iat, "exp": iat + 3600, "jti": jti}
    return jwt.encode(claims, _token_key(secret_key), algorithm="HS256")


def read_registration_token(token: str, secret_key: str) -> dict[str, Any]:
    """The token's claims if its signature, expiry and scope hold; raises LmsRejected."""
    try:
        claims = jwt.decode(
            token, _token_key(secret_key), algorithms=["HS256"], options={"require": ["exp", "sub", "jti"]}
        )
    except jwt.ExpiredSignatureError:
        raise LmsRejected("The registration token has expired.", token_problem=True) from None
    except jwt.InvalidTokenError:
        raise LmsRejected("The registration token is not valid.", token_problem=True) from None
    if claims.get("scope") != "reg":
        raise LmsRejected("The registration token is not for registration.", token_problem=True)
    return claims


def bearer_token(authorization: str | None) -> str | None:
    if authorization and authorization[:7].lower() == "bearer ":
        return authorization[7:].strip() or None
    return None


def _with_query(url: str, params: dict[str, str]) -> str:
    return f"{url}{'&' if '?' in url else '?'}{urlencode(params)}"


def start_attempt(
    session: Session,
    profile: Profile,
    register_url: str,
    *,
    lms_url: str,
    secret_key: str,
    issued_at: datetime | None = None,
    refusal: str | None = None,
) -> StartedAttempt:
    """Create an attempt and the URL the admin's window opens (commits).

    Profiles that send tokens get a fresh one whose `sub` is the attempt; the
    others carry the attempt in the configuration URL instead. Canvas repeats
    the token inside the configuration URL. With a `refusal`, the LMS will
    refuse this attempt's registration in those words.
    """
    attempt = SandboxLmsAttempt(
        id=secrets.token_urlsafe(12), profile=profile.name, refusal=(refusal or "").strip() or None
    )
    token = None
    configuration_url = profile.configuration_url(lms_url)
    if profile.sends_registration_token:
        attempt.token_jti = secrets.token_hex(16)
        token = mint_registration_token(attempt.id, attempt.token_jti, secret_key, issued_at or utcnow())
        if profile.canvas_errors:
            configuration_url = _with_query(configuration_url, {"registration_token": token})
    else:
        configuration_url = _with_query(configuration_url, {ATTEMPT_PARAM: attempt.id})
    session.add(attempt)
    session.commit()
    params = {"openid_configuration": configuration_url}
    if token:
        params["registration_token"] = token
    return StartedAttempt(
        attempt_id=attempt.id,
        profile=profile.name,
        window=profile.window,
        openid_configuration_url=configuration_url,
        registration_token=token,
        register_url=_with_query(register_url, params),
    )


def serve_configuration(
    profile: Profile,
    lms_url: str,
    *,
    authorization: str | None,
    user_agent: str | None,
    attempt: str | None,
    secret_key: str,
) -> dict[str, Any]:
    """The OpenID configuration for one GET; raises LmsRejected where the LMS is strict.

    Canvas wants a User-Agent and the registration token as a Bearer header.
    """
    if profile.requires_user_agent and not user_agent:
        raise LmsRejected("A User-Agent header is required.", status=400)
    if profile.canvas_errors:
        token = bearer_token(authorization)
        if token is None:
            raise LmsRejected("The registration token is required.", token_problem=True)
        read_registration_token(token, secret_key)
    configuration = profile.configuration(lms_url)
    if attempt and not profile.sends_registration_token:
        configuration["registration_endpoint"] = _with_query(
            configuration["registration_endpoint"], {ATTEMPT_PARAM: attempt}
        )
    return configuration


def _is_url(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    parts = urlsplit(value)
    return parts.scheme in {"http", "https"} and bool(parts.netloc)


def _check_client_metadata(body: dict[str, Any]) -> None:
    if body.get("application_type") != "web":
        raise LmsRejected("application_type must be 'web'.")
    grant_types = body.get("grant_types")
    if not isinstance(grant_types, list) or not {"client_credentials", "implicit"} <= set(grant_types):
        raise LmsRejected("grant_types must include client_credentials and implicit.")
    if not isinstance(body.get("response_types"), list) or "id_token" not in body["response_types"]:
        raise LmsRejected("response_types must include id_token.")
    redirect_uris = body.get("redirect_uris")
    if not isinstance(redirect_uris, list) or not redirect_uris or not all(map(_is_url, redirect_uris)):
        raise LmsRejected("redirect_uris must be a non-empty list of URLs.")
    for field in ("initiate_login_uri", "jwks_uri"):
        if not _is_url(body.get(field)):
            raise LmsRejected(f"{field} must be a URL.")
    if not isinstance(body.get("client_name"), str) or not body["client_name"].strip():
        raise LmsRejected("client_name is required.")
    if body.get("token_endpoint_auth_method") != "private_key_jwt":
        raise LmsRejected("token_endpoint_auth_method must be private_key_jwt.")
    if "scope" in body and not isinstance(body["scope"], str):
        raise LmsRejected("scope must be a space-separated string.")


def _tool_configuration(body: dict[str, Any]) -> dict[str, Any]:
    tool = body.get(TOOL_CONFIGURATION)
    if not isinstance(tool, dict):
        raise LmsRejected(f"{TOOL_CONFIGURATION} is required.")
    domain = tool.get("domain")
    if not isinstance(domain, str) or not domain:
        raise LmsRejected("The tool configuration needs a domain.")
    return tool


def _messages(tool: dict[str, Any], supported: dict[str, frozenset[str]]) -> list[tuple[str, list[Any]]]:
    """Each message's type and placements, refused if its type is not one this LMS supports."""
    messages = tool.get("messages")
    if not isinstance(messages, list):
        raise LmsRejected("The tool configuration must list its messages.")
    typed = []
    for message in messages:
        kind = message.get("type") if isinstance(message, dict) else None
        if kind not in supported:
            raise LmsRejected(f"Message type {kind!r} is not supported.")
        placements = message.get("placements") or []
        if not isinstance(placements, list):
            raise LmsRejected(f"placements of {kind} must be a list.")
        typed.append((kind, placements))
    return typed


def _check_strictly(body: dict[str, Any], profile: Profile) -> None:
    """The spec's rules on every field, placements per message type as the LMS advertises them."""
    _check_client_metadata(body)
    tool = _tool_configuration(body)
    if not _is_url(tool.get("target_link_uri")):
        raise LmsRejected("The tool configuration needs a target_link_uri.")
    supported = profile.supported_placements()
    typed = _messages(tool, supported)
    if not typed:
        raise LmsRejected("The tool configuration must list at least one message.")
    for kind, placements in typed:
        unsupported = [p for p in placements if p not in supported[kind]]
        if unsupported:
            raise LmsRejected(f"Placements {unsupported} are not supported for {kind}.")


CANVAS_PLACEMENT_PREFIX = "https://canvas.instructure.com/lti/"


def _check_as_canvas(body: dict[str, Any], profile: Profile) -> None:
    """Canvas's rules (app/models/lti/ims/registration.rb and its tool configuration schema).

    `scopes_are_valid` refuses a scope outside Canvas's list in these words; the list is the
    `scopes_supported` Canvas serves. The schema (lib/schemas/lti/ims/lti_tool_configuration.rb)
    wants `messages` (empty is fine) and leaves `target_link_uri` optional; it allows any
    placement Canvas knows, by its bare or prefixed name, on any message type, and refuses others
    (`build_placement_for` would drop an unknown one, but the schema refuses it first). How
    Canvas words a schema error was not confirmed: those sentences are the sandbox's.
    """
    _check_client_metadata(body)
    known_scopes = set(profile.configuration_template.get("scopes_supported") or [])
    invalid_scopes = [scope for scope in body.get("scope", "").split() if scope not in known_scopes]
    if invalid_scopes:
        raise LmsRejected(f"Invalid scopes: {', '.join(invalid_scopes)}")
    tool = _tool_configuration(body)
    supported = profile.supported_placements()
    known = {name for placements in supported.values() for name in placements}
    known |= {name.removeprefix(CANVAS_PLACEMENT_PREFIX) for name in known}
    for kind, placements in _messages(tool, supported):
        unknown = [p for p in placements if p not in known]
        if unknown:
            raise LmsRejected(f"Placements {unknown} are not supported for {kind}.")


def _moodle_parameter(payload: dict[str, Any], key: str) -> Any:
    """`registration_helper::get_parameter(..., required: true)`: PHP's empty() counts as missing."""
    value = payload.get(key)
    if not value or value == "0":
        raise LmsRejected(f"missing required attribute {key}")
    return value


def _check_as_moodle(body: dict[str, Any], profile: Profile) -> None:
    """Moodle's checks, in its order and words (mod/lti/classes/local/ltiopenid/registration_helper.php,
    `registration_to_config`): presence of what it needs, then four values. It never reads
    grant_types, never requires messages, and checks no message type, placement or URL."""
    response_types = _moodle_parameter(body, "response_types")
    for key in ("initiate_login_uri", "redirect_uris", "client_name", "jwks_uri"):
        _moodle_parameter(body, key)
    auth_method = _moodle_parameter(body, "token_endpoint_auth_method")
    tool = _moodle_parameter(body, TOOL_CONFIGURATION)
    if not isinstance(tool, dict):  # PHP would fail on a type error here; the nearest of Moodle's words
        raise LmsRejected(f"missing required attribute {TOOL_CONFIGURATION}")
    _moodle_parameter(tool, "domain")
    _moodle_parameter(tool, "target_link_uri")
    if not isinstance(response_types, list) or "id_token" not in response_types:
        raise LmsRejected("invalid_response_types")
    if not isinstance(body["redirect_uris"], list):
        raise LmsRejected("invalid_redirect_uris")
    if auth_method != "private_key_jwt":
        raise LmsRejected("invalid_token_endpoint_auth_method")
    application_type = body.get("application_type")
    if application_type and application_type != "web":
        raise LmsRejected("invalid_application_type")


_CHECKS: dict[Validation, Callable[[dict[str, Any], Profile], None]] = {
    Validation.STRICT: _check_strictly,
    Validation.MOODLE: _check_as_moodle,
    Validation.CANVAS: _check_as_canvas,
}


def validate_registration_request(body: Any, profile: Profile) -> dict[str, Any]:
    """`body` if it is a registration request this LMS accepts, by its own rules; raises LmsRejected."""
    if not isinstance(body, dict):
        raise LmsRejected("The registration request must be a JSON object.")
    _CHECKS[profile.validation](body, profile)
    return body


def _new_client_id(profile: Profile) -> str:
    family = profile.family_code
    if family == "moodle":
        return secrets.token_urlsafe(12)[:15]
    if family == "canvas":
        return f"1000000{secrets.randbelow(10**7):07d}"
    return str(uuid.uuid4())


def _deployment_id(profile: Profile, tool: SandboxLmsTool) -> str:
    family = profile.family_code
    if family == "canvas":
        return f"{tool.id}:{hashlib.sha1(tool.client_id.encode()).hexdigest()}"  # noqa: S324 - an id, not security
    if family == "desire2learn":
        return str(uuid.uuid4())
    return str(tool.id)


def _consume_token(session: Session, claims: dict[str, Any]) -> None:
    """Mark the token used with a conditional UPDATE, so two posts cannot both use it."""
    attempt = session.get(SandboxLmsAttempt, claims["sub"])
    used = attempt is None or not update_if(
        session,
        attempt,
        SandboxLmsAttempt.token_jti == claims["jti"],
        SandboxLmsAttempt.token_used_at.is_(None),
        token_used_at=utcnow(),
    )
    if used:
        raise LmsRejected(
            "The registration token has already been used.",
            token_problem=True,
            moodle_words="token_already_used",
        )


def register_tool(
    session: Session,
    profile: Profile,
    body: Any,
    *,
    authorization: str | None,
    user_agent: str | None,
    attempt: str | None,
    secret_key: str,
) -> dict[str, Any]:
    """Handle a POST to the registration endpoint; the response body (commits) or LmsRejected."""
    if profile.requires_user_agent and not user_agent:
        raise LmsRejected("A User-Agent header is required.", status=400)
    claims = None
    if profile.sends_registration_token:
        token = bearer_token(authorization)
        if token is None:
            raise LmsRejected(
                "The registration token is missing.",
                token_problem=True,
                moodle_words="missing_registration_token",
            )
        claims = read_registration_token(token, secret_key)
    request = validate_registration_request(body, profile)
    if claims is not None:
        attempt = claims["sub"]
    started = session.get(SandboxLmsAttempt, attempt) if attempt is not None else None
    if started is not None and started.refusal:
        raise LmsRejected(started.refusal)
    if claims is not None:
        _consume_token(session, claims)
    elif started is None:
        attempt = None
    tool = SandboxLmsTool(
        profile=profile.name,
        attempt_id=attempt,
        client_id=_new_client_id(profile),
        deployment_id="",
        registration=request,
        # Brightspace leaves a dynamically registered tool disabled until the admin enables it.
        enabled=profile.family_code != "desire2learn",
    )
    session.add(tool)
    session.flush()
    tool.deployment_id = _deployment_id(profile, tool)
    session.commit()
    return _registration_response(profile, request, tool)


def _granted_scope(profile: Profile, requested: str) -> str:
    supported = set(profile.configuration_template.get("scopes_supported") or [])
    return " ".join(scope for scope in requested.split() if scope in supported)


def _registration_response(profile: Profile, request: dict[str, Any], tool: SandboxLmsTool) -> dict[str, Any]:
    response = dict(request)
    response["client_id"] = tool.client_id
    response["scope"] = _granted_scope(profile, request.get("scope", ""))
    tool_configuration = dict(request[TOOL_CONFIGURATION])
    if profile.canvas_errors:
        response["deployment_id"] = tool.deployment_id
    else:
        tool_configuration["deployment_id"] = tool.deployment_id
    response[TOOL_CONFIGURATION] = tool_configuration
    return response


def tool_summary(tool: SandboxLmsTool) -> dict[str, Any]:
    """A registered tool as the JSON view and the admin page show it."""
    configuration = tool.registration.get(TOOL_CONFIGURATION) or {}
    messages = [
        {"type": message.get("type"), "placements": list(message.get("placements") or [])}
        for message in configuration.get("messages") or []
    ]
    return {
        "client_id": tool.client_id,
        "deployment_id": tool.deployment_id,
        "profile": tool.profile,
        "attempt": tool.attempt_id,
        "client_name": tool.registration.get("client_name"),
        "messages": messages,
        "scope": tool.registration.get("scope", ""),
        "claims": configuration.get("claims"),
        "enabled": tool.enabled,
        "created_at": tool.created_at.isoformat(),
    }


def list_tools(
    session: Session, *, profile: str | None = None, attempt: str | None = None
) -> list[SandboxLmsTool]:
    """Registered tools, oldest first, optionally of one profile and/or one attempt."""
    query = select(SandboxLmsTool).order_by(SandboxLmsTool.id)
    if profile:
        query = query.where(SandboxLmsTool.profile == profile)
    if attempt:
        query = query.where(SandboxLmsTool.attempt_id == attempt)
    return list(session.scalars(query))
