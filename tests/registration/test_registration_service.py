"""The flow's plain functions, called directly: receive, describe, choose, complete."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from flask import Flask
from sqlalchemy import select

from portal.db import get_session
from portal.ltiaas import (
    LtiaasInvalidResponse,
    LtiaasRequestRejected,
    LtiaasUnauthorized,
    LtiaasUnavailable,
    RegistrationNotFound,
)
from portal.models import AuditEvent, Registration, RegistrationState, utcnow
from portal.registration import access, choices, completion, display, pages, receiving
from portal.registration.problems import RegistrationProblem
from tests.registration.helpers import CANVAS, CLOSE_HTML, FakeLtiaas, platform


@pytest.fixture
def ctx(app: Flask) -> Iterator[None]:
    with app.test_request_context("/"):
        yield


def receive(ltiaas: FakeLtiaas, registration_id: str = "reg-moodle") -> Registration:
    return receiving.receive_registration(get_session(), ltiaas, registration_id)


def reviewed(ltiaas: FakeLtiaas, registration_id: str = "reg-moodle") -> Registration:
    registration = receive(ltiaas, registration_id)
    choices.save_choices(get_session(), registration, choices.default_choices(registration))
    return registration


def problem_of(call: object) -> str:
    with pytest.raises(RegistrationProblem) as caught:
        call()  # type: ignore[operator]
    return caught.value.kind


# Receiving a registration from LTIAAS


def test_a_new_registration_is_read_once_recorded_and_audited(ctx: None, ltiaas: FakeLtiaas) -> None:
    registration = receive(ltiaas)
    assert registration.state == "received"
    assert registration.platform_url == "https://moodle.example.edu"
    assert registration.supported_messages[1] == {
        "type": "LtiDeepLinkingRequest",
        "placements": ["ContentArea"],
    }
    lifetime = registration.expires_at - registration.created_at
    assert lifetime == timedelta(seconds=3600)
    assert [e.action for e in get_session().scalars(select(AuditEvent))] == ["received"]
    assert len(ltiaas.calls_of("read_registration")) == 1


def test_the_lifetime_is_a_setting(app: Flask, ctx: None, ltiaas: FakeLtiaas) -> None:
    app.config["REGISTRATION_LIFETIME"] = 600
    registration = receive(ltiaas)
    assert registration.expires_at - registration.created_at == timedelta(seconds=600)


def test_a_second_arrival_reuses_the_open_registration_without_reading_ltiaas(
    ctx: None, ltiaas: FakeLtiaas
) -> None:
    first = receive(ltiaas)
    again = receive(ltiaas)
    assert again.public_id == first.public_id
    assert len(ltiaas.calls_of("read_registration")) == 1


def test_a_completed_registration_is_returned_as_completed(ctx: None, ltiaas: FakeLtiaas) -> None:
    registration = reviewed(ltiaas)
    completion.complete(get_session(), ltiaas, registration)
    assert receive(ltiaas).state == "completed"


def test_an_open_registration_past_its_lifetime_expires_when_it_comes_back(
    ctx: None, ltiaas: FakeLtiaas
) -> None:
    registration = receive(ltiaas)
    registration.expires_at = utcnow() - timedelta(seconds=1)
    get_session().commit()
    assert problem_of(lambda: receive(ltiaas)) == "expired"
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
    assert problem_of(lambda: receiving.receive_registration(get_session(), ltiaas, raw_id)) == kind
    assert ltiaas.calls == []


@pytest.mark.parametrize(
    ("error", "kind"),
    [
        (RegistrationNotFound("gone", status=404), "unknown_registration"),
        (LtiaasUnavailable("down", status=503), "ltiaas_unavailable"),
        (LtiaasUnauthorized("bad key", status=401), "vendor_setup"),
        (LtiaasInvalidResponse("garbage", status=200), "vendor_setup"),
    ],
)
def test_ltiaas_failures_on_read_become_pages_for_the_admin(
    ctx: None, ltiaas: FakeLtiaas, error: Exception, kind: str
) -> None:
    ltiaas.fail("read_registration", error)
    assert problem_of(lambda: receive(ltiaas)) == kind
    assert get_session().scalar(select(Registration)) is None


def test_ltiaas_down_offers_a_retry_link_to_the_same_registration(ctx: None, ltiaas: FakeLtiaas) -> None:
    ltiaas.fail("read_registration", LtiaasUnavailable("down"))
    with pytest.raises(RegistrationProblem) as caught:
        receive(ltiaas)
    assert caught.value.retry_url == "/intermediate-target?registrationId=reg-moodle"


# Who may act on a registration


def test_only_registrations_remembered_in_this_session_can_be_loaded(ctx: None, ltiaas: FakeLtiaas) -> None:
    registration = receive(ltiaas)
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


def test_describe_puts_the_lms_in_plain_words(ctx: None, ltiaas: FakeLtiaas) -> None:
    view = display.describe(receive(ltiaas, "reg-canvas"))
    assert view.family.name == "Canvas"
    assert view.messages[0].placements[1] == (f"{CANVAS}course_navigation", "Course navigation")
    assert view.messages[2].label == "End-user licence agreement"


def test_earlier_platforms_of_the_same_lms_are_looked_up_once_on_arrival(
    ctx: None, ltiaas: FakeLtiaas
) -> None:
    ltiaas.platforms = [platform("Old Moodle"), platform("Elsewhere", url="https://other.example.edu")]
    registration = receive(ltiaas)
    earlier = display.earlier_platforms(registration)
    assert [p.name for p in earlier.platforms] == ["Old Moodle"]
    assert ltiaas.calls_of("list_platforms")[0][0] == "https://moodle.example.edu"
    display.earlier_platforms(registration)
    receive(ltiaas)
    assert len(ltiaas.calls_of("list_platforms")) == 1


def test_a_failed_lookup_of_earlier_platforms_is_reported_not_raised(ctx: None, ltiaas: FakeLtiaas) -> None:
    ltiaas.fail("list_platforms", LtiaasUnavailable("down"))
    registration = receive(ltiaas)
    assert registration.known_platforms is None
    earlier = display.earlier_platforms(registration)
    assert earlier.lookup_failed and earlier.platforms == ()


def test_a_shared_canvas_cloud_issuer_shows_no_earlier_platforms(ctx: None, ltiaas: FakeLtiaas) -> None:
    ltiaas.platforms = [platform("Another school", url="https://canvas.instructure.com")]
    registration = receive(ltiaas, "reg-canvas")
    earlier = display.earlier_platforms(registration)
    assert earlier.shared_issuer and earlier.platforms == ()
    assert [entry["name"] for entry in registration.known_platforms or []] == ["Another school"]


# Choices


def test_defaults_follow_the_vendors_placements_limited_to_what_the_lms_supports(
    ctx: None, ltiaas: FakeLtiaas
) -> None:
    proposed = choices.default_choices(receive(ltiaas, "reg-canvas"))
    assert proposed == {
        "platformName": "canvas.instructure.com (Canvas)",
        "autoActivate": True,
        "messages": [
            {"type": "LtiResourceLinkRequest", "placements": [f"{CANVAS}course_navigation"]},
            {
                "type": "LtiDeepLinkingRequest",
                "placements": [f"{CANVAS}editor_button", f"{CANVAS}link_selection"],
            },
        ],
    }


def test_moodle_defaults_keep_only_the_supported_placement(ctx: None, ltiaas: FakeLtiaas) -> None:
    messages = choices.default_choices(receive(ltiaas))["messages"]
    assert messages == [
        {"type": "LtiResourceLinkRequest", "placements": []},
        {"type": "LtiDeepLinkingRequest", "placements": ["ContentArea"]},
    ]


def test_a_family_without_vendor_defaults_gets_every_supported_placement(
    app: Flask, ctx: None, ltiaas: FakeLtiaas
) -> None:
    app.config["DEFAULT_PLACEMENTS"] = {}
    app.config["DEFAULT_AUTO_ACTIVATE"] = False
    proposed = choices.default_choices(receive(ltiaas))
    assert proposed["messages"][1]["placements"] == ["ContentArea"]
    assert proposed["autoActivate"] is False


def test_saving_choices_reviews_the_registration_and_can_be_repeated(ctx: None, ltiaas: FakeLtiaas) -> None:
    registration = reviewed(ltiaas)
    edited = {**registration.overrides, "platformName": "Renamed"}
    choices.save_choices(get_session(), registration, edited)
    assert registration.state == "reviewed"
    assert registration.overrides["platformName"] == "Renamed"
    assert choices.current_choices(registration) == edited


# Completion


def test_complete_sends_the_saved_choices_and_stores_the_platform(ctx: None, ltiaas: FakeLtiaas) -> None:
    registration = reviewed(ltiaas)
    assert completion.complete(get_session(), ltiaas, registration) is True
    ((target, sent),) = ltiaas.calls_of("complete_registration")
    assert target == "reg-moodle"
    assert sent == {
        "platform_name": "moodle.example.edu (Moodle)",
        "auto_activate": True,
        "messages": registration.overrides["messages"],
    }
    assert registration.state == "completed"
    assert registration.platform_id == "platform-reg-moodle"
    assert registration.completion_html == CLOSE_HTML
    event = get_session().scalars(select(AuditEvent).where(AuditEvent.to_state == "completed")).one()
    assert event.details == {"platformId": "platform-reg-moodle"}


def test_complete_twice_calls_ltiaas_once(ctx: None, ltiaas: FakeLtiaas) -> None:
    registration = reviewed(ltiaas)
    assert completion.complete(get_session(), ltiaas, registration) is True
    assert completion.complete(get_session(), ltiaas, registration) is False
    assert len(ltiaas.calls_of("complete_registration")) == 1


@pytest.mark.parametrize(
    ("error", "state", "words"),
    [
        (LtiaasUnavailable("down", status=503), "reviewed", "could not be reached"),
        (LtiaasUnauthorized("key", status=401), "reviewed", "vendor"),
        (RegistrationNotFound("gone", status=404), "expired", "no longer knows"),
        (
            LtiaasRequestRejected("no", status=403, details_description="Platform already registered."),
            "failed",
            "Platform already registered.",
        ),
        (LtiaasInvalidResponse("garbage", status=200), "failed", "may or may not"),
    ],
)
def test_a_failed_complete_keeps_the_choices_and_lands_in_the_right_state(
    ctx: None, ltiaas: FakeLtiaas, error: Exception, state: str, words: str
) -> None:
    registration = reviewed(ltiaas)
    saved = dict(registration.overrides)
    ltiaas.fail("complete_registration", error)
    assert completion.complete(get_session(), ltiaas, registration) is True
    assert registration.state == state
    assert words in registration.last_error
    assert registration.overrides == saved


def test_after_ltiaas_was_down_the_complete_can_be_retried(ctx: None, ltiaas: FakeLtiaas) -> None:
    registration = reviewed(ltiaas)
    ltiaas.fail("complete_registration", LtiaasUnavailable("down"))
    completion.complete(get_session(), ltiaas, registration)
    completion.complete(get_session(), ltiaas, registration)
    assert registration.current_state is RegistrationState.COMPLETED
    assert registration.last_error is None
    assert len(ltiaas.calls_of("complete_registration")) == 2


def test_an_unexpected_error_during_complete_fails_the_registration_instead_of_hanging(
    ctx: None, ltiaas: FakeLtiaas
) -> None:
    registration = reviewed(ltiaas)
    ltiaas.fail("complete_registration", KeyError("bug"))
    with pytest.raises(KeyError):
        completion.complete(get_session(), ltiaas, registration)
    assert registration.state == "failed"


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
