"""A customer's account page lists their LMS connections in plain words, with what they paid, from
what the portal knows (never asking LTIAAS), and nobody else's."""

from __future__ import annotations

import re
from datetime import timedelta
from html import unescape
from typing import Any
from uuid import uuid4

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import update

from portal.db import get_session
from portal.models import (
    ApprovalRequest,
    Payment,
    PaymentStatus,
    Registration,
    RegistrationState,
    User,
    record_event,
    utcnow,
)
from tests.accounts import create_user
from tests.fakes.ltiaas import FakeLtiaas


@pytest.fixture
def app_settings(ltiaas_settings: dict[str, Any]) -> dict[str, Any]:
    """LTIAAS is the fake, which tells whether the account page asked it anything."""
    return ltiaas_settings


def registration(
    app: Flask,
    user: User,
    name: str,
    *,
    state: RegistrationState = RegistrationState.COMPLETED,
    platform_active: bool | None = None,
    approval: str | None = None,
    reason: str | None = None,
    paid: int | None = None,
    refunded: bool = False,
    receipt_url: str | None = None,
    deleted: bool = False,
    last_error: str | None = None,
    how: str = "chose",
    lms: str = "https://moodle.springfield.edu",
) -> str:
    """A registration `user` worked on (`how`: chose its settings, asked for approval, or paid)."""
    with app.app_context():
        db = get_session()
        row = Registration(
            ltiaas_registration_id=f"reg-{uuid4().hex[:12]}",
            platform_url=lms,
            family_code="moodle",
            state=state.value,
            overrides={"platformName": name, "autoActivate": bool(platform_active)},
            platform_id=f"p-{uuid4().hex[:8]}" if state is RegistrationState.COMPLETED else None,
            platform_active=platform_active,
            platform_deleted_at=utcnow() if deleted else None,
            last_error=last_error,
            expires_at=utcnow() + timedelta(hours=1),
        )
        db.add(row)
        db.flush()
        if how == "chose":
            record_event(db, "state:reviewed", user.email, row, from_state="received", to_state="reviewed")
        if approval is not None:
            db.add(
                ApprovalRequest(
                    registration_id=row.id,
                    requested_by_id=user.id if how == "asked" else None,
                    requested_by_email=user.email,
                    state=approval,
                    requested_choices={"platformName": name},
                    reason=reason,
                )
            )
        if paid is not None:
            db.add(
                Payment(
                    registration_id=row.id,
                    user_id=user.id if how == "paid" else None,
                    status=PaymentStatus.PAID.value,
                    amount_total=paid,
                    currency="usd",
                    stripe_payment_intent=f"pi_{uuid4().hex[:10]}",
                    receipt_url=receipt_url,
                    paid_at=utcnow(),
                    refunded_at=utcnow() if refunded else None,
                    refunded_by="staff@vendor.example" if refunded else None,
                )
            )
        db.commit()
        return row.public_id


def connection(page: str, public_id: str) -> str:
    """The text of one connection's list item."""
    found = re.search(rf'<li class="connection" data-registration="{public_id}".*?</li>', page, re.DOTALL)
    assert found, f"no connection {public_id} on the page"
    return " ".join(re.sub(r"<[^>]+>", " ", found.group(0)).split()).replace("&#39;", "'")


def page_of(browser: FlaskClient) -> str:
    response = browser.get("/auth/account")
    assert response.status_code == 200
    return response.get_data(as_text=True)


def test_each_connection_says_where_it_stands_in_plain_words(
    app: Flask, customer: User, customer_browser: FlaskClient
) -> None:
    rows: dict[str, dict[str, Any]] = {
        "active": {"platform_active": True},
        "inactive": {"platform_active": False},
        "waiting": {"state": RegistrationState.REVIEWED, "approval": "pending", "how": "asked"},
        "declined": {
            "state": RegistrationState.REVIEWED,
            "approval": "rejected",
            "reason": "We only serve licensed schools.",
            "how": "asked",
        },
        "failed": {"state": RegistrationState.FAILED, "last_error": "LTIAAS refused the registration: bad."},
        "open": {"state": RegistrationState.REVIEWED},
        "removed": {"platform_active": True, "deleted": True},
    }
    ids = {
        name: registration(app, customer, name.title(), lms=f"https://{name}.springfield.edu", **settings)
        for name, settings in rows.items()
    }

    page = page_of(customer_browser)

    assert "Your LMS connections" in page
    said = {name: connection(page, public_id) for name, public_id in ids.items()}
    assert "Registered and active" in said["active"]
    assert "Registered, waiting for activation" in said["inactive"]
    assert "Waiting for approval" in said["waiting"] and "Withdraw the request" in said["waiting"]
    assert "Not registered" in said["declined"] and "We only serve licensed schools." in said["declined"]
    assert "Not registered" in said["failed"] and "LTIAAS refused the registration: bad." in said["failed"]
    assert "Not registered yet" in said["open"] and "Finish it in your LMS" in said["open"]
    assert "Not registered" in said["removed"] and "removed this registration" in said["removed"]
    assert all("Withdraw the request" not in text for name, text in said.items() if name != "waiting")


def test_what_to_do_next_follows_what_is_unfinished(
    app: Flask, customer: User, customer_browser: FlaskClient
) -> None:
    nothing_yet = page_of(customer_browser)
    registration(app, customer, "Registered", platform_active=True)
    all_done = page_of(customer_browser)
    registration(app, customer, "Asked", state=RegistrationState.REVIEWED, approval="pending", how="asked")
    waiting = page_of(customer_browser)
    registration(
        app, customer, "Open", state=RegistrationState.REVIEWED, lms="https://canvas.springfield.edu"
    )
    unfinished = page_of(customer_browser)

    for page in (nothing_yet, all_done):
        assert "nothing here. To register the tool with another LMS" in page
    assert "nothing: the tool's vendor is deciding on your request" in waiting
    assert 'finish the registration that says "Finish it" in your LMS\'s registration window' in unescape(
        unfinished
    )


def test_an_unfinished_registration_another_of_the_same_lms_replaced_is_not_to_finish(
    app: Flask, customer: User, customer_browser: FlaskClient
) -> None:
    abandoned = registration(app, customer, "Abandoned", state=RegistrationState.REVIEWED)
    registered = registration(app, customer, "Registered", platform_active=True)
    after = registration(app, customer, "After", state=RegistrationState.REVIEWED)

    page = page_of(customer_browser)

    assert "Registered and active" in connection(page, registered)
    for public_id in (abandoned, after):
        said = connection(page, public_id)
        assert "Not needed" in said and "registered with this LMS by another of your registrations" in said
        assert "Finish it" not in said
    assert "Finish it" not in page and "nothing here. To register the tool with another LMS" in page


def test_only_the_newest_unfinished_registration_of_an_lms_is_to_finish(
    app: Flask, customer: User, customer_browser: FlaskClient
) -> None:
    older = registration(app, customer, "Older", state=RegistrationState.REVIEWED)
    newest = registration(app, customer, "Newest", state=RegistrationState.REVIEWED)
    elsewhere = registration(
        app, customer, "Elsewhere", state=RegistrationState.REVIEWED, lms="https://moodle.springfield.edu/b"
    )

    page = page_of(customer_browser)

    assert "You started again from this LMS later" in connection(page, older)
    assert "Finish it" not in connection(page, older)
    assert "Not registered yet" in connection(page, newest) and "Finish it" in connection(page, newest)
    assert "Finish it" in connection(page, elsewhere)  # another LMS on the same host


