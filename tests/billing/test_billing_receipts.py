"""A paid payment keeps the receipt Stripe hosts for its charge, read in the same call that tells the
portal the session is paid; a receipt Stripe will not show, or one the portal cannot link to, never
costs the customer their payment."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from http.server import ThreadingHTTPServer
from typing import Any

import pytest
import requests
from click.testing import Result
from flask import Flask
from sqlalchemy import select, update

from portal.billing.fulfilment import fulfil_checkout_session, start_checkout
from portal.billing.stripe_gateway import (
    EMBEDDED,
    HOSTED,
    PaymentProviderError,
    StripeGateway,
    get_gateway,
    init_stripe,
)
from portal.db import get_session
from portal.models import Payment
from portal.sandbox.models import SandboxStripeEvent
from portal.sandbox.stripe_standin import deliver_event
from tests.billing.conftest import (
    SECRET_KEY,
    a_customer,
    make_registration,
    pay_embedded,
    pay_hosted,
    reload,
    stripe_api_calls,
)
from tests.conftest import free_port
from tests.fakes.http import JsonHandler


def paid(app: Flask, live, ui_mode: str = EMBEDDED) -> Any:
    """A customer's Checkout, paid by card: returns how it started."""
    start = start_checkout(make_registration(app), a_customer(), ui_mode)
    if ui_mode == EMBEDDED:
        pay_embedded(live, start.client_secret)
    else:
        pay_hosted(live, start.session.url)
    return start


def completed_event(session_id: str) -> str:
    return get_session().scalar(
        select(SandboxStripeEvent.id).where(
            SandboxStripeEvent.object_id == session_id,
            SandboxStripeEvent.type == "checkout.session.completed",
        )
    )


def receipt_of(live, session_id: str) -> str:
    return f"{live.url}/sandbox/stripe/receipts/{session_id}"


def invoice_of(live, session_id: str) -> str:
    return f"{live.url}/sandbox/stripe/invoices/{session_id}"


# --- the gateway --------------------------------------------------------------------------


def test_the_gateway_reads_a_paid_sessions_receipt_in_the_same_one_call(ctx: Flask, billing) -> None:
    start = paid(ctx, billing)
    before = len(stripe_api_calls(billing.app))

    info = get_gateway().retrieve_session(start.session.id)

    assert info.is_paid and info.payment_intent.startswith("pi_")  # the id, though expanded
    assert info.receipt_url == receipt_of(billing, start.session.id)
    assert len(stripe_api_calls(billing.app)) == before + 1


def test_an_unpaid_session_has_no_receipt(ctx: Flask) -> None:
    start = start_checkout(make_registration(ctx), a_customer(), EMBEDDED)
    info = get_gateway().retrieve_session(start.session.id)
    assert info.payment_intent is None and info.receipt_url is None


def test_a_free_session_is_paid_without_a_receipt(make_billing) -> None:
    live = make_billing(STRIPE_PRICE_ID="price_free_registration")
    with live.app.app_context():
        start = paid(live.app, live, HOSTED)
        result = fulfil_checkout_session(start.session.id)
        assert result.newly_paid and reload(start.payment).receipt_url is None


def test_a_subscriptions_receipt_is_its_paid_first_invoice_read_in_the_same_one_call(make_billing) -> None:
    live = make_billing(STRIPE_PRICE_ID="price_recurring_registration")
    with live.app.app_context():
        start = paid(live.app, live, HOSTED)
        before = len(stripe_api_calls(live.app))
        result = fulfil_checkout_session(start.session.id)
        payment = reload(start.payment)
        assert result.newly_paid and payment.stripe_subscription.startswith("sub_")
        assert payment.receipt_url == invoice_of(live, start.session.id)
        assert len(stripe_api_calls(live.app)) == before + 1


class CraftedStripe(JsonHandler):
    """Answers every retrieve with one paid session whose charge has the `receipt_url` a test sets,
    or, given an `invoice` (status and hosted page), a paid subscription session with that invoice."""

    receipt_url: object = None
    invoice: tuple[str, object] | None = None

    def do_GET(self) -> None:
        session = {
            "id": "cs_test_crafted",
            "object": "checkout.session",
            "status": "complete",
            "payment_status": "paid",
            "mode": "payment",
            "payment_intent": None,
            "invoice": None,
        }
        if type(self).invoice is None:
            charge = {"id": "ch_1", "object": "charge", "receipt_url": type(self).receipt_url}
            session["payment_intent"] = {"id": "pi_1", "object": "payment_intent", "latest_charge": charge}
        else:
            status, page = type(self).invoice
            session.update(mode="subscription", subscription="sub_1")
            session["invoice"] = {
                "id": "in_1",
                "object": "invoice",
                "status": status,
                "hosted_invoice_url": page,
            }
        self.send_json(200, session)


@pytest.fixture
def crafted_stripe() -> Iterator[tuple[str, type[CraftedStripe]]]:
    handler = type("Handler", (CraftedStripe,), {})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}", handler
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize(
    "receipt_url",
    [
        None,
        42,
        "http://pay.example.com/receipts/1",  # not https, and not from the server we talk to
        "javascript:alert(1)",
        "https:///receipts/1",
        "https://pay.stripe.com/receipts/\x00",
        "https://pay.stripe.com/receipts/" + "x" * 2048,
    ],
)
def test_a_receipt_url_the_portal_cannot_link_to_is_dropped_not_the_session(
    crafted_stripe, receipt_url: object
) -> None:
    base, handler = crafted_stripe
    handler.receipt_url = receipt_url
    info = StripeGateway(SECRET_KEY, api_base=base, max_retries=0).retrieve_session("cs_test_crafted")
    assert info.is_paid and info.payment_intent == "pi_1" and info.receipt_url is None


def test_an_https_receipt_url_is_kept(crafted_stripe) -> None:
    base, handler = crafted_stripe
    handler.receipt_url = "https://pay.stripe.com/receipts/payment/CAcaFwoVYWNjdF8x"
    info = StripeGateway(SECRET_KEY, api_base=base, max_retries=0).retrieve_session("cs_test_crafted")
    assert info.receipt_url == "https://pay.stripe.com/receipts/payment/CAcaFwoVYWNjdF8x"


INVOICE_PAGE = "https://invoice.stripe.com/i/acct_1/test_YWNjdF8x"


@pytest.mark.parametrize(
    ("invoice", "receipt_url"),
    [
        (("paid", INVOICE_PAGE), INVOICE_PAGE),
        (("open", INVOICE_PAGE), None),  # a page to pay, not a receipt
        (("paid", "http://invoice.example.com/i/1"), None),
        (("paid", None), None),
        (("paid", ["not", "a", "url"]), None),
    ],
)
def test_a_subscriptions_receipt_is_its_invoice_page_only_once_paid_and_linkable(
    crafted_stripe, invoice: tuple[str, object], receipt_url: str | None
) -> None:
    base, handler = crafted_stripe
    handler.invoice = invoice
    info = StripeGateway(SECRET_KEY, api_base=base, max_retries=0).retrieve_session("cs_test_crafted")
    assert info.is_paid and info.subscription == "sub_1" and info.receipt_url == receipt_url


# --- fulfilment: webhook and poll -----------------------------------------------------------


def test_the_webhook_records_the_payment_with_its_receipt(ctx: Flask, billing) -> None:
    start = paid(ctx, billing)
    before = len(stripe_api_calls(billing.app))

    assert deliver_event(billing.app, completed_event(start.session.id)) == 200

    payment = reload(start.payment)
    assert payment.is_paid and payment.receipt_url == receipt_of(billing, start.session.id)
    assert len(stripe_api_calls(billing.app)) == before + 1  # the one read that found it paid


def test_a_hosted_payment_found_by_the_return_page_keeps_its_receipt(ctx: Flask, billing) -> None:
    start = start_checkout(make_registration(ctx), a_customer(), HOSTED)
    done = pay_hosted(billing, start.session.url)
    requests.get(done.headers["Location"], timeout=10)  # Stripe sends the customer back

    assert reload(start.payment).receipt_url == receipt_of(billing, start.session.id)


class RestrictedKeyStripe(JsonHandler):
    """Stripe as a restricted key without read access to charges sees it: every call is passed to
    the stand-in at `target`, but expanding a session's payment is refused, as Stripe refuses it."""

    target = ""

    def do_GET(self) -> None:
        if "expand" in self.path:
            self.send_json(403, {"error": {"type": "invalid_request_error", "message": self._refusal()}})
            return
        self._forward("GET")

    def do_POST(self) -> None:
        self._forward("POST")

    def _refusal(self) -> str:
        return (
            "The provided key 'rk_test_***' does not have the required permissions for this endpoint. "
            "Having the 'rak_charge_read' permission would allow this request to continue."
        )

    def _forward(self, method: str) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        passed = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "content-length")}
        answer = requests.request(
            method, self.target + self.path, data=self.rfile.read(length), headers=passed, timeout=10
        )
        self.send_json(answer.status_code, answer.json())


