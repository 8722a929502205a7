"""The admin's story through the pages, and every way the flow can be misused."""

from __future__ import annotations

import base64
import hashlib
from datetime import timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from portal.db import get_session
from portal.ltiaas import (
    LtiaasInvalidResponse,
    LtiaasRequestRejected,
    LtiaasUnauthorized,
    LtiaasUnavailable,
    RegistrationNotFound,
)
from portal.models import Registration, utcnow
from tests.registration.helpers import (
    CANVAS,
    CLOSE_HTML,
    FakeLtiaas,
    checkboxes,
    csrf_token_in,
    platform,
    public_id_from,
    start,
)

MOODLE_FORM = {
    "platform_name": "Springfield Moodle",
    "auto_activate": "y",
    "messages": ["LtiResourceLinkRequest", "LtiDeepLinkingRequest"],
    "placements_1": ["ContentArea"],
}


def page(client: FlaskClient, public_id: str, name: str = "") -> str:
    suffix = f"{name}" if name else ""
    return f"/registration/{public_id}/{suffix}"


def registration_row(app: Flask, public_id: str) -> Registration:
    with app.app_context():
        return get_session().scalars(select(Registration).where(Registration.public_id == public_id)).one()


def configured(client: FlaskClient, registration_id: str = "reg-moodle", form: dict | None = None) -> str:
    """Start and save the configure form (CSRF off); returns the public id."""
    public_id = public_id_from(start(client, registration_id))
    response = client.post(page(client, public_id, "configure"), data=form or MOODLE_FORM)
    assert response.status_code == 303, response.get_data(as_text=True)
    return public_id


def text(response: object) -> str:
    return response.get_data(as_text=True)  # type: ignore[attr-defined]


# The intermediate target


def test_ltiaas_sends_the_admin_to_the_review_page_with_a_session_token(
    app: Flask, client: FlaskClient, ltiaas: FakeLtiaas
) -> None:
    location = start(client)
    assert location.startswith("/registration/")
    assert "_st=" in location
    assert "reg-moodle" not in location
    with app.app_context():
        row = get_session().scalar(select(Registration))
        assert row.ltiaas_registration_id == "reg-moodle"
        assert row.public_id == public_id_from(location)


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
    assert "Start the registration again from your LMS" in text(response)
    assert ltiaas.calls == []


def test_an_unknown_expired_or_used_id_gets_a_404_page(client: FlaskClient, ltiaas: FakeLtiaas) -> None:
    response = client.get("/intermediate-target?registrationId=never-issued")
    assert response.status_code == 404
    assert 'data-problem="unknown_registration"' in text(response)
    assert "start the registration again from your lms" in text(response).lower()


def test_ltiaas_down_gets_a_503_page_with_a_retry_link(client: FlaskClient, ltiaas: FakeLtiaas) -> None:
    ltiaas.fail("read_registration", LtiaasUnavailable("down"))
    response = client.get("/intermediate-target?registrationId=reg-moodle")
    assert response.status_code == 503
    assert "could not be reached" in text(response)
    assert 'id="retry" href="/intermediate-target?registrationId=reg-moodle"' in text(response)
    assert client.get("/intermediate-target?registrationId=reg-moodle").status_code == 303


@pytest.mark.parametrize(
    "error", [LtiaasUnauthorized("key", status=401), LtiaasInvalidResponse("x", status=200)]
)
def test_a_vendor_misconfiguration_gets_a_502_page_that_does_not_blame_the_admin(
    client: FlaskClient, ltiaas: FakeLtiaas, error: Exception
) -> None:
    ltiaas.fail("read_registration", error)
    response = client.get("/intermediate-target?registrationId=reg-moodle")
    assert response.status_code == 502
    assert "not caused by anything you did" in text(response)
    assert "Contact the tool&#39;s vendor" in text(response)


