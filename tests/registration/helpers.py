"""Test helpers for the registration flow: a scriptable stand-in LTIAAS client, LMS shapes, page parsing.

`FakeLtiaas` records every call and can be told to raise any LTIAAS error for
the next calls of a method. The `ltiaas` fixture (conftest.py) puts it into
`app.extensions["ltiaas"]`, so views and service functions reach it through get_ltiaas().
"""

from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any
from uuid import uuid4

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from portal.db import get_session
from portal.ltiaas import (
    CompletionResult,
    Platform,
    PlatformNotFound,
    RawRegistration,
    RegistrationDetails,
    RegistrationNotFound,
    SupportedMessage,
)
from portal.models import Registration, User
from tests.auth.helpers import PASSWORD, create_user, read_form

CLOSE_HTML = (
    "<script>(window.opener || window.parent).postMessage({subject:'org.imsglobal.lti.close'}, '*');</script>"
)
CANVAS = "https://canvas.instructure.com/lti/"

MOODLE_44 = RegistrationDetails(
    url="https://moodle.example.edu",
    family_code="moodle",
    version="4.4.1+ (Build: 20240705)",
    supported_scopes=(
        "openid",
        "https://purl.imsglobal.org/spec/lti-ags/scope/score",
        "https://purl.imsglobal.org/spec/lti-nrps/scope/contextmembership.readonly",
        "https://purl.imsglobal.org/spec/lti-bo/scope/basicoutcome",
        "https://example.com/scope/mystery",
    ),
    supported_messages=(
        SupportedMessage("LtiResourceLinkRequest"),
        SupportedMessage("LtiDeepLinkingRequest", ("ContentArea",)),
    ),
)

MOODLE_311 = RegistrationDetails(
    url="https://old-moodle.example.edu",
    family_code="moodle",
    version="3.11.4 (Build: 20211108)",
    supported_scopes=("openid",),
    # As the LTIAAS client reads Moodle 3.x: its separate placements list given to deep linking.
    supported_messages=(
        SupportedMessage("LtiResourceLinkRequest"),
        SupportedMessage("LtiDeepLinkingRequest", ("AddContentMenu",)),
    ),
    legacy_message_shape=True,
)

CANVAS_CLOUD = RegistrationDetails(
    url="https://canvas.instructure.com",
    family_code="canvas",
    version="vCloud",
    supported_scopes=("openid",),
    supported_messages=(
        SupportedMessage(
            "LtiResourceLinkRequest",
            (f"{CANVAS}account_navigation", f"{CANVAS}course_navigation", "ContentArea"),
        ),
        SupportedMessage(
            "LtiDeepLinkingRequest",
            (f"{CANVAS}editor_button", f"{CANVAS}link_selection", "ContentArea", "RichTextEditor"),
        ),
        SupportedMessage("LtiEulaRequest"),
    ),
)


def platform(name: str, url: str = "https://moodle.example.edu", active: bool = True) -> Platform:
    return Platform(
        id=f"id-{name.replace(' ', '-')}",
        url=url,
        client_id="client",
        name=name,
        authentication_endpoint=f"{url}/auth",
        accesstoken_endpoint=f"{url}/token",
        auth_config={"method": "JWK_SET", "key": f"{url}/jwks"},
        public_key=None,
        active=active,
    )


