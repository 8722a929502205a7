"""The fake LTIAAS (tests/fakes/ltiaas.py) plays LTIAAS's API as the reference documents it, refusals
included: read by the portal's own client, so that the flow's tests prove what they claim."""

from __future__ import annotations

import pytest
import requests

from portal.ltiaas import (
    LmsRefusedRegistration,
    LtiaasClient,
    LtiaasOutcomeUnknown,
    LtiaasRequestRejected,
    LtiaasUnauthorized,
    PlatformNotFound,
    RegistrationNotFound,
    SupportedMessage,
)
from tests.fakes.ltiaas import CLOSE_HTML, MOODLE_URL, FakeLtiaas

PLATFORM = {
    "url": "https://lms.example.edu",
    "clientId": "client-1",
    "name": "Example LMS",
    "authenticationEndpoint": "https://lms.example.edu/auth",
    "accesstokenEndpoint": "https://lms.example.edu/token",
    "authConfig": {"method": "JWK_SET", "key": "https://lms.example.edu/jwks"},
}


def test_a_registration_is_read_raw_or_summarised_until_it_is_completed_once(
    api: LtiaasClient, ltiaas: FakeLtiaas
) -> None:
    details = api.read_registration("reg-moodle")
    raw = api.get_raw_registration("reg-moodle")
    summary = api.get_registration("reg-moodle")
    assert details.url == summary.url == raw.openid_configuration["issuer"] == MOODLE_URL
    assert (details.family_code, details.version) == ("moodle", "4.4.1+ (Build: 20240705)")
    assert raw.registration_token is not None and raw.registration_token.startswith("eyJ")

    result = api.complete_registration(
        "reg-moodle",
        platform_name="Springfield",
        auto_activate=False,
        messages=[SupportedMessage("LtiResourceLinkRequest")],
    )

    assert result.html == CLOSE_HTML
    (platform,) = api.list_platforms(url=MOODLE_URL)
    assert (platform.id, platform.name, platform.active) == (result.platform_id, "Springfield", False)
    assert platform.accesstoken_endpoint == f"{MOODLE_URL}/mod/lti/token.php"
    assert ltiaas.registration_status("reg-moodle") == "completed"
    with pytest.raises(RegistrationNotFound) as used:
        api.complete_registration("reg-moodle")
    assert used.value.status == 404 and used.value.details_message == "REGISTRATION_NOT_FOUND"
    with pytest.raises(RegistrationNotFound):
        api.read_registration("reg-moodle")


def test_complete_without_a_name_gets_ltijs_default_name_and_ltiaas_activation_setting(
    api: LtiaasClient, ltiaas: FakeLtiaas
) -> None:
    ltiaas.auto_activate_by_default = False
    platform_id = api.complete_registration("reg-canvas").platform_id
    platform = api.get_platform(platform_id)
    assert platform.name.startswith("canvas_DynReg_") and platform.active is False
    assert platform.url == "https://canvas.instructure.com"
    assert platform.authorization_server == "springfield.instructure.com"


@pytest.mark.parametrize(
    "body",
    [{"platformName": 7}, {"autoActivate": "yes"}, {"messages": [{"placements": []}]}, {"messages": "all"}],
)
def test_a_complete_body_of_the_wrong_shape_is_refused_and_changes_nothing(
    ltiaas: FakeLtiaas, api_key: str, body: dict[str, object]
) -> None:
    refused = requests.post(
        f"{ltiaas.url}/api/registrations/reg-moodle/complete",
        json=body,
        headers={"Authorization": f"Bearer {api_key}"},
        timeout=5,
    )
    assert refused.status_code == 400
    assert refused.json()["details"]["message"] == "MISSING_OR_INVALID_PARAMETER"
    assert ltiaas.registration_status("reg-moodle") == "pending" and ltiaas.platforms == []


def test_platforms_are_created_read_replaced_switched_and_deleted(api: LtiaasClient) -> None:
    created = api.create_platform(PLATFORM)
    assert created.active is True and created.public_key and created.public_key.startswith("-----BEGIN")
    assert api.list_platforms(client_id="client-1") == [created]
    assert api.list_platforms(platform_id=created.id) == [created]
    assert api.list_platforms(url="https://elsewhere.example.edu") == []

    replaced = api.update_platform(created.id, {**PLATFORM, "name": "Renamed"})
    api.deactivate_platform(created.id)
    assert (api.get_platform(created.id).name, api.get_platform(created.id).active) == ("Renamed", False)
    api.activate_platform(created.id)
    assert api.get_platform(created.id).active is True and replaced.id == created.id

    api.delete_platform(created.id)
    with pytest.raises(PlatformNotFound):
        api.get_platform(created.id)
    with pytest.raises(PlatformNotFound):
        api.delete_platform(created.id)


def test_a_duplicate_or_incomplete_platform_is_refused_as_ltijs_does(api: LtiaasClient) -> None:
    api.create_platform(PLATFORM)
    with pytest.raises(LtiaasRequestRejected) as duplicate:
        api.create_platform({**PLATFORM, "name": "Again"})
    assert (duplicate.value.status, duplicate.value.details_description) == (
        403,
        "Platform already registered.",
    )
    with pytest.raises(LtiaasRequestRejected) as incomplete:
        api.create_platform({"url": "https://lms.example.edu"})
    assert incomplete.value.status == 400


def test_a_wrong_key_is_refused_with_ltiaas_documented_body(
    make_client, ltiaas: FakeLtiaas, expect_error
) -> None:
    error = expect_error(LtiaasUnauthorized, make_client(api_key="not-our-key").list_platforms)
    assert (error.status, error.details_description) == (401, "Invalid API key")
    assert ltiaas.last.headers["authorization"] == "Bearer not-our-key"


def test_a_fault_that_acted_loses_the_answer_after_ltiaas_registered(
    api: LtiaasClient, ltiaas: FakeLtiaas
) -> None:
    ltiaas.drop_connection("complete_registration", acted="completed")
    with pytest.raises(LtiaasOutcomeUnknown):
        api.complete_registration("reg-moodle", platform_name="Springfield")
    created = ltiaas.platform_created_by("reg-moodle")
    assert created is not None and api.list_platforms(url=MOODLE_URL)[0].id == created["id"]


def test_the_lms_refusal_names_the_registration_endpoint_and_keeps_the_registration_open(
    api: LtiaasClient, ltiaas: FakeLtiaas
) -> None:
    ltiaas.refuse_as_lms(400, {"error": "invalid_client_metadata", "error_description": "No."})
    with pytest.raises(LmsRefusedRegistration) as refused:
        api.complete_registration("reg-moodle")
    assert refused.value.lms_url == f"{MOODLE_URL}/mod/lti/openid-registration.php"
    assert ltiaas.registration_status("reg-moodle") == "pending"
    assert api.complete_registration("reg-moodle").platform_id
