"""The admin's story through the pages, and every way the flow can be misused.

LTIAAS is the fake LTIAAS over real HTTP, reached by the app's own client; `customer_browser`
is the LMS admin's browser, signed in as a customer.
"""

from __future__ import annotations

import base64
import hashlib
from datetime import timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select, update

from portal.db import get_session
from portal.models import Registration, User, WebSession, utcnow
from tests.accounts import signed_in
from tests.fakes.ltiaas import CLOSE_HTML, MOODLE_URL, FakeLtiaas, lms_configuration
from tests.registration.helpers import (
    CANVAS,
    SPRINGFIELD,
    add_person,
    checkboxes,
    configured_by,
    csrf_token_in,
    ltiaas_moved_to,
    press_register,
    public_id_from,
    registration_row,
    start,
)


def page(public_id: str, name: str = "") -> str:
    return f"/registration/{public_id}/{name}"


# The intermediate target


def test_ltiaas_sends_the_admin_to_the_review_page_with_a_session_token(
    app: Flask, customer_browser: FlaskClient, ltiaas: FakeLtiaas
) -> None:
    location = start(customer_browser)
    assert location.startswith("/registration/")
    assert "_st=" in location
    assert "reg-moodle" not in location
    with app.app_context():
        row = get_session().scalar(select(Registration))
        assert row.ltiaas_registration_id == "reg-moodle"
        assert row.public_id == public_id_from(location)
    (read,) = ltiaas.requests_to("get_registration")
    assert read.path == "/api/registrations/reg-moodle" and read.query == {"raw": ["true"]}


@pytest.mark.parametrize(
    "query",
    [
        "",
        "?registrationId=",
        "?registrationId=../x",
        "?registrationId=%2F",
        "?registrationId=a%2Fb",
        "?registrationId=" + "x" * 500,
    ],
)
def test_missing_or_malformed_ids_get_a_400_page_saying_to_start_again(
    client: FlaskClient, ltiaas: FakeLtiaas, query: str
) -> None:
    response = client.get(f"/intermediate-target{query}")
    assert response.status_code == 400
    assert "Start the registration again from your LMS" in response.text
    assert ltiaas.received == []


def test_an_unknown_expired_or_used_id_gets_a_404_page(client: FlaskClient, ltiaas: FakeLtiaas) -> None:
    response = client.get("/intermediate-target?registrationId=never-issued")
    assert response.status_code == 404
    assert 'data-problem="unknown_registration"' in response.text
    assert "start the registration again from your lms" in response.text.lower()
    assert "LTIAAS said: Registration not found" in response.text  # in its words
    assert ltiaas.operations() == ["get_registration"]


def test_ltiaas_down_gets_a_503_page_with_a_retry_link(client: FlaskClient, ltiaas: FakeLtiaas) -> None:
    ltiaas.fail("get_registration", 503)
    response = client.get("/intermediate-target?registrationId=reg-moodle")
    assert response.status_code == 503
    assert "could not be reached" in response.text
    assert 'id="retry" href="/intermediate-target?registrationId=reg-moodle"' in response.text
    assert client.get("/intermediate-target?registrationId=reg-moodle").status_code == 303


@pytest.mark.parametrize(
    ("status", "body"),
    [(401, None), (200, "<html>LTIAAS's sign-in page</html>"), (200, {"openIdConfiguration": "?"})],
    ids=["key refused", "not JSON", "not the documented shape"],
)
def test_a_vendor_misconfiguration_gets_a_502_page_that_does_not_blame_the_admin(
    client: FlaskClient, ltiaas: FakeLtiaas, status: int, body: object
) -> None:
    ltiaas.fail("get_registration", status, body)
    response = client.get("/intermediate-target?registrationId=reg-moodle")
    assert response.status_code == 502
    assert "not caused by anything you did" in response.text
    assert "Contact the tool&#39;s vendor" in response.text
    # An answer that could not be read may be a passing error page: it may be tried again.
    assert ('id="retry"' in response.text) is (status == 200)


