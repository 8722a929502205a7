"""A staff member decides on a customer's request from the staff pages (CSRF on, as in production)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select, update
from werkzeug.test import TestResponse

from portal.admin.views import MESSAGES
from portal.db import get_session
from portal.models import ApprovalRequest, Registration, User, WebSession, utcnow
from portal.registration.approvals import Outcome
from tests.accounts import signed_in
from tests.admin.console_helpers import add_approval, add_registration
from tests.fakes.ltiaas import CLOSE_HTML, FakeLtiaas
from tests.registration.helpers import add_person, audit_trail, checkboxes, csrf_token_in, ltiaas_moved_to

# The Moodle 4.4 LMS offers: LtiResourceLinkRequest (no placements), LtiDeepLinkingRequest (ContentArea).
STAFF_FORM = {
    "platform_name": "Springfield, approved",
    "messages": ["LtiDeepLinkingRequest"],
    "placements_1": ["ContentArea"],
    "confirm_approve": "y",
}


def request_page(browser: FlaskClient, approval: ApprovalRequest) -> str:
    page = browser.get(f"/admin/approvals/{approval.public_id}")
    assert page.status_code == 200
    return page.text


def act(browser: FlaskClient, approval: ApprovalRequest, action: str, data: dict) -> TestResponse:
    """Post one of the request page's forms, with the page's CSRF token."""
    token = csrf_token_in(request_page(browser, approval))
    return browser.post(f"/admin/approvals/{approval.public_id}/{action}", data={**data, "csrf_token": token})


def decided_at(app: Flask) -> str:
    """When the request was decided, as the staff pages say it today."""
    with app.app_context():
        decided = get_session().scalars(select(ApprovalRequest)).one().decided_at
        assert decided is not None
        return decided.strftime("%H:%M UTC")


def set_registration_state(app: Flask, state: str) -> None:
    with app.app_context():
        db = get_session()
        db.scalars(select(Registration)).one().state = state
        db.commit()


def state_of(app: Flask) -> tuple[str, str]:
    with app.app_context():
        approval = get_session().scalars(select(ApprovalRequest)).one()
        return approval.state, approval.registration.state


def test_the_pending_page_lists_waiting_requests_with_who_asked_and_for_which_lms(
    staff_browser: FlaskClient, pending: ApprovalRequest, customer: User
) -> None:
    body = staff_browser.get("/admin/approvals/").text
    assert f'data-request="{pending.public_id}"' in body
    assert f'href="/admin/approvals/{pending.public_id}"' in body
    assert "Springfield Moodle" in body and "moodle.example.edu" in body
    assert customer.email in body


def test_requests_past_the_registrations_lifetime_are_marked_expired_on_the_pending_page(
    app: Flask, staff_browser: FlaskClient, pending: ApprovalRequest
) -> None:
    with app.app_context():
        db = get_session()
        db.scalars(select(Registration)).one().expires_at = utcnow() - timedelta(seconds=1)
        db.commit()
    body = staff_browser.get("/admin/approvals/").text
    assert pending.public_id not in body
    assert 'id="no-pending"' in body
    assert state_of(app) == ("expired", "expired")
    assert 'data-approval="expired"' in request_page(staff_browser, pending)
    assert 'id="approve-form"' not in request_page(staff_browser, pending)
    late = act(staff_browser, pending, "approve", STAFF_FORM)
    assert "expired with its registration" in staff_browser.get(late.location).text
    assert state_of(app) == ("expired", "expired")


def test_the_request_page_offers_exactly_what_the_lms_supports_prefilled_with_the_request(
    staff_browser: FlaskClient, pending: ApprovalRequest
) -> None:
    body = request_page(staff_browser, pending)
    assert 'value="Springfield Moodle"' in body
    offered, checked = checkboxes(body)
    assert offered["messages"] == ["LtiResourceLinkRequest", "LtiDeepLinkingRequest"]
    assert offered["placements_1"] == ["ContentArea"]
    assert checked["messages"] == ["LtiResourceLinkRequest", "LtiDeepLinkingRequest"]
    assert 'id="auto_activate"' in body
    assert 'name="confirm_approve"' in body and 'name="confirm_reject"' in body
    assert 'id="reject-form"' in body


def test_approving_with_changes_registers_the_staffs_choices_and_the_customers_iframe_closes(
    app: Flask,
    staff_browser: FlaskClient,
    customer_browser: FlaskClient,
    ltiaas: FakeLtiaas,
    pending: ApprovalRequest,
    staff: User,
) -> None:
    response = act(staff_browser, pending, "approve", STAFF_FORM)

    assert response.status_code == 303
    assert "the tool is registered" in staff_browser.get(response.location).text
    (sent,) = ltiaas.requests_to("complete_registration")
    assert sent.json() == {
        "platformName": "Springfield, approved",
        "autoActivate": False,
        "messages": [{"type": "LtiDeepLinkingRequest", "placements": ["ContentArea"]}],
    }
    registration_id = pending.registration.public_id
    done = customer_browser.get(f"/registration/{registration_id}/waiting", follow_redirects=True)
    assert CLOSE_HTML in done.text
    assert ("approval:approved", staff.email) in [
        (a, actor) for a, actor, _ in audit_trail(app, registration_id)
    ]
    assert pending.public_id not in staff_browser.get("/admin/approvals/").text


def test_a_placement_the_lms_does_not_support_is_refused_and_nothing_is_decided(
    app: Flask, staff_browser: FlaskClient, ltiaas: FakeLtiaas, pending: ApprovalRequest
) -> None:
    forged = {**STAFF_FORM, "placements_1": ["ContentArea", "course_navigation"]}
    response = act(staff_browser, pending, "approve", forged)
    assert response.status_code == 400
    assert "not a valid choice" in response.text
    assert state_of(app) == ("pending", "reviewed")
    assert ltiaas.requests_to("complete_registration") == []


def test_approving_needs_the_explicit_confirmation(
    app: Flask, staff_browser: FlaskClient, ltiaas: FakeLtiaas, pending: ApprovalRequest
) -> None:
    unconfirmed = {key: value for key, value in STAFF_FORM.items() if key != "confirm_approve"}
    response = act(staff_browser, pending, "approve", unconfirmed)
    assert response.status_code == 400
    assert "Tick this box to confirm the approval." in response.text
    assert state_of(app) == ("pending", "reviewed")
    assert ltiaas.requests_to("complete_registration") == []


def test_rejecting_needs_a_reason_and_a_confirmation_and_the_customer_sees_the_reason(
    app: Flask, staff_browser: FlaskClient, customer_browser: FlaskClient, pending: ApprovalRequest
) -> None:
    assert act(staff_browser, pending, "reject", {"reason": "", "confirm_reject": "y"}).status_code == 400
    assert act(staff_browser, pending, "reject", {"reason": "Not a customer."}).status_code == 400
    assert state_of(app) == ("pending", "reviewed")

    response = act(staff_browser, pending, "reject", {"reason": "Not a customer.", "confirm_reject": "y"})

    assert response.status_code == 303
    waiting = customer_browser.get(f"/registration/{pending.registration.public_id}/waiting").text
    assert "Your request was declined" in waiting and "Not a customer." in waiting
    assert state_of(app) == ("rejected", "reviewed")


def test_a_second_approval_from_another_staff_window_changes_nothing(
    app: Flask, staff_browser: FlaskClient, ltiaas: FakeLtiaas, pending: ApprovalRequest
) -> None:
    token = csrf_token_in(request_page(staff_browser, pending))
    url = f"/admin/approvals/{pending.public_id}/approve"
    first = staff_browser.post(url, data={**STAFF_FORM, "csrf_token": token})
    second = staff_browser.post(url, data={**STAFF_FORM, "platform_name": "Again", "csrf_token": token})
    assert first.status_code == second.status_code == 303
    assert (
        f"You already approved this request at {decided_at(app)}" in staff_browser.get(second.location).text
    )
    assert len(ltiaas.requests_to("complete_registration")) == 1


def test_a_double_submitted_decline_tells_the_staff_member_it_was_their_own(
    app: Flask, staff_browser: FlaskClient, pending: ApprovalRequest
) -> None:
    token = csrf_token_in(request_page(staff_browser, pending))
    url = f"/admin/approvals/{pending.public_id}/reject"
    decline = {"reason": "Not a customer.", "confirm_reject": "y", "csrf_token": token}
    staff_browser.post(url, data=decline)

    again = staff_browser.get(staff_browser.post(url, data=decline).location).text

    assert f"You already declined this request at {decided_at(app)}; nothing was changed." in again
    assert "Someone else" not in again
    assert state_of(app) == ("rejected", "reviewed")


def test_a_decision_sent_after_a_colleagues_says_who_decided_what_and_when(
    app: Flask, staff_browser: FlaskClient, staff: User, pending: ApprovalRequest
) -> None:
    colleague = signed_in(app.test_client(), add_person(app, "staff"))
    token = csrf_token_in(request_page(colleague, pending))  # the colleague's page was open before
    act(staff_browser, pending, "reject", {"reason": "Not a customer.", "confirm_reject": "y"})

    late = colleague.post(
        f"/admin/approvals/{pending.public_id}/approve", data={**STAFF_FORM, "csrf_token": token}
    )

    page = colleague.get(late.location).text
    assert f"Already declined by {staff.email} at {decided_at(app)}; nothing was changed." in page
    assert state_of(app) == ("rejected", "reviewed")


def test_a_retry_sent_while_another_retry_registers_says_so_not_that_someone_decided(
    app: Flask, staff_browser: FlaskClient, ltiaas: FakeLtiaas, pending: ApprovalRequest, closed_url: str
) -> None:
    with ltiaas_moved_to(app, closed_url):
        act(staff_browser, pending, "approve", STAFF_FORM)
    token = csrf_token_in(request_page(staff_browser, pending))
    set_registration_state(app, "completing")  # the other retry holds the claim

    racing = staff_browser.post(
        f"/admin/approvals/{pending.public_id}/finish", data={"confirm_finish": "y", "csrf_token": token}
    )
    page = staff_browser.get(racing.location).text
    set_registration_state(app, "completed")  # and then it went through
    done = staff_browser.post(
        f"/admin/approvals/{pending.public_id}/finish", data={"confirm_finish": "y", "csrf_token": token}
    )

    assert "Another attempt is registering the tool (started at" in page
    assert "already decided" not in page
    assert "The tool was already registered at" in staff_browser.get(done.location).text
    assert ltiaas.requests_to("complete_registration") == []  # neither retry sent anything


def test_approving_a_request_its_customer_withdrew_meanwhile_says_so(
    app: Flask,
    staff_browser: FlaskClient,
    customer_browser: FlaskClient,
    ltiaas: FakeLtiaas,
    pending: ApprovalRequest,
) -> None:
    token = csrf_token_in(request_page(staff_browser, pending))  # the page was open before
    app.config["WTF_CSRF_ENABLED"] = False
    customer_browser.post(f"/auth/requests/{pending.public_id}/withdraw", data={"confirm": "y"})
    app.config["WTF_CSRF_ENABLED"] = True

    late = staff_browser.post(
        f"/admin/approvals/{pending.public_id}/approve", data={**STAFF_FORM, "csrf_token": token}
    )

    page = staff_browser.get(late.location).text
    assert "The customer withdrew this request; nothing was registered." in page
    assert "Someone else already decided" not in page
    assert ltiaas.requests_to("complete_registration") == []


def test_an_approval_ltiaas_did_not_register_can_be_finished_from_its_page(
    app: Flask, staff_browser: FlaskClient, ltiaas: FakeLtiaas, pending: ApprovalRequest, closed_url: str
) -> None:
    with ltiaas_moved_to(app, closed_url):
        response = act(staff_browser, pending, "approve", STAFF_FORM)
    assert "not registered yet" in staff_browser.get(response.location).text
    assert pending.public_id in staff_browser.get("/admin/approvals/").text  # listed as unfinished
    body = request_page(staff_browser, pending)
    assert 'id="finish-form"' in body and "could not be reached" in body

    assert act(staff_browser, pending, "finish", {}).status_code == 303
    assert state_of(app) == ("approved", "reviewed")  # not confirmed: nothing tried
    act(staff_browser, pending, "finish", {"confirm_finish": "y"})

    assert state_of(app) == ("approved", "completed")
    assert len(ltiaas.requests_to("complete_registration")) == 1  # the first never left the portal


def test_an_approval_whose_answer_from_ltiaas_was_lost_is_never_called_unregistered(
    app: Flask, staff_browser: FlaskClient, ltiaas: FakeLtiaas, pending: ApprovalRequest
) -> None:
    public_id = pending.registration.public_id
    ltiaas.time_out("complete_registration", acted="completed")  # LTIAAS registered it; its answer is lost
    ltiaas.fail("list_platforms", 503)  # and the look for its platform finds nothing

    page = staff_browser.get(act(staff_browser, pending, "approve", STAFF_FORM).location).text

    assert "answer was lost: whether the tool is registered is not known yet" in page
    assert "not registered yet" not in page
    assert "it may be registered" in staff_browser.get("/admin/approvals/").text
    lost = staff_browser.get("/admin/registrations/?state=answer-lost").text
    assert public_id in lost and "answer lost: may be registered, can be tried again" in lost
    assert public_id not in staff_browser.get("/admin/registrations/?state=reviewed").text


def test_a_lost_answer_nobody_retried_in_time_is_an_outcome_to_settle_not_an_expiry(
    app: Flask, staff_browser: FlaskClient, ltiaas: FakeLtiaas, pending: ApprovalRequest
) -> None:
    public_id = pending.registration.public_id
    ltiaas.time_out("complete_registration", acted="completed")
    ltiaas.fail("list_platforms", 503)
    act(staff_browser, pending, "approve", STAFF_FORM)
    with app.app_context():
        db = get_session()
        db.get(Registration, pending.registration_id).expires_at = utcnow() - timedelta(minutes=1)
        db.commit()

    unknown = staff_browser.get("/admin/registrations/?state=outcome-unknown").text
    expired = staff_browser.get("/admin/registrations/?state=expired").text
    finished = act(staff_browser, pending, "finish", {"confirm_finish": "y"})

    assert public_id in unknown and "Outcome unknown: to settle" in unknown
    assert public_id not in expired
    assert "whether LTIAAS registered the tool is not known" in staff_browser.get(finished.location).text
    assert state_of(app) == ("approved", "failed")
    assert len(ltiaas.requests_to("complete_registration")) == 1  # nothing sent again
    assert 'id="settle"' in staff_browser.get(f"/admin/registrations/{public_id}").text


def test_a_refused_decline_leaves_the_approval_form_as_the_customer_asked(
    app: Flask, staff_browser: FlaskClient, pending: ApprovalRequest
) -> None:
    refused = act(staff_browser, pending, "reject", {"reason": "", "confirm_reject": "y"})

    assert refused.status_code == 400
    assert "Tell the customer why." in refused.text
    _, checked = checkboxes(refused.text)
    assert checked["messages"] == ["LtiResourceLinkRequest", "LtiDeepLinkingRequest"]
    assert checked["placements_1"] == ["ContentArea"]
    assert "confirm_approve" not in checked
    assert 'value="Springfield Moodle"' in refused.text
    assert state_of(app) == ("pending", "reviewed")


def test_a_refused_approval_leaves_the_decline_form_empty_and_unticked(
    staff_browser: FlaskClient, pending: ApprovalRequest
) -> None:
    refused = act(staff_browser, pending, "approve", {**STAFF_FORM, "confirm_approve": ""})

    assert refused.status_code == 400
    _, checked = checkboxes(refused.text)
    assert checked["messages"] == ["LtiDeepLinkingRequest"]  # as the staff member sent it
    assert "confirm_reject" not in checked


def test_the_approval_form_speaks_to_staff_about_activation(
    staff_browser: FlaskClient, pending: ApprovalRequest
) -> None:
    page = request_page(staff_browser, pending)

    assert "the tool's vendor activates it later" not in page  # the customer's words, not theirs
    assert "its page in the console" in page


def test_a_declined_request_says_declined_by_whom_in_the_words_of_its_button(
    app: Flask, staff_browser: FlaskClient, pending: ApprovalRequest
) -> None:
    assert 'id="request-state">waiting for a decision<' in request_page(staff_browser, pending)
    act(staff_browser, pending, "reject", {"reason": "Not a customer.", "confirm_reject": "y"})

    assert 'id="request-state">declined by staff@vendor.example<' in request_page(staff_browser, pending)


def test_a_decline_sent_after_the_session_ended_says_so_and_leads_back_through_sign_in(
    app: Flask, staff_browser: FlaskClient, pending: ApprovalRequest
) -> None:
    page = f"/admin/approvals/{pending.public_id}"
    token = csrf_token_in(request_page(staff_browser, pending))
    with app.app_context():  # two idle hours later
        db = get_session()
        db.execute(update(WebSession).values(expires_at=utcnow()))
        db.commit()

    answer = staff_browser.post(
        f"{page}/reject",
        data={"reason": "Not a customer.", "confirm_reject": "y", "csrf_token": token},
        headers={"Referer": f"http://localhost{page}"},
    )

    assert answer.status_code == 400
    assert "You were signed out" in answer.text and "so this form was not sent" in answer.text
    assert f'href="/auth/sign-in?next={page}" id="sign-in-again"' in answer.text
    assert state_of(app) == ("pending", "reviewed")


def test_every_outcome_of_a_decision_has_words_for_the_staff() -> None:
    assert set(MESSAGES) == set(Outcome)


@pytest.mark.parametrize(
    ("other_request", "other_registration", "warning"),
    [
        ("withdrawn", "failed", None),
        ("rejected", "reviewed", None),
        ("expired", "expired", None),
        ("approved", "failed", None),
        ("pending", "reviewed", "Approving both would register the tool twice with this LMS."),
        ("approved", "reviewed", "Approving both would register the tool twice with this LMS."),
        ("approved", "completing", "Approving both would register the tool twice with this LMS."),
        ("approved", "completed", "One of these already registered the tool with this LMS"),
    ],
)
def test_the_same_customers_other_request_for_the_lms_warns_of_a_second_registration_only_when_it_may(
    app: Flask,
    staff_browser: FlaskClient,
    pending: ApprovalRequest,
    customer: User,
    other_request: str,
    other_registration: str,
    warning: str | None,
) -> None:
    with app.app_context():
        db = get_session()
        earlier = add_registration(
            db,
            created_at=utcnow() - timedelta(minutes=10),
            state=other_registration,
            url=pending.registration.platform_url,
            customer=customer,
        )
        add_approval(db, earlier, db.get_one(User, customer.id), state=other_request)
        db.commit()

    page = request_page(staff_browser, pending)

    assert 'id="other-requests"' in page
    if warning is None:
        assert 'id="registers-twice"' not in page and "twice" not in page
        assert 'class="notice" id="other-requests"' in page
    else:
        assert warning in page and 'class="notice notice-warning" id="other-requests"' in page
    standing = {"failed": "Not registered (failed)", "expired": "Expired", "completed": "Registered"}
    if other_registration in standing:  # in the console's words, not the raw state
        assert f"registration: {standing[other_registration]}</li>" in page


def test_an_approval_whose_completion_went_stale_stands_as_an_outcome_to_settle_as_on_its_registrations_page(
    app: Flask, staff_browser: FlaskClient, pending: ApprovalRequest, closed_url: str
) -> None:
    with ltiaas_moved_to(app, closed_url):
        act(staff_browser, pending, "approve", STAFF_FORM)
    with app.app_context():  # its worker was killed during LTIAAS's complete, long ago
        db = get_session()
        registration = db.scalars(select(Registration)).one()
        registration.state = "completing"
        stale_after = timedelta(seconds=app.config["COMPLETION_STALE_AFTER"] + 60)
        registration.updated_at = utcnow() - stale_after
        db.commit()

    approval_page = request_page(staff_browser, pending)
    registration_page = staff_browser.get(f"/admin/registrations/{pending.registration.public_id}").text

    assert '<span id="registration-state">Outcome unknown: to settle</span>' in approval_page
    assert '<strong id="standing">Outcome unknown: to settle</strong>' in registration_page
    assert "completing" not in approval_page.split('id="registration-state"')[1].split("</dd>")[0]
