"""Helpers for the sandbox's tests: act like the LMS admin and the portal, and forge an LMS."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from http.server import ThreadingHTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

import requests

from portal.db import get_session
from portal.sandbox.lms_service import StartedAttempt, start_attempt
from portal.sandbox.profiles import get_profile

if TYPE_CHECKING:
    from tests.conftest import LiveServer

API_KEY = "sandbox-api-key"
PLAYABLE = ["moodle-4.4", "moodle-3.11", "canvas", "sakai", "brightspace"]


class Sandbox:
    """Drives the live sandbox as the LMS admin's browser and the portal would."""

    def __init__(self, live: LiveServer) -> None:
        self.live = live
        self.api = requests.Session()
        self.api.headers["Authorization"] = f"Bearer {API_KEY}"

    @property
    def platforms_url(self) -> str:
        return f"{self.live.url}/api/platforms"

    def registration_endpoint(self, profile: str) -> str:
        """Where the sandbox LMS of `profile` takes registrations (the tool's registration request)."""
        return str(get_profile(profile).configuration(self.live.lms_url)["registration_endpoint"])

    def issuer(self, profile: str) -> str:
        if profile == "canvas":
            return "https://canvas.instructure.com"
        return f"{self.live.lms_url}/sandbox/lms/{profile}"

    def start(
        self, profile: str, issued_at: datetime | None = None, refusal: str | None = None
    ) -> StartedAttempt:
        """What the admin page's Start button does: a new attempt and the URL to open.

        With `refusal`, as with the page's "refuse" box: the LMS refuses in those words.
        """
        with self.live.app.app_context():
            return start_attempt(
                get_session(),
                get_profile(profile),
                f"{self.live.url}/lti/register",
                lms_url=self.live.lms_url,
                secret_key=self.live.app.config["SECRET_KEY"],
                issued_at=issued_at,
                refusal=refusal,
            )

    def open_register_url(self, url: str) -> requests.Response:
        return requests.get(url, allow_redirects=False, timeout=10)

    def receive(self, started: StartedAttempt) -> str:
        """Open the register URL; return the registrationId LTIAAS hands to the portal."""
        return self.receive_at(started.register_url)

    def receive_at(self, register_url: str) -> str:
        response = self.open_register_url(register_url)
        assert response.status_code == 302, response.text
        location = urlsplit(response.headers["Location"])
        assert (
            f"{location.scheme}://{location.netloc}{location.path}" == f"{self.live.url}/intermediate-target"
        )
        return parse_qs(location.query)["registrationId"][0]

    def registration(self, registration_id: str, **params: str) -> requests.Response:
        return self.api.get(f"{self.live.url}/api/registrations/{registration_id}", params=params, timeout=10)

    def complete(self, registration_id: str, body: dict[str, Any] | None = None) -> requests.Response:
        url = f"{self.live.url}/api/registrations/{registration_id}/complete"
        return self.api.post(url, json=body or {}, timeout=15)

    def lms_tools(self, **params: str) -> list[dict[str, Any]]:
        response = requests.get(f"{self.live.lms_url}/sandbox/lms/api/tools", params=params, timeout=10)
        response.raise_for_status()
        return response.json()["tools"]

    def platforms(self, **params: str) -> list[dict[str, Any]]:
        response = self.api.get(self.platforms_url, params=params, timeout=10)
        response.raise_for_status()
        return response.json()["platforms"]

    def calls(self, path_contains: str) -> list[dict[str, Any]]:
        response = requests.get(
            f"{self.live.url}/sandbox/api/calls", params={"path_contains": path_contains}, timeout=10
        )
        return response.json()["calls"]


@dataclass
class ForgedLms:
    """A tiny HTTP server answering fixed responses by path, and remembering request headers."""

    server: ThreadingHTTPServer
    responses: dict[str, tuple[int, str]] = field(default_factory=dict)
    seen_headers: list[dict[str, str]] = field(default_factory=list)

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def serve_json(self, path: str, body: Any, status: int = 200) -> str:
        self.responses[path] = (status, json.dumps(body))
        return self.url + path

    def serve_text(self, path: str, text: str, status: int = 200) -> str:
        self.responses[path] = (status, text)
        return self.url + path
