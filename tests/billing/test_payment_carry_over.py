"""A customer paid, then closed their LMS's dialog before registering, and starts again from the LMS:
the new registration counts their payment instead of charging them twice, but only a payment whose
registration is still unfinished (open, certainly not registered, nobody told it is refunded), and
only once.

Stripe is the stand-in over real HTTP; LTIAAS is the flow's fake (`test_payment_in_flow`'s setup).
"""

from __future__ import annotations

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select, update

from portal.db import get_session
from portal.ltiaas import get_ltiaas
from portal.models import Payment, Registration, claim_for_completion, utcnow
from portal.registration import completion
from tests.accounts import signed_in
from tests.billing.test_payment_in_flow import pay_for, payment_of
from tests.fakes.ltiaas import MOODLE_URL, FakeLtiaas, lms_configuration
from tests.registration.helpers import (
    add_person,
    audit_trail,
    configured_by,
    press_register,
    registration_row,
)

pytestmark = pytest.mark.usefixtures("no_csrf")

MOODLE_AGAIN = "reg-moodle-again"


def the_lms_starts_again(ltiaas: FakeLtiaas, registration_id: str = MOODLE_AGAIN) -> None:
    """The admin presses the LMS's register button again: a new registrationId, the same Moodle."""
    ltiaas.add_registration(registration_id, lms_configuration("moodle-4.4", MOODLE_URL))


def payments_by_registration(app: Flask) -> dict[str, str]:
    with app.app_context():
        rows = get_session().execute(select(Registration.public_id, Payment.public_id).join(Payment))
        return {registration: payment for registration, payment in rows}


def test_paid_then_closed_the_dialog_starting_again_counts_the_payment_and_registers(
    app: Flask, ltiaas: FakeLtiaas, stripe_over_http: str, customer_browser: FlaskClient
) -> None:
    first = configured_by(customer_browser)
    pay_for(customer_browser, stripe_over_http, first)
    paid = payment_of(app, first)
    the_lms_starts_again(ltiaas)  # the first dialog was closed before "Register"

    second = configured_by(customer_browser, registration_id=MOODLE_AGAIN)
    confirm = customer_browser.get(f"/registration/{second}/confirm")
    assert confirm.status_code == 303 and not confirm.location.startswith("/billing/checkout/")
    page = customer_browser.get(confirm.location).text

    assert "You already paid 49.00 USD for an earlier registration of this LMS" in page
    assert 'data-payment="paid"' in page
    assert payments_by_registration(app) == {second: paid.public_id}
    assert press_register(customer_browser, second).location == f"/registration/{second}/done"
    assert registration_row(app, second).state == "completed"
    carried = {"payment": paid.public_id, "from": first, "to": second}
    assert ("payment:carried-over", "admin@springfield.edu", carried) in audit_trail(app, first)
    assert ("payment:carried-over", "admin@springfield.edu", carried) in audit_trail(app, second)
    # The earlier registration closed with its payment gone: were its window still open, it says why.
    earlier = customer_browser.get(f"/registration/{first}/confirm")
    assert earlier.status_code == 410 and 'data-problem="replaced"' in earlier.text
    assert "This registration was replaced by a newer one" in earlier.text
    assert (registration_row(app, first).state, registration_row(app, first).problem) == (
        "failed",
        "replaced",
    )


def test_the_account_page_does_not_ask_to_finish_the_registration_whose_payment_moved(
    app: Flask, ltiaas: FakeLtiaas, stripe_over_http: str, customer_browser: FlaskClient
) -> None:
    first = configured_by(customer_browser)
    pay_for(customer_browser, stripe_over_http, first)
    the_lms_starts_again(ltiaas)
    second = configured_by(customer_browser, registration_id=MOODLE_AGAIN)
    customer_browser.get(f"/registration/{second}/confirm")
    assert press_register(customer_browser, second).location == f"/registration/{second}/done"

    account = customer_browser.get("/auth/account").text

    assert f'data-registration="{second}" data-connection="active"' in account
    assert f'data-registration="{first}" data-connection="not_needed"' in account
    assert "Its payment moved to your later registration of this LMS" in account
    assert "Finish it" not in account and "registration window, while that window is open" not in account


