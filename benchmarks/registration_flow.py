"""How fast the portal walks an LMS admin through a registration, and how much memory it uses.

Serves the whole app (portal, sandbox LTIAAS, sandbox LMS) on a threaded
server over real HTTP, on a throwaway SQLite file, then drives complete
registrations with `requests` (the cookie-less path: every URL carries the
session token), one or several admins at once. Prints latency per step
(median, p95, max), registrations per second, and the process's peak RSS.

    .venv/bin/python benchmarks/registration_flow.py --registrations 40 --concurrency 4

The figures include the sandbox's own work (LTIAAS stand-in and LMS stand-in
answer from the same process), so they are an upper bound for the portal alone.
No target is asserted here: compare runs before and after a change.
"""

from __future__ import annotations

import argparse
import logging
import resource
import socket
import statistics
import sys
import tempfile
import threading
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import requests
from werkzeug.serving import make_server

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from portal import create_app
from portal.db import get_session
from portal.migrations import upgrade_database
from portal.models import User
from portal.sandbox.lms_service import start_attempt
from portal.sandbox.profiles import get_profile

PASSWORD = "benchmark-password-1"  # noqa: S105 - a throwaway account on a throwaway database


class Page(HTMLParser):
    def __init__(self, html: str) -> None:
        super().__init__()
        self.inputs: list[dict[str, str]] = []
        self.links: dict[str, str] = {}
        self.forms: list[str] = []
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {k: v or "" for k, v in attrs}
        if tag == "input":
            self.inputs.append(values)
        elif tag == "a" and values.get("id"):
            self.links[values["id"]] = values.get("href", "")
        elif tag == "form" and values.get("action"):
            self.forms.append(values["action"])

    def hidden(self) -> dict[str, str]:
        return {i["name"]: i.get("value", "") for i in self.inputs if i.get("type") == "hidden"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def serve(database: Path) -> tuple[Any, str, str]:
    port = free_port()
    app = create_app(
        {
            "PORTAL_ENV": "development",
            "SECRET_KEY": "benchmark-secret-key-that-is-long-enough",
            "DATABASE_URL": f"sqlite:///{database}",
            "PORTAL_URL": f"http://localhost:{port}",
            "STRIPE_PRICE_ID": "",
            "RATELIMIT_ENABLED": False,
            "LOGIN_FAILURE_LIMIT": 10**6,
        }
    )
    upgrade_database(app)
    server = make_server("127.0.0.1", port, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return app, f"http://localhost:{port}", f"http://127.0.0.1:{port}"


def create_customer(app: Any, email: str) -> None:
    with app.app_context():
        db = get_session()
        db.add(
            User(
                email=email,
                password_hash=app.extensions["password_hasher"].hash(PASSWORD),
                role="customer",
                organisation="Benchmark University",
            )
        )
        db.commit()


class Timer:
    def __init__(self) -> None:
        self.samples: dict[str, list[float]] = defaultdict(list)
        self.lock = threading.Lock()

    def time(self, step: str, call: Any, *args: Any, **kwargs: Any) -> requests.Response:
        started = time.perf_counter()
        response = call(*args, **kwargs)
        elapsed = (time.perf_counter() - started) * 1000
        if response.status_code >= 400:
            raise RuntimeError(f"{step}: HTTP {response.status_code} at {response.url}")
        with self.lock:
            self.samples[step].append(elapsed)
        return response


def register_once(app: Any, portal: str, lms: str, email: str, timer: Timer) -> None:
    with app.app_context():
        attempt = start_attempt(
            get_session(),
            get_profile("moodle-4.4"),
            f"{portal}/lti/register",
            lms_url=lms,
            secret_key=app.config["SECRET_KEY"],
        )
    browser = requests.Session()
    review = timer.time("1 LMS -> LTIAAS -> review", browser.get, attempt.register_url, timeout=30)
    sign_in_url = urljoin(review.url, Page(review.text).links["continue"])
    sign_in_page = Page(timer.time("2 sign-in page", browser.get, sign_in_url, timeout=30).text)
    configure = timer.time(
        "3 sign in -> configure",
        browser.post,
        urljoin(sign_in_url, sign_in_page.forms[0]),
        data={**sign_in_page.hidden(), "email": email, "password": PASSWORD},
        timeout=30,
    )
    form = Page(configure.text)
    data = {
        **form.hidden(),
        "platform_name": "Benchmark Moodle",
        "auto_activate": "y",
        "messages": ["LtiResourceLinkRequest", "LtiDeepLinkingRequest"],
        "placements_1": ["ContentArea"],
    }
    confirm = timer.time(
        "4 save choices -> confirm",
        browser.post,
        urljoin(configure.url, form.forms[0]),
        data=data,
        timeout=30,
    )
    confirm_page = Page(confirm.text)
    done = timer.time(
        "5 complete -> done",
        browser.post,
        urljoin(confirm.url, next(a for a in confirm_page.forms if "/complete" in a)),
        data=confirm_page.hidden(),
        timeout=60,
    )
    if "org.imsglobal.lti.close" not in done.text:
        raise RuntimeError("the done page has no close script")


def report(timer: Timer, registrations: int, elapsed: float) -> None:
    print(f"{'step':34} {'median ms':>10} {'p95 ms':>10} {'max ms':>10}")
    for step in sorted(timer.samples):
        samples = sorted(timer.samples[step])
        p95 = samples[min(len(samples) - 1, int(len(samples) * 0.95))]
        print(f"{step:34} {statistics.median(samples):10.1f} {p95:10.1f} {samples[-1]:10.1f}")
    print(f"\n{registrations} registrations in {elapsed:.2f} s: {registrations / elapsed:.1f} per second")
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(f"peak RSS of this process (server and client): {peak_kib / 1024:.0f} MiB")


def main() -> None:
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--registrations", type=int, default=30)
    parser.add_argument("--concurrency", type=int, default=4)
    options = parser.parse_args()

    with tempfile.TemporaryDirectory() as folder:
        app, portal, lms = serve(Path(folder) / "benchmark.db")
        emails = [f"admin{n}@benchmark.example" for n in range(options.registrations)]
        for email in [*emails, "warm-up@benchmark.example"]:
            create_customer(app, email)
        timer = Timer()
        register_once(app, portal, lms, "warm-up@benchmark.example", Timer())  # first-request costs
        started = time.perf_counter()
        with ThreadPoolExecutor(options.concurrency) as pool:
            list(pool.map(lambda email: register_once(app, portal, lms, email, timer), emails))
        report(timer, options.registrations, time.perf_counter() - started)
        app.extensions["db_engine"].dispose()


if __name__ == "__main__":
    main()
