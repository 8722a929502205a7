"""The portal with billing and the Stripe stand-in, served over real HTTP.

Until the factory registers them, `start_billing_server` adds the billing blueprint,
the gateway and the stand-in to a test app itself (and skips what is already there).
The real `StripeClient` talks to the stand-in at `<url>/sandbox/stripe`. Automatic
webhook deliveries are off unless a test turns them on, so each test decides when
Stripe "calls back".
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import requests
from flask import Flask
from sqlalchemy import func, select
from werkzeug.serving import make_server

from portal.billing import bp as billing_bp
from portal.billing.models import Payment
from portal.billing.stripe_gateway import init_stripe
from portal.db import Base, get_session
from portal.models import AuditEvent, Registration, User, utcnow
from portal.sandbox.stripe_standin import register_stripe_standin, sign_webhook_payload
from tests.conftest import LiveServer, free_port, make_test_app

SECRET_KEY = "sk_test_billing_4eC39HqLyjWDarjtT1zdp7dc"
WEBHOOK_SECRET = "whsec_test_billing_secret"
PAYING_CARD = "4242 4242 4242 4242"
DECLINED_CARD = "4000 0000 0000 0002"


def start_billing_server(tmp_path: Path, **overrides: Any) -> LiveServer:
    port = free_port()
    url = f"http://localhost:{port}"
    settings: dict[str, Any] = {
        "PORTAL_URL": url,
        "STRIPE_SECRET_KEY": SECRET_KEY,
        "STRIPE_PUBLISHABLE_KEY": "pk_test_billing",
        "STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET,
        "STRIPE_PRICE_ID": "price_registration",
        "STRIPE_API_BASE": f"{url}/sandbox/stripe",
        "STRIPE_JS_URL": f"{url}/static/js/stripe-standin.js",
        "STRIPE_TIMEOUT": 5,
        "SANDBOX_STRIPE_WEBHOOKS": False,
    }
    settings.update(overrides)
    app = make_test_app(tmp_path, **settings)
    Base.metadata.create_all(app.extensions["db_engine"])
    if "stripe_standin" not in app.blueprints:
        register_stripe_standin(app)
    if "billing" not in app.blueprints:
        app.register_blueprint(billing_bp)
    if "stripe_gateway" not in app.extensions:
        init_stripe(app)
    server = make_server("127.0.0.1", port, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return LiveServer(app=app, port=port, server=server)


def stop(live: LiveServer) -> None:
    live.server.shutdown()
    live.server.server_close()
    live.app.extensions["db_engine"].dispose()


@pytest.fixture
def billing(tmp_path: Path) -> Iterator[LiveServer]:
    live = start_billing_server(tmp_path)
    yield live
    stop(live)


@pytest.fixture
def make_billing(tmp_path: Path) -> Iterator[Callable[..., LiveServer]]:
    """Start a billing server with other settings (one per test)."""
    started: list[LiveServer] = []

    def start(**overrides: Any) -> LiveServer:
        live = start_billing_server(tmp_path / f"server{len(started)}", **overrides)
        started.append(live)
        return live

    yield start
    for live in started:
        stop(live)


@pytest.fixture
def ctx(billing: LiveServer) -> Iterator[Flask]:
    """An app context on the billing server's app, for calling services directly."""
    with billing.app.app_context():
        yield billing.app


def make_registration(app: Flask) -> Registration:
    db = get_session()
    registration = Registration(
        ltiaas_registration_id=f"reg-{utcnow().timestamp()}-{id(db)}-{free_port()}",
        platform_url="https://moodle.example.edu",
        expires_at=utcnow() + timedelta(hours=1),
    )
    db.add(registration)
    db.commit()
    return registration


def a_customer(email: str = "admin@example.edu") -> User:
    """The institution's admin who pays (created once per database, in the app context)."""
    db = get_session()
    user = db.scalar(select(User).where(User.email == email))
    if user is None:
        # A real account row; the password is irrelevant to payment, so no slow hash here.
        user = User(email=email, password_hash="!unusable", role="customer", organisation="Springfield")
        db.add(user)
        db.commit()
    return user


def pay_embedded(live: LiveServer, client_secret: str, card: str = PAYING_CARD) -> requests.Response:
    """What the stand-in's embedded frame sends when the customer presses Pay."""
    return requests.post(
        f"{live.url}/sandbox/stripe/embedded",
        data={"client_secret": client_secret, "origin": live.url, "card_number": card},
        timeout=10,
    )


def pay_hosted(live: LiveServer, url: str, card: str = PAYING_CARD) -> requests.Response:
    return requests.post(url, data={"card_number": card}, timeout=10, allow_redirects=False)


def send_webhook(
    live: LiveServer,
    event: dict[str, Any] | bytes,
    *,
    secret: str = WEBHOOK_SECRET,
    timestamp: int | None = None,
) -> requests.Response:
    import json

    payload = event if isinstance(event, bytes) else json.dumps(event).encode()
    return requests.post(
        f"{live.url}/billing/webhook",
        data=payload,
        headers={
            "Content-Type": "application/json",
            "Stripe-Signature": sign_webhook_payload(payload, secret, timestamp),
        },
        timeout=10,
    )


def audit_count(action: str) -> int:
    return get_session().scalar(
        select(func.count()).select_from(AuditEvent).where(AuditEvent.action == action)
    )


def reload(payment: Payment) -> Payment:
    db = get_session()
    db.expire_all()
    return db.get(Payment, payment.id)


def data_attribute(html: str, name: str) -> str:
    match = re.search(rf'data-{name}="([^"]*)"', html)
    assert match, f"no data-{name} in the page"
    return match.group(1).replace("&amp;", "&")


class FailingStripe(BaseHTTPRequestHandler):
    """Answers every request with a 500 and counts them."""

    hits = 0

    def do_GET(self) -> None:
        self._fail()

    def do_POST(self) -> None:
        self._fail()

    def _fail(self) -> None:
        type(self).hits += 1
        body = b'{"error": {"type": "api_error", "message": "Something went wrong on Stripe\'s end."}}'
        self.send_response(500)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def failing_stripe() -> Iterator[tuple[str, type[FailingStripe]]]:
    handler = type("Handler", (FailingStripe,), {"hits": 0})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}", handler
    server.shutdown()
    server.server_close()
