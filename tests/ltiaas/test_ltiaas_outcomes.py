"""What a failed call says LTIAAS did: nothing (not sent), unknown (may have acted), or the LMS refused.

Over real HTTP against the fake LTIAAS: refused and timed-out connects, answers
that never come, connections dropped once the request is in, 5xx, and the LMS's
refusal wrapped the way LTIAAS (ltijs) reports it.
"""

from __future__ import annotations

import pytest
import requests

from portal.ltiaas import (
    LmsRefusedRegistration,
    LtiaasError,
    LtiaasInvalidResponse,
    LtiaasOutcomeUnknown,
    LtiaasUnauthorized,
    LtiaasUnavailable,
    RegistrationNotFound,
)
from tests.fakes.ltiaas import lms_refusal

REGISTRATION_ID = "A2F48n9Ss8Hjpw4gjo0"
PLATFORM = {"id": "p1", "url": "https://lms.example.edu", "clientId": "c1", "name": "LMS"}
MOODLE_ENDPOINT = "https://moodle.example.edu/mod/lti/openid-registration.php"
CANVAS_ENDPOINT = "https://canvas.example.edu/api/lti/registrations"
DOMAIN_REFUSED = "This LMS does not accept tools from this domain."

NEVER_RETRIED = {
    "complete_registration": lambda api: api.complete_registration(REGISTRATION_ID, platform_name="Campus"),
    "create_platform": lambda api: api.create_platform(PLATFORM),
}
READS = {
    "read_registration": lambda api: api.read_registration(REGISTRATION_ID),
    "list_platforms": lambda api: api.list_platforms(),
}


def complete(api):
    return api.complete_registration(REGISTRATION_ID, platform_name="Campus")


# Nothing was sent: nothing happened


@pytest.mark.parametrize("call", [*NEVER_RETRIED.values(), *READS.values()], ids=[*NEVER_RETRIED, *READS])
def test_a_refused_connection_means_nothing_was_sent(make_client, closed_url, expect_error, call):
    api = make_client(base_url=closed_url)

    error = expect_error(LtiaasUnavailable, lambda: call(api))

    assert not isinstance(error, LtiaasOutcomeUnknown)
    assert error.request_sent is False
    assert "nothing was sent" in str(error)


@pytest.mark.parametrize("name", sorted(NEVER_RETRIED))
def test_a_connect_timeout_means_nothing_was_sent(make_client, unconnectable_url, expect_error, name):
    api = make_client(base_url=unconnectable_url, connect_timeout=0.2)

    error = expect_error(LtiaasUnavailable, lambda: NEVER_RETRIED[name](api))

    assert isinstance(error.__cause__, requests.ConnectTimeout)
    assert not isinstance(error, LtiaasOutcomeUnknown)
    assert error.request_sent is False


def test_a_name_that_does_not_resolve_means_nothing_was_sent(make_client, expect_error):
    api = make_client(base_url="http://ltiaas.invalid")

    error = expect_error(LtiaasUnavailable, lambda: complete(api))

    assert not isinstance(error, LtiaasOutcomeUnknown)
    assert error.request_sent is False


# Sent, and no answer says what LTIAAS did: unknown


@pytest.mark.parametrize("name", sorted(NEVER_RETRIED))
def test_no_answer_after_the_request_was_sent_leaves_the_outcome_unknown(
    make_client, ltiaas, expect_error, name
):
    api = make_client(read_timeout=0.2)
    ltiaas.reply(200, {"platformId": "p1", "html": ""}, delay=1.0)

    error = expect_error(LtiaasOutcomeUnknown, lambda: NEVER_RETRIED[name](api))

    assert isinstance(error.__cause__, requests.ReadTimeout)
    assert error.request_sent is True
    assert "may have acted" in str(error)
    assert len(ltiaas.received) == 1
    assert ltiaas.last.method == "POST"


@pytest.mark.parametrize("how", ["reset", "hang_up"])
@pytest.mark.parametrize("name", sorted(NEVER_RETRIED))
def test_a_connection_dropped_after_sending_leaves_the_outcome_unknown(api, ltiaas, expect_error, name, how):
    ltiaas.drop(how, times=3)

    error = expect_error(LtiaasOutcomeUnknown, lambda: NEVER_RETRIED[name](api))

    assert isinstance(error.__cause__, requests.ConnectionError)
    assert error.request_sent is True
    assert "dropped the connection after the request was sent" in str(error)
    assert len(ltiaas.received) == 1


