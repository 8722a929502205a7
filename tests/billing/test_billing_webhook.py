"""POST /billing/webhook: only what Stripe signed, each event once, in any order."""

from __future__ import annotations

import json
import re
import time
from typing import Any

import pytest
import requests
from flask import Flask
from sqlalchemy import func, select

from portal.billing.fulfilment import start_checkout
from portal.billing.stripe_gateway import EMBEDDED, StripeGateway, get_gateway
from portal.db import get_session
from portal.models import StripeEvent
from portal.sandbox.models import SandboxStripeEvent, SandboxStripeSession
from portal.sandbox.stripe_standin import build_event, complete_session, deliver_event, settle_async_payment
from tests.billing.conftest import (
    a_customer,
    audit_count,
    make_registration,
    pay_embedded,
    reload,
    send_webhook,
)


def paid_session(app: Flask, live) -> tuple:
    start = start_checkout(make_registration(app), a_customer(), EMBEDDED)
    pay_embedded(live, start.client_secret)
    return start.payment, get_gateway().retrieve_session(start.session.id)


def session_event(event_type: str, session_id: str, event_id: str | None = None) -> dict:
    snapshot = {"id": session_id, "object": "checkout.session", "status": "open", "payment_status": "unpaid"}
    return build_event(event_type, snapshot, event_id)


def stored_events() -> int:
    return get_session().scalar(select(func.count()).select_from(StripeEvent))


def test_the_stand_ins_signed_completed_event_marks_the_payment_paid(ctx: Flask, billing) -> None:
    payment, session = paid_session(ctx, billing)
    event_id = get_session().scalar(
        select(SandboxStripeEvent.id).where(
            SandboxStripeEvent.object_id == session.id,
            SandboxStripeEvent.type == "checkout.session.completed",
        )
    )
    assert deliver_event(billing.app, event_id) == 200
    assert reload(payment).status == "paid"
    record = get_session().scalar(select(StripeEvent).where(StripeEvent.stripe_event_id == event_id))
    assert (record.type, record.object_id, record.result) == (
        "checkout.session.completed",
        session.id,
        "paid",
    )


def test_with_automatic_deliveries_the_payment_becomes_paid_without_anyone_polling(make_billing) -> None:
    live = make_billing(SANDBOX_STRIPE_WEBHOOKS=True)
    with live.app.app_context():
        start = start_checkout(make_registration(live.app), a_customer(), EMBEDDED)
        pay_embedded(live, start.client_secret)
        deadline = time.monotonic() + 10
        while reload(start.payment).status != "paid" and time.monotonic() < deadline:
            time.sleep(0.1)
        assert reload(start.payment).status == "paid"


def test_the_event_payload_is_trusted_for_nothing_the_session_is_re_read(ctx: Flask, billing) -> None:
    start = start_checkout(make_registration(ctx), a_customer(), EMBEDDED)
    forged = build_event(
        "checkout.session.completed",
        {
            "id": start.session.id,
            "object": "checkout.session",
            "status": "complete",
            "payment_status": "paid",
        },
    )
    response = send_webhook(billing, forged)
    assert response.status_code == 200 and response.json()["result"] == "open"
    assert reload(start.payment).status == "pending"


def test_a_bad_signature_is_refused(billing) -> None:
    response = send_webhook(
        billing, session_event("checkout.session.completed", "cs_test_x"), secret="whsec_wrong"
    )
    assert response.status_code == 400
    assert "invalid webhook" in response.json()["error"]


def test_a_stale_timestamp_is_refused(billing) -> None:
    event = session_event("checkout.session.completed", "cs_test_x")
    response = send_webhook(billing, event, timestamp=int(time.time()) - 600)
    assert response.status_code == 400


def test_a_signed_body_that_is_not_json_is_refused(billing) -> None:
    assert send_webhook(billing, b"{not json").status_code == 400


def test_a_missing_signature_is_refused(billing) -> None:
    response = requests.post(f"{billing.url}/billing/webhook", json={"id": "evt_1"}, timeout=10)
    assert response.status_code == 400


def test_a_duplicate_event_is_acknowledged_and_processed_once(ctx: Flask, billing) -> None:
    _, session = paid_session(ctx, billing)
    event = session_event("checkout.session.completed", session.id, "evt_duplicate_1")
    first, second = send_webhook(billing, event), send_webhook(billing, event)
    assert first.json() == {"received": True, "result": "paid"}
    assert (second.status_code, second.json()["result"]) == (200, "duplicate")
    assert stored_events() == 1
    assert audit_count("payment:paid") == 1


def test_out_of_order_events_are_harmless(ctx: Flask, billing) -> None:
    start = start_checkout(make_registration(ctx), a_customer(), EMBEDDED)
    session_id = start.session.id
    complete_session(get_session(), session_id, paid=False)  # a bank debit: complete, still unpaid
    settle_async_payment(get_session(), session_id, succeeded=True)

    succeeded = send_webhook(billing, session_event("checkout.session.async_payment_succeeded", session_id))
    completed = send_webhook(billing, session_event("checkout.session.completed", session_id))

    assert succeeded.json()["result"] == "paid"
    assert completed.json()["result"] == "already_paid"
    assert reload(start.payment).status == "paid"
    assert audit_count("payment:paid") == 1


