"""An LMS admin's browser, over plain HTTP, walking a registration through the portal.

Cookie-less (token mode): the browser keeps no cookie, so every URL carries the session token
(`_st`), as in Safari before 26.2. The walk: the sandbox LMS starts a registration -> LTIAAS
`/lti/register` -> the portal's intermediate target -> review -> sign up -> configure -> the
payment page -> pay in the Stripe stand-in's card form (what Stripe.js's frame does) -> the
payment is confirmed -> confirm -> complete -> done. It can stop at the payment page or at
confirm, to leave registrations behind for the load generator.

Each step is timed; `Auditor` (optional) counts the stand-ins' calls made by each step (it waits
for the step's after-effects, such as the Stripe stand-in's webhook, to settle first).
"""

from __future__ import annotations

import http.cookiejar
import itertools
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Any, Literal
from urllib.parse import parse_qs, urljoin, urlsplit

import requests
from sqlalchemy import create_engine, text
from sqlalchemy.exc import SQLAlchemyError

PASSWORD = "benchmark-password-1"  # noqa: S105 - throwaway accounts on a throwaway database
PAYING_CARD = "4242 4242 4242 4242"
STATUS_POLL_SECONDS = 1.5  # what the payment page's script waits between polls
STATUS_POLL_LIMIT_SECONDS = 30
LMS_PROFILE = "moodle-4.4"
TIMEOUT = 60
SESSIONS_FINGERPRINT = "SELECT count(*), max(expires_at) FROM web_sessions"
StopAt = Literal["checkout", "confirm", "done"]
_emails = itertools.count(1)
_emails_lock = threading.Lock()


class WalkError(RuntimeError):
    """A page did not answer as a browser expects (status, page or content)."""