@pytest.mark.parametrize("status", [500, 502, 503, 504])
@pytest.mark.parametrize("name", sorted(NEVER_RETRIED))
def test_a_server_error_leaves_the_outcome_unknown(api, ltiaas, expect_error, name, status):
    ltiaas.reply(status, {"status": status, "error": "Internal Server Error", "details": {"message": "boom"}})

    error = expect_error(LtiaasOutcomeUnknown, lambda: NEVER_RETRIED[name](api))

    assert (error.status, error.details_message, error.request_sent) == (status, "boom", True)
    assert len(ltiaas.received) == 1


def test_a_success_that_cannot_be_read_leaves_the_outcome_unknown(api, ltiaas, expect_error):
    ltiaas.reply(200, "<html>OK</html>")

    error = expect_error(LtiaasOutcomeUnknown, lambda: complete(api))

    assert error.status == 200
    assert isinstance(error.__cause__, LtiaasInvalidResponse)


@pytest.mark.parametrize("status", [408, 429])
def test_not_now_means_ltiaas_did_nothing(api, ltiaas, expect_error, status):
    ltiaas.reply(status, None)

    error = expect_error(LtiaasUnavailable, lambda: complete(api))

    assert not isinstance(error, LtiaasOutcomeUnknown)
    assert (error.status, error.request_sent) == (status, True)


@pytest.mark.parametrize("name", sorted(READS))
def test_a_read_that_fails_is_unavailable_not_unknown(make_client, ltiaas, expect_error, name):
    api = make_client(retries=0)
    ltiaas.reply(500, {"status": 500})

    error = expect_error(LtiaasUnavailable, lambda: READS[name](api))

    assert not isinstance(error, LtiaasOutcomeUnknown)


def test_a_read_dropped_after_sending_is_simply_tried_again(api, ltiaas):
    ltiaas.drop("reset")
    ltiaas.reply(200, {"platforms": []})

    assert api.list_platforms() == []
    assert len(ltiaas.received) == 2


# The LMS refused: nothing was registered, in the LMS's own words


def test_moodles_rfc7591_refusal_comes_back_in_its_own_words(api, ltiaas, expect_error):
    lms_body = {"error": "invalid_client_metadata", "error_description": DOMAIN_REFUSED}
    ltiaas.reply(*lms_refusal(400, lms_body, MOODLE_ENDPOINT))

    error = expect_error(LmsRefusedRegistration, lambda: complete(api))

    assert (error.lms_status, error.lms_error, error.lms_error_description) == (
        400,
        "invalid_client_metadata",
        DOMAIN_REFUSED,
    )
    assert error.lms_url == MOODLE_ENDPOINT
    assert (error.status, error.request_sent) == (500, True)
    assert not isinstance(error, LtiaasUnavailable)
    assert str(error) == (
        f"The LMS refused the registration (HTTP 400): invalid_client_metadata: {DOMAIN_REFUSED}"
    )
    assert len(ltiaas.received) == 1


@pytest.mark.parametrize(
    ("errors", "words"),
    [
        ([{"message": "Tool domain is not allowed"}], "Tool domain is not allowed"),
        (["Too many tools", "Name taken"], "Too many tools; Name taken"),
        (
            {"client_name": [{"attribute": "client_name", "type": "blank", "message": "can't be blank"}]},
            "client_name: can't be blank",
        ),
    ],
    ids=["messages", "strings", "by-field"],
)
def test_canvas_422_refusal_comes_back_in_its_own_words(api, ltiaas, expect_error, errors, words):
    ltiaas.reply(*lms_refusal(422, {"errors": errors}, CANVAS_ENDPOINT))

    error = expect_error(LmsRefusedRegistration, lambda: complete(api))

    assert (error.lms_status, error.lms_error, error.lms_error_description) == (422, None, words)


@pytest.mark.parametrize(
    "lms_body",
    [
        "invalid_response_types",
        '{"error": "invalid_client_metadata", "error_description": "invalid_response_types"}',
    ],
    ids=["moodle-plain-text", "json-as-text"],
)
def test_a_refusal_received_as_text_is_read_too(api, ltiaas, expect_error, lms_body):
    ltiaas.reply(*lms_refusal(400, lms_body, MOODLE_ENDPOINT))

    error = expect_error(LmsRefusedRegistration, lambda: complete(api))

    assert error.lms_error_description == "invalid_response_types"