@pytest.fixture
def restricted_key_stripe(billing) -> Iterator[str]:
    """The billing server's stand-in, behind a key that may not read charges; yields its API base."""
    handler = type("Handler", (RestrictedKeyStripe,), {"target": f"{billing.url}/sandbox/stripe"})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def use_stripe_at(app: Flask, api_base: str) -> None:
    """The vendor changes STRIPE_API_BASE (here: which key's view of Stripe the portal gets)."""
    app.config["STRIPE_API_BASE"] = api_base
    init_stripe(app)


def test_a_refused_receipt_still_records_the_payment_paid_and_a_later_read_adds_it(
    ctx: Flask, billing, restricted_key_stripe: str, caplog: pytest.LogCaptureFixture
) -> None:
    start = paid(ctx, billing)
    stand_in = ctx.config["STRIPE_API_BASE"]
    use_stripe_at(ctx, restricted_key_stripe)

    with caplog.at_level(logging.WARNING, logger="portal.billing.stripe_gateway"):
        result = fulfil_checkout_session(start.session.id)

    assert result.newly_paid
    payment = reload(start.payment)
    assert payment.is_paid and payment.stripe_payment_intent.startswith("pi_")
    assert payment.receipt_url is None
    assert "refused to show its receipt" in caplog.text

    use_stripe_at(ctx, stand_in)  # the key may read charges now; Stripe redelivers the event
    assert deliver_event(billing.app, completed_event(start.session.id)) == 200
    assert reload(start.payment).receipt_url == receipt_of(billing, start.session.id)


def test_an_unknown_session_is_read_once_not_again_without_the_receipt(ctx: Flask, billing) -> None:
    before = len(stripe_api_calls(billing.app))
    with pytest.raises(PaymentProviderError, match=r"No such checkout\.session"):
        get_gateway().retrieve_session("cs_test_nobody")
    assert len(stripe_api_calls(billing.app)) == before + 1


# --- receipts fetched afterwards (`flask fetch-receipts`) -----------------------------------


def changed(payment: Payment, **values: object) -> Payment:
    """`payment` with its row changed behind the portal's back (what another release left, or a
    session Stripe answers otherwise)."""
    db = get_session()
    db.execute(update(Payment).where(Payment.id == payment.id).values(**values))
    db.commit()
    return reload(payment)


def paid_without_receipt(app: Flask, live) -> Payment:
    """A payment recorded paid with no receipt: before the portal kept receipts (migration 0011),
    or before it read a subscription's invoice."""
    start = paid(app, live, HOSTED)
    assert fulfil_checkout_session(start.session.id).newly_paid
    return changed(start.payment, receipt_url=None)


def fetch_receipts(app: Flask) -> Result:
    return app.test_cli_runner().invoke(args=["fetch-receipts"])


def test_fetching_receipts_adds_each_missing_one_with_one_read_and_then_reads_nothing(
    ctx: Flask, billing
) -> None:
    older, newer = paid_without_receipt(ctx, billing), paid_without_receipt(ctx, billing)
    start_checkout(make_registration(ctx), a_customer(), EMBEDDED)  # unpaid: nothing to fetch
    before = len(stripe_api_calls(billing.app))

    result = fetch_receipts(ctx)

    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [
        f"payment {older.public_id}, session {older.stripe_session_id}: receipt added",
        f"payment {newer.public_id}, session {newer.stripe_session_id}: receipt added",
        "2 receipts added, 0 without one at Stripe, 0 refused",
    ]
    assert reload(older).receipt_url == receipt_of(billing, older.stripe_session_id)
    assert reload(newer).receipt_url == receipt_of(billing, newer.stripe_session_id)
    assert len(stripe_api_calls(billing.app)) == before + 2

    again = fetch_receipts(ctx)
    assert again.exit_code == 0 and again.output == "0 receipts added, 0 without one at Stripe, 0 refused\n"
    assert len(stripe_api_calls(billing.app)) == before + 2


