"""A delivery signed with the webhook secret, as Stripe signs it, but not shaped like a Stripe event:
answered 400, and nothing is recorded (no `StripeEvent`), on SQLite and on PostgreSQL alike."""

from __future__ import annotations

import json
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select

from portal.db import get_session
from portal.models import StripeEvent
from portal.sandbox.stripe_standin import build_event, sign_webhook_payload

SESSION = {"id": "cs_test_a1", "object": "checkout.session", "status": "open", "payment_status": "unpaid"}


def event(**changes: Any) -> bytes:
    body = build_event("checkout.session.completed", SESSION, "evt_shape")
    body.update(changes)
    return json.dumps(body).encode()


def with_session(**changes: Any) -> bytes:
    return event(data={"object": {**SESSION, **changes}})


def nested(depth: int) -> bytes:
    return event(data={"object": {**SESSION}}).replace(
        b'"livemode"', b'"deep": ' + b"[" * depth + b"]" * depth + b', "livemode"'
    )


MALFORMED = {
    "a JSON array": b'[{"id": "evt_1", "type": "checkout.session.completed"}]',
    "a JSON string": b'"checkout.session.completed"',
    "JSON null": b"null",
    "not JSON": b"evt_1 checkout.session.completed",
    "not UTF-8": event().replace(b"evt_shape", b"evt_\xff\xfe"),
    "data as a string": event(data="cs_test_a1"),
    "data missing": event(data=None),
    "data.object as a string": event(data={"object": "cs_test_a1"}),
    "data.object as a list": event(data={"object": [SESSION]}),
    "an id that is a number": event(id=12345),
    "an id that is an object": event(id={"id": "evt_1"}),
    "no id": event(id=None),
    "a type that is a list": event(type=["checkout.session.completed"]),
    "an id with a NUL": event(id="evt_\u0000"),
    "an id with a lone surrogate": event().replace(b"evt_shape", b"evt_\\ud800"),
    "an id with a space": event(id="evt 1"),
    "an id longer than its column": event(id="evt_" + "a" * 300),
    "a type longer than its column": event(type="checkout.session." + "a" * 100),
    "a session id that is a number": with_session(id=7),
    "a session id with a NUL": with_session(id="cs_test_\u0000"),
    "a session id longer than its column": with_session(id="cs_test_" + "a" * 300),
    "deep nesting": nested(100_000),
}


def stored_events(app: Flask) -> int:
    with app.app_context():
        return get_session().scalar(select(func.count()).select_from(StripeEvent))


def deliver(app: Flask, payload: bytes) -> Any:
    return app.test_client().post(
        "/billing/webhook",
        data=payload,
        content_type="application/json",
        headers={"Stripe-Signature": sign_webhook_payload(payload, app.config["STRIPE_WEBHOOK_SECRET"])},
    )


@pytest.mark.parametrize("payload", MALFORMED.values(), ids=MALFORMED.keys())
def test_a_signed_but_malformed_payload_is_refused_and_nothing_is_recorded(
    app: Flask, payload: bytes
) -> None:
    response = deliver(app, payload)

    assert response.status_code == 400, response.get_data(as_text=True)
    assert response.get_json()["error"].startswith("invalid webhook: ")
    assert stored_events(app) == 0


def test_a_well_shaped_event_of_another_kind_is_recorded_and_ignored(app: Flask) -> None:
    payload = json.dumps(
        build_event("customer.created", {"id": "cus_1", "object": "customer"}, "evt_ok")
    ).encode()

    response = deliver(app, payload)

    assert (response.status_code, response.get_json()["result"]) == (200, "ignored")
    assert stored_events(app) == 1


def test_a_well_shaped_event_nested_as_deep_as_stripe_nests_is_read(app: Flask) -> None:
    payload = nested(20).replace(b"checkout.session.completed", b"customer.updated")

    assert deliver(app, payload).status_code == 200
