"""Playwright driving Debian's Chromium against a live portal.

The sandbox LMS page is opened at 127.0.0.1 and frames the portal at localhost:
two different sites, so the browser treats the portal as a cross-site iframe,
exactly as in Moodle or Canvas. Screenshots go to `test-artifacts/screenshots/`.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urljoin

import pytest
import requests
from playwright.sync_api import Browser, BrowserContext, Page, Route, expect, sync_playwright

from portal.auth.service import create_staff
from portal.db import get_session
from tests.browser.helpers import PASSWORD
from tests.conftest import start_live_server

if TYPE_CHECKING:
    from tests.conftest import LiveServer

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
# Every wait is for a condition; on a busy 2-core CI machine a page can take longer than
# Playwright's default 5 s to reach it, so assertions wait as long as actions do.
WAIT_MS = 15_000
expect.set_options(timeout=WAIT_MS)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/browser/" in str(item.fspath).replace("\\", "/"):
            item.add_marker(pytest.mark.browser)


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield browser
        browser.close()


@contextmanager
def new_context(browser: Browser) -> Iterator[BrowserContext]:
    """A person's own browser (no cookies yet), closed when done."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(WAIT_MS)
    try:
        yield context
    finally:
        context.close()


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    """The browser of the person whose story the test tells (the LMS admin, mostly)."""
    with new_context(browser) as context:
        yield context


@pytest.fixture
def other_context(browser: Browser) -> Iterator[BrowserContext]:
    """A second person's browser (the vendor's staff, a newcomer, or the customer's other window)."""
    with new_context(browser) as context:
        yield context


def serve_with_staff(folder: Path, staff_email: str, *, seed: bool = False, **settings: Any) -> LiveServer:
    """The app on a free port (stop it with `stop_live_server`) with a staff account signing in
    with `PASSWORD`; with `seed`, the sandbox's seed too (its hand-registered platform)."""
    live = start_live_server(folder, **settings)
    with live.app.app_context():
        db = get_session()
        create_staff(db, staff_email, PASSWORD, actor="cli")
        db.commit()
    if seed:
        assert live.app.test_cli_runner().invoke(args=["sandbox", "seed"]).exit_code == 0
    return live


@pytest.fixture
def page(context: BrowserContext) -> Page:
    return context.new_page()


def strip_portal_cookies(context: BrowserContext, live: LiveServer) -> None:
    """Make the browser behave like one that keeps no cookie for the framed portal.

    Every request to the portal's site is sent by the test itself, without a
    Cookie header, and answered to the browser without Set-Cookie. (Playwright's
    `route.fetch()` would go through the context's cookie jar, partitioned
    cookies included, and quietly carry the session: the test would prove
    nothing.) Chromium does not hand the follow-up request of a fulfilled
    redirect back to the route, so a redirect is answered with a page that
    moves on to the same Location by meta refresh: the next request is routed too.
    """

    def without_cookies(route: Route) -> None:
        request = route.request
        headers = {k: v for k, v in request.headers.items() if k.lower() not in REQUEST_HEADERS_TO_DROP}
        answer = requests.request(
            request.method,
            request.url,
            headers=headers,
            data=request.post_data_buffer,
            allow_redirects=False,
            timeout=30,
        )
        if answer.is_redirect:
            target = html.escape(urljoin(request.url, answer.headers["Location"]))
            refresh = f'<!doctype html><meta http-equiv="refresh" content="0;url={target}">'
            route.fulfill(status=200, content_type="text/html", body=refresh)
            return
        kept = {k: v for k, v in answer.headers.items() if k.lower() not in RESPONSE_HEADERS_TO_DROP}
        route.fulfill(status=answer.status_code, headers=kept, body=answer.content)

    context.route(re.compile(rf"^{re.escape(live.url)}/.*"), without_cookies)


REQUEST_HEADERS_TO_DROP = {"cookie", "host", "content-length"}
RESPONSE_HEADERS_TO_DROP = {
    "set-cookie",
    "content-length",
    "content-encoding",
    "transfer-encoding",
    "connection",
}


@pytest.fixture
def artifacts() -> Path:
    """Where screenshots go: kept by CI as test artifacts, never committed."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS
