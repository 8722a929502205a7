"""A customer withdraws their pending request for approval, from the waiting iframe or their account
page: the request is withdrawn, the registration closed, LTIAAS never called, and the iframe says so."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from portal.billing.attention import Standing, standing_of
from portal.db import get_session
from portal.ltiaas import get_ltiaas
from portal.models import ApprovalRequest, Payment, PaymentStatus, Registration, User, utcnow
from portal.registration import approvals
from portal.registration.approvals import Outcome
from tests.accounts import signed_in
from tests.admin.platform_helpers import form_on
from tests.fakes.ltiaas import FakeLtiaas
from tests.registration.helpers import add_person, audit_trail, configured_by
from tests.registration.test_registration_race import RACERS, race

CHOICES: dict[str, Any] = {"platformName": "Springfield (approved)", "autoActivate": True, "messages": []}


@pytest.fixture(autouse=True)
def live_approval(app: Flask, ltiaas: FakeLtiaas) -> None:
    app.config["APPROVAL_POLICY"] = "live-approval"


def requested(app: Flask, browser: FlaskClient) -> str:
    """The customer configures and asks (CSRF off for that); the registration's public id."""
    app.config["WTF_CSRF_ENABLED"] = False
    public_id = configured_by(browser)
    assert browser.post(f"/registration/{public_id}/request").status_code == 303
    app.config["WTF_CSRF_ENABLED"] = True
    return public_id


def the_request(app: Flask) -> ApprovalRequest:
    with app.app_context():
        approval = get_session().scalars(select(ApprovalRequest)).one()
        approval.registration  # noqa: B018 - loaded for use outside the session
        return approval


def withdraw_from_waiting(browser: FlaskClient, public_id: str, confirm: bool = True) -> Any:
    action, hidden = form_on(browser.get(f"/registration/{public_id}/waiting"), "withdraw-form")
    return browser.post(action, data={**hidden, **({"confirm": "y"} if confirm else {})})


def test_a_customer_withdraws_from_the_waiting_iframe_and_it_says_how_to_start_over(
    app: Flask, customer_browser: FlaskClient, ltiaas: FakeLtiaas, customer: User
) -> None:
    public_id = requested(app, customer_browser)

    response = withdraw_from_waiting(customer_browser, public_id)

    assert response.status_code == 303
    assert response.location == f"/registration/{public_id}/waiting"
    page = customer_browser.get(response.location)
    body = page.text
    assert page.status_code == 410
    assert 'data-problem="withdrawn"' in body and "You withdrew your request" in body
    assert "start again from your LMS" in body
    assert customer_browser.get(f"/registration/{public_id}/status").get_json() == {
        "state": None,
        "problem": "withdrawn",
    }
    approval = the_request(app)
    assert (approval.state, approval.decided_by_email) == ("withdrawn", customer.email)
    assert approval.registration.state == "failed"
    trail = [(action, actor) for action, actor, _ in audit_trail(app, public_id)]
    assert trail[-2:] == [("approval:withdrawn", customer.email), ("state:failed", customer.email)]
    assert ltiaas.requests_to("complete_registration") == []


def test_nothing_is_withdrawn_without_the_confirmation(app: Flask, customer_browser: FlaskClient) -> None:
    public_id = requested(app, customer_browser)

    response = withdraw_from_waiting(customer_browser, public_id, confirm=False)

    assert response.location == f"/registration/{public_id}/waiting"
    assert "Tick the box to confirm" in (customer_browser.get(response.location)).text
    assert the_request(app).state == "pending"


def test_withdrawing_needs_the_csrf_token(app: Flask, customer_browser: FlaskClient) -> None:
    requested(app, customer_browser)

    response = customer_browser.post(
        f"/auth/requests/{the_request(app).public_id}/withdraw", data={"confirm": "y"}
    )

    assert response.status_code == 400
    assert the_request(app).state == "pending"


@pytest.mark.parametrize("who", ["another customer", "staff"])
def test_only_the_customer_who_asked_may_withdraw(
    app: Flask, customer_browser: FlaskClient, who: str
) -> None:
    requested(app, customer_browser)
    app.config["WTF_CSRF_ENABLED"] = False
    other = app.test_client()
    signed_in(other, add_person(app, "staff" if who == "staff" else "customer"))

    response = other.post(f"/auth/requests/{the_request(app).public_id}/withdraw", data={"confirm": "y"})

    assert response.status_code == 404
    assert the_request(app).state == "pending"


