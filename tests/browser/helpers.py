"""Steps a person takes in the sandbox LMS and the portal, for the browser tests."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from uuid import uuid4

import requests
from playwright.sync_api import Frame, FrameLocator, Locator, Page, Response, expect

from tests.accounts import PASSWORD  # one password for every test account, typed in a browser or not

DIALOG_SIZE = {"width": 800, "height": 600}
CANVAS = "https://canvas.instructure.com/lti/"


@dataclass
class Choices:
    """What the admin ticks on the configure page: message type -> placements."""

    platform_name: str
    messages: dict[str, list[str]]


# What an admin chooses for each sandbox LMS: every kind of message and placement it offers.
PROFILE_CHOICES = {
    "moodle-4.4": Choices(
        "Springfield Moodle",
        {"LtiResourceLinkRequest": [], "LtiDeepLinkingRequest": ["ContentArea"]},
    ),
    "moodle-3.11": Choices("Old Moodle", {"LtiDeepLinkingRequest": ["AddContentMenu"]}),
    "canvas": Choices(
        "Springfield Canvas",
        {
            "LtiResourceLinkRequest": [f"{CANVAS}course_navigation", f"{CANVAS}account_navigation"],
            "LtiDeepLinkingRequest": [f"{CANVAS}editor_button"],
        },
    ),
    "sakai": Choices("Sakai at Springfield", {"LtiResourceLinkRequest": [], "LtiDeepLinkingRequest": []}),
    "brightspace": Choices("Springfield D2L", {"LtiResourceLinkRequest": []}),
}


def open_lms(page: Page, lms_url: str) -> None:
    page.goto(f"{lms_url}/sandbox/lms/")
    expect(page.locator("#close-status")).to_have_text("idle")


def start_registration(page: Page, profile: str, window: str = "") -> None:
    """Press Start for `profile`; `window` ("dialog" or "new tab") overrides the LMS's own."""
    page.check(f'input[name="profile"][value="{profile}"]')
    page.select_option("#window-mode", window)
    page.click("#start-button")


def portal_frame(page: Page) -> FrameLocator:
    return page.frame_locator("#registration-frame")


def choose(view: FrameLocator | Page, choices: Choices) -> None:
    """Fill the configure form with exactly `choices` (everything else unticked)."""
    view.locator("#platform_name").fill(choices.platform_name)
    for box in view.locator('input[name="messages"]').all():
        box.set_checked(box.get_attribute("value") in choices.messages)
    for option in view.locator(".message-option").all():
        message_type = option.get_attribute("data-message-type") or ""
        wanted = set(choices.messages.get(message_type, []))
        for box in option.locator('.placements input[type="checkbox"]').all():
            if box.is_enabled():
                box.set_checked(box.get_attribute("value") in wanted)


def new_email() -> str:
    return f"admin-{uuid4().hex[:10]}@school.example"


def sign_up(view: FrameLocator | Page, email: str, organisation: str = "Springfield University") -> None:
    """Fill and send the sign-up page (already shown), as a new customer."""
    expect(view.locator('[data-page="sign-up"]')).to_be_visible()
    view.locator("#email").fill(email)
    view.locator("#organisation").fill(organisation)
    view.locator("#password").fill(PASSWORD)
    view.locator("#confirm").fill(PASSWORD)
    view.locator("#sign-up-submit").click()


def sign_in(view: FrameLocator | Page, email: str, password: str = PASSWORD) -> None:
    """Fill and send the sign-in page (already shown)."""
    expect(view.locator('[data-page="sign-in"]')).to_be_visible()
    view.locator("#email").fill(email)
    view.locator("#password").fill(password)
    view.locator("#sign-in-submit").click()


def continue_to_configure(view: FrameLocator | Page, email: str | None = None) -> None:
    """From the review page to configure; a visitor not signed in creates an account on the way."""
    expect(view.locator('[data-page="review"]')).to_be_visible()
    if view.locator("#create-account").count():
        view.locator("#create-account").click()
        sign_up(view, email or new_email())
    else:
        view.locator("#continue").click()
    expect(view.locator('[data-page="configure"]')).to_be_visible()


def walk_to_confirm(view: FrameLocator | Page, choices: Choices, email: str | None = None) -> None:
    continue_to_configure(view, email)
    choose(view, choices)
    view.locator("#save-choices").click()
    expect(view.locator('[data-page="confirm"]')).to_be_visible()


def wait_for_close(page: Page) -> None:
    expect(page.locator("#close-status")).to_have_text("closed")


def assert_registered_exactly(page: Page, profile: str, choices: Choices) -> None:
    """The LMS page's current attempt registered one tool, for `profile`, with exactly `choices`."""
    tools = registered_tools(page)
    assert len(tools) == 1
    assert tools[0]["profile"] == profile
    got = {message["type"]: sorted(message.get("placements") or []) for message in tools[0]["messages"]}
    assert got == {kind: sorted(placements) for kind, placements in choices.messages.items()}


def registered_tools(page: Page) -> list[dict]:
    """The tools the sandbox LMS page lists for its current attempt, once loaded."""
    tools = page.locator("#registered-tools li[data-client-id]")
    expect(tools.first).to_be_attached()
    return [
        {
            "client_id": item.get_attribute("data-client-id"),
            "profile": item.get_attribute("data-profile"),
            "messages": json.loads(item.get_attribute("data-messages") or "[]"),
        }
        for item in tools.all()
    ]


def complete_calls(portal_url: str) -> int:
    """How many times the sandbox LTIAAS was asked to complete a registration."""
    calls = requests.get(
        f"{portal_url}/sandbox/api/calls", params={"path_contains": "/complete"}, timeout=5
    ).json()
    entries = calls["calls"] if isinstance(calls, dict) else calls
    return sum(1 for call in entries if call["method"] == "POST")


def has_no_horizontal_scroll(view: Page | Frame) -> bool:
    """Whether the page fits its width, measured once its stylesheets apply: a page can be
    visible before they load, and unstyled it overflows (the race behind a flaky phone test)."""
    view.wait_for_load_state("load")
    return view.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


def watch_portal_set_cookies(page: Page, portal_url: str) -> list[str]:
    """The URLs of the portal's responses that reached `page` with a Set-Cookie header (filled live)."""
    seen: list[str] = []

    def note(response: Response) -> None:
        if response.url.startswith(portal_url) and response.header_value("set-cookie"):
            seen.append(response.url)

    page.on("response", note)
    return seen


def reload_until_shown(page: Page, wanted: Locator, seconds: float = 15) -> None:
    """Reload `page` until `wanted` is on it, as a person waiting for a message would (the portal's
    background sender delivers within a second or two)."""
    deadline = time.monotonic() + seconds
    while not wanted.count():
        assert time.monotonic() < deadline, f"not shown within {seconds} s: {wanted}"
        time.sleep(0.5)
        page.reload()
