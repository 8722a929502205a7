"""Staff see every platform at LTIAAS and activate, deactivate, rename and delete them; when LTIAAS is
down, slow or refuses at any call, they read what happened and nothing is recorded as done that
LTIAAS did not do. LTIAAS here is the fake LTIAAS over real HTTP (tests/fakes/ltiaas.py), answering
what each test queues."""

from __future__ import annotations

from collections.abc import Iterator
from html import unescape
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from werkzeug.test import TestResponse

from portal.admin import platforms
from portal.db import get_session
from portal.ltiaas import get_ltiaas
from portal.models import PlatformActionState, Registration
from tests.accounts import signed_in
from tests.admin.console_helpers import add_payment
from tests.admin.platform_helpers import (
    add_registration,
    form_on,
    platform_actions,
    platform_events,
    platform_json,
)
from tests.conftest import make_test_app
from tests.fakes.ltiaas import API_KEY, FakeLtiaas
from tests.registration.helpers import add_person, registration_row
from tests.registration.test_registration_race import RACERS, race

PLATFORM_ID = "A2F48n9Ss8Hjpw4gjo0"
STAFF = "staff@vendor.example"
BUSY = {"status": 429, "error": "Too Many Requests", "details": {"message": "RATE_LIMITED"}}
FAILED = {"status": 503, "error": "Service Unavailable", "details": {"message": "DOWN"}}
UNAUTHORIZED = {"status": 401, "error": "Unauthorized", "details": {"message": "INVALID_API_KEY"}}
NOT_FOUND = {"status": 404, "error": "Not Found", "details": {"message": "PLATFORM_NOT_FOUND"}}
DUPLICATE = {"status": 403, "error": "Forbidden", "details": {"description": "Platform already registered."}}


@pytest.fixture
def lti(ltiaas: FakeLtiaas) -> FakeLtiaas:
    """LTIAAS, answering each test's queued replies in order."""
    return ltiaas


@pytest.fixture
def console(tmp_path: Path, lti: FakeLtiaas) -> Iterator[Flask]:
    """The portal, talking to the scripted LTIAAS with a 0.5 s read timeout and no retries."""
    app = make_test_app(
        tmp_path,
        LTIAAS_URL=lti.url,
        LTIAAS_API_KEY=API_KEY,
        LTIAAS_CONNECT_TIMEOUT=0.5,
        LTIAAS_READ_TIMEOUT=0.5,
        LTIAAS_READ_BUDGET=1.0,
        LTIAAS_RETRIES=0,
    )
    yield app
    app.extensions["ltiaas"].close()
    app.extensions["db_engine"].dispose()


@pytest.fixture
def staff(console: Flask) -> FlaskClient:
    browser = console.test_client()
    signed_in(browser, add_person(console, "staff"))
    return browser


def text(page: TestResponse) -> str:
    return unescape(page.get_data(as_text=True))


def sent(lti: FakeLtiaas) -> list[tuple[str, str]]:
    return [(request.method, request.path) for request in lti.received]


def act(
    console: Flask, kind: str, *args: Any, token: str = "token-0123456789abcdef"
) -> platforms.ActionResult:
    """Run a staff action as the service layer does, with LTIAAS over HTTP."""
    with console.app_context():
        action = getattr(platforms, kind)
        return action(get_session(), get_ltiaas(), PLATFORM_ID, *args, STAFF, token)


# Reading


def test_staff_see_every_platform_with_where_it_came_from_and_duplicates_grouped(
    console: Flask, lti: FakeLtiaas, staff: FlaskClient
) -> None:
    portal_made = add_registration(console, "from-portal", customer="admin@springfield.edu", active=False)
    lti.reply(
        200,
        {
            "platforms": [
                platform_json("from-portal", name="Springfield Moodle", active=True),
                platform_json("by-hand", name="Springfield Moodle (by hand)", active=True),
                platform_json("canvas-1", url="https://canvas.instructure.com", name="School A"),
                platform_json("canvas-2", url="https://canvas.instructure.com/", name="School B"),
                platform_json("alone", url="https://lms.shelbyville.example", name="Shelbyville"),
            ]
        },
    )

    page = staff.get("/admin/platforms/")

    assert page.status_code == 200
    html = text(page)
    assert sent(lti) == [("GET", "/api/platforms")]
    assert "5 platforms from 3 LMS addresses: 2 active, 3 inactive." in html
    assert 'data-note="duplicates"' in html  # two platforms of moodle.springfield.edu
    assert 'data-note="shared-issuer"' in html and "not duplicates" in html
    assert html.count('data-note="') == 2
    assert f'data-registration="{portal_made}"' in html and "admin@springfield.edu" in html
    assert html.count("Registered by hand") == 4
    # What LTIAAS says is what the portal remembers for the customer's page.
    assert registration_row(console, portal_made).platform_active is True


