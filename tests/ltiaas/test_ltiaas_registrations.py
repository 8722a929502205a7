"""Reading a registration from LTIAAS and completing it, as the intermediate target does."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from portal import __version__
from portal.ltiaas import (
    CANVAS_ACCOUNT_LTI_GUID,
    CANVAS_ACCOUNT_NAME,
    PLATFORM_CONFIGURATION,
    CompletionResult,
    LtiaasInvalidResponse,
    LtiaasOutcomeUnknown,
    LtiaasUnavailable,
    RawRegistration,
    RegistrationDetails,
    RegistrationNotFound,
    SupportedMessage,
)

REGISTRATION_ID = "3f2b8c1e-9d4a-4b7e-8f6a-1c2d3e4f5a6b"

MOODLE_REGISTRATION = {
    "url": "https://moodle.example.edu",
    "familyCode": "moodle",
    "version": "4.4.1+ (Build: 20240705)",
    "supportedScopes": ["openid", "https://purl.imsglobal.org/spec/lti-ags/scope/score"],
    "supportedMessages": [
        {"type": "LtiResourceLinkRequest"},
        {"type": "LtiDeepLinkingRequest", "placements": ["ContentArea"]},
    ],
}

CLOSE_HTML = (
    "<script>(window.opener || window.parent).postMessage({subject:'org.imsglobal.lti.close'}, '*');</script>"
)


def assert_portal_headers(received, api_key):
    assert received.headers["authorization"] == f"Bearer {api_key}"
    assert received.headers["user-agent"] == f"approval-portal/{__version__}"
    assert received.headers["accept"] == "application/json"


def test_the_portal_reads_what_the_lms_told_ltiaas(api, ltiaas, api_key):
    ltiaas.reply(200, MOODLE_REGISTRATION)

    details = api.get_registration(REGISTRATION_ID)

    assert details == RegistrationDetails(
        url="https://moodle.example.edu",
        family_code="moodle",
        version="4.4.1+ (Build: 20240705)",
        supported_scopes=("openid", "https://purl.imsglobal.org/spec/lti-ags/scope/score"),
        supported_messages=(
            SupportedMessage("LtiResourceLinkRequest"),
            SupportedMessage("LtiDeepLinkingRequest", ("ContentArea",)),
        ),
        legacy_message_shape=False,
    )
    request = ltiaas.last
    assert (request.method, request.path, request.query) == (
        "GET",
        f"/api/registrations/{REGISTRATION_ID}",
        {},
    )
    assert_portal_headers(request, api_key)


def test_unknown_fields_and_message_types_are_kept_or_ignored_never_fatal(api, ltiaas):
    ltiaas.reply(
        200,
        {
            **MOODLE_REGISTRATION,
            "familyCode": "canvas",
            "somethingNew": {"nested": True},
            "supportedMessages": [
                {"type": "LtiEulaRequest", "placements": None, "label": "EULA"},
                {"type": "LtiFutureRequest", "placements": ["x", 7]},
                {"placements": ["no type"]},
            ],
        },
    )

    details = api.get_registration(REGISTRATION_ID)

    assert details.supported_messages == (
        SupportedMessage("LtiEulaRequest"),
        SupportedMessage("LtiFutureRequest", ("x",)),
    )


def test_what_an_lms_lists_twice_is_read_once_in_its_first_place(api, ltiaas):
    ltiaas.reply(
        200,
        {
            **MOODLE_REGISTRATION,
            "supportedScopes": ["openid", "openid", "https://purl.imsglobal.org/spec/lti-ags/scope/score"],
            "supportedMessages": [
                {"type": "LtiDeepLinkingRequest", "placements": ["a b", "ContentArea", "a b"]},
                {"type": "LtiResourceLinkRequest"},
                {"type": "LtiDeepLinkingRequest", "placements": ["other"]},
            ],
        },
    )

    details = api.get_registration(REGISTRATION_ID)

    assert details.supported_scopes == ("openid", "https://purl.imsglobal.org/spec/lti-ags/scope/score")
    assert details.supported_messages == (
        SupportedMessage("LtiDeepLinkingRequest", ("a b", "ContentArea")),
        SupportedMessage("LtiResourceLinkRequest"),
    )


def test_an_older_moodle_listing_messages_as_strings_is_understood(api, ltiaas):
    ltiaas.reply(
        200,
        {**MOODLE_REGISTRATION, "supportedMessages": ["LtiResourceLinkRequest", "LtiDeepLinkingRequest"]},
    )

    details = api.get_registration(REGISTRATION_ID)

    assert details.legacy_message_shape is True
    assert [m.type for m in details.supported_messages] == ["LtiResourceLinkRequest", "LtiDeepLinkingRequest"]
    assert all(m.placements == () for m in details.supported_messages)


def test_an_lms_without_family_code_or_version_still_reads(api, ltiaas):
    body = {key: value for key, value in MOODLE_REGISTRATION.items() if key not in {"familyCode", "version"}}
    ltiaas.reply(200, body)

    details = api.get_registration(REGISTRATION_ID)

    assert (details.family_code, details.version) == ("", "")


@pytest.mark.parametrize(
    "body",
    [
        {**MOODLE_REGISTRATION, "url": None},
        {key: value for key, value in MOODLE_REGISTRATION.items() if key != "url"},
        {**MOODLE_REGISTRATION, "url": ""},
        {**MOODLE_REGISTRATION, "supportedScopes": "openid"},
        {key: value for key, value in MOODLE_REGISTRATION.items() if key != "supportedScopes"},
        {**MOODLE_REGISTRATION, "supportedMessages": {"type": "LtiResourceLinkRequest"}},
        [MOODLE_REGISTRATION],
        "<html>Welcome to nginx</html>",
        b"\xff\xfe not json",
        None,
    ],
    ids=[
        "url-null",
        "url-missing",
        "url-empty",
        "scopes-not-list",
        "scopes-missing",
        "messages-not-list",
        "json-list",
        "html",
        "binary",
        "empty-body",
    ],
)
def test_a_registration_in_an_unexpected_shape_is_an_invalid_response(api, ltiaas, expect_error, body):
    ltiaas.reply(200, body)

    error = expect_error(LtiaasInvalidResponse, lambda: api.get_registration(REGISTRATION_ID))

    assert error.status is None
    assert len(ltiaas.received) == 1


def test_the_raw_registration_holds_the_whole_openid_configuration(api, ltiaas):
    configuration = {"issuer": "https://moodle.example.edu", "registration_endpoint": "https://m/reg"}
    ltiaas.reply(200, {"openIdConfiguration": configuration, "registrationToken": "tok-123"})

    raw = api.get_raw_registration(REGISTRATION_ID)

    assert raw == RawRegistration(openid_configuration=configuration, registration_token="tok-123")
    assert ltiaas.last.path == f"/api/registrations/{REGISTRATION_ID}"
    assert ltiaas.last.query == {"raw": ["true"]}


def test_a_raw_registration_without_a_token_is_fine(api, ltiaas):
    ltiaas.reply(200, {"openIdConfiguration": {"issuer": "https://canvas.example.edu"}})

    assert api.get_raw_registration(REGISTRATION_ID).registration_token is None


@pytest.mark.parametrize(
    "body",
    [
        {"registrationToken": "t"},
        {"openIdConfiguration": "x"},
        {"openIdConfiguration": {}, "registrationToken": 5},
    ],
)
def test_a_raw_registration_in_an_unexpected_shape_is_an_invalid_response(api, ltiaas, expect_error, body):
    ltiaas.reply(200, body)

    expect_error(LtiaasInvalidResponse, lambda: api.get_raw_registration(REGISTRATION_ID))


def test_completing_sends_the_admins_choices_and_returns_the_close_script(api, ltiaas, api_key):
    ltiaas.reply(200, {"platformId": "A2F48n9Ss8Hjpw4gjo0", "html": CLOSE_HTML, "extra": 1})

    result = api.complete_registration(
        REGISTRATION_ID,
        platform_name="Springfield University Moodle",
        auto_activate=False,
        messages=[
            SupportedMessage("LtiResourceLinkRequest", ("ContentArea",)),
            {"type": "LtiDeepLinkingRequest", "placements": ["ContentArea", "AddContentMenu"]},
        ],
    )

    assert result == CompletionResult(platform_id="A2F48n9Ss8Hjpw4gjo0", html=CLOSE_HTML)
    request = ltiaas.last
    assert (request.method, request.path) == ("POST", f"/api/registrations/{REGISTRATION_ID}/complete")
    assert request.headers["content-type"] == "application/json"
    assert request.json() == {
        "platformName": "Springfield University Moodle",
        "autoActivate": False,
        "messages": [
            {"type": "LtiResourceLinkRequest", "placements": ["ContentArea"]},
            {"type": "LtiDeepLinkingRequest", "placements": ["ContentArea", "AddContentMenu"]},
        ],
    }
    assert_portal_headers(request, api_key)


def test_completing_with_no_choices_sends_an_empty_object(api, ltiaas):
    ltiaas.reply(200, {"platformId": "p1", "html": ""})

    api.complete_registration(REGISTRATION_ID)

    assert ltiaas.last.json() == {}


def test_completing_with_an_empty_message_list_sends_it(api, ltiaas):
    ltiaas.reply(200, {"platformId": "p1", "html": CLOSE_HTML})

    api.complete_registration(REGISTRATION_ID, messages=[])

    assert ltiaas.last.json() == {"messages": []}


@pytest.mark.parametrize(
    "body",
    [
        {"html": CLOSE_HTML},
        {"platformId": "p1"},
        {"platformId": 7, "html": CLOSE_HTML},
        {"platformId": "p1", "html": None},
        "OK",
    ],
)
def test_a_completion_answered_200_without_platform_id_and_html_leaves_the_outcome_unknown(
    api, ltiaas, expect_error, body
):
    # LTIAAS said 200: it most likely completed, in words we cannot read. Not "nothing happened".
    ltiaas.reply(200, body)

    error = expect_error(LtiaasOutcomeUnknown, lambda: api.complete_registration(REGISTRATION_ID))

    assert isinstance(error.__cause__, LtiaasInvalidResponse)


@pytest.mark.parametrize("status", [400, 403, 404, 410, 422])
def test_a_4xx_on_a_registration_means_unknown_expired_or_used(api, ltiaas, expect_error, status):
    ltiaas.reply(
        status, {"status": status, "error": "Not Found", "details": {"message": "REGISTRATION_NOT_FOUND"}}
    )

    error = expect_error(RegistrationNotFound, lambda: api.get_registration(REGISTRATION_ID))

    assert error.status == status
    assert error.details_message == "REGISTRATION_NOT_FOUND"
    assert "expired" in str(error)
    assert len(ltiaas.received) == 1


def test_a_400_on_complete_means_the_registration_cannot_be_completed(api, ltiaas, expect_error):
    ltiaas.reply(
        400,
        {
            "status": 400,
            "error": "Bad Request",
            "details": {"message": "MISSING_PARAMETER", "description": "Invalid registration id"},
        },
    )

    error = expect_error(RegistrationNotFound, lambda: api.complete_registration(REGISTRATION_ID))

    assert (error.status, error.details_message, error.details_description) == (
        400,
        "MISSING_PARAMETER",
        "Invalid registration id",
    )


@pytest.mark.parametrize("status", [408, 429])
def test_a_busy_ltiaas_is_unavailable_rather_than_an_unknown_registration(api, ltiaas, expect_error, status):
    ltiaas.reply(status, None)

    error = expect_error(LtiaasUnavailable, lambda: api.get_registration(REGISTRATION_ID))

    assert error.status == status


# One read: GET /api/registrations/{id}?raw=true, cleaned


PROFILES = json.loads(
    (Path(__file__).resolve().parents[2] / "portal" / "sandbox" / "lms_profiles.json").read_text()
)["profiles"]
TOKEN = "eyJhbGciOiJSUzI1NiJ9.registration-token-never-kept.sig"


def openid_configuration(profile: str, base: str = "https://lms.example.edu") -> dict:
    text = json.dumps(PROFILES[profile]["configuration"])
    return json.loads(text.replace("{base}", base).replace("{host}", "lms.example.edu"))


def raw_answer(configuration: dict) -> dict:
    return {"openIdConfiguration": configuration, "registrationToken": TOKEN}


def test_one_raw_read_gives_what_the_lms_said_about_itself(api, ltiaas, api_key):
    ltiaas.reply(200, raw_answer(openid_configuration("moodle-4.4")))

    details = api.read_registration(REGISTRATION_ID)

    assert details == RegistrationDetails(
        url="https://lms.example.edu",
        family_code="moodle",
        version="4.4.1+ (Build: 20240705)",
        supported_scopes=tuple(openid_configuration("moodle-4.4")["scopes_supported"]),
        supported_messages=(
            SupportedMessage("LtiResourceLinkRequest"),
            SupportedMessage("LtiDeepLinkingRequest", ("ContentArea",)),
        ),
    )
    [request] = ltiaas.received
    assert (request.method, request.path, request.query) == (
        "GET",
        f"/api/registrations/{REGISTRATION_ID}",
        {"raw": ["true"]},
    )
    assert_portal_headers(request, api_key)


@pytest.mark.parametrize("where", ["platform-configuration", "top-level"])
def test_an_older_moodle_s_separate_placements_go_to_deep_linking(api, ltiaas, where):
    configuration = openid_configuration("moodle-3.11")
    if where == "top-level":
        configuration["placements"] = configuration[PLATFORM_CONFIGURATION].pop("placements")
    ltiaas.reply(200, raw_answer(configuration))

    details = api.read_registration(REGISTRATION_ID)

    assert details.legacy_message_shape is True
    assert details.supported_messages == (
        SupportedMessage("LtiResourceLinkRequest"),
        SupportedMessage("LtiDeepLinkingRequest", ("AddContentMenu",)),
    )
    assert details.version == "3.11.4 (Build: 20211108)"
    assert len(ltiaas.received) == 1


def test_a_separate_placements_list_is_ignored_when_messages_are_objects(api, ltiaas):
    configuration = openid_configuration("moodle-4.4")
    configuration["placements"] = ["AddContentMenu"]
    ltiaas.reply(200, raw_answer(configuration))

    details = api.read_registration(REGISTRATION_ID)

    assert details.supported_messages[1] == SupportedMessage("LtiDeepLinkingRequest", ("ContentArea",))


def test_canvas_names_the_school_and_the_token_is_nowhere(api, ltiaas, caplog):
    ltiaas.reply(200, raw_answer(openid_configuration("canvas")))

    details = api.read_registration(REGISTRATION_ID)

    assert details.url == "https://canvas.instructure.com"
    assert (details.family_code, details.version) == ("canvas", "vCloud")
    assert details.account_name == "Springfield University"
    assert details.account_lti_guid == "794d72b707af6ea82cfe3d5d473f16888a8366c7.canvas.example.edu"
    assert [m.type for m in details.supported_messages] == [
        "LtiResourceLinkRequest",
        "LtiDeepLinkingRequest",
        "LtiEulaRequest",
    ]
    assert TOKEN not in repr(details) + str(vars(details))
    assert TOKEN not in caplog.text


def test_an_lms_without_a_school_name_has_none(api, ltiaas):
    ltiaas.reply(200, raw_answer(openid_configuration("sakai")))

    details = api.read_registration(REGISTRATION_ID)

    assert (details.account_name, details.account_lti_guid) == (None, None)
    assert details.family_code == "sakailms.org"


@pytest.mark.parametrize(
    ("given", "kept"),
    [
        ("  Springfield\n University\x07 ", "Springfield University"),
        ("S" * 400, "S" * 255),
        ("   ", None),
        (42, None),
        (None, None),
    ],
)
def test_the_school_name_is_one_bounded_line(api, ltiaas, given, kept):
    configuration = openid_configuration("canvas")
    configuration[PLATFORM_CONFIGURATION][CANVAS_ACCOUNT_NAME] = given
    ltiaas.reply(200, raw_answer(configuration))

    assert api.read_registration(REGISTRATION_ID).account_name == kept


def test_a_school_name_at_the_top_level_is_read_too(api, ltiaas):
    configuration = openid_configuration("canvas")
    platform = configuration[PLATFORM_CONFIGURATION]
    configuration[CANVAS_ACCOUNT_NAME] = platform.pop(CANVAS_ACCOUNT_NAME)
    configuration[CANVAS_ACCOUNT_LTI_GUID] = platform.pop(CANVAS_ACCOUNT_LTI_GUID)
    ltiaas.reply(200, raw_answer(configuration))

    details = api.read_registration(REGISTRATION_ID)

    assert (details.account_name, details.account_lti_guid) == (
        "Springfield University",
        "794d72b707af6ea82cfe3d5d473f16888a8366c7.canvas.example.edu",
    )


def test_odd_values_from_the_lms_are_read_leniently(api, ltiaas):
    configuration = copy.deepcopy(openid_configuration("brightspace"))
    configuration["scopes_supported"] = "openid"
    configuration[PLATFORM_CONFIGURATION]["messages_supported"] = [
        {"type": "LtiResourceLinkRequest", "placements": None},
        {"placements": ["no type"]},
        7,
    ]
    configuration[PLATFORM_CONFIGURATION]["version"] = 20
    ltiaas.reply(200, {"openIdConfiguration": configuration})

    details = api.read_registration(REGISTRATION_ID)

    assert details.supported_scopes == ()
    assert details.supported_messages == (SupportedMessage("LtiResourceLinkRequest"),)
    assert details.version == "20"


def test_an_lms_without_a_platform_configuration_still_reads(api, ltiaas):
    ltiaas.reply(200, {"openIdConfiguration": {"issuer": "https://lms.example.edu"}})

    details = api.read_registration(REGISTRATION_ID)

    assert (details.url, details.family_code, details.version) == ("https://lms.example.edu", "", "")
    assert (details.supported_scopes, details.supported_messages) == ((), ())


@pytest.mark.parametrize(
    "body",
    [
        {"registrationToken": TOKEN},
        {"openIdConfiguration": "x"},
        {"openIdConfiguration": {"registration_endpoint": "https://lms/reg"}},
        {"openIdConfiguration": {"issuer": ""}},
        {"openIdConfiguration": {"issuer": ["https://lms"]}},
        MOODLE_REGISTRATION,
        "<html>Welcome to nginx</html>",
    ],
    ids=[
        "no-configuration",
        "configuration-text",
        "no-issuer",
        "empty-issuer",
        "issuer-list",
        "summary",
        "html",
    ],
)
def test_a_raw_answer_in_an_unexpected_shape_is_an_invalid_response(api, ltiaas, expect_error, body):
    ltiaas.reply(200, body)

    error = expect_error(LtiaasInvalidResponse, lambda: api.read_registration(REGISTRATION_ID))

    assert TOKEN not in str(error)


def test_an_unknown_registration_read_raw_is_not_found(api, ltiaas, expect_error):
    ltiaas.reply(404, {"status": 404, "details": {"message": "REGISTRATION_NOT_FOUND"}})

    expect_error(RegistrationNotFound, lambda: api.read_registration(REGISTRATION_ID))

    assert len(ltiaas.received) == 1


def test_the_older_raw_read_does_not_show_the_token_in_its_repr(api, ltiaas):
    ltiaas.reply(200, raw_answer({"issuer": "https://lms.example.edu"}))

    raw = api.get_raw_registration(REGISTRATION_ID)

    assert raw.registration_token == TOKEN
    assert TOKEN not in repr(raw)