def test_a_payment_whose_registration_may_be_registered_is_not_carried_over(
    app: Flask, ltiaas: FakeLtiaas, stripe_over_http: str, customer_browser: FlaskClient
) -> None:
    first = configured_by(customer_browser)
    pay_for(customer_browser, stripe_over_http, first)
    ltiaas.time_out("complete_registration", acted="completed")  # registered, but the answer was lost
    ltiaas.fail("list_platforms", 503)
    press_register(customer_browser, first)
    the_lms_starts_again(ltiaas)

    second = configured_by(customer_browser, registration_id=MOODLE_AGAIN)
    to_payment = customer_browser.get(f"/registration/{second}/confirm")

    assert to_payment.location.startswith("/billing/checkout/")
    assert payments_by_registration(app)[first] == payment_of(app, first).public_id
    assert second not in payments_by_registration(app) or payment_of(app, second).status != "paid"


def test_a_payment_the_customer_was_told_is_refunded_stays_for_the_refund(
    app: Flask, ltiaas: FakeLtiaas, stripe_over_http: str, customer_browser: FlaskClient
) -> None:
    first = configured_by(customer_browser)
    pay_for(customer_browser, stripe_over_http, first)
    ltiaas.refuse_as_lms(400, {"error": "invalid_client_metadata", "error_description": "Domain not allowed"})
    refused = press_register(customer_browser, first).text
    assert "will refund it" in refused
    the_lms_starts_again(ltiaas)

    second = configured_by(customer_browser, registration_id=MOODLE_AGAIN)
    to_payment = customer_browser.get(f"/registration/{second}/confirm")

    assert to_payment.location.startswith("/billing/checkout/")
    assert payments_by_registration(app)[first] == payment_of(app, first).public_id
    assert payment_of(app, first).status == "paid"
    assert "payment:carried-over" not in [action for action, _, _ in audit_trail(app, first)]


def test_a_payment_whose_registration_expired_stays_for_the_refund(
    app: Flask, ltiaas: FakeLtiaas, stripe_over_http: str, customer_browser: FlaskClient
) -> None:
    first = configured_by(customer_browser)
    pay_for(customer_browser, stripe_over_http, first)
    with app.app_context():  # its lifetime ran out (nothing has marked it expired yet)
        db = get_session()
        db.execute(update(Registration).where(Registration.public_id == first).values(expires_at=utcnow()))
        db.commit()
    the_lms_starts_again(ltiaas)

    second = configured_by(customer_browser, registration_id=MOODLE_AGAIN)

    assert customer_browser.get(f"/registration/{second}/confirm").location.startswith("/billing/checkout/")
    assert payments_by_registration(app)[first] == payment_of(app, first).public_id


def test_another_lms_or_another_account_pays_for_itself(
    app: Flask, ltiaas: FakeLtiaas, stripe_over_http: str, customer_browser: FlaskClient, client: FlaskClient
) -> None:
    first = configured_by(customer_browser)
    pay_for(customer_browser, stripe_over_http, first)
    the_lms_starts_again(ltiaas)

    ltiaas.add_registration(
        "reg-other-moodle", lms_configuration("moodle-4.4", "https://moodle.other.example")
    )
    other_lms = configured_by(customer_browser, registration_id="reg-other-moodle")
    to_payment = customer_browser.get(f"/registration/{other_lms}/confirm").location
    colleague = signed_in(client, add_person(app, "customer"))
    same_lms = configured_by(colleague, registration_id=MOODLE_AGAIN)
    colleague_to_payment = colleague.get(f"/registration/{same_lms}/confirm").location

    assert to_payment.startswith("/billing/checkout/")
    assert colleague_to_payment.startswith("/billing/checkout/")
    assert payments_by_registration(app) == {
        first: payment_of(app, first).public_id,
        other_lms: payment_of(app, other_lms).public_id,
        same_lms: payment_of(app, same_lms).public_id,
    }
    assert payment_of(app, first).status == "paid"
    assert payment_of(app, other_lms).status == payment_of(app, same_lms).status == "pending"


