"""Live approval, from the customer's iframe: request, wait, and see the staff's decision by itself.

The staff's side is called here as plain service functions (`approvals.approve`,
`reject`, `finish`); tests/admin/ drives the same decisions through the staff pages.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from portal.db import get_session
from portal.ltiaas import get_ltiaas
from portal.models import ApprovalRequest, Registration, User, utcnow
from portal.registration import approvals
from portal.registration.approvals import Outcome
from tests.fakes.ltiaas import CLOSE_HTML, MOODLE_URL, FakeLtiaas, lms_configuration
from tests.registration.helpers import audit_trail, configured_by, ltiaas_moved_to
from tests.registration.test_registration_race import RACERS, race

STAFF_CHOICES: dict[str, Any] = {
    "platformName": "Springfield (approved)",
    "autoActivate": False,
    "messages": [{"type": "LtiDeepLinkingRequest", "placements": ["ContentArea"]}],
}


@pytest.fixture(autouse=True)
def live_approval(app: Flask, no_csrf: Flask) -> None:
    app.config["APPROVAL_POLICY"] = "live-approval"


def requested(customer_browser: FlaskClient) -> str:
    """A customer configures and sends their request; the registration's public id."""
    public_id = configured_by(customer_browser)
    response = customer_browser.post(f"/registration/{public_id}/request")
    assert response.status_code == 303
    assert response.location.startswith(f"/registration/{public_id}/waiting")
    return public_id


@pytest.fixture
def decide(app: Flask, staff: User) -> Iterator[Any]:
    """Call a staff decision (`approvals.approve`, ...) on the one request, as `staff`."""

    def call(action: Any, *args: Any, **kwargs: Any) -> Outcome:
        with app.test_request_context("/"):
            db = get_session()
            approval = db.scalars(select(ApprovalRequest)).one()
            user = db.get(User, staff.id)
            if action is approvals.reject:
                return action(db, approval, user, *args, **kwargs)
            return action(db, get_ltiaas(), approval, user, *args, **kwargs)

    yield call


def the_request(app: Flask) -> ApprovalRequest:
    with app.app_context():
        return get_session().scalars(select(ApprovalRequest)).one()


def past_its_lifetime(app: Flask) -> None:
    with app.app_context():
        db = get_session()
        db.scalars(select(Registration)).one().expires_at = utcnow() - timedelta(seconds=1)
        db.commit()


def test_a_customers_request_waits_on_a_page_that_polls_its_status(
    app: Flask, customer_browser: FlaskClient, ltiaas: FakeLtiaas, customer: User
) -> None:
    public_id = requested(customer_browser)

    page = customer_browser.get(f"/registration/{public_id}/waiting")
    body = page.text
    assert page.status_code == 200
    assert 'data-page="waiting"' in body and 'data-approval="pending"' in body
    assert f'data-status-url="/registration/{public_id}/status"' in body
    assert 'data-seen="reviewed/pending"' in body
    assert "js/registration.js" in body and "postMessage" not in body
    assert "Springfield Moodle" in body
    status = customer_browser.get(f"/registration/{public_id}/status")
    assert status.get_json() == {"state": "reviewed", "approval": "pending"}
    assert status.headers["Cache-Control"] == "no-store"

    approval = the_request(app)
    assert approval.state == "pending"
    assert approval.requested_by_email == customer.email
    assert approval.requested_choices["platformName"] == "Springfield Moodle"
    (requested_event,) = [e for e in audit_trail(app, public_id) if e[0] == "approval:requested"]
    assert requested_event[1] == customer.email
    assert requested_event[2]["choices"] == approval.requested_choices
    assert ltiaas.requests_to("complete_registration") == []


def test_asking_twice_makes_one_request(
    app: Flask, customer_browser: FlaskClient, ltiaas: FakeLtiaas
) -> None:
    public_id = requested(customer_browser)
    again = customer_browser.post(f"/registration/{public_id}/request")
    assert again.location.startswith(f"/registration/{public_id}/waiting")
    with app.app_context():
        assert len(get_session().scalars(select(ApprovalRequest)).all()) == 1