def test_coming_back_to_an_open_registration_reuses_it_without_reading_ltiaas_again(
    app: Flask, ltiaas: FakeLtiaas
) -> None:
    first = public_id_from(start(app.test_client()))
    other_window = app.test_client()
    again = public_id_from(start(other_window))
    assert again == first
    assert ltiaas.operations() == ["get_registration", "list_platforms"]
    assert other_window.get(page(again)).status_code == 200


def test_coming_back_after_completion_shows_already_registered(
    customer_browser: FlaskClient, ltiaas: FakeLtiaas, no_csrf: Flask
) -> None:
    public_id = configured_by(customer_browser)
    customer_browser.post(page(public_id, "complete"))
    response = customer_browser.get("/intermediate-target?registrationId=reg-moodle")
    assert response.status_code == 200
    assert "already registered" in response.text
    assert 'data-page="already"' in response.text
    assert len(ltiaas.requests_to("get_registration")) == 1


# Review


def test_with_sign_up_off_the_review_page_offers_only_signing_in(
    app: Flask, client: FlaskClient, ltiaas: FakeLtiaas
) -> None:
    app.config["SIGNUP_ENABLED"] = False
    page = client.get(start(client)).text
    assert 'id="create-account"' not in page and "or create one" not in page
    assert "sign in with the account the tool's vendor made for you" in page
    assert 'id="continue" href="/auth/sign-in?next=' in page


def test_review_shows_the_lms_its_services_and_placements_in_plain_words(
    customer_browser: FlaskClient,
) -> None:
    response = customer_browser.get(start(customer_browser, "reg-canvas"))
    body = response.text
    assert response.status_code == 200
    assert "Canvas" in body and "vCloud" in body and ">C<" in body
    assert "Course navigation" in body
    assert "End-user licence agreement" in body
    assert "Launch the tool (resource link)" in body
    assert 'id="continue"' in body


def test_review_says_until_when_the_registration_stays_open(
    app: Flask, customer_browser: FlaskClient
) -> None:
    review_url = start(customer_browser)
    body = customer_browser.get(review_url).text
    expires_at = registration_row(app, public_id_from(review_url)).expires_at

    assert f"This registration stays open until <strong>{expires_at:%H:%M} UTC</strong>" in body


def test_review_explains_scopes_and_shows_unknown_ones_as_given(
    customer_browser: FlaskClient, ltiaas: FakeLtiaas
) -> None:
    configuration = lms_configuration("moodle-4.4", MOODLE_URL)
    configuration["scopes_supported"].append("https://example.com/scope/mystery")
    ltiaas.add_registration("reg-mystery", configuration)
    body = customer_browser.get(start(customer_browser, "reg-mystery")).text
    assert "Send grades to the gradebook" in body
    assert "class rosters" in body
    assert "Grade passback (LTI 1.1)" in body
    assert "https://example.com/scope/mystery" in body


def test_review_points_out_earlier_registrations_of_the_same_lms(
    customer_browser: FlaskClient, ltiaas: FakeLtiaas
) -> None:
    ltiaas.add_platform("Springfield Moodle")
    ltiaas.add_platform("Springfield test", active=False)
    ltiaas.add_platform("Another school", url="https://other.example.edu")
    body = customer_browser.get(start(customer_browser)).text
    assert "This LMS already has 2 registrations of this tool" in body
    assert "Springfield Moodle" in body and "not active" in body
    assert "Another school" not in body
    (lookup,) = ltiaas.requests_to("list_platforms")
    assert lookup.query == {"url": [MOODLE_URL]}


def test_review_still_works_when_the_earlier_registrations_lookup_fails(
    customer_browser: FlaskClient, ltiaas: FakeLtiaas
) -> None:
    ltiaas.fail("list_platforms", 503)
    response = customer_browser.get(start(customer_browser))
    assert response.status_code == 200
    assert "could not check whether this LMS already has" in response.text