@pytest.mark.parametrize(
    ("script", "words"),
    [
        (lambda lti: lti.reply(503, FAILED), "could not be read just now"),
        (lambda lti: lti.reply(200, {"platforms": []}, delay=2), "did not answer within"),
        (lambda lti: lti.drop("reset"), "could not be read just now"),
        (lambda lti: lti.reply(401, UNAUTHORIZED), "refused the portal's API key"),
        (lambda lti: lti.reply(200, "<html>maintenance</html>"), "could not read"),
    ],
    ids=["5xx", "slow", "connection reset", "api key refused", "not json"],
)
def test_when_ltiaas_cannot_be_read_the_list_says_why(
    staff: FlaskClient, lti: FakeLtiaas, script: Any, words: str
) -> None:
    script(lti)

    page = staff.get("/admin/platforms/")

    assert page.status_code == 200
    html = text(page)
    assert 'id="ltiaas-error"' in html and words in html


def test_the_list_says_so_when_ltiaas_is_not_even_reachable(tmp_path: Path, closed_url: str) -> None:
    app = make_test_app(tmp_path, LTIAAS_URL=closed_url, LTIAAS_API_KEY=API_KEY)
    browser = app.test_client()
    signed_in(browser, add_person(app, "staff"))

    html = text(browser.get("/admin/platforms/"))

    assert "could not be reached" in html
    app.extensions["db_engine"].dispose()


def test_a_platforms_page_shows_it_and_its_forms(console: Flask, lti: FakeLtiaas, staff: FlaskClient) -> None:
    lti.reply(200, platform_json(PLATFORM_ID, active=False))

    page = staff.get(f"/admin/platforms/{PLATFORM_ID}")

    assert page.status_code == 200
    html = text(page)
    assert sent(lti) == [("GET", f"/api/platforms/{PLATFORM_ID}")]
    assert 'id="activate-form"' in html and 'id="deactivate-form"' not in html
    assert 'id="rename-form"' in html and 'value="Springfield Moodle"' in html
    assert "Registered by hand" in html


def test_an_unknown_platform_or_a_bad_id_is_not_found(staff: FlaskClient, lti: FakeLtiaas) -> None:
    lti.reply(404, NOT_FOUND)
    assert staff.get("/admin/platforms/gone").status_code == 404
    assert staff.get("/admin/platforms/not%20an%20id").status_code == 404
    assert staff.post("/admin/platforms/..%2F..%2Fetc/activate").status_code == 404
    assert sent(lti) == [("GET", "/api/platforms/gone")]


def test_when_ltiaas_is_slow_a_platforms_page_says_so(staff: FlaskClient, lti: FakeLtiaas) -> None:
    lti.reply(200, platform_json(PLATFORM_ID), delay=2)

    page = staff.get(f"/admin/platforms/{PLATFORM_ID}")

    assert page.status_code == 200
    html = text(page)
    assert 'id="ltiaas-error"' in html and "did not answer within" in html
    assert 'id="activate-form"' not in html


# Activating and deactivating