@pytest.mark.parametrize(("method", "page"), [("get", "configure"), ("get", "confirm"), ("post", "complete")])
def test_while_a_request_waits_the_flow_leads_to_the_waiting_page(
    customer_browser: FlaskClient, ltiaas: FakeLtiaas, method: str, page: str
) -> None:
    public_id = requested(customer_browser)
    response = getattr(customer_browser, method)(f"/registration/{public_id}/{page}")
    assert response.location.startswith(f"/registration/{public_id}/waiting")
    assert ltiaas.requests_to("complete_registration") == []


def test_approval_with_changes_registers_the_staffs_choices_and_the_iframe_gets_the_close_script(
    app: Flask, customer_browser: FlaskClient, ltiaas: FakeLtiaas, staff: User, decide: Any
) -> None:
    public_id = requested(customer_browser)

    assert decide(approvals.approve, STAFF_CHOICES) is Outcome.COMPLETED

    (sent,) = ltiaas.requests_to("complete_registration")
    assert sent.json() == {
        "platformName": "Springfield (approved)",
        "autoActivate": False,
        "messages": STAFF_CHOICES["messages"],
    }
    assert customer_browser.get(f"/registration/{public_id}/status").get_json() == {
        "state": "completed",
        "approval": "approved",
    }
    waiting = customer_browser.get(f"/registration/{public_id}/waiting")
    assert waiting.location.startswith(f"/registration/{public_id}/done")
    done = customer_browser.get(waiting.location).text
    assert CLOSE_HTML in done
    assert "Springfield (approved)" in done and "Awaiting activation" in done

    trail = audit_trail(app, public_id)
    (approved,) = [event for event in trail if event[0] == "approval:approved"]
    assert approved[1] == staff.email
    assert approved[2]["choices"] == STAFF_CHOICES
    assert approved[2]["requested"]["platformName"] == "Springfield Moodle"
    completing = [event for event in trail if event[0] in ("state:completing", "state:completed")]
    assert [actor for _, actor, _ in completing] == [staff.email, staff.email]
    assert completing[0][2]["choices"] == STAFF_CHOICES
    approval = the_request(app)
    assert approval.decided_by_email == staff.email and approval.approved_choices == STAFF_CHOICES


def test_a_rejection_shows_its_reason_in_the_iframe_and_registers_nothing(
    app: Flask, customer_browser: FlaskClient, ltiaas: FakeLtiaas, staff: User, decide: Any
) -> None:
    public_id = requested(customer_browser)

    assert decide(approvals.reject, "  We only serve schools in Springfield.  ") is Outcome.REJECTED

    assert customer_browser.get(f"/registration/{public_id}/status").get_json() == {
        "state": "reviewed",
        "approval": "rejected",
    }
    body = customer_browser.get(f"/registration/{public_id}/waiting").text
    assert 'data-approval="rejected"' in body
    assert "We only serve schools in Springfield." in body
    assert "data-status-url" not in body
    assert customer_browser.get(f"/registration/{public_id}/confirm").location.endswith(
        f"/registration/{public_id}/waiting"
    )
    assert ltiaas.requests_to("complete_registration") == []
    (rejected,) = [event for event in audit_trail(app, public_id) if event[0] == "approval:rejected"]
    assert rejected[1] == staff.email
    assert rejected[2]["reason"] == "We only serve schools in Springfield."


def test_a_declined_request_keeps_its_reason_after_its_registration_outlived_its_lifetime(
    app: Flask, customer_browser: FlaskClient, ltiaas: FakeLtiaas, staff: User, decide: Any
) -> None:
    public_id = requested(customer_browser)
    assert decide(approvals.reject, "We only serve schools in Springfield.") is Outcome.REJECTED
    past_its_lifetime(app)

    status = customer_browser.get(f"/registration/{public_id}/status")
    page = customer_browser.get(f"/registration/{public_id}/waiting")

    assert status.get_json() == {"state": None, "problem": "declined"}
    assert page.status_code == 410
    assert "Your request was declined" in page.text
    assert "Their reason: We only serve schools in Springfield." in page.text
    assert "has expired" not in page.text and "too old" not in page.text


