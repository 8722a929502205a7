"""Every sandbox LMS in every browser mode: the whole flow (sign-up or sign-in, payment through the
Stripe stand-in, registration, the close message heard by the LMS page) in each cell.

The modes:

- `partitioned`: the LMS's dialog (an iframe of another site) in a fresh browser, where only the
  portal's partitioned cookie comes back;
- `cookies-blocked`: the dialog in a Chromium whose profile blocks every cookie of the portal's
  origin (its `Default/Preferences`, written before launch), so the flow runs on its token alone;
- `new-tab`: the LMS opens the portal top-level in a new tab (first-party cookies).

The sandbox LMS opens any profile in either window (`#window-mode`), so Brightspace, which opens a
tab, also runs framed. Blackboard's developer portal registers on another host than its
configuration, which LTIAAS refuses by design: its cells show LTIAAS's clear refusal instead.

One server, one browser per mode (the persistent one blocks cookies) and one account per mode for
the whole module: a browser that keeps the portal's cookie signs up once and stays signed in; the
cookie-less one signs in again in each cell, as such a browser must.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, FrameLocator, Page, expect

from portal.sandbox.profiles import UNPLAYABLE_PROFILES, _raw_profiles, playable_profiles
from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS
from tests.browser.helpers import (
    PROFILE_CHOICES,
    assert_registered_exactly,
    choose,
    complete_calls,
    new_email,
    open_lms,
    portal_frame,
    sign_in,
    sign_up,
    start_registration,
    wait_for_close,
)
from tests.browser.looks import assert_accessible, content_frame
from tests.conftest import LiveServer, start_live_server, stop_live_server

pytestmark = pytest.mark.slow  # scripts/test runs it after its PostgreSQL pass; scripts/test-slow alone

MODES = ["partitioned", "cookies-blocked", "new-tab"]
PLAYABLE = list(playable_profiles())
BLACKBOARD = "blackboard-developer-portal"
CELLS = [(mode, profile) for mode in MODES for profile in [*PLAYABLE, *sorted(UNPLAYABLE_PROFILES)]]
PAYING_CARD = "4242 4242 4242 4242"


@dataclass
class Mode:
    """One browser mode's browser, the LMS page in it, and its customer once signed up."""

    name: str
    context: BrowserContext
    email: str = ""
    pages: list[Page] = field(default_factory=list)

    @property
    def window(self) -> str:
        return "new tab" if self.name == "new-tab" else "dialog"

    def lms_page(self) -> Page:
        if not self.pages:
            self.pages.append(self.context.new_page())
        return self.pages[0]


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """The sandbox with its demo price, for every cell."""
    server = start_live_server(
        tmp_path_factory.mktemp("every-lms"),
        STRIPE_PRICE_ID="price_sandbox_registration",
        SANDBOX_STRIPE_SETTLE_AFTER=None,
    )
    yield server
    stop_live_server(server)


def blocking_profile(folder: Path, origin: str) -> Path:
    """A Chromium profile whose preferences block every cookie of `origin`, in any frame."""
    preferences = {
        "profile": {"content_settings": {"exceptions": {"cookies": {f"{origin},*": {"setting": 2}}}}}
    }
    (folder / "Default").mkdir(parents=True)
    (folder / "Default" / "Preferences").write_text(json.dumps(preferences))
    return folder


@pytest.fixture(scope="module")
def modes(
    browser: Browser, live: LiveServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Mode]]:
    partitioned = browser.new_context(viewport={"width": 1280, "height": 900})
    new_tab = browser.new_context(viewport={"width": 1280, "height": 900})
    blocked = browser.browser_type.launch_persistent_context(
        str(blocking_profile(tmp_path_factory.mktemp("cookies-blocked"), live.url)),
        executable_path=CHROMIUM,
        args=CHROMIUM_ARGS,
        headless=True,
        viewport={"width": 1280, "height": 900},
    )
    contexts = {"partitioned": partitioned, "cookies-blocked": blocked, "new-tab": new_tab}
    for context in contexts.values():
        context.set_default_timeout(15_000)
    yield {name: Mode(name, context) for name, context in contexts.items()}
    for context in contexts.values():
        context.close()


class _Configuration(BaseHTTPRequestHandler):
    body = b""

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def blackboard_configuration() -> Iterator[str]:
    """The URL of Blackboard's developer portal configuration, served as it is published."""
    handler = type(
        "Blackboard",
        (_Configuration,),
        {"body": json.dumps(_raw_profiles()[BLACKBOARD]["configuration"]).encode()},
    )
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    host, port = server.server_address[:2]
    yield f"http://{host}:{port}/.well-known/openid-configuration"
    server.shutdown()
    server.server_close()


