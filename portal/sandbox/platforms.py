"""LTIAAS's platforms (the LMS registrations a tool trusts): list, get, create, replace, delete."""

from __future__ import annotations

import base64
import secrets
import string
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.sandbox.api_errors import LtiaasApiError, bad_request, platform_not_found
from portal.sandbox.models import SandboxPlatform

CORE_FIELDS = ("url", "clientId", "name", "authenticationEndpoint", "accesstokenEndpoint", "authConfig")
AUTH_METHODS = frozenset({"JWK_SET", "JWK_KEY", "RSA_KEY"})
_ID_ALPHABET = string.ascii_letters + string.digits


def new_platform_id() -> str:
    """A random id shaped like LTIAAS's, e.g. `A2F48n9Ss8Hjpw4gjo0`."""
    return "".join(secrets.choice(_ID_ALPHABET) for _ in range(19))


def placeholder_public_key() -> str:
    """Stands in for the PEM public key LTIAAS generates for the tool on each platform."""
    body = base64.b64encode(secrets.token_bytes(270)).decode()
    lines = [body[i : i + 64] for i in range(0, len(body), 64)]
    return "\n".join(["-----BEGIN PUBLIC KEY-----", *lines, "-----END PUBLIC KEY-----"])


def platform_to_dict(platform: SandboxPlatform) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": platform.id,
        "url": platform.url,
        "clientId": platform.client_id,
        "name": platform.name,
        "authenticationEndpoint": platform.authentication_endpoint,
        "accesstokenEndpoint": platform.accesstoken_endpoint,
        "authConfig": dict(platform.auth_config),
        "publicKey": platform.public_key,
        "active": platform.active,
    }
    if platform.authorization_server:
        body["authorizationServer"] = platform.authorization_server
    return body


def _checked_fields(body: Any) -> dict[str, Any]:
    """The PartialPlatform's fields if all six core fields are well-formed; raises 400."""
    if not isinstance(body, dict):
        raise bad_request("The body must be a JSON object.")
    missing = [field for field in CORE_FIELDS if not body.get(field)]
    if missing:
        raise bad_request(f"Missing required fields: {', '.join(missing)}.")
    for field in CORE_FIELDS[:5]:
        if not isinstance(body[field], str):
            raise bad_request(f"{field} must be a string.")
    auth = body["authConfig"]
    if not (
        isinstance(auth, dict) and auth.get("method") in AUTH_METHODS and isinstance(auth.get("key"), str)
    ):
        raise bad_request("authConfig must be {method: JWK_SET | JWK_KEY | RSA_KEY, key}.")
    return body


def refuse_duplicate(session: Session, url: str, client_id: str, except_id: str | None = None) -> None:
    """403 "Platform already registered." when another platform has this issuer and client id."""
    query = select(SandboxPlatform.id).where(
        SandboxPlatform.url == url, SandboxPlatform.client_id == client_id
    )
    if except_id is not None:
        query = query.where(SandboxPlatform.id != except_id)
    if session.scalar(query) is not None:
        raise LtiaasApiError(403, "PLATFORM_ALREADY_REGISTERED", "Platform already registered.")


def _apply(platform: SandboxPlatform, fields: dict[str, Any]) -> None:
    """Write a PartialPlatform's fields (ltiaas-api.md: its six core fields). `active` is not one of
    them, on create or update: only activate/deactivate change it."""
    platform.url = fields["url"]
    platform.client_id = fields["clientId"]
    platform.name = fields["name"]
    platform.authentication_endpoint = fields["authenticationEndpoint"]
    platform.accesstoken_endpoint = fields["accesstokenEndpoint"]
    platform.auth_config = {"method": fields["authConfig"]["method"], "key": fields["authConfig"]["key"]}
    if isinstance(fields.get("authorizationServer"), str):
        platform.authorization_server = fields["authorizationServer"]


def list_platforms(
    session: Session, *, platform_id: str | None = None, url: str | None = None, client_id: str | None = None
) -> list[SandboxPlatform]:
    query = select(SandboxPlatform).order_by(SandboxPlatform.created_at, SandboxPlatform.id)
    if platform_id:
        query = query.where(SandboxPlatform.id == platform_id)
    if url:
        query = query.where(SandboxPlatform.url == url)
    if client_id:
        query = query.where(SandboxPlatform.client_id == client_id)
    return list(session.scalars(query))


def get_platform(session: Session, platform_id: str) -> SandboxPlatform:
    platform = session.get(SandboxPlatform, platform_id)
    if platform is None:
        raise platform_not_found()
    return platform


def create_platform(session: Session, body: Any) -> SandboxPlatform:
    """Manual registration (commits); 400 on a bad body, 403 on a duplicate issuer + client id.

    Created active: the reference documents auto-activation only for Dynamic Registration and is
    silent on a manual one, so this default is the sandbox's (as tests/fakes/ltiaas.py's)."""
    fields = _checked_fields(body)
    refuse_duplicate(session, fields["url"], fields["clientId"])
    platform = SandboxPlatform(id=new_platform_id(), public_key=placeholder_public_key(), active=True)
    _apply(platform, fields)
    session.add(platform)
    session.commit()
    return platform


def replace_platform(session: Session, platform_id: str, body: Any) -> SandboxPlatform:
    """Full replace of the six core fields (commits); `active` and the keys are kept."""
    platform = get_platform(session, platform_id)
    fields = _checked_fields(body)
    refuse_duplicate(session, fields["url"], fields["clientId"], except_id=platform_id)
    _apply(platform, fields)
    session.commit()
    return platform


def delete_platform(session: Session, platform_id: str) -> None:
    session.delete(get_platform(session, platform_id))
    session.commit()


def set_active(session: Session, platform_id: str, active: bool) -> SandboxPlatform:
    platform = get_platform(session, platform_id)
    platform.active = active
    session.commit()
    return platform