def test_a_request_that_outlives_its_registration_is_marked_expired_when_read(
    app: Flask, customer_browser: FlaskClient, ltiaas: FakeLtiaas
) -> None:
    public_id = requested(customer_browser)
    past_its_lifetime(app)

    status = customer_browser.get(f"/registration/{public_id}/status")
    assert status.status_code == 410
    assert status.get_json() == {"state": None, "problem": "expired"}
    assert customer_browser.get(f"/registration/{public_id}/waiting").status_code == 410
    assert the_request(app).state == "expired"
    assert ("approval:expired", "portal") in [(a, actor) for a, actor, _ in audit_trail(app, public_id)]


@pytest.mark.parametrize("action", ["approve", "reject"])
def test_deciding_a_request_that_outlived_its_registration_does_nothing(
    app: Flask, customer_browser: FlaskClient, ltiaas: FakeLtiaas, decide: Any, action: str
) -> None:
    requested(customer_browser)
    past_its_lifetime(app)
    argument = STAFF_CHOICES if action == "approve" else "Too late."
    assert decide(getattr(approvals, action), argument) is Outcome.EXPIRED
    assert the_request(app).state == "expired"
    assert ltiaas.requests_to("complete_registration") == []


def test_a_second_decision_changes_nothing_and_ltiaas_is_called_once(
    app: Flask, customer_browser: FlaskClient, ltiaas: FakeLtiaas, decide: Any
) -> None:
    requested(customer_browser)
    assert decide(approvals.approve, STAFF_CHOICES) is Outcome.COMPLETED
    assert decide(approvals.approve, {**STAFF_CHOICES, "platformName": "Other"}) is Outcome.ALREADY_DECIDED
    assert decide(approvals.reject, "Changed my mind.") is Outcome.ALREADY_DECIDED
    assert len(ltiaas.requests_to("complete_registration")) == 1
    assert the_request(app).approved_choices == STAFF_CHOICES


def test_staff_approving_at_the_same_instant_complete_once(
    app: Flask, customer_browser: FlaskClient, ltiaas: FakeLtiaas, decide: Any
) -> None:
    requested(customer_browser)
    ltiaas.slow("complete_registration", 0.2, times=RACERS)

    results = race(lambda: decide(approvals.approve, STAFF_CHOICES))

    assert sorted(results, key=str) == [Outcome.ALREADY_DECIDED] * (RACERS - 1) + [Outcome.COMPLETED], results
    assert len(ltiaas.requests_to("complete_registration")) == 1


def test_retries_at_the_same_instant_complete_once_and_the_others_hear_it_is_being_registered(
    app: Flask, customer_browser: FlaskClient, ltiaas: FakeLtiaas, decide: Any, closed_url: str
) -> None:
    requested(customer_browser)
    with ltiaas_moved_to(app, closed_url):
        assert decide(approvals.approve, STAFF_CHOICES) is Outcome.NOT_COMPLETED
    ltiaas.slow("complete_registration", 0.2, times=RACERS)

    results = race(lambda: decide(approvals.finish))

    assert sorted(results, key=str) == [Outcome.ALREADY_COMPLETING] * (RACERS - 1) + [Outcome.COMPLETED], (
        results
    )
    assert len(ltiaas.requests_to("complete_registration")) == 1


def test_when_ltiaas_is_unreachable_at_approval_the_iframe_keeps_waiting_and_staff_can_finish(
    app: Flask, customer_browser: FlaskClient, ltiaas: FakeLtiaas, decide: Any, closed_url: str
) -> None:
    public_id = requested(customer_browser)

    with ltiaas_moved_to(app, closed_url):
        assert decide(approvals.approve, STAFF_CHOICES) is Outcome.NOT_COMPLETED
    body = customer_browser.get(f"/registration/{public_id}/waiting").text
    assert 'data-seen="reviewed/approved"' in body and "Approved: finishing" in body

    assert decide(approvals.finish) is Outcome.COMPLETED
    assert decide(approvals.finish) is Outcome.ALREADY_COMPLETING  # a retry is not a decision
    assert CLOSE_HTML in customer_browser.get(f"/registration/{public_id}/done").text
    (sent,) = ltiaas.requests_to("complete_registration")  # the first never left the portal
    assert sent.json()["platformName"] == "Springfield (approved)"