def test_activating_lets_the_lms_launch_and_is_audited_once_with_its_registration(
    console: Flask, lti: FakeLtiaas
) -> None:
    public_id = add_registration(console, PLATFORM_ID, active=False)
    lti.reply(200, {})

    result = act(console, "activate")
    again = act(console, "activate")  # the same form sent twice

    assert result.carried_out and not again.carried_out
    assert result.action.current_state is PlatformActionState.DONE
    assert sent(lti) == [("POST", f"/api/platforms/{PLATFORM_ID}/activate")]
    ((action, actor, registration, details),) = platform_events(console)
    assert (action, actor, registration) == ("platform:activate", STAFF, public_id)
    assert details["outcome"] == "done" and details["platform"] == PLATFORM_ID
    assert registration_row(console, public_id).platform_active is True


def test_deactivating_refuses_the_lms_launches(console: Flask, lti: FakeLtiaas) -> None:
    public_id = add_registration(console, PLATFORM_ID, active=True)
    lti.reply(200, {})

    assert act(console, "deactivate").action.current_state is PlatformActionState.DONE

    assert sent(lti) == [("POST", f"/api/platforms/{PLATFORM_ID}/deactivate")]
    assert registration_row(console, public_id).platform_active is False


@pytest.mark.parametrize(
    ("script", "words"),
    [
        (lambda lti: lti.reply(404, NOT_FOUND), "no platform with this id"),
        (lambda lti: lti.reply(401, UNAUTHORIZED), "refused the portal's API key"),
        (lambda lti: lti.reply(429, BUSY), "busy and refused it before acting"),
        (
            lambda lti: lti.reply(400, {"status": 400, "details": {"message": "BAD"}}),
            "LTIAAS refused it (BAD)",
        ),
    ],
    ids=["unknown platform", "api key refused", "rate limited", "bad request"],
)
@pytest.mark.parametrize("kind", ["activate", "deactivate"])
def test_a_refused_activation_changes_nothing(
    console: Flask, lti: FakeLtiaas, kind: str, script: Any, words: str
) -> None:
    public_id = add_registration(console, PLATFORM_ID, active=None)
    script(lti)

    result = act(console, kind)

    assert result.action.current_state is PlatformActionState.FAILED
    assert words in (result.action.message or "")
    assert "nothing was done" in (result.action.message or "").lower()
    assert len(lti.received) == 1
    ((action, _, _, details),) = platform_events(console)
    assert (action, details["outcome"]) == (f"platform:{kind}", "failed")
    assert registration_row(console, public_id).platform_active is None


def test_an_activation_that_could_not_be_sent_changes_nothing(tmp_path: Path, closed_url: str) -> None:
    app = make_test_app(tmp_path, LTIAAS_URL=closed_url, LTIAAS_API_KEY=API_KEY)
    public_id = add_registration(app, PLATFORM_ID, active=False)

    result = act(app, "activate")

    assert result.action.current_state is PlatformActionState.FAILED
    assert "could not be reached" in (result.action.message or "")
    assert registration_row(app, public_id).platform_active is False
    app.extensions["db_engine"].dispose()


def test_an_activation_without_an_answer_is_unknown_unless_a_fresh_read_shows_it(
    console: Flask, lti: FakeLtiaas
) -> None:
    public_id = add_registration(console, PLATFORM_ID, active=False)
    lti.reply(200, {}, delay=2)  # the answer never comes in time
    lti.reply(200, platform_json(PLATFORM_ID, active=False))  # the fresh read: not (yet) active

    result = act(console, "activate")

    assert result.action.current_state is PlatformActionState.UNKNOWN
    assert "may or may not have done it" in (result.action.message or "")
    assert sent(lti) == [
        ("POST", f"/api/platforms/{PLATFORM_ID}/activate"),
        ("GET", f"/api/platforms/{PLATFORM_ID}"),
    ]
    assert registration_row(console, public_id).platform_active is False
    assert platform_events(console)[0][3]["outcome"] == "unknown"


def test_an_activation_whose_answer_was_lost_is_done_when_a_fresh_read_shows_it(
    console: Flask, lti: FakeLtiaas
) -> None:
    public_id = add_registration(console, PLATFORM_ID, active=False)
    lti.reply(503, FAILED)
    lti.reply(200, platform_json(PLATFORM_ID, active=True))

    result = act(console, "activate")

    assert result.action.current_state is PlatformActionState.DONE
    assert registration_row(console, public_id).platform_active is True


# Renaming


