"""The whole story over real HTTP: sandbox LMS -> sandbox LTIAAS -> portal -> LMS holds the tool.

`requests` keeps no `Secure` cookie over plain http, so this browser is also one
that never sends our cookie back: the flow runs on the `_st` token alone, as in
older Safari inside the LMS's iframe.
"""

from __future__ import annotations

from html.parser import HTMLParser
from typing import TYPE_CHECKING, Any
from urllib.parse import urljoin

import pytest
import requests
from sqlalchemy import select

from portal.db import get_session
from portal.models import Registration
from portal.sandbox.lms_service import start_attempt
from portal.sandbox.profiles import get_profile
from tests.accounts import create_user, sign_in

if TYPE_CHECKING:
    from tests.conftest import LiveServer

CANVAS = "https://canvas.instructure.com/lti/"


class FormReader(HTMLParser):
    """The inputs and links of a page: enough to act like the admin's browser."""

    def __init__(self) -> None:
        super().__init__()
        self.inputs: list[dict[str, str | None]] = []
        self.links: dict[str, str] = {}
        self.forms: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "input":
            self.inputs.append(values)
        elif tag == "a" and values.get("id") and values.get("href"):
            self.links[values["id"] or ""] = values["href"] or ""
        elif tag == "form" and values.get("action"):
            self.forms.append(values["action"] or "")


def read(response: requests.Response) -> FormReader:
    assert response.status_code == 200, response.text
    reader = FormReader()
    reader.feed(response.text)
    return reader


def csrf(reader: FormReader) -> str:
    return next(str(i["value"]) for i in reader.inputs if i.get("name") == "csrf_token")


def message_indexes(reader: FormReader) -> dict[str, int]:
    return {
        str(i["value"]): int(str(i["id"]).removeprefix("message-"))
        for i in reader.inputs
        if i.get("name") == "messages"
    }


def create_customer(live: LiveServer, profile: str) -> str:
    email = f"admin-{profile.replace('.', '')}@school.example"
    create_user(live.app, email)
    return email


def register_through_the_portal(
    live: LiveServer, profile: str, chosen: dict[str, list[str]]
) -> dict[str, Any]:
    """Walk the flow as the LMS admin; returns the sandbox attempt and the done page."""
    with live.app.app_context():
        started = start_attempt(
            get_session(),
            get_profile(profile),
            f"{live.url}/lti/register",
            lms_url=live.lms_url,
            secret_key=live.app.config["SECRET_KEY"],
        )
    browser = requests.Session()
    review = browser.get(started.register_url, timeout=20)  # LMS -> LTIAAS -> intermediate target -> review
    assert "/registration/" in review.url and "_st=" in review.url
    sign_in_url = urljoin(review.url, read(review).links["continue"])

    configure = sign_in(browser, create_customer(live, profile), page=sign_in_url)
    configure_url = configure.url
    assert "/configure" in configure_url and "_st=" in configure_url
    form_page = read(configure)
    indexes = message_indexes(form_page)
    data: dict[str, Any] = {
        "csrf_token": csrf(form_page),
        "platform_name": f"Live {profile}",
        "auto_activate": "y",
        "messages": list(chosen),
    }
    for message_type, placements in chosen.items():
        data[f"placements_{indexes[message_type]}"] = placements
    saved = browser.post(urljoin(configure_url, form_page.forms[0]), data=data, timeout=20)
    assert "/confirm" in saved.url, saved.text

    confirm_page = read(saved)
    done = browser.post(
        urljoin(saved.url, confirm_page.forms[0]), data={"csrf_token": csrf(confirm_page)}, timeout=30
    )
    assert done.status_code == 200 and "/done" in done.url, done.text
    return {"attempt": started.attempt_id, "done": done}


def lms_tools(live: LiveServer, attempt: str) -> list[dict[str, Any]]:
    response = requests.get(f"{live.lms_url}/sandbox/lms/api/tools", params={"attempt": attempt}, timeout=10)
    response.raise_for_status()
    return response.json()["tools"]


@pytest.mark.parametrize(
    ("profile", "chosen"),
    [
        ("moodle-4.4", {"LtiDeepLinkingRequest": ["ContentArea"]}),
        ("moodle-3.11", {"LtiResourceLinkRequest": [], "LtiDeepLinkingRequest": ["AddContentMenu"]}),
        (
            "canvas",
            {
                "LtiResourceLinkRequest": [f"{CANVAS}course_navigation"],
                "LtiDeepLinkingRequest": [f"{CANVAS}editor_button", "RichTextEditor"],
            },
        ),
        ("brightspace", {"LtiResourceLinkRequest": []}),
    ],
)
def test_the_lms_holds_the_tool_with_exactly_the_chosen_placements(
    live_server: LiveServer, profile: str, chosen: dict[str, list[str]]
) -> None:
    result = register_through_the_portal(live_server, profile, chosen)
    done = result["done"]
    assert 'data-state="completed"' in done.text
    assert "org.imsglobal.lti.close" in done.text
    assert "'sha256-" in done.headers["Content-Security-Policy"]

    (tool,) = lms_tools(live_server, result["attempt"])
    registered = {message["type"]: message["placements"] for message in tool["messages"]}
    assert registered == chosen


def test_a_used_registration_link_shows_already_registered(live_server: LiveServer) -> None:
    register_through_the_portal(live_server, "moodle-4.4", {"LtiResourceLinkRequest": []})
    with live_server.app.app_context():
        ltiaas_id = get_session().scalars(select(Registration.ltiaas_registration_id)).one()
    again = requests.get(
        f"{live_server.url}/intermediate-target", params={"registrationId": ltiaas_id}, timeout=10
    )
    assert again.status_code == 200
    assert 'data-page="already"' in again.text