def test_coming_back_to_an_open_registration_reuses_it_without_reading_ltiaas_again(
    app: Flask, ltiaas: FakeLtiaas
) -> None:
    first = public_id_from(start(app.test_client()))
    other_window = app.test_client()
    again = public_id_from(start(other_window))
    assert again == first
    assert len(ltiaas.calls_of("read_registration")) == 1
    assert other_window.get(page(other_window, again)).status_code == 200


def test_coming_back_after_completion_shows_already_registered(
    client: FlaskClient, ltiaas: FakeLtiaas, no_csrf: Flask
) -> None:
    public_id = configured(client)
    client.post(page(client, public_id, "complete"))
    response = client.get("/intermediate-target?registrationId=reg-moodle")
    assert response.status_code == 200
    assert "already registered" in text(response)
    assert 'data-page="already"' in text(response)


# Review


def test_review_shows_the_lms_its_services_and_placements_in_plain_words(
    client: FlaskClient, ltiaas: FakeLtiaas
) -> None:
    response = client.get(start(client, "reg-canvas"))
    body = text(response)
    assert response.status_code == 200
    assert "Canvas" in body and "vCloud" in body and ">C<" in body
    assert "Course navigation" in body
    assert "End-user licence agreement" in body
    assert "Launch the tool (resource link)" in body
    assert 'id="continue"' in body


def test_review_explains_scopes_and_shows_unknown_ones_as_given(
    client: FlaskClient, ltiaas: FakeLtiaas
) -> None:
    body = text(client.get(start(client)))
    assert "Send grades to the gradebook" in body
    assert "class rosters" in body
    assert "Grade passback (LTI 1.1)" in body
    assert "https://example.com/scope/mystery" in body


def test_review_points_out_earlier_registrations_of_the_same_lms(
    client: FlaskClient, ltiaas: FakeLtiaas
) -> None:
    ltiaas.platforms = [platform("Springfield Moodle"), platform("Springfield test", active=False)]
    body = text(client.get(start(client)))
    assert "This LMS already has 2 registrations of this tool" in body
    assert "Springfield Moodle" in body and "not active" in body


def test_review_still_works_when_the_earlier_registrations_lookup_fails(
    client: FlaskClient, ltiaas: FakeLtiaas
) -> None:
    ltiaas.fail("list_platforms", LtiaasUnavailable("down"))
    response = client.get(start(client))
    assert response.status_code == 200
    assert "could not check whether this LMS already has" in text(response)


# Configure


def test_configure_is_prefilled_from_the_lms_and_the_vendors_defaults(
    client: FlaskClient, ltiaas: FakeLtiaas
) -> None:
    public_id = public_id_from(start(client, "reg-canvas"))
    body = text(client.get(page(client, public_id, "configure")))
    assert 'value="canvas.instructure.com (Canvas)"' in body
    offered, checked = checkboxes(body)
    assert offered["messages"] == ["LtiResourceLinkRequest", "LtiDeepLinkingRequest", "LtiEulaRequest"]
    assert checked["messages"] == ["LtiResourceLinkRequest", "LtiDeepLinkingRequest"]
    assert offered["placements_0"] == [
        f"{CANVAS}account_navigation",
        f"{CANVAS}course_navigation",
        "ContentArea",
    ]
    assert checked["placements_0"] == [f"{CANVAS}course_navigation"]
    assert checked["placements_1"] == [f"{CANVAS}editor_button", f"{CANVAS}link_selection"]
    assert 'name="csrf_token"' in body


