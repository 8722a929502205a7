"""The flow's plain functions, called directly: receive, describe, choose, complete.

They get the app's own LTIAAS client (`get_ltiaas()`), talking to the fake LTIAAS over HTTP.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from portal.db import get_session
from portal.ltiaas import get_ltiaas
from portal.models import AuditEvent, Registration, RegistrationState, utcnow
from portal.registration import access, choices, completion, display, pages, receiving
from portal.registration.problems import RegistrationProblem
from tests.fakes.ltiaas import CANVAS_ISSUER, CLOSE_HTML, MOODLE_URL, FakeLtiaas
from tests.registration.helpers import CANVAS, ltiaas_moved_to


@pytest.fixture
def ctx(app: Flask) -> Iterator[None]:
    with app.test_request_context("/"):
        yield


def receive(registration_id: str = "reg-moodle") -> Registration:
    return receiving.receive_registration(get_session(), get_ltiaas(), registration_id)


def reviewed(registration_id: str = "reg-moodle") -> Registration:
    registration = receive(registration_id)
    choices.save_choices(get_session(), registration, choices.default_choices(registration))
    return registration


def complete(registration: Registration, choices: dict[str, Any] | None = None) -> bool:
    return completion.complete(get_session(), get_ltiaas(), registration, choices=choices)


def problem_of(call: object) -> str:
    with pytest.raises(RegistrationProblem) as caught:
        call()  # type: ignore[operator]
    return caught.value.kind


# Receiving a registration from LTIAAS


def test_a_new_registration_is_read_once_recorded_and_audited(ctx: None, ltiaas: FakeLtiaas) -> None:
    registration = receive()
    assert registration.state == "received"
    assert registration.platform_url == MOODLE_URL
    assert registration.supported_messages[1] == {
        "type": "LtiDeepLinkingRequest",
        "placements": ["ContentArea"],
    }
    lifetime = registration.expires_at - registration.created_at
    assert lifetime == timedelta(seconds=3600)
    assert [e.action for e in get_session().scalars(select(AuditEvent))] == ["received"]
    assert ltiaas.operations() == ["get_registration", "list_platforms"]


def test_the_lifetime_is_a_setting(app: Flask, ctx: None) -> None:
    app.config["REGISTRATION_LIFETIME"] = 600
    registration = receive()
    assert registration.expires_at - registration.created_at == timedelta(seconds=600)


def test_a_second_arrival_reuses_the_open_registration_without_reading_ltiaas(
    ctx: None, ltiaas: FakeLtiaas
) -> None:
    first = receive()
    again = receive()
    assert again.public_id == first.public_id
    assert ltiaas.operations() == ["get_registration", "list_platforms"]


def test_a_completed_registration_is_returned_as_completed(ctx: None) -> None:
    complete(reviewed())
    assert receive().state == "completed"


def test_an_open_registration_past_its_lifetime_expires_when_it_comes_back(ctx: None) -> None:
    registration = receive()
    registration.expires_at = utcnow() - timedelta(seconds=1)
    get_session().commit()
    assert problem_of(receive) == "expired"
    assert registration.state == "expired"


@pytest.mark.parametrize(
    ("raw_id", "kind"),
    [
        (None, "missing_id"),
        ("", "missing_id"),
        ("../x", "malformed_id"),
        ("a/b", "malformed_id"),
        ("x" * 200, "malformed_id"),
    ],
)
def test_missing_or_malformed_ids_never_reach_ltiaas(
    ctx: None, ltiaas: FakeLtiaas, raw_id: str | None, kind: str
) -> None:
    assert problem_of(lambda: receiving.receive_registration(get_session(), get_ltiaas(), raw_id)) == kind
    assert ltiaas.received == []


@pytest.mark.parametrize(
    ("status", "body", "kind"),
    [
        (404, None, "unknown_registration"),
        (400, None, "unknown_registration"),
        (503, None, "ltiaas_unavailable"),
        (429, None, "ltiaas_unavailable"),
        (401, None, "vendor_setup"),
        (200, "garbage", "vendor_setup"),
    ],
)
def test_ltiaas_failures_on_read_become_pages_for_the_admin(
    ctx: None, ltiaas: FakeLtiaas, status: int, body: object, kind: str
) -> None:
    ltiaas.fail("get_registration", status, body)
    assert problem_of(receive) == kind
    assert get_session().scalar(select(Registration)) is None
    assert ltiaas.operations() == ["get_registration"]


def test_ltiaas_unreachable_offers_a_retry_link_to_the_same_registration(
    app: Flask, ctx: None, closed_url: str
) -> None:
    with ltiaas_moved_to(app, closed_url), pytest.raises(RegistrationProblem) as caught:
        receive()
    assert caught.value.kind == "ltiaas_unavailable"
    assert caught.value.retry_url == "/intermediate-target?registrationId=reg-moodle"


# Who may act on a registration


def test_only_registrations_remembered_in_this_session_can_be_loaded(ctx: None) -> None:
    registration = receive()
    assert (
        problem_of(lambda: access.load_registration(get_session(), registration.public_id))
        == "not_in_session"
    )
    access.remember_in_session(registration.public_id)
    assert access.load_registration(get_session(), registration.public_id) is registration


def test_the_session_remembers_a_bounded_number_of_registrations(ctx: None) -> None:
    for number in range(access.MAX_SESSION_REGISTRATIONS + 5):
        access.remember_in_session(f"id-{number}")
    assert not access.may_act_on("id-0")
    assert access.may_act_on(f"id-{access.MAX_SESSION_REGISTRATIONS + 4}")


# Review


def test_describe_puts_the_lms_in_plain_words(ctx: None) -> None:
    view = display.describe(receive("reg-canvas"))
    assert view.family.name == "Canvas"
    assert view.messages[0].placements[2] == (f"{CANVAS}course_navigation", "Course navigation")
    assert view.messages[2].label == "End-user licence agreement"


def test_earlier_platforms_of_the_same_lms_are_looked_up_once_on_arrival(
    ctx: None, ltiaas: FakeLtiaas
) -> None:
    ltiaas.add_platform("Old Moodle")
    ltiaas.add_platform("Elsewhere", url="https://other.example.edu")
    registration = receive()
    earlier = display.earlier_platforms(registration)
    assert [p.name for p in earlier.platforms] == ["Old Moodle"]
    (lookup,) = ltiaas.requests_to("list_platforms")
    assert lookup.query == {"url": [MOODLE_URL]}
    display.earlier_platforms(registration)
    receive()
    assert len(ltiaas.requests_to("list_platforms")) == 1


def test_a_failed_lookup_of_earlier_platforms_is_reported_not_raised(ctx: None, ltiaas: FakeLtiaas) -> None:
    ltiaas.fail("list_platforms", 503)
    registration = receive()
    assert registration.known_platforms is None
    earlier = display.earlier_platforms(registration)
    assert earlier.lookup_failed and earlier.platforms == ()


def test_a_shared_canvas_cloud_issuer_shows_no_earlier_platforms(ctx: None, ltiaas: FakeLtiaas) -> None:
    ltiaas.add_platform("Another school", url=CANVAS_ISSUER)
    registration = receive("reg-canvas")
    earlier = display.earlier_platforms(registration)
    assert earlier.shared_issuer and earlier.platforms == ()
    assert [entry["name"] for entry in registration.known_platforms or []] == ["Another school"]


# Choices


def test_defaults_follow_the_vendors_placements_limited_to_what_the_lms_supports(ctx: None) -> None:
    proposed = choices.default_choices(receive("reg-canvas"))
    assert proposed == {
        "platformName": "Springfield University (Canvas)",
        "autoActivate": True,
        "messages": [
            {"type": "LtiResourceLinkRequest", "placements": [f"{CANVAS}course_navigation"]},
            {
                "type": "LtiDeepLinkingRequest",
                "placements": [f"{CANVAS}editor_button", f"{CANVAS}link_selection"],
            },
        ],
    }


def test_moodle_defaults_keep_only_the_supported_placement(ctx: None) -> None:
    messages = choices.default_choices(receive())["messages"]
    assert messages == [
        {"type": "LtiResourceLinkRequest", "placements": []},
        {"type": "LtiDeepLinkingRequest", "placements": ["ContentArea"]},
    ]


def test_moodle_3_gets_its_separate_placements_list_on_deep_linking(ctx: None) -> None:
    registration = receive("reg-old-moodle")
    assert registration.supported_messages == [
        {"type": "LtiResourceLinkRequest", "placements": []},
        {"type": "LtiDeepLinkingRequest", "placements": ["AddContentMenu"]},
    ]


def test_a_family_without_vendor_defaults_gets_every_supported_placement(app: Flask, ctx: None) -> None:
    app.config["DEFAULT_PLACEMENTS"] = {}
    app.config["DEFAULT_AUTO_ACTIVATE"] = False
    proposed = choices.default_choices(receive())
    assert proposed["messages"][1]["placements"] == ["ContentArea"]
    assert proposed["autoActivate"] is False


@pytest.mark.parametrize(
    "named_by", ["brightspace", "desire2learn"], ids=["the family's name", "the LMS's code"]
)
def test_the_vendors_placements_are_found_by_the_familys_name_or_the_code_the_lms_sends(
    app: Flask, ctx: None, named_by: str
) -> None:
    app.config["DEFAULT_PLACEMENTS"] = {named_by: {"LtiDeepLinkingRequest": ["RichTextEditor"]}}
    brightspace = Registration(
        family_code="desire2learn",  # what Brightspace sends as its product_family_code
        supported_messages=[
            {"type": "LtiDeepLinkingRequest", "placements": ["ContentArea", "RichTextEditor"]}
        ],
    )
    assert choices.default_placements(brightspace, "LtiDeepLinkingRequest") == ["RichTextEditor"]


def test_saving_choices_reviews_the_registration_and_can_be_repeated(ctx: None) -> None:
    registration = reviewed()
    edited = {**registration.overrides, "platformName": "Renamed"}
    choices.save_choices(get_session(), registration, edited)
    assert registration.state == "reviewed"
    assert registration.overrides["platformName"] == "Renamed"
    assert choices.current_choices(registration) == edited


# Completion


def test_complete_sends_the_saved_choices_and_stores_the_platform(ctx: None, ltiaas: FakeLtiaas) -> None:
    registration = reviewed()
    assert complete(registration) is True
    (sent,) = ltiaas.requests_to("complete_registration")
    assert sent.target == "reg-moodle"
    assert sent.json() == {
        "platformName": "moodle.example.edu (Moodle)",
        "autoActivate": True,
        "messages": registration.overrides["messages"],
    }
    created = ltiaas.platform_created_by("reg-moodle")
    assert created is not None and created["url"] == MOODLE_URL
    assert registration.state == "completed"
    assert registration.platform_id == created["id"]
    assert registration.completion_html == CLOSE_HTML
    event = get_session().scalars(select(AuditEvent).where(AuditEvent.to_state == "completed")).one()
    assert event.details == {"platformId": created["id"]}


def test_complete_twice_calls_ltiaas_once(ctx: None, ltiaas: FakeLtiaas) -> None:
    registration = reviewed()
    assert complete(registration) is True
    assert complete(registration) is False
    assert len(ltiaas.requests_to("complete_registration")) == 1


@pytest.mark.parametrize(
    ("status", "body", "state", "words"),
    [
        (401, None, "reviewed", "vendor"),
        (429, None, "reviewed", "could not be reached"),
        (404, None, "expired", "no longer knows"),
        (200, {"platformId": 7}, "reviewed", "could not confirm"),
    ],
)
def test_a_failed_complete_keeps_the_choices_and_lands_in_the_right_state(
    ctx: None, ltiaas: FakeLtiaas, status: int, body: object, state: str, words: str
) -> None:
    registration = reviewed()
    saved = dict(registration.overrides)
    ltiaas.fail("complete_registration", status, body)
    assert complete(registration) is True
    assert registration.state == state
    assert words in registration.last_error
    assert registration.overrides == saved


def test_after_ltiaas_could_not_be_reached_the_complete_can_be_retried(
    app: Flask, ctx: None, ltiaas: FakeLtiaas, closed_url: str
) -> None:
    registration = reviewed()
    with ltiaas_moved_to(app, closed_url):
        complete(registration)
    assert registration.current_state is RegistrationState.REVIEWED
    assert "nothing was registered" in registration.last_error
    complete(registration)
    assert registration.current_state is RegistrationState.COMPLETED
    assert registration.last_error is None
    assert len(ltiaas.requests_to("complete_registration")) == 1


def test_an_unexpected_error_during_complete_fails_the_registration_instead_of_hanging(
    ctx: None, ltiaas: FakeLtiaas
) -> None:
    registration = reviewed()
    broken = {"platformName": "Springfield", "messages": [{"placements": ["ContentArea"]}]}  # no type
    with pytest.raises(KeyError):
        complete(registration, broken)
    assert registration.state == "failed"
    assert ltiaas.requests_to("complete_registration") == []


def test_pages_follow_the_state() -> None:
    registration = Registration(state="received")
    assert pages.page_to_redirect_to(registration, "review") is None
    assert pages.page_to_redirect_to(registration, "confirm") == "configure"
    assert pages.page_to_redirect_to(registration, "done") == "review"
    registration.state = "completing"
    assert pages.page_to_redirect_to(registration, "configure") == "done"
    assert pages.page_to_redirect_to(registration, "done") is None


def test_inline_scripts_are_extracted_exactly_and_external_ones_skipped() -> None:
    html = '<p>x</p><script>a();\n</script><SCRIPT type="module">b()</SCRIPT><script src="/x.js"></script>'
    assert display.inline_scripts(html) == ["a();\n", "b()"]