@dataclass
class FakeLtiaas:
    """Stands in for LtiaasClient: answers from `registrations`, records `calls`.

    `fail(method, error, times=1)` makes the next `times` calls of `method` raise
    `error`. `complete_delay` slows complete down so that races overlap.
    """

    registrations: dict[str, RegistrationDetails] = field(default_factory=dict)
    raw: dict[str, RawRegistration] = field(default_factory=dict)
    platforms: list[Platform] = field(default_factory=list)
    calls: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)
    complete_delay: float = 0.0
    _failures: dict[str, list[Exception]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _completed: set[str] = field(default_factory=set)

    def fail(self, method: str, error: Exception, times: int = 1) -> None:
        self._failures.setdefault(method, []).extend([error] * times)

    def calls_of(self, method: str) -> list[tuple[str, dict[str, Any]]]:
        return [(target, kwargs) for name, target, kwargs in self.calls if name == method]

    def _record(self, method: str, target: str, **kwargs: Any) -> None:
        with self._lock:
            self.calls.append((method, target, kwargs))
            pending = self._failures.get(method)
            error = pending.pop(0) if pending else None
        if error is not None:
            raise error

    def _known(self, registration_id: str) -> RegistrationDetails:
        if registration_id not in self.registrations or registration_id in self._completed:
            raise RegistrationNotFound("unknown registration", status=404)
        return self.registrations[registration_id]

    def get_registration(self, registration_id: str) -> RegistrationDetails:
        self._record("get_registration", registration_id)
        return self._known(registration_id)

    def read_registration(self, registration_id: str) -> RegistrationDetails:
        self._record("read_registration", registration_id)
        return self._known(registration_id)

    def get_raw_registration(self, registration_id: str) -> RawRegistration:
        self._record("get_raw_registration", registration_id)
        self._known(registration_id)
        return self.raw[registration_id]

    def complete_registration(
        self,
        registration_id: str,
        *,
        platform_name: str | None = None,
        auto_activate: bool | None = None,
        messages: Any = None,
    ) -> CompletionResult:
        self._record(
            "complete_registration",
            registration_id,
            platform_name=platform_name,
            auto_activate=auto_activate,
            messages=messages,
        )
        time.sleep(self.complete_delay)
        self._known(registration_id)
        with self._lock:
            self._completed.add(registration_id)
        return CompletionResult(platform_id=f"platform-{registration_id}", html=CLOSE_HTML)

    def list_platforms(
        self, *, url: str | None = None, client_id: str | None = None, platform_id: str | None = None
    ) -> list[Platform]:
        self._record("list_platforms", url or "", client_id=client_id, platform_id=platform_id)
        return [p for p in self.platforms if url is None or p.url == url]

    def get_platform(self, platform_id: str) -> Platform:
        self._record("get_platform", platform_id)
        for known in self.platforms:
            if known.id == platform_id:
                return known
        raise PlatformNotFound("no such platform", status=404)


_CSRF = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"|name="csrf_token" value="([^"]+)"')
_HREF = re.compile(r'(?:href|action|data-status-url)="([^"]+)"')


def csrf_token_in(html: str) -> str:
    match = _CSRF.search(html)
    assert match, "the page has no CSRF token"
    return match.group(1) or match.group(2)


def links_in(html: str) -> list[str]:
    return [link.replace("&amp;", "&") for link in _HREF.findall(html)]


def start(client: FlaskClient, registration_id: str = "reg-moodle") -> str:
    """Open the intermediate target like LTIAAS does; returns the review page's URL."""
    response = client.get(f"/intermediate-target?registrationId={registration_id}")
    assert response.status_code == 303, response.get_data(as_text=True)
    return response.headers["Location"]


def public_id_from(url: str) -> str:
    return url.split("/registration/", 1)[1].split("/", 1)[0]


class _Checkboxes(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.offered: dict[str, list[str]] = {}
        self.checked: dict[str, list[str]] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag != "input" or values.get("type") != "checkbox":
            return
        name, value = values.get("name") or "", values.get("value") or ""
        self.offered.setdefault(name, []).append(value)
        if "checked" in values:
            self.checked.setdefault(name, []).append(value)


def checkboxes(html: str) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    """(offered, checked) checkbox values by field name."""
    reader = _Checkboxes()
    reader.feed(html)
    return reader.offered, reader.checked


# Accounts: who is at the keyboard


def sign_in(client: FlaskClient, user: User) -> None:
    """Sign `user` in to this (cookie-keeping) browser without the form, as Flask-Login would."""
    with client.session_transaction() as session:
        session["_user_id"] = str(user.id)
        session["_fresh"] = True


def sign_in_through_the_form(
    client: FlaskClient, sign_in_url: str, email: str, password: str = PASSWORD
) -> str:
    """Open the sign-in page at `sign_in_url`, send it like a browser; returns where it leads."""
    action, hidden = read_form(client.get(sign_in_url))
    response = client.post(action, data={**hidden, "email": email, "password": password})
    assert response.status_code == 302, response.get_data(as_text=True)
    return response.headers["Location"]


ROLES = ("anonymous", "customer", "staff", "disabled")
POLICIES = ("self-service", "review-later", "live-approval")
SPRINGFIELD = {
    "platform_name": "Springfield Moodle",
    "auto_activate": "y",
    "messages": ["LtiResourceLinkRequest", "LtiDeepLinkingRequest"],
    "placements_1": ["ContentArea"],
}


def add_person(app: Flask, role: str) -> User:
    """A user for `role` (a disabled one is a customer whose account is disabled later)."""
    if role == "staff":
        return create_user(app, f"staff-{uuid4().hex[:8]}@vendor.example", role="staff", organisation=None)
    return create_user(app, f"{role}-{uuid4().hex[:8]}@school.example")


def become(app: Flask, client: FlaskClient, role: str) -> None:
    """Make the person at `client` `role`: sign in a new user, sign out, or disable whoever is signed in."""
    if role == "anonymous":
        with client.session_transaction() as session:
            session.pop("_user_id", None)
    elif role == "disabled":
        with client.session_transaction() as session:
            user_id = int(session["_user_id"])
        with app.app_context():
            db = get_session()
            db.get(User, user_id).is_disabled = True  # type: ignore[union-attr]
            db.commit()
    else:
        sign_in(client, add_person(app, role))


def configured_by(
    client: FlaskClient, form: dict[str, Any] | None = None, registration_id: str = "reg-moodle"
) -> str:
    """Start a registration and save the configure form (CSRF off) as whoever is signed in; its public id."""
    public_id = public_id_from(start(client, registration_id))
    response = client.post(f"/registration/{public_id}/configure", data=form or SPRINGFIELD)
    assert response.status_code == 303, response.get_data(as_text=True)
    return public_id


def audit_trail(app: Flask, registration_public_id: str) -> list[tuple[str, str, dict[str, Any]]]:
    """(action, actor, details) of every event of the registration, in order."""
    with app.app_context():
        db = get_session()
        registration = db.scalar(select(Registration).where(Registration.public_id == registration_public_id))
        assert registration is not None
        return [(event.action, event.actor, event.details) for event in registration.audit_events]