def test_saving_the_form_stores_the_exact_ltiaas_body_and_goes_to_confirm(
    app: Flask, client: FlaskClient, ltiaas: FakeLtiaas, no_csrf: Flask
) -> None:
    public_id = public_id_from(start(client))
    response = client.post(page(client, public_id, "configure"), data=MOODLE_FORM)
    assert response.status_code == 303
    assert response.headers["Location"].startswith(page(client, public_id, "confirm"))
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
    app: Flask, client: FlaskClient, ltiaas: FakeLtiaas, no_csrf: Flask
) -> None:
    public_id = configured(client, form={**MOODLE_FORM, "messages": ["LtiDeepLinkingRequest"]})
    body = text(client.get(page(client, public_id, "configure")))
    assert 'value="Springfield Moodle"' in body
    assert checkboxes(body)[1]["messages"] == ["LtiDeepLinkingRequest"]
    response = client.post(
        page(client, public_id, "configure"), data={**MOODLE_FORM, "platform_name": "Renamed"}
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
    app: Flask, client: FlaskClient, ltiaas: FakeLtiaas, no_csrf: Flask, changes: dict, message: str
) -> None:
    public_id = public_id_from(start(client))
    response = client.post(page(client, public_id, "configure"), data={**MOODLE_FORM, **changes})
    assert response.status_code == 400
    assert message in text(response)
    assert 'class="field-errors"' in text(response)
    assert registration_row(app, public_id).overrides is None


def test_when_the_vendor_fixes_activation_it_is_explained_and_cannot_be_forged(
    app: Flask, client: FlaskClient, ltiaas: FakeLtiaas, no_csrf: Flask
) -> None:
    app.config.update(ALLOW_AUTO_ACTIVATE_CHOICE=False, DEFAULT_AUTO_ACTIVATE=False)
    public_id = public_id_from(start(client))
    body = text(client.get(page(client, public_id, "configure")))
    assert 'id="auto_activate"' not in body
    assert "vendor reviews and activates" in body
    client.post(page(client, public_id, "configure"), data=MOODLE_FORM)  # forged auto_activate=y
    assert registration_row(app, public_id).overrides["autoActivate"] is False


def test_the_form_refuses_a_post_without_csrf_token(client: FlaskClient, ltiaas: FakeLtiaas) -> None:
    public_id = public_id_from(start(client))
    response = client.post(page(client, public_id, "configure"), data=MOODLE_FORM)
    assert response.status_code == 400
    assert "This form has expired" in text(response)


# Confirm and complete


def test_confirm_summarises_what_will_be_sent(
    client: FlaskClient, ltiaas: FakeLtiaas, no_csrf: Flask
) -> None:
    public_id = configured(client)
    body = text(client.get(page(client, public_id, "confirm")))
    assert "Springfield Moodle" in body
    assert "Active right away" in body
    assert "Content area / activity chooser" in body
    assert ">Register the tool</button>" in body
    assert 'id="change"' in body


def test_confirm_before_configure_goes_to_configure(client: FlaskClient, ltiaas: FakeLtiaas) -> None:
    public_id = public_id_from(start(client))
    response = client.get(page(client, public_id, "confirm"))
    assert response.status_code == 303
    assert "/configure" in response.headers["Location"]


def test_the_whole_flow_with_csrf_on_registers_the_tool_and_closes_the_dialog(
    app: Flask, client: FlaskClient, ltiaas: FakeLtiaas
) -> None:
    public_id = public_id_from(start(client))
    form_page = text(client.get(page(client, public_id, "configure")))
    saved = client.post(
        page(client, public_id, "configure"), data={**MOODLE_FORM, "csrf_token": csrf_token_in(form_page)}
    )
    assert saved.status_code == 303
    confirm_page = text(client.get(saved.headers["Location"]))
    done = client.post(page(client, public_id, "complete"), data={"csrf_token": csrf_token_in(confirm_page)})
    assert done.status_code == 303
    assert done.headers["Location"].startswith(page(client, public_id, "done"))
    response = client.get(done.headers["Location"])
    body = text(response)
    assert 'data-state="completed"' in body
    assert "platform-reg-moodle" in body
    assert body.rstrip().endswith(CLOSE_HTML + "\n</body>\n</html>")
    assert "You can close it" in body or "you can close it" in body
    digest = base64.b64encode(hashlib.sha256(CLOSE_HTML[8:-9].encode()).digest()).decode()
    assert f"'sha256-{digest}'" in response.headers["Content-Security-Policy"]
    ((_, sent),) = ltiaas.calls_of("complete_registration")
    assert sent["platform_name"] == "Springfield Moodle"


