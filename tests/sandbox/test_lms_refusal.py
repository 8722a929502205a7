"""An LMS that refuses the registration, and LTIAAS passing its answer through to the portal's client.

Over real HTTP: the sandbox LMS refuses (Sakai and Brightspace: 400 in RFC 7591 terms; Moodle:
400 with its words as plain text; Canvas: 422), the sandbox LTIAAS wraps that answer as LTIAAS does, and the
portal's own client reads the LMS's words from it. Also the portal's one raw
read of a registration against the sandbox.
"""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
import requests

from portal.ltiaas import LmsRefusedRegistration, LtiaasClient, SupportedMessage
from portal.models import utcnow
from tests.sandbox.helpers import PLAYABLE, Sandbox

REFUSAL = "This LMS does not accept tools from this domain."


@pytest.mark.parametrize("profile", [p for p in PLAYABLE if p != "canvas" and not p.startswith("moodle")])
def test_an_lms_refusal_passes_through_ltiaas_in_rfc7591_terms(sandbox: Sandbox, profile: str) -> None:
    started = sandbox.start(profile, refusal=REFUSAL)
    registration_id = sandbox.receive(started)

    refused = sandbox.complete(registration_id)

    assert refused.status_code == 500
    body = refused.json()
    external_url = body["details"].pop("externalUrl")
    assert body == {
        "status": 500,
        "error": "Internal Server Error",
        "details": {
            "message": "Response code 400 (Bad Request)",
            "externalError": True,
            "bodyReceived": {"error": "invalid_client_metadata", "error_description": REFUSAL},
        },
    }
    assert external_url.startswith(sandbox.registration_endpoint(profile))  # Brightspace adds ?attempt=
    assert sandbox.lms_tools() == []
    assert sandbox.platforms() == []
    assert sandbox.registration(registration_id).status_code == 200  # LTIAAS keeps it, as ltijs does


@pytest.mark.parametrize("profile", ["moodle-4.4", "moodle-3.11"])
def test_moodle_refuses_in_plain_text_which_ltiaas_passes_through_as_text(
    sandbox: Sandbox, profile: str
) -> None:
    registration_id = sandbox.receive(sandbox.start(profile, refusal=REFUSAL))

    details = sandbox.complete(registration_id).json()["details"]

    assert details["message"] == "Response code 400 (Bad Request)"
    assert details["bodyReceived"] == REFUSAL
    assert sandbox.lms_tools() == []


def test_canvas_refuses_with_a_422_and_its_errors_list(sandbox: Sandbox) -> None:
    registration_id = sandbox.receive(sandbox.start("canvas", refusal=REFUSAL))

    refused = sandbox.complete(registration_id)

    details = refused.json()["details"]
    assert details["message"] == "Response code 422 (Unprocessable Entity)"
    assert details["bodyReceived"] == {"errors": [{"message": REFUSAL}]}
    assert details["externalUrl"] == sandbox.registration_endpoint("canvas")


def test_a_refusing_lms_keeps_its_token_unused_and_refuses_every_time(sandbox: Sandbox) -> None:
    started = sandbox.start("moodle-4.4", refusal=REFUSAL)
    registration_id = sandbox.receive(started)

    first, second = sandbox.complete(registration_id), sandbox.complete(registration_id)

    assert first.status_code == second.status_code == 500
    assert second.json()["details"]["bodyReceived"] == REFUSAL
    assert sandbox.lms_tools() == []


@pytest.mark.parametrize(
    ("profile", "status", "code"),
    [("moodle-4.4", 400, None), ("sakai", 400, "invalid_client_metadata"), ("canvas", 422, None)],
)
def test_the_portal_s_client_reads_the_lms_s_own_words(
    sandbox: Sandbox, ltiaas_client: LtiaasClient, profile: str, status: int, code: str | None
) -> None:
    registration_id = sandbox.receive(sandbox.start(profile, refusal=REFUSAL))

    with pytest.raises(LmsRefusedRegistration) as refused:
        ltiaas_client.complete_registration(registration_id, platform_name="Springfield")

    error = refused.value
    assert (error.lms_status, error.lms_error, error.lms_error_description) == (status, code, REFUSAL)
    assert error.lms_url == sandbox.registration_endpoint(profile).split("?")[0]
    assert len(sandbox.calls(f"/api/registrations/{registration_id}/complete")) == 1


def test_the_portal_s_client_tells_an_expired_token_as_the_lms_s_refusal(
    sandbox: Sandbox, ltiaas_client: LtiaasClient
) -> None:
    registration_id = sandbox.receive(
        sandbox.start("moodle-3.11", issued_at=utcnow() - timedelta(seconds=3601))
    )

    with pytest.raises(LmsRefusedRegistration) as refused:
        ltiaas_client.complete_registration(registration_id)

    assert (refused.value.lms_status, refused.value.lms_error) == (401, None)  # Moodle: plain text
    assert "expired" in (refused.value.lms_error_description or "")


# The portal's one read of a registration


def test_one_raw_read_names_the_canvas_school(sandbox: Sandbox, ltiaas_client: LtiaasClient) -> None:
    started = sandbox.start("canvas")
    registration_id = sandbox.receive(started)

    details = ltiaas_client.read_registration(registration_id)

    assert details.url == "https://canvas.instructure.com"
    assert details.account_name == "Springfield University"
    assert details.account_lti_guid
    assert started.registration_token not in repr(details)
    assert [(c["method"], c["status"]) for c in sandbox.calls(registration_id)] == [("GET", 200)]


def test_one_raw_read_gives_an_older_moodle_s_placements_to_deep_linking(
    sandbox: Sandbox, ltiaas_client: LtiaasClient
) -> None:
    registration_id = sandbox.receive(sandbox.start("moodle-3.11"))

    details = ltiaas_client.read_registration(registration_id)

    assert details.legacy_message_shape is True
    assert details.supported_messages == (
        SupportedMessage("LtiResourceLinkRequest"),
        SupportedMessage("LtiDeepLinkingRequest", ("AddContentMenu",)),
    )
    assert len(sandbox.calls(registration_id)) == 1


# The admin page's refusal option


def test_the_admin_page_offers_to_refuse_and_the_start_button_sends_it(sandbox: Sandbox) -> None:
    page = requests.get(f"{sandbox.live.lms_url}/sandbox/lms/", timeout=10)
    assert 'id="refuse"' in page.text
    assert f'value="{REFUSAL}"' in page.text
    csrf = re.search(r'name="csrf-token" content="([^"]+)"', page.text)
    session_token = re.search(r'name="session-token" content="([^"]+)"', page.text)
    assert csrf is not None and session_token is not None
    headers = {"X-CSRFToken": csrf.group(1), "X-Session-Token": session_token.group(1)}
    start = f"{sandbox.live.lms_url}/sandbox/lms/attempts"

    not_text = requests.post(start, json={"profile": "sakai", "refusal": ["no"]}, headers=headers, timeout=10)
    too_long = requests.post(
        start, json={"profile": "sakai", "refusal": "x" * 1001}, headers=headers, timeout=10
    )
    started = requests.post(start, json={"profile": "sakai", "refusal": REFUSAL}, headers=headers, timeout=10)

    assert (not_text.status_code, too_long.status_code) == (400, 400)
    assert started.status_code == 200, started.text
    registration_id = sandbox.receive_at(started.json()["register_url"])
    refused = sandbox.complete(registration_id)
    assert refused.json()["details"]["bodyReceived"]["error_description"] == REFUSAL
