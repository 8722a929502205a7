"""A registration belongs to the customer account that worked on it: another customer account,
even with its registrationId (which travels in the LMS's URL), can neither see nor finish it."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from portal.db import get_session
from portal.models import Registration, User
from portal.registration.access import keep_to_its_account
from portal.registration.problems import RegistrationProblem
from tests.accounts import PASSWORD, signed_in
from tests.billing.test_payment_in_flow import pay_for
from tests.fakes.ltiaas import FakeLtiaas
from tests.registration.helpers import (
    SPRINGFIELD,
    add_person,
    configured_by,
    public_id_from,
    start,
)

pytestmark = pytest.mark.usefixtures("no_csrf")

ANOTHER_ACCOUNT = "This registration belongs to another account"


def text(response: Any) -> str:
    return response.get_data(as_text=True)


def owner_of(app: Flask, public_id: str) -> int | None:
    with app.app_context():
        return get_session().scalar(
            select(Registration.customer_id).where(Registration.public_id == public_id)
        )


def someone_else(app: Flask) -> FlaskClient:
    """Customer A's browser: signed in with their own account, holding nothing yet."""
    browser = app.test_client()
    return signed_in(browser, add_person(app, "customer"))


def assert_refused(response: Any) -> None:
    assert response.status_code == 403, text(response)[:400]
    if response.is_json:
        assert response.get_json()["problem"] == "another_account"
    else:
        page = text(response)
        assert ANOTHER_ACCOUNT in page and 'data-problem="another_account"' in page
        assert "What to do next" in page and "sign in with that one" in page
        assert 'action="/auth/sign-out"' in page and 'id="sign-out-submit"' in page  # the way out is here


def test_the_first_customer_to_act_owns_the_registration(
    app: Flask, ltiaas: FakeLtiaas, customer: User, customer_browser: FlaskClient
) -> None:
    public_id = configured_by(customer_browser)

    assert owner_of(app, public_id) == customer.id


def test_another_account_given_the_registration_id_of_a_paid_registration_cannot_finish_it(
    app: Flask, ltiaas: FakeLtiaas, stripe_over_http: str, customer_browser: FlaskClient
) -> None:
    public_id = configured_by(customer_browser)
    pay_for(customer_browser, stripe_over_http, public_id)
    intruder = someone_else(app)

    assert_refused(intruder.get("/intermediate-target?registrationId=reg-moodle"))
    # Refused at the door, the intruder's browser does not even hold the registration.
    assert intruder.post(f"/registration/{public_id}/complete").status_code == 404

    assert ltiaas.requests_to("complete_registration") == []
    # The owner finishes it as if nothing had happened.
    assert customer_browser.post(f"/registration/{public_id}/complete").status_code == 303
    assert len(ltiaas.requests_to("complete_registration")) == 1


def test_every_flow_page_and_action_refuses_another_account_holding_the_registration(
    app: Flask, ltiaas: FakeLtiaas, stripe_over_http: str, customer_browser: FlaskClient
) -> None:
    """The intruder's browser got the registration into its session before the owner signed in
    (it opened the LMS's link anonymously, then signed in): every page still refuses it."""
    intruder = app.test_client()
    public_id = public_id_from(start(intruder))
    customer_browser.get("/intermediate-target?registrationId=reg-moodle")
    customer_browser.post(f"/registration/{public_id}/configure", data=SPRINGFIELD)
    checkout = pay_for(customer_browser, stripe_over_http, public_id)
    payment = checkout.split('data-status-url="/billing/status/', 1)[1].split('"', 1)[0]
    signed_in(intruder, add_person(app, "customer"))

    for method, path in [
        ("GET", "/intermediate-target?registrationId=reg-moodle"),
        ("GET", f"/registration/{public_id}/"),
        ("GET", f"/registration/{public_id}/configure"),
        ("POST", f"/registration/{public_id}/configure"),
        ("GET", f"/registration/{public_id}/confirm"),
        ("POST", f"/registration/{public_id}/complete"),
        ("POST", f"/registration/{public_id}/request"),
        ("GET", f"/registration/{public_id}/waiting"),
        ("GET", f"/registration/{public_id}/done"),
        ("GET", f"/registration/{public_id}/status"),
        ("GET", f"/billing/checkout/{payment}"),
        ("POST", f"/billing/checkout/{payment}/session"),
        ("POST", f"/billing/checkout/{payment}/hosted-link"),
        ("GET", f"/billing/status/{payment}"),
    ]:
        response = intruder.open(path, method=method, data=SPRINGFIELD if method == "POST" else None)
        assert_refused(response)

    assert ltiaas.requests_to("complete_registration") == []
    assert owner_of(app, public_id) is not None


