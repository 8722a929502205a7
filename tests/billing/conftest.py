"""The portal with billing and the Stripe stand-in, served over real HTTP.

`start_billing_server` serves a test app whose real `StripeClient` talks to the stand-in
at `<url>/sandbox/stripe`. Automatic webhook deliveries are off unless a test turns them
on, so each test decides when Stripe "calls back". `browser_token` gives a cookie-less
browser (`requests`) the session of a flow holding a registration, as the flow would.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import threading
from collections.abc import Callable, Iterator
from datetime import timedelta
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import requests
from flask import Flask
from sqlalchemy import func, select
from werkzeug.serving import make_server

from portal.billing.stripe_gateway import init_stripe
from portal.config import SANDBOX_STRIPE_SECRET_KEY
from portal.db import get_session
from portal.models import AuditEvent, Payment, Registration, User, WebSession, utcnow
from portal.sandbox.calls import list_calls
from portal.sandbox.models import SandboxStripeEvent, SandboxStripeSession
from portal.sandbox.stripe_standin import deliver_event, register_stripe_standin, sign_webhook_payload
from tests.conftest import LiveServer, free_port, make_test_app, stop_live_server
from tests.fakes.http import JsonHandler

SECRET_KEY = "sk_test_billing_4eC39HqLyjWDarjtT1zdp7dc"
WEBHOOK_SECRET = "whsec_test_billing_secret"
PAYING_CARD = "4242 4242 4242 4242"
DECLINED_CARD = "4000 0000 0000 0002"
# The stand-in's ACH Direct Debit test accounts: the debit settles later, paid or failed.
PAYING_BANK_ACCOUNT = "000123456789"
FAILING_BANK_ACCOUNT = "000111111116"
# A vendor who lets Checkout take US bank accounts as well as cards (the default is cards only).
CARDS_AND_BANK_DEBITS = "card us_bank_account"
# For a test whose `billing` server is such a vendor's: `@offers_bank_debits`.
offers_bank_debits = pytest.mark.parametrize(
    "billing_settings", [{"STRIPE_PAYMENT_METHOD_TYPES": CARDS_AND_BANK_DEBITS}], ids=["bank debits"]
)


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
        "STRIPE_JS_BASE": f"{url}/sandbox/stripe/js",
        "STRIPE_TIMEOUT": 5,
        "SANDBOX_STRIPE_WEBHOOKS": False,
        "SANDBOX_STRIPE_SETTLE_AFTER": None,
    }
    settings.update(overrides)
    app = make_test_app(tmp_path, **settings)
    if "stripe_standin" not in app.blueprints:  # the sandbox serves it only with its own key
        register_stripe_standin(app)
    server = make_server("127.0.0.1", port, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return LiveServer(app=app, port=port, server=server)


@pytest.fixture
def billing_settings() -> dict[str, Any]:
    """What `billing` sets beyond `start_billing_server`'s (a test may say more: `offers_bank_debits`)."""
    return {}


@pytest.fixture
def billing(tmp_path: Path, billing_settings: dict[str, Any]) -> Iterator[LiveServer]:
    live = start_billing_server(tmp_path, **billing_settings)
    yield live
    stop_live_server(live)


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
        stop_live_server(live)


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


def a_customer(email: str = "admin@example.edu", role: str = "customer") -> User:
    """The institution's admin who pays (created once per database, in the app context)."""
    db = get_session()
    user = db.scalar(select(User).where(User.email == email))
    if user is None:
        # A real account row; the password is irrelevant to payment, so no slow hash here.
        user = User(email=email, password_hash="!unusable", role=role, organisation="Springfield")
        db.add(user)
        db.commit()
    return user


def browser_token(app: Flask, registration: Registration | None, user: User | None = None) -> str:
    """The `_st` token of a browser whose flow holds `registration` (if any), signed in as `user`.

    What the intermediate target and sign-in leave in a cookie-less browser's session.
    """
    session_id = secrets.token_urlsafe(32)
    data: dict[str, Any] = {"registrations": [registration.public_id] if registration else []}
    if user is not None:
        data.update(_user_id=user.get_id(), _fresh=True)
    db = get_session()
    db.add(
        WebSession(
            id_hash=hashlib.sha256(session_id.encode()).hexdigest(),
            data=data,
            expires_at=utcnow() + timedelta(hours=1),
        )
    )
    db.commit()
    serializer = app.session_interface._token_serializer(app)  # type: ignore[attr-defined]
    return serializer.dumps(session_id)


