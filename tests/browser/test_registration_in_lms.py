"""An LMS admin registers the tool from inside their LMS, in a real browser.

The sandbox LMS page (127.0.0.1) frames the portal (localhost): a cross-site
iframe, as in Moodle and Canvas. Brightspace opens the portal in a new tab.
Completing needs an account, so each admin creates one inside the dialog on the way.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import BrowserContext, Page, expect

from tests.browser.conftest import strip_portal_cookies
from tests.browser.helpers import (
    Choices,
    complete_calls,
    has_no_horizontal_scroll,
    new_email,
    open_lms,
    portal_frame,
    registered_tools,
    sign_up,
    start_registration,
    wait_for_close,
    walk_to_confirm,
    watch_portal_set_cookies,
)
from tests.conftest import LiveServer

CANVAS = "https://canvas.instructure.com/lti/"

CHOICES = {
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


def assert_registered_exactly(page: Page, profile: str, choices: Choices) -> None:
    tools = registered_tools(page)
    assert len(tools) == 1
    assert tools[0]["profile"] == profile
    got = {message["type"]: sorted(message.get("placements") or []) for message in tools[0]["messages"]}
    assert got == {kind: sorted(placements) for kind, placements in choices.messages.items()}


def register_in_dialog(page: Page, live: LiveServer, profile: str) -> None:
    open_lms(page, live.lms_url)
    start_registration(page, profile)
    frame = portal_frame(page)
    walk_to_confirm(frame, CHOICES[profile])
    frame.locator("#register-tool").click()
    wait_for_close(page)
    assert_registered_exactly(page, profile, CHOICES[profile])


@pytest.mark.parametrize("profile", ["moodle-4.4", "moodle-3.11", "canvas", "sakai"])
def test_an_admin_registers_the_tool_inside_the_lms_dialog(
    page: Page, live_server: LiveServer, profile: str
) -> None:
    register_in_dialog(page, live_server, profile)
    assert complete_calls(live_server.url) == 1


@pytest.mark.parametrize("profile", ["moodle-4.4", "canvas"])
def test_the_flow_works_when_the_browser_keeps_no_cookie_for_the_portal(
    context: BrowserContext, live_server: LiveServer, profile: str
) -> None:
    strip_portal_cookies(context, live_server)
    page = context.new_page()
    seen_set_cookie = watch_portal_set_cookies(page, live_server.url)
    register_in_dialog(page, live_server, profile)
    assert seen_set_cookie == []
    assert context.cookies(live_server.url) == []
    assert complete_calls(live_server.url) == 1


def test_brightspace_opens_the_portal_in_a_new_tab_and_the_close_reaches_the_opener(
    context: BrowserContext, live_server: LiveServer
) -> None:
    page = context.new_page()
    open_lms(page, live_server.lms_url)
    with context.expect_page() as new_tab:
        start_registration(page, "brightspace")
    tab = new_tab.value
    walk_to_confirm(tab, CHOICES["brightspace"])
    tab.locator("#register-tool").click()
    wait_for_close(page)
    assert_registered_exactly(page, "brightspace", CHOICES["brightspace"])


def test_a_double_click_on_register_completes_once(page: Page, live_server: LiveServer) -> None:
    open_lms(page, live_server.lms_url)
    start_registration(page, "moodle-4.4")
    frame = portal_frame(page)
    walk_to_confirm(frame, CHOICES["moodle-4.4"])
    frame.locator("#register-tool").dblclick()
    wait_for_close(page)
    assert complete_calls(live_server.url) == 1
    assert len(registered_tools(page)) == 1


def test_two_tabs_completing_the_same_registration_complete_once(
    context: BrowserContext, live_server: LiveServer
) -> None:
    first = context.new_page()
    open_lms(first, live_server.lms_url)
    start_registration(first, "moodle-4.4")
    walk_to_confirm(portal_frame(first), CHOICES["moodle-4.4"])
    first_frame = first.locator("#registration-frame").element_handle().content_frame()
    assert first_frame is not None
    confirm_url = first_frame.url

    # A second LMS tab showing the same confirm page (same partition, same session).
    second = context.new_page()
    second.goto(f"{live_server.lms_url}/sandbox/lms/")
    second.locator("#registration-frame").evaluate(
        "(frame, url) => { frame.closest('dialog').showModal(); frame.src = url; }", confirm_url
    )
    second_frame = portal_frame(second)
    expect(second_frame.locator('[data-page="confirm"]')).to_be_visible()

    second_frame.locator("#register-tool").click(no_wait_after=True)
    portal_frame(first).locator("#register-tool").click(no_wait_after=True)

    expect(second_frame.locator('[data-page="done"]')).to_be_attached()
    wait_for_close(first)
    assert len(registered_tools(first)) == 1
    assert complete_calls(live_server.url) == 1


@pytest.mark.parametrize("profile", ["moodle-4.4", "canvas"])
def test_an_lms_that_refuses_the_registration_shows_the_admin_its_own_words(
    page: Page, live_server: LiveServer, profile: str
) -> None:
    words = "Tools from <b>this</b> domain are not accepted at Springfield."
    open_lms(page, live_server.lms_url)
    page.check("#refuse")
    page.fill("#refusal-message", words)
    start_registration(page, profile)
    frame = portal_frame(page)
    walk_to_confirm(frame, CHOICES[profile])

    frame.locator("#register-tool").click()

    expect(frame.locator('[data-page="problem"][data-problem="lms_refused"]')).to_be_visible()
    expect(frame.locator("#page-heading")).to_have_text("Your LMS refused the registration")
    expect(frame.locator("#lms-words")).to_have_text(words)  # as text: no markup of the LMS's runs
    expect(frame.locator("#lms-words b")).to_have_count(0)
    expect(frame.locator("#retry")).to_have_count(0)
    expect(frame.get_by_text("Try again")).to_have_count(0)
    expect(page.locator("#close-status")).not_to_have_text("closed")
    expect(page.locator("#registered-tools li[data-client-id]")).to_have_count(0)
    assert complete_calls(live_server.url) == 1


def test_every_page_fits_the_lms_dialog(page: Page, live_server: LiveServer, artifacts: Path) -> None:
    """Each page in the LMS's ~800x600 dialog, with no sideways scrolling; screenshots for people."""
    open_lms(page, live_server.lms_url)
    start_registration(page, "canvas")
    frame_element = page.locator("#registration-frame")
    expect(frame_element).to_be_visible()  # the dialog opens once the LMS has started the attempt
    box = frame_element.bounding_box()
    assert box is not None
    assert 780 <= box["width"] <= 800
    assert 560 <= box["height"] <= 640
    frame = portal_frame(page)

    def look(name: str) -> None:
        content = frame_element.element_handle().content_frame()
        assert content is not None
        assert has_no_horizontal_scroll(content), name
        frame_element.screenshot(path=str(artifacts / f"{name}.png"))

    expect(frame.locator('[data-page="review"]')).to_be_visible()
    look("1-review")
    frame.locator("#create-account").click()
    expect(frame.locator('[data-page="sign-up"]')).to_be_visible()
    look("1b-sign-up")
    sign_up(frame, new_email())
    expect(frame.locator('[data-page="configure"]')).to_be_visible()
    look("2-configure")
    frame.locator("#platform_name").fill("")
    frame.locator("#save-choices").click()
    expect(frame.locator("#form-errors")).to_be_visible()
    look("2b-configure-with-an-error")
    frame.locator("#platform_name").fill("Springfield Canvas")
    frame.locator("#save-choices").click()
    expect(frame.locator('[data-page="confirm"]')).to_be_visible()
    look("3-confirm")
    page.screenshot(path=str(artifacts / "0-lms-dialog-confirm.png"))
    frame.locator("#register-tool").click()
    wait_for_close(page)
    page.screenshot(path=str(artifacts / "4-lms-after-close.png"))


def test_the_pages_fit_a_phone(context: BrowserContext, live_server: LiveServer, artifacts: Path) -> None:
    """The Brightspace tab on a 360px-wide phone: every step without sideways scrolling."""
    lms = context.new_page()
    open_lms(lms, live_server.lms_url)
    with context.expect_page() as new_tab:
        start_registration(lms, "brightspace")
    tab = new_tab.value
    tab.set_viewport_size({"width": 360, "height": 740})
    expect(tab.locator('[data-page="review"]')).to_be_visible()
    assert has_no_horizontal_scroll(tab)
    tab.locator("#create-account").click()
    expect(tab.locator('[data-page="sign-up"]')).to_be_visible()
    assert has_no_horizontal_scroll(tab)
    sign_up(tab, new_email())
    expect(tab.locator('[data-page="configure"]')).to_be_visible()
    assert has_no_horizontal_scroll(tab)
    tab.screenshot(path=str(artifacts / "phone-configure.png"), full_page=True)