def test_renaming_writes_back_the_whole_platform_with_the_new_name(console: Flask, lti: FakeLtiaas) -> None:
    public_id = add_registration(console, PLATFORM_ID)
    read = platform_json(PLATFORM_ID, name="Springfield Moodle", active=True)
    lti.reply(200, read)
    lti.reply(200, {**read, "name": "Springfield University Moodle"})

    result = act(console, "rename", "  Springfield   University Moodle ")

    assert result.action.current_state is PlatformActionState.DONE
    assert sent(lti) == [("GET", f"/api/platforms/{PLATFORM_ID}"), ("PUT", f"/api/platforms/{PLATFORM_ID}")]
    assert lti.last.json() == {
        "url": read["url"],
        "clientId": read["clientId"],
        "name": "Springfield University Moodle",
        "authenticationEndpoint": read["authenticationEndpoint"],
        "accesstokenEndpoint": read["accesstokenEndpoint"],
        "authConfig": read["authConfig"],
    }
    ((action, _, registration, details),) = platform_events(console)
    assert (action, registration) == ("platform:rename", public_id)
    assert (details["old_name"], details["name"]) == ("Springfield Moodle", "Springfield University Moodle")
    assert registration_row(console, public_id).platform_name == "Springfield University Moodle"


def test_renaming_to_the_same_name_writes_nothing(console: Flask, lti: FakeLtiaas) -> None:
    lti.reply(200, platform_json(PLATFORM_ID, name="Springfield Moodle"))

    result = act(console, "rename", "Springfield Moodle")

    assert result.action.current_state is PlatformActionState.DONE
    assert result.action.details["unchanged"] is True
    assert sent(lti) == [("GET", f"/api/platforms/{PLATFORM_ID}")]


@pytest.mark.parametrize(
    ("script", "words"),
    [
        (lambda lti: lti.reply(503, FAILED), "could not be read from LTIAAS first"),
        (
            lambda lti: lti.reply(200, platform_json(PLATFORM_ID), delay=2),
            "could not be read from LTIAAS first",
        ),
        (lambda lti: lti.reply(404, NOT_FOUND), "no platform with this id"),
        (lambda lti: lti.reply(401, UNAUTHORIZED), "refused the portal's API key"),
    ],
    ids=["read 5xx", "read slow", "read unknown platform", "read api key refused"],
)
def test_a_rename_whose_read_fails_writes_nothing(
    console: Flask, lti: FakeLtiaas, script: Any, words: str
) -> None:
    public_id = add_registration(console, PLATFORM_ID)
    named = registration_row(console, public_id).platform_name
    script(lti)

    result = act(console, "rename", "New name")

    assert result.action.current_state is PlatformActionState.FAILED
    assert words in (result.action.message or "")
    assert [method for method, _ in sent(lti)] == ["GET"]
    assert registration_row(console, public_id).platform_name == named != "New name"


@pytest.mark.parametrize(
    ("status", "body", "words"),
    [
        (403, DUPLICATE, "Platform already registered."),
        (400, {"status": 400, "details": {"message": "MISSING_PARAMETER"}}, "MISSING_PARAMETER"),
        (429, BUSY, "busy and refused it before acting"),
    ],
)
def test_a_refused_rename_changes_nothing(
    console: Flask, lti: FakeLtiaas, status: int, body: dict[str, Any], words: str
) -> None:
    lti.reply(200, platform_json(PLATFORM_ID))
    lti.reply(status, body)

    result = act(console, "rename", "New name")

    assert result.action.current_state is PlatformActionState.FAILED
    assert words in (result.action.message or "")
    assert platform_events(console)[0][3]["outcome"] == "failed"


def test_a_rename_without_an_answer_is_unknown_and_said_so(console: Flask, lti: FakeLtiaas) -> None:
    public_id = add_registration(console, PLATFORM_ID)
    named = registration_row(console, public_id).platform_name
    lti.reply(200, platform_json(PLATFORM_ID))
    lti.reply(200, platform_json(PLATFORM_ID, name="New name"), delay=2)
    lti.reply(503, FAILED)  # the fresh read fails too

    result = act(console, "rename", "New name")

    assert result.action.current_state is PlatformActionState.UNKNOWN
    assert registration_row(console, public_id).platform_name == named != "New name"