def test_complete_refuses_a_post_without_csrf_token(
    client: FlaskClient, ltiaas: FakeLtiaas, app: Flask
) -> None:
    app.config["WTF_CSRF_ENABLED"] = False
    public_id = configured(client)
    app.config["WTF_CSRF_ENABLED"] = True
    assert client.post(page(client, public_id, "complete")).status_code == 400
    assert ltiaas.calls_of("complete_registration") == []


def test_complete_by_get_never_completes(client: FlaskClient, ltiaas: FakeLtiaas, no_csrf: Flask) -> None:
    public_id = configured(client)
    response = client.get(page(client, public_id, "complete"))
    assert response.status_code == 303
    assert "/confirm" in response.headers["Location"]
    assert ltiaas.calls_of("complete_registration") == []


def test_a_double_submit_calls_ltiaas_once_and_both_land_on_done(
    client: FlaskClient, ltiaas: FakeLtiaas, no_csrf: Flask
) -> None:
    public_id = configured(client)
    first = client.post(page(client, public_id, "complete"))
    second = client.post(page(client, public_id, "complete"))
    assert len(ltiaas.calls_of("complete_registration")) == 1
    assert "/done" in first.headers["Location"] and "/done" in second.headers["Location"]


def test_done_reloads_harmlessly(client: FlaskClient, ltiaas: FakeLtiaas, no_csrf: Flask) -> None:
    public_id = configured(client)
    client.post(page(client, public_id, "complete"))
    for _ in range(2):
        response = client.get(page(client, public_id, "done"))
        assert response.status_code == 200
        assert CLOSE_HTML in text(response)
    assert len(ltiaas.calls_of("complete_registration")) == 1


def test_done_says_when_the_tool_awaits_activation(
    client: FlaskClient, ltiaas: FakeLtiaas, no_csrf: Flask
) -> None:
    form = {key: value for key, value in MOODLE_FORM.items() if key != "auto_activate"}
    public_id = configured(client, form=form)
    client.post(page(client, public_id, "complete"))
    body = text(client.get(page(client, public_id, "done")))
    assert "Awaiting activation" in body


def test_done_while_completing_polls_the_status_and_includes_no_close_script(
    app: Flask, client: FlaskClient, ltiaas: FakeLtiaas, no_csrf: Flask
) -> None:
    public_id = configured(client)
    with app.app_context():
        db = get_session()
        row = db.scalars(select(Registration)).one()
        row.state = "completing"
        db.commit()
    body = text(client.get(page(client, public_id, "done")))
    assert 'data-state="completing"' in body
    assert f'data-status-url="/registration/{public_id}/status"' in body
    assert "js/registration.js" in body
    assert "postMessage" not in body
    assert client.get(page(client, public_id, "status")).get_json() == {"state": "completing"}


def test_ltiaas_down_on_complete_keeps_the_choices_and_offers_to_try_again(
    app: Flask, client: FlaskClient, ltiaas: FakeLtiaas, no_csrf: Flask
) -> None:
    public_id = configured(client)
    ltiaas.fail("complete_registration", LtiaasUnavailable("down"))
    response = client.post(page(client, public_id, "complete"))
    assert "/confirm" in response.headers["Location"]
    body = text(client.get(response.headers["Location"]))
    assert "LTIAAS could not be reached, so nothing was registered" in body
    assert "Springfield Moodle" in body
    assert "Try again: register the tool" in body
    retried = client.post(page(client, public_id, "complete"))
    assert "/done" in retried.headers["Location"]
    assert registration_row(app, public_id).state == "completed"