# Configure

CANVAS_RESOURCE_PLACEMENTS = [
    f"{CANVAS}account_navigation",
    f"{CANVAS}assignment_selection",
    f"{CANVAS}course_navigation",
    f"{CANVAS}global_navigation",
    f"{CANVAS}link_selection",
    f"{CANVAS}module_menu",
    f"{CANVAS}user_navigation",
    "ContentArea",
]


def test_configure_is_prefilled_from_the_lms_and_the_vendors_defaults(customer_browser: FlaskClient) -> None:
    public_id = public_id_from(start(customer_browser, "reg-canvas"))
    body = customer_browser.get(page(public_id, "configure")).text
    assert 'value="Springfield University (Canvas)"' in body  # Canvas names the school's account
    offered, checked = checkboxes(body)
    assert offered["messages"] == ["LtiResourceLinkRequest", "LtiDeepLinkingRequest", "LtiEulaRequest"]
    assert checked["messages"] == ["LtiResourceLinkRequest", "LtiDeepLinkingRequest"]
    assert offered["placements_0"] == CANVAS_RESOURCE_PLACEMENTS
    assert checked["placements_0"] == [f"{CANVAS}course_navigation"]
    assert checked["placements_1"] == [f"{CANVAS}editor_button", f"{CANVAS}link_selection"]
    assert 'name="csrf_token"' in body


def test_a_canvas_that_does_not_name_its_account_is_named_by_its_host(
    customer_browser: FlaskClient, ltiaas: FakeLtiaas
) -> None:
    configuration = lms_configuration("canvas", "https://springfield.instructure.com")
    del configuration["https://purl.imsglobal.org/spec/lti-platform-configuration"][
        "https://canvas.instructure.com/lti/account_name"
    ]
    ltiaas.add_registration("reg-unnamed-canvas", configuration)
    public_id = public_id_from(start(customer_browser, "reg-unnamed-canvas"))
    body = customer_browser.get(page(public_id, "configure")).text
    assert 'value="canvas.instructure.com (Canvas)"' in body


PERSIAN = "دانشگاه\u200cتهران"  # noqa: RUF001 - with a zero-width non-joiner, as Persian spells it


def test_a_school_named_with_joiners_keeps_its_spelling_and_loses_direction_overrides(
    app: Flask, customer_browser: FlaskClient, ltiaas: FakeLtiaas, no_csrf: Flask
) -> None:
    configuration = lms_configuration("canvas", "https://tehran.instructure.com")
    configuration["https://purl.imsglobal.org/spec/lti-platform-configuration"][
        "https://canvas.instructure.com/lti/account_name"
    ] = f"\u202e{PERSIAN}"
    ltiaas.add_registration("reg-persian-canvas", configuration)
    public_id = public_id_from(start(customer_browser, "reg-persian-canvas"))
    body = customer_browser.get(page(public_id, "configure")).text
    assert f'value="{PERSIAN} (Canvas)"' in body  # prefilled without the override

    kept = customer_browser.post(
        page(public_id, "configure"), data={**SPRINGFIELD, "platform_name": f"{PERSIAN} (Canvas)"}
    )
    overridden = customer_browser.post(
        page(public_id, "configure"), data={**SPRINGFIELD, "platform_name": "\u202eevil"}
    )

    assert kept.status_code == 303
    assert registration_row(app, public_id).overrides["platformName"] == f"{PERSIAN} (Canvas)"
    assert overridden.status_code == 400 and "text-direction controls" in overridden.text