# Deleting


def test_deleting_removes_the_platform_and_the_registration_notes_it(console: Flask, lti: FakeLtiaas) -> None:
    public_id = add_registration(console, PLATFORM_ID, active=True)
    lti.reply(204)

    result = act(console, "delete")
    again = act(console, "delete")

    assert result.action.current_state is PlatformActionState.DONE and not again.carried_out
    assert sent(lti) == [("DELETE", f"/api/platforms/{PLATFORM_ID}")]
    assert registration_row(console, public_id).platform_deleted_at is not None
    assert [(event[0], event[2]) for event in platform_events(console)] == [("platform:delete", public_id)]


def test_deleting_a_platform_already_gone_says_so(console: Flask, lti: FakeLtiaas) -> None:
    public_id = add_registration(console, PLATFORM_ID)
    lti.reply(404, NOT_FOUND)

    result = act(console, "delete")

    assert result.action.current_state is PlatformActionState.DONE
    assert result.action.details["already_gone"] is True
    assert registration_row(console, public_id).platform_deleted_at is not None


@pytest.mark.parametrize(
    ("replies", "state"),
    [
        ([(401, UNAUTHORIZED)], PlatformActionState.FAILED),
        ([(429, BUSY)], PlatformActionState.FAILED),
        ([(503, FAILED), (200, platform_json(PLATFORM_ID))], PlatformActionState.UNKNOWN),
        ([(503, FAILED), (404, NOT_FOUND)], PlatformActionState.DONE),
    ],
    ids=["api key refused", "rate limited", "5xx, still there", "5xx, then gone"],
)
def test_a_delete_that_ltiaas_refuses_or_does_not_answer(
    console: Flask, lti: FakeLtiaas, replies: list[tuple[int, Any]], state: PlatformActionState
) -> None:
    public_id = add_registration(console, PLATFORM_ID)
    for status, body in replies:
        lti.reply(status, body)

    result = act(console, "delete")

    assert result.action.current_state is state
    deleted = registration_row(console, public_id).platform_deleted_at is not None
    assert deleted is (state is PlatformActionState.DONE)


# The pages: confirmation, CSRF, the one-time token, messages


def test_the_staff_activate_from_the_page_with_its_confirmation(
    console: Flask, lti: FakeLtiaas, staff: FlaskClient
) -> None:
    console.config["WTF_CSRF_ENABLED"] = True
    public_id = add_registration(console, PLATFORM_ID, active=False)
    lti.reply(200, platform_json(PLATFORM_ID, active=False))
    action, hidden = form_on(staff.get(f"/admin/platforms/{PLATFORM_ID}"), "activate-form")

    unconfirmed_reply = platform_json(PLATFORM_ID, active=False)
    lti.reply(200, unconfirmed_reply)
    unconfirmed = staff.post(action, data=hidden)
    assert unconfirmed.status_code == 400
    assert "Tick this box to confirm." in text(unconfirmed)

    lti.reply(200, {})
    confirmed = staff.post(action, data={**hidden, "activate-confirm": "y"})
    assert confirmed.status_code == 303
    assert confirmed.location == f"/admin/platforms/{PLATFORM_ID}"
    lti.reply(200, platform_json(PLATFORM_ID, active=True))
    shown = text(staff.get(confirmed.location))
    assert "Activated: LTIAAS now lets this LMS launch the tool." in shown
    assert 'data-outcome="done"' in shown

    lti.reply(200, platform_json(PLATFORM_ID, active=True))
    resent = staff.post(action, data={**hidden, "activate-confirm": "y"}, follow_redirects=True)
    assert "This form was sent before, so nothing was done again." in text(resent)
    assert [method for method, path in sent(lti) if path.endswith("/activate")] == ["POST"]
    assert len(platform_events(console)) == 1
    assert registration_row(console, public_id).platform_active is True