class HtmlPage(HTMLParser):
    """What a walker needs from a page: metas, elements by id, forms with their fields."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.metas: dict[str, str] = {}
        self.by_id: dict[str, dict[str, str]] = {}
        self.forms: list[tuple[str, list[tuple[str, str]]]] = []
        self.page_name = ""
        self._form: list[tuple[str, str]] | None = None
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {name: value or "" for name, value in attrs}
        if "id" in values:
            self.by_id[values["id"]] = values
        if "data-page" in values and not self.page_name:
            self.page_name = values["data-page"]
        if tag == "meta" and "name" in values:
            self.metas[values["name"]] = values.get("content", "")
        elif tag == "form":
            self._form = []
            self.forms.append((values.get("action", ""), self._form))
        elif tag == "input" and self._form is not None and values.get("name"):
            kind = values.get("type", "text")
            if kind in ("checkbox", "radio"):
                if "checked" in values:
                    self._form.append((values["name"], values.get("value") or "on"))
            elif kind not in ("submit", "button", "image", "file"):
                self._form.append((values["name"], values.get("value", "")))

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._form = None

    def form(self, action_contains: str = "") -> tuple[str, list[tuple[str, str]]]:
        """The first form whose action contains `action_contains`: (action, fields as a browser sends)."""
        for action, fields in self.forms:
            if action_contains in action:
                return action, list(fields)
        raise WalkError(f"no form with an action containing {action_contains!r}")


@dataclass
class Step:
    name: str
    milliseconds: float
    ltiaas_calls: int | None = None
    stripe_calls: int | None = None


@dataclass(frozen=True)
class Tally:
    """Counters read before and after a step: their differences are what the step caused."""

    ltiaas: int
    stripe: int
    sessions: tuple[Any, ...] | None  # web_sessions' (rows, latest expiry): moves when a session is written


class Auditor:
    """Counts what the portal does upstream and in its database. Exact only while nothing else runs.

    LTIAAS API calls come from the stand-in's call log (`/sandbox/api/calls`), Stripe API calls
    from the stand-ins' access log, session writes from the portal's `web_sessions` table.
    """

    def __init__(self, standin_url: str, access_log: Path, portal_database_url: str | None = None) -> None:
        self.standin_url = standin_url
        self.access_log = access_log
        self.engine = create_engine(portal_database_url) if portal_database_url else None

    def ltiaas_calls(self) -> list[dict[str, Any]]:
        """The LTIAAS API calls so far (the browser's own visits to `/lti/register` left out)."""
        response = requests.get(f"{self.standin_url}/sandbox/api/calls", timeout=TIMEOUT)
        response.raise_for_status()
        return [call for call in response.json()["calls"] if call["path"].startswith("/api/")]

    def stripe_calls(self) -> int:
        """Stripe API requests so far (the access log lines of `/sandbox/stripe/v1/...`)."""
        try:
            text = self.access_log.read_text()
        except FileNotFoundError:
            return 0
        return sum(1 for line in text.splitlines() if " /sandbox/stripe/v1/" in line)

    def sessions(self) -> tuple[Any, ...] | None:
        """(rows, latest expiry) of the portal's sessions; None when that table cannot be read."""
        if self.engine is None:
            return None
        try:
            with self.engine.connect() as connection:
                return tuple(connection.execute(text(SESSIONS_FINGERPRINT)).one())
        except SQLAlchemyError:
            return None

    def tally(self) -> Tally:
        return Tally(len(self.ltiaas_calls()), self.stripe_calls(), self.sessions())

    def settle(self, quiet_seconds: float = 0.2, limit_seconds: float = 15) -> None:
        """Wait until nothing moves (the stand-in's webhooks delivered, the portal's answers made)."""
        deadline = time.monotonic() + limit_seconds
        last = self.tally()
        while time.monotonic() < deadline:
            time.sleep(quiet_seconds)
            now = self.tally()
            if now == last:
                return
            last = now

    def close(self) -> None:
        if self.engine is not None:
            self.engine.dispose()


@dataclass
class Walk:
    """A registration walked to `stop_at`, and the URLs (with their token) of the pages it reached."""

    stop_at: StopAt
    steps: list[Step] = field(default_factory=list)
    public_id: str = ""
    token: str = ""
    checkout_url: str = ""
    payment_status_url: str = ""
    done_url: str = ""

    def flow_url(self, page: str) -> str:
        """The path of a flow page of this registration, with its session token."""
        suffix = {"review": "", "configure": "configure", "confirm": "confirm", "status": "status"}[page]
        return f"/registration/{self.public_id}/{suffix}?_st={self.token}"


def _no_cookies() -> requests.Session:
    browser = requests.Session()
    browser.cookies.set_policy(http.cookiejar.DefaultCookiePolicy(allowed_domains=[]))
    return browser


def path_and_query(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}" if parts.query else parts.path


class Walker:
    """Walks registrations for one admin at a time; thread-safe if each thread has its own."""

    def __init__(
        self, portal_url: str, standin_url: str, lms_url: str, auditor: Auditor | None = None
    ) -> None:
        self.portal_url = portal_url
        self.standin_url = standin_url
        self.lms_url = lms_url
        self.auditor = auditor
        self.browser = _no_cookies()

    def _step(self, walk: Walk, name: str, action: Callable[[], requests.Response]) -> requests.Response:
        before = self.auditor.tally() if self.auditor else None
        started = time.perf_counter()
        response = action()
        elapsed = (time.perf_counter() - started) * 1000
        if response.status_code >= 400:
            raise WalkError(f"{name}: HTTP {response.status_code} at {urlsplit(response.url).path}")
        step = Step(name, elapsed)
        if self.auditor and before:
            self.auditor.settle()
            after = self.auditor.tally()
            step.ltiaas_calls, step.stripe_calls = after.ltiaas - before.ltiaas, after.stripe - before.stripe
        walk.steps.append(step)
        return response

    def _expect_page(self, response: requests.Response, name: str) -> HtmlPage:
        page = HtmlPage(response.text)
        if page.page_name != name:
            shown = page.page_name or "a page without data-page"
            raise WalkError(f"expected the {name} page, got {shown} at {urlsplit(response.url).path}")
        return page

    def walk(self, stop_at: StopAt = "done") -> Walk:
        """One registration, from the LMS to `stop_at` (its page is the last one loaded)."""
        walk = Walk(stop_at)
        review = self._to_review(walk)
        configure = self._sign_up(walk, review)
        checkout = self._save_choices(walk, configure)
        client_secret = self._start_payment(walk, checkout)
        if stop_at == "checkout":
            return walk
        confirm = self._pay(walk, checkout, client_secret)
        if stop_at == "confirm":
            return walk
        self._complete(walk, confirm)
        return walk

    def _to_review(self, walk: Walk) -> requests.Response:
        def start_in_lms() -> requests.Response:
            page = self.browser.get(f"{self.lms_url}/sandbox/lms/", timeout=TIMEOUT)
            metas = HtmlPage(page.text).metas
            return self.browser.post(
                f"{self.lms_url}/sandbox/lms/attempts",
                json={"profile": LMS_PROFILE},
                headers={"X-CSRFToken": metas["csrf-token"], "X-Session-Token": metas["session-token"]},
                timeout=TIMEOUT,
            )

        started = self._step(walk, "LMS starts a registration (stand-in)", start_in_lms)
        register_url = started.json()["register_url"]
        review = self._step(
            walk,
            "LTIAAS register -> intermediate target -> review",
            lambda: self.browser.get(register_url, timeout=TIMEOUT),
        )
        self._expect_page(review, "review")
        walk.public_id = urlsplit(review.url).path.split("/")[2]
        self._remember_token(walk, review.url)
        return review

    def _remember_token(self, walk: Walk, url: str) -> None:
        token = parse_qs(urlsplit(url).query).get("_st")
        if not token:
            raise WalkError(f"no session token in {urlsplit(url).path}: the walk must stay in token mode")
        walk.token = token[0]

    def _sign_up(self, walk: Walk, review: requests.Response) -> requests.Response:
        sign_up_url = urljoin(review.url, HtmlPage(review.text).by_id["create-account"]["href"])
        sign_up = self._step(walk, "sign-up page", lambda: self.browser.get(sign_up_url, timeout=TIMEOUT))
        action, fields = HtmlPage(sign_up.text).form("sign-up")
        with _emails_lock:
            email = f"admin{next(_emails)}-{time.time_ns()}@benchmark.example"
        data = dict(fields) | {
            "email": email,
            "organisation": "Benchmark University",
            "password": PASSWORD,
            "confirm": PASSWORD,
        }
        configure = self._step(
            walk,
            "sign up -> configure",
            lambda: self.browser.post(urljoin(sign_up.url, action), data=data, timeout=TIMEOUT),
        )
        self._expect_page(configure, "configure")
        self._remember_token(walk, configure.url)
        return configure

    def _save_choices(self, walk: Walk, configure: requests.Response) -> requests.Response:
        action, fields = HtmlPage(configure.text).form("/configure")
        checkout = self._step(
            walk,
            "save choices -> confirm -> payment page",
            lambda: self.browser.post(urljoin(configure.url, action), data=fields, timeout=TIMEOUT),
        )
        page = self._expect_page(checkout, "pay")
        walk.checkout_url = path_and_query(checkout.url)
        walk.payment_status_url = page.by_id["billing-checkout"]["data-status-url"]
        return checkout

    def _start_payment(self, walk: Walk, checkout: requests.Response) -> str:
        """What the payment page's script does as soon as it loads: start a Checkout Session."""
        data = HtmlPage(checkout.text).by_id["billing-checkout"]
        session_url = urljoin(checkout.url, data["data-session-url"])
        started = self._step(
            walk,
            "payment page starts a Checkout Session",
            lambda: self.browser.post(
                session_url, headers={"X-CSRFToken": data["data-csrf-token"]}, timeout=TIMEOUT
            ),
        )
        body = started.json()
        if body.get("state") != "open":
            raise WalkError(f"the payment page could not start a Checkout Session: {body}")
        return str(body["client_secret"])

    def _pay(self, walk: Walk, checkout: requests.Response, client_secret: str) -> requests.Response:
        data = HtmlPage(checkout.text).by_id["billing-checkout"]
        self._step(walk, "pay in the card form (stand-in)", lambda: self._pay_in_frame(client_secret))
        status_url = urljoin(checkout.url, data["data-status-url"])
        self._step(walk, "payment status until paid", lambda: self._wait_until_paid(status_url))
        next_url = urljoin(checkout.url, data["data-next-url"])
        confirm = self._step(walk, "on to confirm", lambda: self.browser.get(next_url, timeout=TIMEOUT))
        self._expect_page(confirm, "confirm")
        return confirm

    def _pay_in_frame(self, client_secret: str) -> requests.Response:
        """What the embedded form does: load the frame, submit the card."""
        frame_url = f"{self.standin_url}/sandbox/stripe/embedded"
        origin = self.portal_url
        self.browser.get(
            frame_url, params={"client_secret": client_secret, "origin": origin}, timeout=TIMEOUT
        )
        card = {"client_secret": client_secret, "origin": origin, "card_number": PAYING_CARD}
        return self.browser.post(frame_url, data=card, timeout=TIMEOUT)

    def _wait_until_paid(self, status_url: str) -> requests.Response:
        deadline = time.monotonic() + STATUS_POLL_LIMIT_SECONDS
        while True:
            response = self.browser.get(status_url, headers={"Accept": "application/json"}, timeout=TIMEOUT)
            if response.status_code >= 400 or response.json().get("paid"):
                return response
            if time.monotonic() > deadline:
                raise WalkError(f"the payment was not confirmed within {STATUS_POLL_LIMIT_SECONDS} s")
            time.sleep(STATUS_POLL_SECONDS)

    def _complete(self, walk: Walk, confirm: requests.Response) -> None:
        action, fields = HtmlPage(confirm.text).form("/complete")
        done = self._step(
            walk,
            "complete -> done",
            lambda: self.browser.post(urljoin(confirm.url, action), data=fields, timeout=TIMEOUT),
        )
        self._expect_page(done, "done")
        if "org.imsglobal.lti.close" not in done.text:
            raise WalkError("the done page has no close script")
        walk.done_url = path_and_query(done.url)