def test_staff_may_act_on_a_customers_registration_and_own_nothing(
    app: Flask, ltiaas: FakeLtiaas, customer: User, customer_browser: FlaskClient, staff_browser: FlaskClient
) -> None:
    public_id = configured_by(customer_browser)
    staff_browser.get("/intermediate-target?registrationId=reg-moodle")

    assert staff_browser.get(f"/registration/{public_id}/confirm").status_code == 200
    assert staff_browser.post(f"/registration/{public_id}/complete").status_code == 303
    assert owner_of(app, public_id) == customer.id


def test_staff_first_leaves_the_registration_to_the_customer_who_comes_next(
    app: Flask, ltiaas: FakeLtiaas, customer: User, customer_browser: FlaskClient, staff_browser: FlaskClient
) -> None:
    public_id = configured_by(staff_browser)
    assert owner_of(app, public_id) is None

    customer_browser.get("/intermediate-target?registrationId=reg-moodle")
    assert customer_browser.get(f"/registration/{public_id}/confirm").status_code == 200
    assert owner_of(app, public_id) == customer.id


def test_a_registration_nobody_signed_in_on_is_nobodys(app: Flask, ltiaas: FakeLtiaas) -> None:
    anonymous = app.test_client()
    public_id = public_id_from(start(anonymous))
    assert anonymous.get(f"/registration/{public_id}/").status_code == 200

    assert owner_of(app, public_id) is None


def test_of_two_accounts_that_both_found_it_unowned_exactly_one_gets_it(
    app: Flask, ltiaas: FakeLtiaas
) -> None:
    """The race itself: each request read the registration before the other wrote its owner."""
    public_id = public_id_from(start(app.test_client()))
    first, second = add_person(app, "customer"), add_person(app, "customer")
    with app.app_context():
        factory = app.extensions["db_sessionmaker"]
        with factory() as db_first, factory() as db_second:
            seen_first = db_first.scalar(select(Registration).where(Registration.public_id == public_id))
            seen_second = db_second.scalar(select(Registration).where(Registration.public_id == public_id))
            assert seen_first.customer_id is None and seen_second.customer_id is None

            keep_to_its_account(db_first, seen_first, first)
            with pytest.raises(RegistrationProblem) as refused:
                keep_to_its_account(db_second, seen_second, second)

    assert refused.value.kind == "another_account"
    assert owner_of(app, public_id) == first.id


def test_a_browser_nobody_signed_in_on_given_the_registration_id_is_asked_to_sign_in_and_sees_nothing(
    app: Flask, ltiaas: FakeLtiaas, stripe_over_http: str, customer: User, customer_browser: FlaskClient
) -> None:
    public_id = configured_by(customer_browser)
    pay_for(customer_browser, stripe_over_http, public_id)
    stranger = app.test_client()

    door = stranger.get("/intermediate-target?registrationId=reg-moodle")

    assert door.status_code == 303
    assert door.location == f"/auth/sign-in?next=/registration/{public_id}/"
    signing_in = text(stranger.get(door.location))
    assert "Springfield Moodle" not in signing_in and "moodle.example.edu" not in signing_in
    # Its account, signing in there, is back on the registration.
    back = stranger.post(door.location, data={"email": customer.email, "password": PASSWORD})
    assert back.location.startswith(f"/registration/{public_id}/")


def test_a_window_whose_account_signed_out_asks_to_sign_in_before_it_shows_the_registration(
    app: Flask, ltiaas: FakeLtiaas, customer_browser: FlaskClient
) -> None:
    public_id = configured_by(customer_browser)
    customer_browser.post("/auth/sign-out")

    page = customer_browser.get(f"/registration/{public_id}/confirm")
    status = customer_browser.get(f"/registration/{public_id}/status")

    assert page.status_code == 303
    assert page.location == f"/auth/sign-in?next=/registration/{public_id}/confirm"
    assert status.status_code == 401 and status.get_json() == {
        "state": None,
        "problem": "sign_in_to_continue",
    }