@pytest.mark.parametrize("kind", ["activate", "deactivate", "rename", "delete"])
def test_every_platform_action_needs_the_csrf_token(
    console: Flask, lti: FakeLtiaas, staff: FlaskClient, kind: str
) -> None:
    console.config["WTF_CSRF_ENABLED"] = True
    data = {f"{kind}-confirm": "y", f"{kind}-action_token": "t" * 32, f"{kind}-name": "New"}

    response = staff.post(f"/admin/platforms/{PLATFORM_ID}/{kind}", data=data)

    assert response.status_code == 400
    assert "This form has expired" in text(response)
    assert lti.received == []
    assert platform_actions(console) == []


def test_a_form_without_its_one_time_token_does_nothing(
    console: Flask, lti: FakeLtiaas, staff: FlaskClient
) -> None:
    console.config["WTF_CSRF_ENABLED"] = False
    lti.reply(200, platform_json(PLATFORM_ID))

    response = staff.post(f"/admin/platforms/{PLATFORM_ID}/activate", data={"activate-confirm": "y"})

    assert response.status_code == 400
    assert "This form is out of date" in text(response)
    assert sent(lti) == [("GET", f"/api/platforms/{PLATFORM_ID}")]


def test_a_failed_action_is_said_plainly_on_the_page(
    console: Flask, lti: FakeLtiaas, staff: FlaskClient
) -> None:
    console.config["WTF_CSRF_ENABLED"] = False
    lti.reply(429, BUSY)
    response = staff.post(
        f"/admin/platforms/{PLATFORM_ID}/deactivate",
        data={"deactivate-confirm": "y", "deactivate-action_token": "t" * 32},
    )
    assert response.status_code == 303

    lti.reply(200, platform_json(PLATFORM_ID, active=True))
    html = text(staff.get(response.location))

    assert 'class="notice notice-error"' in html and "nothing was done" in html
    assert 'data-outcome="failed"' in html


def test_a_rename_with_a_bad_name_is_refused_with_the_name_kept(
    console: Flask, lti: FakeLtiaas, staff: FlaskClient
) -> None:
    console.config["WTF_CSRF_ENABLED"] = False
    lti.reply(200, platform_json(PLATFORM_ID))

    response = staff.post(
        f"/admin/platforms/{PLATFORM_ID}/rename",
        data={"rename-name": "x" * 256, "rename-confirm": "y", "rename-action_token": "t" * 32},
    )

    assert response.status_code == 400
    assert "Use at most 255 characters." in text(response)
    assert [method for method, _ in sent(lti)] == ["GET"]


def form_html(page: TestResponse, form_id: str) -> str:
    return text(page).split(f'id="{form_id}"', 1)[1].split("</form>", 1)[0]


@pytest.mark.parametrize(("kind", "active"), [("activate", False), ("deactivate", True)])
def test_an_unconfirmed_activation_keeps_the_rename_form_as_it_was(
    console: Flask, lti: FakeLtiaas, staff: FlaskClient, kind: str, active: bool
) -> None:
    console.config["WTF_CSRF_ENABLED"] = True
    lti.reply(200, platform_json(PLATFORM_ID, name="Springfield Moodle", active=active))
    action, hidden = form_on(staff.get(f"/admin/platforms/{PLATFORM_ID}"), f"{kind}-form")

    lti.reply(200, platform_json(PLATFORM_ID, name="Springfield Moodle", active=active))
    refused = staff.post(action, data=hidden)

    assert refused.status_code == 400
    assert "Tick this box to confirm." in form_html(refused, f"{kind}-form")
    rename = form_html(refused, "rename-form")
    assert 'value="Springfield Moodle"' in rename and "Tick this box" not in rename

    # The rename form on that page works as it is.
    rename_action, rename_hidden = form_on(refused, "rename-form")
    assert rename_hidden["rename-action_token"]
    read = platform_json(PLATFORM_ID, name="Springfield Moodle", active=active)
    lti.reply(200, read)
    lti.reply(200, {**read, "name": "Springfield University Moodle"})
    renamed = staff.post(
        rename_action,
        data={**rename_hidden, "rename-name": "Springfield University Moodle", "rename-confirm": "y"},
    )
    assert renamed.status_code == 303
    assert [event[3]["name"] for event in platform_events(console)] == ["Springfield University Moodle"]


