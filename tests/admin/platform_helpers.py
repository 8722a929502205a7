"""Helpers for the staff's platforms pages: LTIAAS's platform JSON, registrations that made a
platform, and reading a form (hidden fields, CSRF and one-time token) off a page."""

from __future__ import annotations

from datetime import timedelta
from html.parser import HTMLParser
from typing import Any
from uuid import uuid4

from flask import Flask
from sqlalchemy import select
from werkzeug.test import TestResponse

from portal.db import get_session
from portal.models import (
    AuditEvent,
    PlatformAction,
    Registration,
    RegistrationState,
    record_event,
    utcnow,
)


def platform_json(
    platform_id: str,
    *,
    url: str = "https://moodle.springfield.edu",
    name: str = "Springfield Moodle",
    client_id: str | None = None,
    active: bool = False,
) -> dict[str, Any]:
    """A Platform as LTIAAS answers it."""
    return {
        "id": platform_id,
        "url": url,
        "clientId": client_id or f"client-{platform_id}",
        "name": name,
        "authenticationEndpoint": f"{url}/mod/lti/auth.php",
        "accesstokenEndpoint": f"{url}/mod/lti/token.php",
        "authConfig": {"method": "JWK_SET", "key": f"{url}/mod/lti/certs.php"},
        "publicKey": "-----BEGIN PUBLIC KEY-----\nMIIB\n-----END PUBLIC KEY-----",
        "active": active,
    }


def add_registration(
    app: Flask,
    platform_id: str,
    *,
    customer: str = "admin@springfield.edu",
    url: str = "https://moodle.springfield.edu",
    name: str = "Springfield Moodle",
    active: bool | None = False,
) -> str:
    """A registration completed into `platform_id`, whose choices `customer` saved; its public id."""
    with app.app_context():
        db = get_session()
        registration = Registration(
            ltiaas_registration_id=f"reg-{uuid4().hex[:12]}",
            platform_url=url,
            family_code="moodle",
            state=RegistrationState.COMPLETED.value,
            overrides={"platformName": name, "autoActivate": bool(active)},
            platform_id=platform_id,
            platform_active=active,
            expires_at=utcnow() + timedelta(hours=1),
            completed_at=utcnow(),
        )
        db.add(registration)
        db.flush()
        record_event(
            db,
            "state:reviewed",
            customer,
            registration,
            from_state=RegistrationState.RECEIVED.value,
            to_state=RegistrationState.REVIEWED.value,
        )
        db.commit()
        return registration.public_id


def platform_events(app: Flask) -> list[tuple[str, str, str | None, dict[str, Any]]]:
    """(action, actor, registration public id, details) of every `platform:` event, in order."""
    with app.app_context():
        events = get_session().scalars(
            select(AuditEvent).where(AuditEvent.action.startswith("platform:")).order_by(AuditEvent.id)
        )
        return [
            (
                event.action,
                event.actor,
                event.registration.public_id if event.registration else None,
                event.details,
            )
            for event in events
        ]


def platform_actions(app: Flask) -> list[PlatformAction]:
    with app.app_context():
        return list(get_session().scalars(select(PlatformAction).order_by(PlatformAction.id)))


class _Forms(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.forms: dict[str, dict[str, Any]] = {}
        self._current: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "form" and values.get("id"):
            self._current = str(values["id"])
            self.forms[self._current] = {"action": values.get("action"), "fields": {}}
        elif tag == "input" and self._current and values.get("type") == "hidden":
            self.forms[self._current]["fields"][values["name"]] = values.get("value") or ""

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._current = None


def form_on(page: TestResponse | str, form_id: str) -> tuple[str, dict[str, str]]:
    """The action and hidden fields (CSRF token, one-time action token) of the form `form_id`."""
    reader = _Forms()
    reader.feed(page if isinstance(page, str) else page.get_data(as_text=True))
    assert form_id in reader.forms, f"no form #{form_id} on the page"
    form = reader.forms[form_id]
    return str(form["action"]).replace("&amp;", "&"), dict(form["fields"])