def test_saving_the_form_stores_the_exact_ltiaas_body_and_goes_to_confirm(
    app: Flask, customer_browser: FlaskClient, no_csrf: Flask
) -> None:
    public_id = public_id_from(start(customer_browser))
    response = customer_browser.post(page(public_id, "configure"), data=SPRINGFIELD)
    assert response.status_code == 303
    assert response.headers["Location"].startswith(page(public_id, "confirm"))
    row = registration_row(app, public_id)
    assert row.state == "reviewed"
    assert row.overrides == {
        "platformName": "Springfield Moodle",
        "autoActivate": True,
        "messages": [
            {"type": "LtiResourceLinkRequest", "placements": []},
            {"type": "LtiDeepLinkingRequest", "placements": ["ContentArea"]},
        ],
    }


def test_reopening_configure_shows_the_saved_choices_and_saving_again_is_allowed(
    app: Flask, customer_browser: FlaskClient, no_csrf: Flask
) -> None:
    public_id = configured_by(customer_browser, {**SPRINGFIELD, "messages": ["LtiDeepLinkingRequest"]})
    body = customer_browser.get(page(public_id, "configure")).text
    assert 'value="Springfield Moodle"' in body
    assert checkboxes(body)[1]["messages"] == ["LtiDeepLinkingRequest"]
    response = customer_browser.post(
        page(public_id, "configure"), data={**SPRINGFIELD, "platform_name": "Renamed"}
    )
    assert response.status_code == 303
    assert registration_row(app, public_id).overrides["platformName"] == "Renamed"


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"messages": []}, "Choose at least one way the LMS can use the tool."),
        ({"platform_name": "   "}, "Enter a name for this LMS."),
        ({"platform_name": "x" * 256}, "Use at most 255 characters."),
        ({"platform_name": "two\nlines"}, "no line breaks"),
        ({"placements_1": ["ContentArea", "AddContentMenu"]}, "not a valid choice"),
        ({"messages": ["LtiResourceLinkRequest", "LtiForgedRequest"]}, "not a valid choice"),
    ],
)
def test_invalid_or_forged_choices_are_refused_beside_the_field(
    app: Flask, customer_browser: FlaskClient, no_csrf: Flask, changes: dict, message: str
) -> None:
    public_id = public_id_from(start(customer_browser))
    response = customer_browser.post(page(public_id, "configure"), data={**SPRINGFIELD, **changes})
    assert response.status_code == 400
    assert message in response.text
    assert 'class="field-errors"' in response.text
    assert registration_row(app, public_id).overrides is None


def test_when_the_vendor_fixes_activation_it_is_explained_and_cannot_be_forged(
    app: Flask, customer_browser: FlaskClient, no_csrf: Flask
) -> None:
    app.config.update(ALLOW_AUTO_ACTIVATE_CHOICE=False, DEFAULT_AUTO_ACTIVATE=False)
    public_id = public_id_from(start(customer_browser))
    body = customer_browser.get(page(public_id, "configure")).text
    assert 'id="auto_activate"' not in body
    assert "vendor reviews and activates" in body
    customer_browser.post(page(public_id, "configure"), data=SPRINGFIELD)  # forged auto_activate=y
    assert registration_row(app, public_id).overrides["autoActivate"] is False


def test_the_form_refuses_a_post_without_csrf_token(customer_browser: FlaskClient) -> None:
    public_id = public_id_from(start(customer_browser))
    response = customer_browser.post(page(public_id, "configure"), data=SPRINGFIELD)
    assert response.status_code == 400
    assert "This form has expired" in response.text


# Confirm and complete


def test_confirm_summarises_what_will_be_sent(customer_browser: FlaskClient, no_csrf: Flask) -> None:
    public_id = configured_by(customer_browser)
    body = customer_browser.get(page(public_id, "confirm")).text
    assert "Springfield Moodle" in body
    assert "Active right away" in body
    assert "Content area / activity chooser" in body
    assert ">Register the tool</button>" in body
    assert 'id="change"' in body


def test_confirm_before_configure_goes_to_configure(customer_browser: FlaskClient) -> None:
    public_id = public_id_from(start(customer_browser))
    response = customer_browser.get(page(public_id, "confirm"))
    assert response.status_code == 303
    assert "/configure" in response.headers["Location"]