def test_a_visitor_not_signed_in_is_asked_to_sign_in(app: Flask, customer_browser: FlaskClient) -> None:
    requested(app, customer_browser)
    app.config["WTF_CSRF_ENABLED"] = False

    response = app.test_client().post(f"/auth/requests/{the_request(app).public_id}/withdraw")

    assert response.status_code == 302 and response.location.startswith("/auth/sign-in")
    assert the_request(app).state == "pending"


def test_a_decided_request_cannot_be_withdrawn(
    app: Flask, customer_browser: FlaskClient, ltiaas: FakeLtiaas, staff: User
) -> None:
    public_id = requested(app, customer_browser)
    action, hidden = form_on(customer_browser.get(f"/registration/{public_id}/waiting"), "withdraw-form")
    with app.test_request_context("/"):
        db = get_session()
        approval = db.scalars(select(ApprovalRequest)).one()
        deciding = db.get(User, staff.id)
        assert deciding is not None
        assert approvals.reject(db, approval, deciding, "No licence.") is Outcome.REJECTED

    response = customer_browser.post(action, data={**hidden, "confirm": "y"}, follow_redirects=True)

    assert "had already decided on your request" in response.text
    assert "No licence." in response.text
    assert the_request(app).state == "rejected"


def test_a_withdrawal_and_an_approval_at_the_same_instant_one_wins(
    app: Flask, customer_browser: FlaskClient, ltiaas: FakeLtiaas, customer: User, staff: User
) -> None:
    requested(app, customer_browser)
    ltiaas.slow("complete_registration", 0.1, times=RACERS)
    turn = iter(range(RACERS))

    def decide() -> tuple[str, Outcome]:
        with app.test_request_context("/"):
            db = get_session()
            approval = db.scalars(select(ApprovalRequest)).one()
            if next(turn) % 2:
                return "withdraw", approvals.withdraw(db, approval, db.get(User, customer.id))  # type: ignore[arg-type]
            return "approve", approvals.approve(db, get_ltiaas(), approval, db.get(User, staff.id), CHOICES)  # type: ignore[arg-type]

    results = race(decide)

    # A loser is told who decided first: an approval that lost to the withdrawal hears "withdrawn".
    won = {"withdraw": {Outcome.WITHDRAWN}, "approve": {Outcome.COMPLETED}}
    winners = [outcome for who, outcome in results if outcome in won[who]]
    assert len(winners) == 1, results
    losers = {outcome for who, outcome in results if outcome not in won[who]}
    assert losers <= {Outcome.ALREADY_DECIDED, Outcome.WITHDRAWN}, results
    approval = the_request(app)
    if winners == [Outcome.WITHDRAWN]:
        assert approval.registration.state == "failed"
        assert ltiaas.requests_to("complete_registration") == []
    else:
        assert winners == [Outcome.COMPLETED]
        assert approval.registration.state == "completed"
        assert len(ltiaas.requests_to("complete_registration")) == 1


def test_a_paid_request_withdrawn_is_due_for_a_refund(
    app: Flask, customer_browser: FlaskClient, customer: User
) -> None:
    requested(app, customer_browser)
    with app.app_context():
        db = get_session()
        registration = db.scalars(select(Registration)).one()
        payment = Payment(
            registration_id=registration.id,
            user_id=customer.id,
            status=PaymentStatus.PAID.value,
            amount_total=4900,
            currency="usd",
            stripe_payment_intent="pi_123",
            paid_at=utcnow() - timedelta(minutes=5),
        )
        db.add(payment)
        db.commit()
        assert standing_of(db, payment).standing is Standing.AWAITING_DECISION
        approval = db.scalars(select(ApprovalRequest)).one()
        assert approvals.withdraw(db, approval, db.get(User, customer.id)) is Outcome.WITHDRAWN  # type: ignore[arg-type]

        assert standing_of(db, payment).standing is Standing.REFUND_DUE


def test_a_customer_withdraws_from_their_account_page(app: Flask, customer_browser: FlaskClient) -> None:
    requested(app, customer_browser)
    account = customer_browser.get("/auth/account")
    assert 'data-connection="waiting_for_approval"' in account.text
    action, hidden = form_on(account.text.replace('class="form withdraw-form"', 'id="w"'), "w")

    response = customer_browser.post(action, data={**hidden, "confirm": "y"}, follow_redirects=True)

    body = response.text
    assert "You withdrew your request. Nothing was registered." in body
    assert 'data-connection="not_registered"' in body and "You withdrew your request." in body
    assert "withdraw-form" not in body
    assert the_request(app).state == "withdrawn"