def test_a_refused_rename_leaves_the_activate_form_ready_to_use(
    console: Flask, lti: FakeLtiaas, staff: FlaskClient
) -> None:
    console.config["WTF_CSRF_ENABLED"] = True
    lti.reply(200, platform_json(PLATFORM_ID, name="Springfield Moodle"))
    action, hidden = form_on(staff.get(f"/admin/platforms/{PLATFORM_ID}"), "rename-form")

    lti.reply(200, platform_json(PLATFORM_ID, name="Springfield Moodle"))
    refused = staff.post(action, data={**hidden, "rename-name": "", "rename-confirm": "y"})

    assert refused.status_code == 400
    assert "Type the new name." in form_html(refused, "rename-form")
    activate = form_html(refused, "activate-form")
    assert "Tick this box" not in activate and "checked" not in activate
    _, activate_hidden = form_on(refused, "activate-form")
    assert activate_hidden["activate-action_token"] not in ("", hidden["rename-action_token"])


def test_deleting_asks_first_naming_the_platform_and_its_lms(
    console: Flask, lti: FakeLtiaas, staff: FlaskClient
) -> None:
    console.config["WTF_CSRF_ENABLED"] = True
    public_id = add_registration(console, PLATFORM_ID, customer="admin@springfield.edu")
    lti.reply(200, platform_json(PLATFORM_ID, name="Springfield Moodle", active=True))

    page = staff.get(f"/admin/platforms/{PLATFORM_ID}/delete")

    html = text(page)
    assert page.status_code == 200
    assert 'Delete “<span id="platform-name">Springfield Moodle</span>”?' in html
    assert "https://moodle.springfield.edu" in html and "admin@springfield.edu" in html
    action, hidden = form_on(page, "delete-form")
    lti.reply(204)
    done = staff.post(action, data={**hidden, "delete-confirm": "y"})
    assert done.status_code == 303 and done.location == "/admin/platforms/"
    assert registration_row(console, public_id).platform_deleted_at is not None


def test_deleting_a_paid_registrations_platform_says_it_refunds_nothing(
    console: Flask, lti: FakeLtiaas, staff: FlaskClient
) -> None:
    public_id = add_registration(console, PLATFORM_ID, customer="admin@springfield.edu")
    customer = add_person(console, "customer")
    with console.app_context():
        db = get_session()
        registration = db.scalar(select(Registration).where(Registration.public_id == public_id))
        payment = add_payment(db, registration, user=customer)
        db.commit()
        intent, payer = payment.stripe_payment_intent, payment.customer_email
    lti.reply(200, platform_json(PLATFORM_ID, name="Springfield Moodle", active=True))

    html = text(staff.get(f"/admin/platforms/{PLATFORM_ID}/delete"))

    assert 'id="paid-registration"' in html
    assert f"49.00 EUR by {payer}" in html and intent in html
    assert "Deleting the platform refunds nothing" in html


def test_the_delete_page_of_an_unreadable_platform_offers_no_form(
    staff: FlaskClient, lti: FakeLtiaas
) -> None:
    lti.reply(503, FAILED)

    html = text(staff.get(f"/admin/platforms/{PLATFORM_ID}/delete"))

    assert 'id="ltiaas-error"' in html and 'id="delete-form"' not in html


def test_the_same_form_sent_many_times_at_once_calls_ltiaas_once(console: Flask, lti: FakeLtiaas) -> None:
    public_id = add_registration(console, PLATFORM_ID, active=False)
    lti.reply(200, {}, delay=0.3)  # slow enough for every submit to arrive while the first one waits

    results = race(lambda: act(console, "activate", token="the-one-form-token-0123"))

    assert sorted(result.carried_out for result in results) == [False] * (RACERS - 1) + [True]  # type: ignore[attr-defined]
    assert sent(lti) == [("POST", f"/api/platforms/{PLATFORM_ID}/activate")]
    assert len(platform_events(console)) == 1 and len(platform_actions(console)) == 1
    assert registration_row(console, public_id).platform_active is True