def test_the_whole_flow_with_csrf_on_registers_the_tool_and_closes_the_dialog(
    customer_browser: FlaskClient, ltiaas: FakeLtiaas
) -> None:
    public_id = public_id_from(start(customer_browser))
    form_page = customer_browser.get(page(public_id, "configure")).text
    saved = customer_browser.post(
        page(public_id, "configure"), data={**SPRINGFIELD, "csrf_token": csrf_token_in(form_page)}
    )
    assert saved.status_code == 303
    confirm_page = customer_browser.get(saved.headers["Location"]).text
    done = customer_browser.post(
        page(public_id, "complete"), data={"csrf_token": csrf_token_in(confirm_page)}
    )
    assert done.status_code == 303
    assert done.headers["Location"].startswith(page(public_id, "done"))
    response = customer_browser.get(done.headers["Location"])
    body = response.text
    created = ltiaas.platform_created_by("reg-moodle")
    assert created is not None and created["name"] == "Springfield Moodle" and created["active"] is True
    assert 'data-state="completed"' in body
    assert f'<code id="platform-id">{created["id"]}</code>' in body
    assert body.rstrip().endswith(CLOSE_HTML + "\n</body>\n</html>")
    assert "you can close it" in body
    digest = base64.b64encode(hashlib.sha256(CLOSE_HTML[8:-9].encode()).digest()).decode()
    assert f"'sha256-{digest}'" in response.headers["Content-Security-Policy"]
    (sent,) = ltiaas.requests_to("complete_registration")
    assert sent.path == "/api/registrations/reg-moodle/complete"
    assert sent.json() == {
        "platformName": "Springfield Moodle",
        "autoActivate": True,
        "messages": [
            {"type": "LtiResourceLinkRequest", "placements": []},
            {"type": "LtiDeepLinkingRequest", "placements": ["ContentArea"]},
        ],
    }


def test_complete_refuses_a_post_without_csrf_token(
    customer_browser: FlaskClient, ltiaas: FakeLtiaas, app: Flask
) -> None:
    app.config["WTF_CSRF_ENABLED"] = False
    public_id = configured_by(customer_browser)
    app.config["WTF_CSRF_ENABLED"] = True
    assert customer_browser.post(page(public_id, "complete")).status_code == 400
    assert ltiaas.requests_to("complete_registration") == []


def test_complete_by_get_never_completes(
    customer_browser: FlaskClient, ltiaas: FakeLtiaas, no_csrf: Flask
) -> None:
    public_id = configured_by(customer_browser)
    response = customer_browser.get(page(public_id, "complete"))
    assert response.status_code == 303
    assert "/confirm" in response.headers["Location"]
    assert ltiaas.requests_to("complete_registration") == []


def test_a_double_submit_calls_ltiaas_once_and_both_land_on_done(
    customer_browser: FlaskClient, ltiaas: FakeLtiaas, no_csrf: Flask
) -> None:
    public_id = configured_by(customer_browser)
    first = customer_browser.post(page(public_id, "complete"))
    second = customer_browser.post(page(public_id, "complete"))
    assert len(ltiaas.requests_to("complete_registration")) == 1
    assert "/done" in first.headers["Location"] and "/done" in second.headers["Location"]


def test_done_reloads_harmlessly(customer_browser: FlaskClient, ltiaas: FakeLtiaas, no_csrf: Flask) -> None:
    public_id = configured_by(customer_browser)
    customer_browser.post(page(public_id, "complete"))
    seen = len(ltiaas.received)
    for _ in range(2):
        response = customer_browser.get(page(public_id, "done"))
        assert response.status_code == 200
        assert CLOSE_HTML in response.text
    assert len(ltiaas.received) == seen
    assert len(ltiaas.requests_to("complete_registration")) == 1