def pay_embedded(live: LiveServer, client_secret: str, card: str = PAYING_CARD) -> requests.Response:
    """What the stand-in's embedded frame sends when the customer presses Pay."""
    return requests.post(
        f"{live.url}/sandbox/stripe/embedded",
        data={"client_secret": client_secret, "origin": live.url, "card_number": card},
        timeout=10,
    )


def pay_by_bank_debit(live: LiveServer, client_secret: str, account: str) -> requests.Response:
    """What the stand-in's embedded frame sends when the customer debits a US bank account."""
    return requests.post(
        f"{live.url}/sandbox/stripe/embedded",
        data={
            "client_secret": client_secret,
            "origin": live.url,
            "payment_method": "us_bank_account",
            "routing_number": "110000000",
            "account_number": account,
        },
        timeout=10,
    )


def stripe_api_calls(app: Flask, path_contains: str = "/sandbox/stripe/v1/") -> list[dict[str, Any]]:
    """The calls that reached the Stripe stand-in's API, oldest first (its call log)."""
    with app.app_context():
        return list_calls(get_session(), path_contains)


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


class FailingStripe(JsonHandler):
    """Answers every request with a 500 and counts them."""

    hits = 0

    def do_GET(self) -> None:
        self._fail()

    def do_POST(self) -> None:
        self._fail()

    def _fail(self) -> None:
        type(self).hits += 1
        self.send_json(
            500, {"error": {"type": "api_error", "message": "Something went wrong on Stripe's end."}}
        )


@pytest.fixture
def failing_stripe() -> Iterator[tuple[str, type[FailingStripe]]]:
    handler = type("Handler", (FailingStripe,), {"hits": 0})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}", handler
    server.shutdown()
    server.server_close()


# The payment step inside the registration flow: the flow's app on the fake LTIAAS, and the
# test app itself serving the Stripe stand-in over real HTTP to its own StripeClient.

FLOW_PRICE = "price_registration"


@pytest.fixture
def app_settings(ltiaas_settings: dict[str, Any]) -> dict[str, Any]:
    """The flow's app on the fake LTIAAS, paying with the Stripe stand-in's keys, as the sandbox sets them."""
    return {
        **ltiaas_settings,
        "STRIPE_SECRET_KEY": SANDBOX_STRIPE_SECRET_KEY,
        "STRIPE_PUBLISHABLE_KEY": "pk_test_sandbox",
        "STRIPE_WEBHOOK_SECRET": "whsec_sandbox",
        "STRIPE_JS_BASE": "http://localhost/sandbox/stripe/js",
    }


@pytest.fixture
def stripe_over_http(app: Flask) -> Iterator[str]:
    """`app` with a price, paying through the stand-in it serves on a real port; yields that URL.

    Webhooks are delivered only when a test calls `deliver_webhooks`.
    """
    register_stripe_standin(app)
    port = free_port()
    server = make_server("127.0.0.1", port, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://localhost:{port}"
    app.config.update(
        STRIPE_API_BASE=f"{url}/sandbox/stripe",
        STRIPE_PRICE_ID=FLOW_PRICE,
        SANDBOX_STRIPE_WEBHOOKS=False,
        SANDBOX_STRIPE_SETTLE_AFTER=None,
        SANDBOX_STRIPE_WEBHOOK_URL=f"{url}/billing/webhook",
    )
    init_stripe(app)
    yield url
    server.shutdown()
    server.server_close()


def deliver_webhooks(app: Flask, session_id: str) -> list[int | None]:
    """Send the stand-in's events about `session_id` to the portal's webhook, signed, in order."""
    with app.app_context():
        events = (
            get_session()
            .scalars(
                select(SandboxStripeEvent)
                .where(SandboxStripeEvent.object_id == session_id)
                .order_by(SandboxStripeEvent.created_at)
            )
            .all()
        )
        event_ids = [event.id for event in events]
    return [deliver_event(app, event_id) for event_id in event_ids]


def stripe_last_asked_long_ago(app: Flask, payment_id: int) -> None:
    """As if STRIPE_RECHECK_AFTER seconds had passed since the portal last asked Stripe about the
    payment's session: its next status poll asks Stripe itself (the fallback without a webhook)."""
    with app.app_context():
        db = get_session()
        payment = db.get(Payment, payment_id)
        assert payment is not None
        waited = timedelta(seconds=app.config["STRIPE_RECHECK_AFTER"] + 1)
        payment.stripe_checked_at = utcnow() - waited
        db.commit()


def checkout_sessions_of(app: Flask, registration_public_id: str) -> list[dict[str, Any]]:
    """Every Checkout Session the stand-in (Stripe) created for the registration."""
    with app.app_context():
        sessions = get_session().scalars(select(SandboxStripeSession)).all()
        return [s.data for s in sessions if s.data.get("client_reference_id") == registration_public_id]
