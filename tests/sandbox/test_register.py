"""LTIAAS's `/lti/register`: discovery of the LMS's configuration, and what it refuses."""

from __future__ import annotations

from urllib.parse import urlencode

import pytest
import requests

from portal.sandbox.profiles import _raw_profiles, get_profile
from tests.conftest import free_port
from tests.sandbox.helpers import ForgedLms, Sandbox


def register_url(sandbox: Sandbox, **params: str) -> str:
    return f"{sandbox.live.url}/lti/register?{urlencode(params)}"


def forged_configuration(forged: ForgedLms, **changes: object) -> dict[str, object]:
    configuration = get_profile("moodle-4.4").configuration(forged.url)
    configuration.update(changes)
    return configuration


def test_the_lms_may_post_the_registration_start(sandbox: Sandbox) -> None:
    started = sandbox.start("moodle-4.4")

    response = requests.post(
        f"{sandbox.live.url}/lti/register",
        data={
            "openid_configuration": started.openid_configuration_url,
            "registration_token": started.registration_token,
        },
        allow_redirects=False,
        timeout=10,
    )

    assert response.status_code == 302
    assert "/intermediate-target?registrationId=" in response.headers["Location"]


def test_a_missing_configuration_url_gets_an_error_page(sandbox: Sandbox) -> None:
    response = sandbox.open_register_url(register_url(sandbox, registration_token="abc"))

    assert response.status_code == 400
    assert response.headers["Content-Type"].startswith("text/html")
    assert "openid_configuration parameter is missing" in response.text


def test_an_unreachable_configuration_gets_a_502(sandbox: Sandbox) -> None:
    url = f"http://127.0.0.1:{free_port()}/openid-configuration"

    response = sandbox.open_register_url(register_url(sandbox, openid_configuration=url))

    assert response.status_code == 502
    assert "Could not reach" in response.text


def test_a_configuration_that_is_not_json_gets_a_502(sandbox: Sandbox, forged_lms: ForgedLms) -> None:
    url = forged_lms.serve_text("/config", "<html>Login required</html>")

    response = sandbox.open_register_url(register_url(sandbox, openid_configuration=url))

    assert response.status_code == 502
    assert "not valid JSON" in response.text


def test_a_registration_endpoint_on_another_host_is_refused(sandbox: Sandbox, forged_lms: ForgedLms) -> None:
    configuration = forged_configuration(
        forged_lms, registration_endpoint="https://attacker.example/register"
    )
    url = forged_lms.serve_json("/config", configuration)

    response = sandbox.open_register_url(
        register_url(sandbox, openid_configuration=url, registration_token="t")
    )

    assert response.status_code == 400
    assert "not on the host of the OpenID configuration" in response.text
    assert sandbox.calls("/lti/register")[-1]["status"] == 400


def test_blackboards_developer_portal_configuration_is_refused(
    sandbox: Sandbox, forged_lms: ForgedLms
) -> None:
    configuration = _raw_profiles()["blackboard-developer-portal"]["configuration"]
    url = forged_lms.serve_json("/config", configuration)

    response = sandbox.open_register_url(register_url(sandbox, openid_configuration=url))

    assert response.status_code == 400


def test_an_issuer_on_another_host_is_fine_as_canvas_does_it(sandbox: Sandbox, forged_lms: ForgedLms) -> None:
    configuration = forged_configuration(
        forged_lms,
        issuer="https://canvas.instructure.com",
        registration_endpoint=f"{forged_lms.url}/api/lti/registrations",
    )
    url = forged_lms.serve_json("/config", configuration)

    response = sandbox.open_register_url(register_url(sandbox, openid_configuration=url))

    assert response.status_code == 302


@pytest.mark.parametrize("token", ["eyJ.registration.token", None])
def test_discovery_sends_the_token_only_when_given_and_always_a_user_agent(
    sandbox: Sandbox, forged_lms: ForgedLms, token: str | None
) -> None:
    url = forged_lms.serve_json("/config", forged_configuration(forged_lms))
    params = {"openid_configuration": url} | ({"registration_token": token} if token else {})

    assert sandbox.open_register_url(register_url(sandbox, **params)).status_code == 302

    [headers] = forged_lms.seen_headers
    assert headers.get("Authorization") == (f"Bearer {token}" if token else None)
    assert headers["User-Agent"]