def test_a_failed_async_payment_fails_the_payment(ctx: Flask, billing) -> None:
    start = start_checkout(make_registration(ctx), a_customer(), EMBEDDED)
    complete_session(get_session(), start.session.id, paid=False)
    assert (
        send_webhook(billing, session_event("checkout.session.completed", start.session.id)).json()["result"]
        == "processing"
    )
    settle_async_payment(get_session(), start.session.id, succeeded=False)
    response = send_webhook(billing, session_event("checkout.session.async_payment_failed", start.session.id))
    assert response.json()["result"] == "failed"
    assert reload(start.payment).status == "failed"
    assert audit_count("payment:failed") == 1


def test_an_expired_event_expires_only_the_current_attempt(ctx: Flask, billing) -> None:
    registration = make_registration(ctx)
    first = start_checkout(registration, a_customer(), EMBEDDED)
    get_gateway().expire_session(first.session.id)
    second = start_checkout(registration, a_customer(), EMBEDDED)  # a new attempt already runs

    late = send_webhook(billing, session_event("checkout.session.expired", first.session.id))
    assert late.json()["result"] == "stale"
    assert reload(second.payment).status == "pending"

    get_gateway().expire_session(second.session.id)
    current = send_webhook(billing, session_event("checkout.session.expired", second.session.id))
    assert current.json()["result"] == "expired"
    assert reload(second.payment).status == "expired"


def test_an_unknown_event_type_is_acknowledged(billing) -> None:
    event = build_event("customer.created", {"id": "cus_123", "object": "customer"})
    response = send_webhook(billing, event)
    assert (response.status_code, response.json()) == (200, {"received": True, "result": "ignored"})


def test_an_event_for_a_session_that_is_not_ours_is_acknowledged(ctx: Flask, billing) -> None:
    # A paid session on the same Stripe account that no payment of ours started.
    data = {
        "id": "cs_test_someone_elses",
        "object": "checkout.session",
        "status": "complete",
        "payment_status": "paid",
        "mode": "payment",
        "metadata": {},
        "client_reference_id": None,
    }
    db = get_session()
    db.add(SandboxStripeSession(id=data["id"], client_secret=None, data=data))
    db.commit()
    response = send_webhook(billing, session_event("checkout.session.completed", "cs_test_someone_elses"))
    assert (response.status_code, response.json()["result"]) == (200, "unknown_session")


def test_an_event_for_a_session_stripe_does_not_know_is_acknowledged(billing) -> None:
    response = send_webhook(billing, session_event("checkout.session.completed", "cs_test_never_existed"))
    assert (response.status_code, response.json()["result"]) == (200, "provider_error")


def test_when_stripe_is_down_the_webhook_asks_for_redelivery_and_takes_it(
    make_billing, failing_stripe
) -> None:
    live = make_billing()
    with live.app.app_context():
        start = start_checkout(make_registration(live.app), a_customer(), EMBEDDED)
        pay_embedded(live, start.client_secret)
        event = session_event("checkout.session.completed", start.session.id, "evt_redelivered")
        working = live.app.extensions["stripe_gateway"]
        live.app.extensions["stripe_gateway"] = StripeGateway(
            "sk_test_x",
            api_base=failing_stripe[0],
            max_retries=0,
            webhook_secret=live.app.config["STRIPE_WEBHOOK_SECRET"],
        )
        assert send_webhook(live, event).status_code == 503
        live.app.extensions["stripe_gateway"] = working
        redelivered = send_webhook(live, event)
        assert (redelivered.status_code, redelivered.json()["result"]) == (200, "paid")
        assert reload(start.payment).status == "paid"


def test_the_webhook_needs_no_csrf_token_while_everything_else_does(billing) -> None:
    assert billing.app.config.get("WTF_CSRF_ENABLED", True)
    refused = requests.post(f"{billing.url}/billing/checkout/whatever/session", timeout=10)
    assert refused.status_code == 400
    payload = json.dumps(build_event("customer.created", {"id": "cus_1", "object": "customer"})).encode()
    assert send_webhook(billing, payload).status_code == 200


def test_a_test_mode_delivery_signs_with_v1_and_a_fake_v0_and_the_portal_verifies_v1(
    ctx: Flask, billing, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Stripe signs test-mode events twice: `v1`, and `v0` under a secret it never publishes."""
    from portal.sandbox import stripe_standin

    sent: list[str] = []
    post = requests.post

    def recording_post(url: str, **kwargs: Any) -> requests.Response:
        if "Stripe-Signature" in kwargs.get("headers", {}):  # `requests` is shared: only deliveries
            sent.append(kwargs["headers"]["Stripe-Signature"])
        return post(url, **kwargs)

    monkeypatch.setattr(stripe_standin.requests, "post", recording_post)
    payment, session = paid_session(ctx, billing)
    event_id = get_session().scalar(
        select(SandboxStripeEvent.id).where(SandboxStripeEvent.object_id == session.id)
    )

    assert deliver_event(billing.app, event_id) == 200
    assert reload(payment).status == "paid"
    (header,) = sent
    schemes = dict(part.split("=", 1) for part in header.split(","))
    assert list(schemes) == ["t", "v1", "v0"]
    assert re.fullmatch(r"[0-9a-f]{64}", schemes["v0"]) and schemes["v0"] != schemes["v1"]