def test_an_unfinished_registration_beside_a_request_for_its_lms_is_not_to_finish(
    app: Flask, customer: User, customer_browser: FlaskClient
) -> None:
    asked = registration(
        app, customer, "Asked", state=RegistrationState.REVIEWED, approval="pending", how="asked"
    )
    stopped = registration(app, customer, "Stopped", state=RegistrationState.REVIEWED)

    page = page_of(customer_browser)

    assert "Waiting for approval" in connection(page, asked)
    assert "Your other request for this LMS goes ahead instead" in connection(page, stopped)
    assert "Finish it" not in page and "the tool's vendor is deciding on your request" in page


def test_two_lmss_on_one_host_are_told_apart_by_their_path(
    app: Flask, customer: User, customer_browser: FlaskClient
) -> None:
    first = registration(app, customer, "A", lms="https://lms.example.edu/moodle-a")
    second = registration(app, customer, "B", lms="https://lms.example.edu/moodle-b/")
    bare = registration(app, customer, "Bare", lms="https://moodle.springfield.edu/")

    page = page_of(customer_browser)

    assert "Moodle at lms.example.edu/moodle-a ·" in connection(page, first)
    assert "Moodle at lms.example.edu/moodle-b ·" in connection(page, second)
    assert "Moodle at moodle.springfield.edu ·" in connection(page, bare)


def test_payments_show_their_amount_date_and_refund(
    app: Flask, customer: User, customer_browser: FlaskClient
) -> None:
    registered = registration(app, customer, "Paid", platform_active=True, paid=4900, how="paid")
    due = registration(app, customer, "Refund due", state=RegistrationState.EXPIRED, paid=4900, how="paid")
    refunded = registration(
        app, customer, "Refunded", state=RegistrationState.EXPIRED, paid=4900, refunded=True, how="paid"
    )
    today = utcnow().strftime("%Y-%m-%d")

    page = page_of(customer_browser)

    assert f"Paid 49.00 USD on {today}." in connection(page, registered)
    assert "refund due" in connection(page, due)
    assert f"refunded on {today}" in connection(page, refunded)
    assert 'data-standing="refund_due"' in page and 'data-standing="refunded"' in page


def test_a_payment_links_to_its_stripe_receipt_only_when_stripe_gave_one(
    app: Flask, customer: User, customer_browser: FlaskClient
) -> None:
    receipt = "https://pay.stripe.com/receipts/payment/CAcaFwoVYWNjdF8xRXhhbXBsZQ"
    with_receipt = registration(app, customer, "With", platform_active=True, paid=4900, receipt_url=receipt)
    without = registration(app, customer, "Without", platform_active=True, paid=4900)

    page = page_of(customer_browser)

    links = re.findall(r'<a class="receipt-link"[^>]*>', page)
    assert links == [f'<a class="receipt-link" href="{receipt}" target="_blank" rel="noopener">']
    assert "Receipt (opens a new window)" in connection(page, with_receipt)
    assert "Receipt" not in connection(page, without)


def test_only_their_own_connections_are_listed(
    app: Flask, customer: User, customer_browser: FlaskClient
) -> None:
    someone = create_user(app, "other@shelbyville.edu")
    mine = registration(app, customer, "Mine", platform_active=True)
    theirs = registration(app, someone, "Theirs", platform_active=True, paid=100, how="paid")

    page = page_of(customer_browser)

    assert mine in page and theirs not in page


def test_the_account_page_shows_what_the_portal_knows_without_asking_ltiaas(
    app: Flask, customer: User, customer_browser: FlaskClient, ltiaas: FakeLtiaas
) -> None:
    public_id = registration(app, customer, "Quiet", platform_active=False)
    with app.app_context():
        db = get_session()
        db.execute(
            update(Registration).where(Registration.public_id == public_id).values(platform_active=True)
        )
        db.commit()
    assert "Registered and active" in connection(page_of(customer_browser), public_id)
    assert ltiaas.received == []


def test_a_customer_with_no_registration_sees_no_list(customer_browser: FlaskClient) -> None:
    assert "Your LMS connections" not in page_of(customer_browser)