def test_done_says_when_the_tool_awaits_activation(
    customer_browser: FlaskClient, ltiaas: FakeLtiaas, no_csrf: Flask
) -> None:
    form = {key: value for key, value in SPRINGFIELD.items() if key != "auto_activate"}
    public_id = configured_by(customer_browser, form)
    customer_browser.post(page(public_id, "complete"))
    body = customer_browser.get(page(public_id, "done")).text
    assert "Awaiting activation" in body
    assert ltiaas.platform_created_by("reg-moodle")["active"] is False  # type: ignore[index]


def test_done_while_completing_polls_the_status_and_includes_no_close_script(
    app: Flask, customer_browser: FlaskClient, no_csrf: Flask
) -> None:
    public_id = configured_by(customer_browser)
    with app.app_context():
        db = get_session()
        row = db.scalars(select(Registration)).one()
        row.state = "completing"
        db.commit()
    body = customer_browser.get(page(public_id, "done")).text
    assert 'data-state="completing"' in body
    assert f'data-status-url="/registration/{public_id}/status"' in body
    assert "js/registration.js" in body
    assert "postMessage" not in body
    assert customer_browser.get(page(public_id, "status")).get_json() == {"state": "completing"}


def test_ltiaas_unreachable_on_complete_keeps_the_choices_and_offers_to_try_again(
    app: Flask, customer_browser: FlaskClient, ltiaas: FakeLtiaas, no_csrf: Flask, closed_url: str
) -> None:
    public_id = configured_by(customer_browser)
    with ltiaas_moved_to(app, closed_url):
        response = customer_browser.post(page(public_id, "complete"))
    assert "/confirm" in response.headers["Location"]
    body = customer_browser.get(response.headers["Location"]).text
    assert "so nothing was registered" in body
    assert "Springfield Moodle" in body
    assert "Try again: register the tool" in body
    retried = customer_browser.post(page(public_id, "complete"))
    assert "/done" in retried.headers["Location"]
    assert registration_row(app, public_id).state == "completed"
    assert len(ltiaas.requests_to("complete_registration")) == 1  # the first never left the portal


@pytest.mark.parametrize(
    "body",
    [None, {"status": 403, "error": "Forbidden", "details": {"message": "INVALID_API_KEY"}}],
    ids=["401", "403 about the key"],
)
def test_an_unauthorized_complete_tells_the_admin_it_is_the_vendors_setup(
    customer_browser: FlaskClient, ltiaas: FakeLtiaas, no_csrf: Flask, body: object
) -> None:
    public_id = configured_by(customer_browser)
    ltiaas.fail("complete_registration", 401 if body is None else 403, body)
    response = customer_browser.post(page(public_id, "complete"), follow_redirects=True)
    assert "not caused by anything you did" in response.text
    assert "Try again: register the tool" in response.text


def test_an_expired_registration_id_on_complete_says_start_again(
    app: Flask, customer_browser: FlaskClient, ltiaas: FakeLtiaas, no_csrf: Flask
) -> None:
    public_id = configured_by(customer_browser)
    ltiaas.expire_registration("reg-moodle")
    response = customer_browser.post(page(public_id, "complete"))
    assert response.status_code == 410
    assert "Start the registration again from your LMS" in response.text
    assert registration_row(app, public_id).overrides["platformName"] == "Springfield Moodle"
    assert ltiaas.platforms == []


# Access


@pytest.mark.parametrize("name", ["", "configure", "confirm", "done", "status"])
def test_a_registration_of_another_window_is_not_shown(
    app: Flask, customer_browser: FlaskClient, name: str
) -> None:
    public_id = public_id_from(start(customer_browser))
    stranger = app.test_client()
    response = stranger.get(page(public_id, name))
    assert response.status_code == 404
    if name == "status":
        assert response.get_json() == {"state": None, "problem": "not_in_session"}
    else:
        assert "isn&#39;t open in this window" in response.text