def test_a_subscription_paid_before_invoices_were_read_gets_its_invoice_page(make_billing) -> None:
    live = make_billing(STRIPE_PRICE_ID="price_recurring_registration")
    with live.app.app_context():
        payment = paid_without_receipt(live.app, live)
        assert fetch_receipts(live.app).exit_code == 0
        assert reload(payment).receipt_url == invoice_of(live, payment.stripe_session_id)


def test_a_free_payment_is_never_read_for_a_receipt(make_billing) -> None:
    live = make_billing(STRIPE_PRICE_ID="price_free_registration")
    with live.app.app_context():
        paid_without_receipt(live.app, live)
        before = len(stripe_api_calls(live.app))
        assert fetch_receipts(live.app).output == "0 receipts added, 0 without one at Stripe, 0 refused\n"
        assert len(stripe_api_calls(live.app)) == before


def test_a_session_stripe_refuses_is_skipped_and_the_others_still_get_theirs(ctx: Flask, billing) -> None:
    gone = changed(paid_without_receipt(ctx, billing), stripe_session_id="cs_test_gone")
    kept = paid_without_receipt(ctx, billing)

    result = fetch_receipts(ctx)

    assert result.exit_code == 1
    lines = result.output.splitlines()
    assert lines[0] == (
        f"payment {gone.public_id}, session cs_test_gone: "
        "Stripe refused the request: No such checkout.session: 'cs_test_gone'; skipped"
    )
    assert lines[1:] == [
        f"payment {kept.public_id}, session {kept.stripe_session_id}: receipt added",
        "1 receipts added, 0 without one at Stripe, 1 refused",
    ]
    assert reload(gone).receipt_url is None and reload(gone).is_paid


def test_an_outage_stops_the_run_and_loses_nothing(ctx: Flask, billing) -> None:
    first, second = paid_without_receipt(ctx, billing), paid_without_receipt(ctx, billing)
    ctx.config["STRIPE_MAX_RETRIES"] = 0
    use_stripe_at(ctx, f"http://127.0.0.1:{free_port()}")  # nothing listens there

    result = fetch_receipts(ctx)

    assert result.exit_code == 1
    lines = result.output.splitlines()
    assert len(lines) == 2  # the first payment tried, then stopped: the second was not tried
    assert lines[0].startswith(
        f"payment {first.public_id}, session {first.stripe_session_id}: Stripe is unavailable"
    )
    assert lines[0].endswith("; stopped here, run it again later") and len(lines[0]) < 400
    assert lines[1] == "0 receipts added, 0 without one at Stripe, 0 refused"
    assert reload(first).receipt_url is None
    assert reload(first).is_paid and reload(second).is_paid  # nothing recorded, nothing undone

    use_stripe_at(ctx, f"{billing.url}/sandbox/stripe")  # Stripe is back: the next run finishes
    assert fetch_receipts(ctx).output.endswith("2 receipts added, 0 without one at Stripe, 0 refused\n")


def test_a_key_that_may_not_read_receipts_is_named_not_taken_for_stripe_having_none(
    ctx: Flask, billing, restricted_key_stripe: str
) -> None:
    payment = paid_without_receipt(ctx, billing)
    use_stripe_at(ctx, restricted_key_stripe)

    result = fetch_receipts(ctx)

    assert result.exit_code == 1
    assert result.output.splitlines() == [
        f"payment {payment.public_id}, session {payment.stripe_session_id}: skipped: Stripe refused to "
        "show its receipt to this key (a restricted key needs Charges, PaymentIntents and Invoices read)",
        "0 receipts added, 0 without one at Stripe, 1 refused",
    ]
    assert reload(payment).receipt_url is None and reload(payment).is_paid


def test_a_payment_stripe_shows_no_receipt_for_is_said_so_and_left_as_it_is(
    ctx: Flask, billing, crafted_stripe
) -> None:
    payment = changed(paid_without_receipt(ctx, billing), stripe_session_id="cs_test_crafted")
    base, handler = crafted_stripe
    handler.receipt_url = None  # a charge without a receipt
    use_stripe_at(ctx, base)

    result = fetch_receipts(ctx)

    assert result.exit_code == 0
    assert result.output.splitlines() == [
        f"payment {payment.public_id}, session cs_test_crafted: Stripe showed no receipt for it",
        "0 receipts added, 1 without one at Stripe, 0 refused",
    ]
    assert reload(payment).receipt_url is None