def test_an_unauthorized_complete_tells_the_admin_it_is_the_vendors_setup(
    client: FlaskClient, ltiaas: FakeLtiaas, no_csrf: Flask
) -> None:
    public_id = configured(client)
    ltiaas.fail("complete_registration", LtiaasUnauthorized("key", status=401))
    response = client.post(page(client, public_id, "complete"), follow_redirects=True)
    assert "not caused by anything you did" in text(response)


def test_an_expired_registration_id_on_complete_says_start_again(
    app: Flask, client: FlaskClient, ltiaas: FakeLtiaas, no_csrf: Flask
) -> None:
    public_id = configured(client)
    ltiaas.fail("complete_registration", RegistrationNotFound("gone", status=404))
    response = client.post(page(client, public_id, "complete"))
    assert response.status_code == 410
    assert "Start the registration again from your LMS" in text(response)
    assert registration_row(app, public_id).overrides["platformName"] == "Springfield Moodle"


def test_a_refused_complete_shows_ltiaas_reason(
    client: FlaskClient, ltiaas: FakeLtiaas, no_csrf: Flask
) -> None:
    public_id = configured(client)
    rejection = LtiaasRequestRejected("no", status=403, details_description="Platform already registered.")
    ltiaas.fail("complete_registration", rejection)
    response = client.post(page(client, public_id, "complete"))
    assert response.status_code == 409
    assert "Platform already registered." in text(response)
    assert client.get(page(client, public_id, "confirm")).status_code == 409


# Access


@pytest.mark.parametrize("name", ["", "configure", "confirm", "done", "status"])
def test_a_registration_of_another_window_is_not_shown(
    app: Flask, client: FlaskClient, ltiaas: FakeLtiaas, name: str
) -> None:
    public_id = public_id_from(start(client))
    stranger = app.test_client()
    response = stranger.get(page(stranger, public_id, name))
    assert response.status_code == 404
    if name == "status":
        assert response.get_json() == {"state": None, "problem": "not_in_session"}
    else:
        assert "isn&#39;t open in this window" in text(response)


@pytest.mark.parametrize("public_id", ["nope", "x" * 2000, "..", "%2E%2E", "a%2Fb"])
def test_made_up_public_ids_are_not_found(client: FlaskClient, ltiaas: FakeLtiaas, public_id: str) -> None:
    start(client)
    assert client.get(f"/registration/{public_id}/").status_code == 404


def test_a_forged_post_to_another_windows_registration_is_refused(
    app: Flask, client: FlaskClient, ltiaas: FakeLtiaas, no_csrf: Flask
) -> None:
    public_id = configured(client)
    stranger = app.test_client()
    assert stranger.post(page(stranger, public_id, "complete")).status_code == 404
    assert stranger.post(page(stranger, public_id, "configure"), data=MOODLE_FORM).status_code == 404
    assert ltiaas.calls_of("complete_registration") == []


def test_a_registration_past_its_lifetime_says_it_expired(
    app: Flask, client: FlaskClient, ltiaas: FakeLtiaas, no_csrf: Flask
) -> None:
    public_id = configured(client)
    with app.app_context():
        db = get_session()
        db.scalars(select(Registration)).one().expires_at = utcnow() - timedelta(seconds=1)
        db.commit()
    response = client.get(page(client, public_id, "confirm"))
    assert response.status_code == 410
    assert "This registration has expired" in text(response)
    assert client.post(page(client, public_id, "complete")).status_code == 410
    assert ltiaas.calls_of("complete_registration") == []


@pytest.mark.parametrize("name", ["", "configure"])
def test_flow_pages_are_frameable_by_the_lms_and_keep_the_referrer_same_origin(
    client: FlaskClient, ltiaas: FakeLtiaas, name: str
) -> None:
    public_id = public_id_from(start(client))
    response = client.get(page(client, public_id, name))
    assert "X-Frame-Options" not in response.headers
    assert "frame-ancestors https:" in response.headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" not in response.headers["Content-Security-Policy"]
    assert response.headers["Referrer-Policy"] == "same-origin"