def test_its_customer_signed_in_elsewhere_opens_it_from_a_copied_link_and_nobody_else_does(
    app: Flask, customer: User, customer_browser: FlaskClient, ltiaas: FakeLtiaas, no_csrf: Flask
) -> None:
    public_id = configured_by(customer_browser)
    assert press_register(customer_browser, public_id).status_code == 303
    new_tab = signed_in(app.test_client(), customer)  # the done page's link, pasted into a new tab
    colleague = signed_in(app.test_client(), add_person(app, "customer"))

    done = new_tab.get(page(public_id, "done"))
    refused = colleague.get(page(public_id, "done"))

    assert done.status_code == 200 and 'data-page="done"' in done.text
    assert refused.status_code == 404 and "isn&#39;t open in this window" in refused.text


@pytest.mark.parametrize("public_id", ["nope", "x" * 2000, "..", "%2E%2E", "a%2Fb"])
def test_made_up_public_ids_are_not_found(customer_browser: FlaskClient, public_id: str) -> None:
    start(customer_browser)
    assert customer_browser.get(f"/registration/{public_id}/").status_code == 404


def test_a_forged_post_to_another_windows_registration_is_refused(
    app: Flask, customer_browser: FlaskClient, ltiaas: FakeLtiaas, no_csrf: Flask
) -> None:
    public_id = configured_by(customer_browser)
    stranger = app.test_client()
    assert stranger.post(page(public_id, "complete")).status_code == 404
    assert stranger.post(page(public_id, "configure"), data=SPRINGFIELD).status_code == 404
    assert ltiaas.requests_to("complete_registration") == []


def test_a_registration_past_its_lifetime_says_it_expired(
    app: Flask, customer_browser: FlaskClient, ltiaas: FakeLtiaas, no_csrf: Flask
) -> None:
    public_id = configured_by(customer_browser)
    with app.app_context():
        db = get_session()
        db.scalars(select(Registration)).one().expires_at = utcnow() - timedelta(seconds=1)
        db.commit()
    response = customer_browser.get(page(public_id, "confirm"))
    assert response.status_code == 410
    assert "This registration has expired" in response.text
    assert customer_browser.post(page(public_id, "complete")).status_code == 410
    assert ltiaas.requests_to("complete_registration") == []


@pytest.mark.parametrize("name", ["", "configure"])
def test_flow_pages_are_frameable_by_the_lms_and_keep_the_referrer_same_origin(
    customer_browser: FlaskClient, name: str
) -> None:
    public_id = public_id_from(start(customer_browser))
    response = customer_browser.get(page(public_id, name))
    assert "X-Frame-Options" not in response.headers
    assert "frame-ancestors https:" in response.headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" not in response.headers["Content-Security-Policy"]
    assert response.headers["Referrer-Policy"] == "same-origin"


def test_a_configure_form_sent_after_the_session_ended_says_what_was_typed_is_lost_not_to_go_back(
    app: Flask, customer_browser: FlaskClient, ltiaas: FakeLtiaas
) -> None:
    public_id = public_id_from(start(customer_browser))
    configure = page(public_id, "configure")
    token = csrf_token_in(customer_browser.get(configure).text)
    with app.app_context():  # the admin typed, then left the window idle past the session's lifetime
        db = get_session()
        db.execute(update(WebSession).values(expires_at=utcnow()))
        db.commit()

    answer = customer_browser.post(
        configure,
        data={**SPRINGFIELD, "csrf_token": token},
        headers={"Referer": f"http://localhost{configure}"},
    )

    text = " ".join(answer.text.replace("&#39;", "'").split())
    assert answer.status_code == 400 and "You were signed out" in text
    assert "Session ended" in text and "Error 400" not in text
    assert "What you typed on that page was not saved" in text
    assert "you will need to type it again" in text
    assert "go back" not in text.lower()
    assert f'href="/auth/sign-in?next={configure}" id="sign-in-again"' in answer.text
    assert registration_row(app, public_id).state == "received"