def test_an_lms_status_worded_by_newer_got_and_an_lms_401_are_the_lms_s_not_our_key(
    api, ltiaas, expect_error
):
    ltiaas.reply(
        401,
        {
            "status": 401,
            "error": "Unauthorized",
            "details": {
                "message": f"Request failed with status code 401 (Unauthorized): POST {MOODLE_ENDPOINT}",
                "externalError": True,
                "bodyReceived": {"error": "invalid_token", "error_description": "The token has expired."},
            },
        },
    )

    error = expect_error(LmsRefusedRegistration, lambda: complete(api))

    assert (error.lms_status, error.lms_error) == (401, "invalid_token")
    assert error.lms_error_description == "The token has expired."


def test_the_lms_answer_inside_external_error_itself_is_read_too(api, ltiaas, expect_error):
    status, body = lms_refusal(400, None, MOODLE_ENDPOINT)
    del body["details"]["bodyReceived"]
    body["details"]["externalError"] = {
        "error": "invalid_client_metadata",
        "error_description": DOMAIN_REFUSED,
    }
    ltiaas.reply(status, body)

    error = expect_error(LmsRefusedRegistration, lambda: complete(api))

    assert error.lms_error_description == DOMAIN_REFUSED


def test_the_lms_s_words_are_one_bounded_line_without_our_key_or_the_endpoint_s_query(
    api, ltiaas, expect_error, api_key
):
    hostile = "Refused:\nsee\x00 <b>admin</b>\t" + f"Bearer {api_key} " + "x" * 1000
    endpoint = f"{MOODLE_ENDPOINT}?registrationToken=secret-token"
    ltiaas.reply(
        *lms_refusal(400, {"error": "invalid_client_metadata", "error_description": hostile}, endpoint)
    )

    error = expect_error(LmsRefusedRegistration, lambda: complete(api))

    words = error.lms_error_description
    assert words.startswith("Refused: see <b>admin</b> Bearer *** xxx")
    assert len(words) == 300
    assert error.lms_url == MOODLE_ENDPOINT
    assert "secret-token" not in repr(vars(error)) + str(error)


def test_an_lms_error_page_in_html_is_not_shown_as_the_lms_s_words(api, ltiaas, expect_error):
    ltiaas.reply(*lms_refusal(403, "<!DOCTYPE html><html><body>Forbidden</body></html>", MOODLE_ENDPOINT))

    error = expect_error(LmsRefusedRegistration, lambda: complete(api))

    assert (error.lms_status, error.lms_error_description) == (403, None)


def test_ltiaas_failing_to_reach_the_lms_is_not_a_refusal_but_unknown(api, ltiaas, expect_error):
    ltiaas.reply(
        500,
        {
            "status": 500,
            "error": "Internal Server Error",
            "details": {
                "message": "connect ETIMEDOUT",
                "externalError": True,
                "externalUrl": MOODLE_ENDPOINT,
            },
        },
    )

    expect_error(LtiaasOutcomeUnknown, lambda: complete(api))


def test_a_body_received_on_our_own_refused_key_is_still_our_key(api, ltiaas, expect_error):
    ltiaas.reply(
        401,
        {
            "status": 401,
            "details": {"message": "INVALID_API_KEY", "bodyReceived": {"platformName": "Campus"}},
        },
    )

    expect_error(LtiaasUnauthorized, lambda: complete(api))


def test_a_refusal_is_only_read_on_complete(api, ltiaas, expect_error):
    ltiaas.reply(*lms_refusal(400, {"error": "invalid_client_metadata"}, MOODLE_ENDPOINT))

    error = expect_error(LtiaasUnavailable, lambda: api.read_registration(REGISTRATION_ID))

    assert not isinstance(error, LmsRefusedRegistration)


def test_a_used_registration_on_complete_is_still_not_found(api, ltiaas, expect_error):
    ltiaas.reply(404, {"status": 404, "details": {"message": "REGISTRATION_NOT_FOUND"}})

    error = expect_error(RegistrationNotFound, lambda: complete(api))

    assert error.request_sent is True


def test_every_new_error_is_an_ltiaas_error():
    assert issubclass(LtiaasOutcomeUnknown, LtiaasUnavailable)
    assert issubclass(LmsRefusedRegistration, LtiaasError)
    assert not issubclass(LmsRefusedRegistration, LtiaasUnavailable)
