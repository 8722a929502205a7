"""What the admin is told when LTIAAS or the LMS fail, over real HTTP: only what is known.

LTIAAS is the fake LTIAAS, reached by the app's own client. Its answer to complete can be lost
after it acted (a read timeout, the connection dropped, a 5xx, an unreadable 200): then the
portal looks LTIAAS's platforms up before saying anything. Only a failure before the request
left (connection refused, connect timeout) means "nothing was registered". The LMS's own refusal
comes back in its own words.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from portal.db import get_session
from portal.models import Registration, utcnow
from tests.fakes.ltiaas import ALREADY_REGISTERED, CLOSE_HTML, FakeLtiaas, Fault
from tests.registration.helpers import (
    audit_trail,
    configured_by,
    ltiaas_moved_to,
    press_register,
    public_id_from,
    registration_row,
    start,
    wait_for_ltiaas_at_most,
)

pytestmark = pytest.mark.usefixtures("no_csrf")

# The ways LTIAAS's answer to complete is lost once the request was sent.
LOST_ANSWERS = {
    "read timeout": Fault(hang=True),
    "connection reset": Fault(drop="reset"),
    "connection closed": Fault(drop="hang_up"),
    "HTTP 500": Fault(status=500),
    "HTTP 503": Fault(status=503),
    "unreadable 200": Fault(status=200, body="<html>Welcome to LTIAAS</html>"),
}
# For the call under test: short enough that a hanging LTIAAS costs the test little. The set-up
# before it keeps the tests' usual timeout, so a busy machine cannot fail it.
QUICK_READ_TIMEOUT = 1.0
LOST = pytest.mark.parametrize("lost", LOST_ANSWERS.values(), ids=LOST_ANSWERS.keys())
COULD_NOT_CONFIRM = "We could not confirm whether the last attempt registered the tool."
NOTHING_REGISTERED = "so nothing was registered."
SCRIPTED_WORDS = "<script>alert('gotcha')</script>"


def lost_after(lost: Fault, acted: str | None) -> Fault:
    return Fault(status=lost.status, body=lost.body, drop=lost.drop, hang=lost.hang, acted=acted)


def the_completed_event(app: Flask, public_id: str) -> dict[str, Any]:
    (details,) = [
        details for action, _, details in audit_trail(app, public_id) if action == "state:completed"
    ]
    return details


# The answer was lost after LTIAAS registered the tool


@LOST
def test_a_lost_answer_after_ltiaas_registered_the_tool_is_found_and_told_as_registered(
    app: Flask, customer_browser: FlaskClient, ltiaas: FakeLtiaas, lost: Fault
) -> None:
    ltiaas.add_platform("Springfield Moodle (an earlier registration)")
    public_id = configured_by(customer_browser)
    wait_for_ltiaas_at_most(app, QUICK_READ_TIMEOUT)
    ltiaas.script("complete_registration", lost_after(lost, acted="completed"))

    response = press_register(customer_browser, public_id)

    assert response.location == f"/registration/{public_id}/done"
    done = customer_browser.get(response.location).text
    created = ltiaas.platform_created_by("reg-moodle")
    assert created is not None
    assert 'data-state="completed"' in done and "The tool is now registered with your LMS." in done
    assert f'<code id="platform-id">{created["id"]}</code>' in done
    assert 'id="close-yourself"' in done and "You may need to close this window yourself." in done
    assert 'id="close-window" data-lti-close' in done
    assert CLOSE_HTML not in done  # LTIAAS's script was lost with its answer
    registration = registration_row(app, public_id)
    assert registration.state == "completed" and registration.platform_id == created["id"]
    assert registration.problem is None and registration.last_error is None
    assert the_completed_event(app, public_id) == {
        "platformId": created["id"],
        "found_after_lost_answer": True,
    }
    assert ltiaas.operations()[-2:] == ["complete_registration", "list_platforms"]
    assert len(ltiaas.requests_to("complete_registration")) == 1


@pytest.mark.parametrize(
    "app_settings",
    [{"LTIAAS_READ_TIMEOUT": 2.0, "LTIAAS_READ_BUDGET": 1.0}],
    indirect=True,
    ids=["complete may wait longer than the read budget, as by default (15 s, 10 s)"],
)
def test_a_complete_that_timed_out_leaves_the_lookup_its_own_read_budget(
    app: Flask, customer_browser: FlaskClient, ltiaas: FakeLtiaas
) -> None:
    public_id = configured_by(customer_browser)
    ltiaas.time_out("complete_registration", acted="completed")

    assert press_register(customer_browser, public_id).location == f"/registration/{public_id}/done"

    assert registration_row(app, public_id).platform_id == ltiaas.platform_created_by("reg-moodle")["id"]  # type: ignore[index]


def test_a_lost_answer_nobody_retried_before_the_registration_expired_is_an_unknown_outcome_not_an_expiry(
    app: Flask, customer_browser: FlaskClient, ltiaas: FakeLtiaas
) -> None:
    public_id = configured_by(customer_browser)
    wait_for_ltiaas_at_most(app, QUICK_READ_TIMEOUT)
    ltiaas.time_out("complete_registration", acted="completed")
    ltiaas.fail("list_platforms", 503)
    press_register(customer_browser, public_id)
    with app.app_context():
        db = get_session()
        db.get(Registration, registration_row(app, public_id).id).expires_at = utcnow() - timedelta(minutes=1)
        db.commit()

    page = customer_browser.get(f"/registration/{public_id}/confirm")

    registration = registration_row(app, public_id)
    assert (registration.state, registration.problem) == ("failed", "outcome_unknown")
    assert "We don&#39;t know whether the tool was registered" in page.text
    assert "This registration has expired" not in page.text
    assert ltiaas.operations()[-2:] == ["complete_registration", "list_platforms"]


def test_a_lost_answer_is_told_apart_from_another_schools_registration_on_a_shared_canvas_issuer(
    app: Flask, customer_browser: FlaskClient, ltiaas: FakeLtiaas
) -> None:
    ltiaas.add_platform("Shelbyville (Canvas)", url="https://canvas.instructure.com")
    public_id = configured_by(
        customer_browser,
        {"platform_name": "Springfield University (Canvas)", "messages": ["LtiResourceLinkRequest"]},
        registration_id="reg-canvas",
    )
    wait_for_ltiaas_at_most(app, QUICK_READ_TIMEOUT)
    ltiaas.add_platform("Capital City (Canvas)", url="https://canvas.instructure.com")  # meanwhile
    ltiaas.time_out("complete_registration", acted="completed")

    assert press_register(customer_browser, public_id).location == f"/registration/{public_id}/done"

    created = ltiaas.platform_created_by("reg-canvas")
    assert created is not None and registration_row(app, public_id).platform_id == created["id"]


# The answer was lost, and LTIAAS's platforms do not show the tool


@LOST
def test_a_lost_answer_with_no_platform_found_says_we_could_not_confirm_and_a_retry_registers(
    app: Flask, customer_browser: FlaskClient, ltiaas: FakeLtiaas, lost: Fault
) -> None:
    public_id = configured_by(customer_browser)
    wait_for_ltiaas_at_most(app, QUICK_READ_TIMEOUT)
    ltiaas.script("complete_registration", lost)  # LTIAAS failed before acting

    response = press_register(customer_browser, public_id)

    assert response.location == f"/registration/{public_id}/confirm"
    confirm = customer_browser.get(response.location).text
    assert COULD_NOT_CONFIRM in confirm and "we could not confirm whether the tool was registered" in confirm
    assert NOTHING_REGISTERED not in confirm and "nothing was registered" not in confirm
    assert "Try again: register the tool" in confirm
    registration = registration_row(app, public_id)
    assert (registration.state, registration.problem) == ("reviewed", "unconfirmed")
    assert ltiaas.operations()[-2:] == ["complete_registration", "list_platforms"]

    retried = press_register(customer_browser, public_id)

    assert retried.location == f"/registration/{public_id}/done"
    assert CLOSE_HTML in customer_browser.get(retried.location).text
    assert len(ltiaas.requests_to("complete_registration")) == 2
    assert registration_row(app, public_id).platform_id == ltiaas.platform_created_by("reg-moodle")["id"]  # type: ignore[index]


@LOST
def test_a_retry_that_ltiaas_refuses_as_used_shows_the_already_used_page(
    app: Flask, customer_browser: FlaskClient, ltiaas: FakeLtiaas, lost: Fault
) -> None:
    public_id = configured_by(customer_browser)
    wait_for_ltiaas_at_most(app, QUICK_READ_TIMEOUT)
    # LTIAAS used the registrationId up, then failed before creating the platform.
    ltiaas.script("complete_registration", lost_after(lost, acted="id_used"))
    press_register(customer_browser, public_id)
    assert COULD_NOT_CONFIRM in customer_browser.get(f"/registration/{public_id}/confirm").text

    retried = press_register(customer_browser, public_id)

    assert retried.status_code == 409
    page = retried.text
    assert 'data-problem="already_used"' in page
    assert "This registration was already used" in page
    assert "Your earlier attempt most likely registered the tool" in page
    assert "Look for the tool in your LMS" in page
    assert 'id="retry"' not in page and "Try again" not in page
    assert "could not be completed" not in page and "refused" not in page
    assert 'class="card error"' not in page and "Error 409" not in page  # told as it is, not as an error
    registration = registration_row(app, public_id)
    assert (registration.state, registration.problem) == ("failed", "already_used")
    assert registration.outcome_unknown
    assert customer_browser.get(f"/registration/{public_id}/confirm").status_code == 409  # it stays so
    assert len(ltiaas.requests_to("complete_registration")) == 2
    assert ltiaas.platforms == []


def test_an_unconfirmed_attempt_is_remembered_when_a_later_retry_never_left_the_portal(
    app: Flask, customer_browser: FlaskClient, ltiaas: FakeLtiaas, closed_url: str
) -> None:
    public_id = configured_by(customer_browser)
    ltiaas.fail("complete_registration", 500, acted="id_used")
    press_register(customer_browser, public_id)  # could not confirm
    with ltiaas_moved_to(app, closed_url):
        press_register(customer_browser, public_id)  # nothing was sent: nothing was registered *this* time

    third = press_register(customer_browser, public_id)

    # LTIAAS's 404 now is the first attempt's doing, not an expiry: "already used".
    assert third.status_code == 409 and 'data-problem="already_used"' in third.text
    assert "This registration has expired" not in third.text
    assert registration_row(app, public_id).problem == "already_used"


def test_without_the_platforms_seen_on_arrival_a_lost_answer_is_not_guessed_as_registered(
    app: Flask, customer_browser: FlaskClient, ltiaas: FakeLtiaas
) -> None:
    ltiaas.fail("list_platforms", 503)  # the lookup on arrival
    public_id = configured_by(customer_browser)
    ltiaas.add_platform("Springfield Moodle")  # an earlier registration, under the same name
    ltiaas.drop_connection("complete_registration", acted="completed")

    press_register(customer_browser, public_id)

    assert COULD_NOT_CONFIRM in customer_browser.get(f"/registration/{public_id}/confirm").text
    assert registration_row(app, public_id).platform_id is None


# The lookup itself fails


@pytest.mark.parametrize("acted", [None, "completed"], ids=["LTIAAS did nothing", "LTIAAS registered it"])
def test_when_the_lookup_fails_too_we_could_not_confirm_and_the_retry_finds_out(
    app: Flask, customer_browser: FlaskClient, ltiaas: FakeLtiaas, acted: str | None
) -> None:
    public_id = configured_by(customer_browser)
    wait_for_ltiaas_at_most(app, QUICK_READ_TIMEOUT)
    ltiaas.script("complete_registration", Fault(status=502, acted=acted))
    ltiaas.fail("list_platforms", 503)

    response = press_register(customer_browser, public_id)

    confirm = customer_browser.get(response.location).text
    assert COULD_NOT_CONFIRM in confirm and "Try again: register the tool" in confirm
    assert registration_row(app, public_id).problem == "unconfirmed"
    (unconfirmed,) = [d for a, _, d in audit_trail(app, public_id) if d.get("problem") == "unconfirmed"]
    assert unconfirmed["looked_up"] is False

    retried = press_register(customer_browser, public_id)  # LTIAAS completes it, or refuses it as used

    assert retried.location == f"/registration/{public_id}/done"
    created = ltiaas.platform_created_by("reg-moodle")
    assert created is not None and registration_row(app, public_id).platform_id == created["id"]
    assert ("close-yourself" in customer_browser.get(retried.location).text) is (acted == "completed")


# Nothing left the portal


@pytest.mark.parametrize("where", ["refused", "connect timeout"])
def test_when_ltiaas_cannot_be_reached_nothing_was_registered_and_a_retry_is_offered(
    app: Flask,
    customer_browser: FlaskClient,
    ltiaas: FakeLtiaas,
    closed_url: str,
    unconnectable_url: str,
    where: str,
) -> None:
    public_id = configured_by(customer_browser)

    with ltiaas_moved_to(app, closed_url if where == "refused" else unconnectable_url):
        response = press_register(customer_browser, public_id)

    confirm = customer_browser.get(response.location).text
    assert NOTHING_REGISTERED in confirm and "The last attempt did not register the tool." in confirm
    assert COULD_NOT_CONFIRM not in confirm
    assert "Try again: register the tool" in confirm
    registration = registration_row(app, public_id)
    assert (registration.state, registration.problem) == ("reviewed", "not_sent")
    assert ltiaas.requests_to("complete_registration") == []
    assert press_register(customer_browser, public_id).location == f"/registration/{public_id}/done"


# The LMS refuses


REFUSALS = {
    "Moodle 400 (RFC 7591)": (
        400,
        {"error": "invalid_client_metadata", "error_description": f"Tools from this domain {SCRIPTED_WORDS}"},
        "Tools from this domain &lt;script&gt;alert(&#39;gotcha&#39;)&lt;/script&gt;",
    ),
    "Canvas 422": (
        422,
        {
            "errors": [
                {"field": "redirect_uris", "message": f"Redirect URIs are not allowed {SCRIPTED_WORDS}"}
            ]
        },
        "Redirect URIs are not allowed &lt;script&gt;alert(&#39;gotcha&#39;)&lt;/script&gt;",
    ),
}


@pytest.mark.parametrize(("lms_status", "lms_body", "shown"), REFUSALS.values(), ids=REFUSALS.keys())
def test_the_lmss_refusal_is_shown_in_its_own_words_escaped_with_no_endless_retry(
    app: Flask, customer_browser: FlaskClient, ltiaas: FakeLtiaas, lms_status: int, lms_body: Any, shown: str
) -> None:
    public_id = configured_by(customer_browser)
    ltiaas.refuse_as_lms(lms_status, lms_body)

    response = press_register(customer_browser, public_id)

    assert response.status_code == 422
    page = response.text
    assert 'data-problem="lms_refused"' in page and "Your LMS refused the registration" in page
    assert f'<blockquote id="lms-words">{shown}</blockquote>' in page
    assert "Error 422" not in page  # the portal's status, beside the LMS's words, would read as the LMS's
    assert SCRIPTED_WORDS not in page and "alert('gotcha')" not in page
    assert "LTIAAS could not be reached" not in page
    assert 'id="retry"' not in page and "Try again" not in page
    registration = registration_row(app, public_id)
    assert (registration.state, registration.problem) == ("failed", "lms_refused")
    again = customer_browser.get(f"/registration/{public_id}/confirm")
    assert again.status_code == 422 and shown in again.text
    assert press_register(customer_browser, public_id).status_code == 422
    assert len(ltiaas.requests_to("complete_registration")) == 1
    assert ltiaas.platforms == []


def test_an_lms_failing_on_its_side_is_temporary_and_may_be_retried(
    app: Flask, customer_browser: FlaskClient, ltiaas: FakeLtiaas
) -> None:
    public_id = configured_by(customer_browser)
    ltiaas.refuse_as_lms(503, "<html><body>Moodle is being upgraded</body></html>")

    response = press_register(customer_browser, public_id)

    confirm = customer_browser.get(response.location).text
    assert "Your LMS answered the registration with an error of its own (HTTP 503)" in confirm
    assert "Try again: register the tool" in confirm
    assert registration_row(app, public_id).state == "reviewed"
    assert press_register(customer_browser, public_id).location == f"/registration/{public_id}/done"
    assert len(ltiaas.requests_to("complete_registration")) == 2


# What each page costs LTIAAS


def test_ltiaas_is_asked_once_on_arrival_and_never_again_until_complete(
    customer_browser: FlaskClient, ltiaas: FakeLtiaas
) -> None:
    review_url = start(customer_browser)
    public_id = public_id_from(review_url)
    assert ltiaas.operations() == ["get_registration", "list_platforms"]

    for name in ("", "", "configure", "configure"):
        assert customer_browser.get(f"/registration/{public_id}/{name}").status_code == 200
    configured_by(customer_browser)  # the same registration, arriving again: not read again
    for name in ("confirm", "confirm", "status"):
        assert customer_browser.get(f"/registration/{public_id}/{name}").status_code == 200
    assert ltiaas.operations() == ["get_registration", "list_platforms"]

    press_register(customer_browser, public_id)
    for _ in range(3):
        assert customer_browser.get(f"/registration/{public_id}/done").status_code == 200
    assert customer_browser.get("/intermediate-target?registrationId=reg-moodle").status_code == 200
    assert ltiaas.operations() == ["get_registration", "list_platforms", "complete_registration"]


@pytest.mark.parametrize(
    "app_settings",
    [{"LTIAAS_READ_BUDGET": 1.0, "LTIAAS_READ_TIMEOUT": 5.0, "LTIAAS_RETRIES": 2}],
    indirect=True,
    ids=["budget 1 s, 3 attempts of 5 s allowed"],
)
def test_a_slow_ltiaas_gets_one_attempt_within_the_read_budget_then_the_unavailable_page(
    client: FlaskClient, ltiaas: FakeLtiaas
) -> None:
    ltiaas.slow("get_registration", 30, times=3)

    response = client.get("/intermediate-target?registrationId=reg-moodle")

    assert response.status_code == 503
    assert 'data-problem="ltiaas_unavailable"' in response.text
    assert 'id="retry" href="/intermediate-target?registrationId=reg-moodle"' in response.text
    # No retry once the budget was spent, and no lookup after it: the page did not wait for them.
    assert ltiaas.operations() == ["get_registration"]


# LTIAAS refuses, or no longer knows the registration

# LTIAAS drops a placement the LMS does not support rather than refusing it (ltiaas-api.md); a body it
# cannot take at all is what it refuses with a 400 (ltijs: a missing or wrong parameter).
BAD_BODY = {
    "status": 400,
    "error": "Bad Request",
    "details": {"message": "INVALID_BODY", "description": "messages[0].type must be a string"},
}
GONE = {
    "status": 404,
    "error": "Not Found",
    "details": {"message": "REGISTRATION_NOT_FOUND", "description": "Registration not found or expired."},
}


def test_ltiaas_refusing_the_request_is_shown_in_its_words_not_as_an_expired_registration(
    app: Flask, customer_browser: FlaskClient, ltiaas: FakeLtiaas
) -> None:
    public_id = configured_by(customer_browser)
    ltiaas.fail("complete_registration", 400, BAD_BODY)

    page = press_register(customer_browser, public_id)

    text = page.get_data(as_text=True)
    assert "messages[0].type must be a string" in text
    assert "has expired" not in text and "too old" not in text
    assert registration_row(app, public_id).state == "failed"


def test_ltiaas_no_longer_knowing_a_young_registration_says_so_in_its_words_not_that_it_is_too_old(
    app: Flask, customer_browser: FlaskClient, ltiaas: FakeLtiaas
) -> None:
    public_id = configured_by(customer_browser)
    ltiaas.fail("complete_registration", 404, GONE)

    page = press_register(customer_browser, public_id)
    again = customer_browser.get(f"/registration/{public_id}/confirm")

    for answer in (page, again):
        text = answer.get_data(as_text=True)
        assert answer.status_code == 410
        assert 'data-problem="gone_at_ltiaas"' in text
        assert "LTIAAS no longer accepts this registration" in text
        assert "It said: Registration not found or expired." in text
        assert "too old" not in text
    row = registration_row(app, public_id)
    assert (row.state, row.problem) == ("expired", "gone_at_ltiaas")


def test_ltiaas_refusing_without_words_is_said_plainly(
    app: Flask, customer_browser: FlaskClient, ltiaas: FakeLtiaas
) -> None:
    public_id = configured_by(customer_browser)
    ltiaas.fail("complete_registration", 409, "Conflict")

    text = press_register(customer_browser, public_id).get_data(as_text=True)

    assert "LTIAAS refused the registration (HTTP 409) without saying why." in text
    assert "rejected the request" not in text


def test_ltiaas_holding_the_lms_s_client_id_already_fails_the_registration_in_its_words(
    app: Flask, customer_browser: FlaskClient, ltiaas: FakeLtiaas
) -> None:
    """ltijs answers complete 403 "Platform already registered." when the LMS hands out a client id
    LTIAAS holds for its issuer (ltiaas-api.md, Errors): LTIAAS refused, not the LMS, not a gone id."""
    public_id = configured_by(customer_browser)
    ltiaas.fail("complete_registration", 403, ALREADY_REGISTERED)

    text = press_register(customer_browser, public_id).get_data(as_text=True)

    assert "LTIAAS refused the registration: Platform already registered." in text
    assert "not caused by anything you did" not in text  # not the vendor's API key
    row = registration_row(app, public_id)
    assert (row.state, row.problem) == ("failed", "refused")
    assert ltiaas.platforms == []