def test_when_ltiaas_acted_but_its_answer_to_the_approval_was_lost_the_iframe_says_registered(
    app: Flask, customer_browser: FlaskClient, ltiaas: FakeLtiaas, decide: Any
) -> None:
    public_id = requested(customer_browser)
    ltiaas.drop_connection("complete_registration", acted="completed")

    assert decide(approvals.approve, STAFF_CHOICES) is Outcome.COMPLETED

    waiting = customer_browser.get(f"/registration/{public_id}/waiting")
    assert waiting.location.startswith(f"/registration/{public_id}/done")
    done = customer_browser.get(waiting.location).text
    assert 'id="close-yourself"' in done and "postMessage" not in done.split("</main>")[-1]
    created = ltiaas.platform_created_by("reg-moodle")
    assert created is not None and f'<code id="platform-id">{created["id"]}</code>' in done
    assert ltiaas.operations()[-2:] == ["complete_registration", "list_platforms"]


def test_the_account_page_does_not_ask_to_finish_the_registration_that_stopped_once_the_first_is_registered(
    app: Flask, customer_browser: FlaskClient, ltiaas: FakeLtiaas, decide: Any
) -> None:
    first = requested(customer_browser)
    ltiaas.add_registration("reg-moodle-again", lms_configuration("moodle-4.4", MOODLE_URL))
    second = configured_by(customer_browser, registration_id="reg-moodle-again")
    assert customer_browser.get(f"/registration/{second}/confirm").status_code == 409  # stopped there

    assert decide(approvals.approve, STAFF_CHOICES) is Outcome.COMPLETED

    account = customer_browser.get("/auth/account").text
    assert f'data-registration="{first}" data-connection="waiting_for_activation"' in account
    assert f'data-registration="{second}" data-connection="not_needed"' in account
    assert "registered with this LMS by another of your registrations" in account
    assert "Finish it" not in account and "registration window, while that window is open" not in account


def test_a_customer_who_asked_for_this_lms_already_is_stopped_before_asking_or_paying_again(
    app: Flask, customer_browser: FlaskClient, ltiaas: FakeLtiaas, staff_browser: FlaskClient
) -> None:
    first = requested(customer_browser)  # then the dialog was closed, and the LMS started again
    ltiaas.add_registration("reg-moodle-again", lms_configuration("moodle-4.4", MOODLE_URL))
    second = configured_by(customer_browser, registration_id="reg-moodle-again")

    confirm = customer_browser.get(f"/registration/{second}/confirm")
    asked = customer_browser.post(f"/registration/{second}/request")

    for answer in (confirm, asked):
        assert answer.status_code == 409
        assert 'data-page="asked-already"' in answer.text
        assert "You already asked for this LMS" in answer.text
        assert f'href="/registration/{first}/waiting' in answer.text  # where it can be withdrawn
    with app.app_context():
        assert len(get_session().scalars(select(ApprovalRequest)).all()) == 1
    approval = the_request(app)
    staff_page = staff_browser.get(f"/admin/approvals/{approval.public_id}").text
    assert 'id="other-requests"' not in staff_page  # one request: nothing to compare

    customer_browser.post(f"/auth/requests/{approval.public_id}/withdraw", data={"confirm": "y"})
    assert customer_browser.get(f"/registration/{second}/confirm").status_code == 200  # free to ask now
    assert customer_browser.post(f"/registration/{second}/request").status_code == 303
    with app.app_context():
        newer = get_session().scalars(select(ApprovalRequest).order_by(ApprovalRequest.id.desc())).first()
        assert newer is not None
    shown = staff_browser.get(f"/admin/approvals/{newer.public_id}").text
    assert 'id="other-requests"' in shown and "withdrawn by the customer" in shown
    assert "would register the tool twice" not in shown  # a withdrawn request cannot be approved
    assert f'href="/admin/approvals/{approval.public_id}"' in shown