def open_window(mode: Mode, lms: Page, profile: str) -> tuple[FrameLocator | Page, Page | None]:
    """Start `profile`'s registration in `mode`'s window: the portal's view, and its tab if any."""
    if mode.window == "new tab":
        with mode.context.expect_page() as new_tab:
            start_registration(lms, profile, window="new tab")
        return new_tab.value, new_tab.value
    start_registration(lms, profile, window="dialog")
    return portal_frame(lms), None


def to_configure(mode: Mode, view: FrameLocator | Page) -> None:
    """From review to configure: sign up once per mode, then sign in only where no cookie came back."""
    expect(view.locator('[data-page="review"]')).to_be_visible()
    if not view.locator("#create-account").count():
        view.locator("#continue").click()  # still signed in
    elif not mode.email:
        mode.email = new_email()
        view.locator("#create-account").click()
        sign_up(view, mode.email)
    else:
        view.locator("#continue").click()
        sign_in(view, mode.email)
    expect(view.locator('[data-page="configure"]')).to_be_visible()


def pay(view: FrameLocator | Page) -> None:
    expect(view.locator('[data-page="pay"]')).to_be_visible()
    checkout = view.frame_locator("#checkout iframe")
    checkout.locator("#card_number").fill(PAYING_CARD)
    checkout.get_by_role("button", name="Pay").click()
    expect(view.locator('[data-page="confirm"]')).to_be_visible()
    expect(view.locator('#paid-not-registered[data-payment="paid"]')).to_be_visible()


@pytest.mark.parametrize(("mode_name", "profile"), CELLS, ids=[f"{m}-{p}" for m, p in CELLS])
def test_every_lms_in_every_browser_mode(
    modes: dict[str, Mode], live: LiveServer, blackboard_configuration: str, mode_name: str, profile: str
) -> None:
    mode = modes[mode_name]
    lms = mode.lms_page()
    open_lms(lms, live.lms_url)
    if profile == BLACKBOARD:
        refused_by_ltiaas(mode, lms, live, blackboard_configuration)
    else:
        register(mode, lms, live, profile)
    if mode.name == "cookies-blocked":
        assert mode.context.cookies(live.url) == []  # the flow ran without any cookie of the portal's


def register(mode: Mode, lms: Page, live: LiveServer, profile: str) -> None:
    completed_before = complete_calls(live.url)
    view, tab = open_window(mode, lms, profile)
    to_configure(mode, view)
    choose(view, PROFILE_CHOICES[profile])
    view.locator("#save-choices").click()
    pay(view)
    if mode.name == "partitioned":  # what each LMS offers shows on these pages, in light and dark
        assert_accessible(lms, content_frame(lms), f"{profile}: confirm")
    view.locator("#register-tool").click()
    wait_for_close(lms)
    assert_registered_exactly(lms, profile, PROFILE_CHOICES[profile])
    assert complete_calls(live.url) == completed_before + 1
    if tab is not None and not tab.is_closed():
        tab.wait_for_event("close")  # the LMS closes the tab it opened


def refused_by_ltiaas(mode: Mode, lms: Page, live: LiveServer, configuration_url: str) -> None:
    """Blackboard's developer portal, opened as its LMS would: LTIAAS's refusal, in plain words."""
    register_url = f"{live.url}/lti/register?openid_configuration={configuration_url}&registration_token=t"
    if mode.window == "new tab":
        with mode.context.expect_page() as new_tab:
            lms.evaluate("url => window.open(url, '_blank')", register_url)
        view: FrameLocator | Page = new_tab.value
        page = new_tab.value
    else:
        lms.locator("#registration-frame").evaluate(
            "(frame, url) => { frame.closest('dialog').showModal(); frame.src = url; }", register_url
        )
        view = portal_frame(lms)
        page = lms
    expect(view.locator("#register-error-heading")).to_have_text("This registration could not start")
    expect(view.locator("#register-error-message")).to_contain_text(
        "not on the host of the OpenID configuration"
    )
    expect(view.get_by_text("What to do next:")).to_be_visible()
    if mode.name == "partitioned":
        assert_accessible(page, content_frame(lms), "LTIAAS refuses Blackboard")
    if mode.window == "new tab":
        page.close()
    else:
        lms.locator("#dialog-cancel").click()