def test_one_payment_counts_for_whichever_unfinished_registration_is_finished_and_only_that_one(
    app: Flask, ltiaas: FakeLtiaas, stripe_over_http: str, customer_browser: FlaskClient
) -> None:
    first = configured_by(customer_browser)
    pay_for(customer_browser, stripe_over_http, first)
    paid = payment_of(app, first).public_id
    the_lms_starts_again(ltiaas)
    the_lms_starts_again(ltiaas, "reg-moodle-third")
    second = configured_by(customer_browser, registration_id=MOODLE_AGAIN)
    third = configured_by(customer_browser, registration_id="reg-moodle-third")

    assert not customer_browser.get(f"/registration/{second}/confirm").location.startswith("/billing/")
    assert payments_by_registration(app) == {second: paid}
    assert not customer_browser.get(f"/registration/{third}/confirm").location.startswith("/billing/")
    assert payments_by_registration(app) == {third: paid}  # never on two at once
    assert press_register(customer_browser, third).location == f"/registration/{third}/done"

    assert 'data-problem="replaced"' in customer_browser.get(f"/registration/{second}/confirm").text
    assert payments_by_registration(app)[third] == paid


# A completion of the earlier registration racing the move: the two take the same row


def the_earlier_registrations_completion(app: Flask, public_id: str) -> bool:
    """What a "Register the tool" that passed its page's payment check before the move does next:
    the flow's `complete` (claim, then LTIAAS); whether it went ahead."""
    with app.app_context():
        db = get_session()
        registration = db.scalars(select(Registration).where(Registration.public_id == public_id)).one()
        return completion.complete(db, get_ltiaas(), registration, "admin@springfield.edu")


def test_a_registration_whose_payment_moved_cannot_be_completed_by_a_request_already_past_its_check(
    app: Flask, ltiaas: FakeLtiaas, stripe_over_http: str, customer_browser: FlaskClient
) -> None:
    first = configured_by(customer_browser)
    pay_for(customer_browser, stripe_over_http, first)
    the_lms_starts_again(ltiaas)
    second = configured_by(customer_browser, registration_id=MOODLE_AGAIN)
    customer_browser.get(f"/registration/{second}/confirm")  # the payment moves, the first closes

    assert the_earlier_registrations_completion(app, first) is False
    assert ltiaas.requests_to("complete_registration") == []
    assert (registration_row(app, first).state, registration_row(app, first).problem) == (
        "failed",
        "replaced",
    )


def test_a_payment_whose_registration_is_being_completed_stays_with_it(
    app: Flask, ltiaas: FakeLtiaas, stripe_over_http: str, customer_browser: FlaskClient
) -> None:
    first = configured_by(customer_browser)
    pay_for(customer_browser, stripe_over_http, first)
    with app.app_context():  # a completion in flight: claimed, LTIAAS not answered yet
        db = get_session()
        registration = db.scalars(select(Registration).where(Registration.public_id == first)).one()
        assert claim_for_completion(db, registration, "admin@springfield.edu")
        db.commit()
    the_lms_starts_again(ltiaas)

    second = configured_by(customer_browser, registration_id=MOODLE_AGAIN)
    to_payment = customer_browser.get(f"/registration/{second}/confirm")

    assert to_payment.location.startswith("/billing/checkout/")
    assert payments_by_registration(app)[first] == payment_of(app, first).public_id
    assert second not in payments_by_registration(app) or payment_of(app, second).status != "paid"
    assert registration_row(app, first).state == "completing"
