"""The LTIAAS stand-in's API: the API key, error bodies, and platforms."""

from __future__ import annotations

import pytest
import requests

from tests.fakes.sleeps import RecordedSleeps
from tests.sandbox.helpers import Sandbox

UNAUTHORIZED = {
    "status": 401,
    "error": "Unauthorized",
    "details": {"message": "INVALID_LTIK_AUTH_AUTHORIZATION_HEADER", "description": "Invalid API key"},
}


def new_platform(**changes: object) -> dict[str, object]:
    platform: dict[str, object] = {
        "url": "https://moodle.springfield.edu",
        "clientId": "abc123",
        "name": "Springfield Moodle",
        "authenticationEndpoint": "https://moodle.springfield.edu/mod/lti/auth.php",
        "accesstokenEndpoint": "https://moodle.springfield.edu/mod/lti/token.php",
        "authConfig": {"method": "JWK_SET", "key": "https://moodle.springfield.edu/mod/lti/certs.php"},
    }
    platform.update(changes)
    return platform


API_CALLS = [
    ("GET", "/api/registrations/anything"),
    ("POST", "/api/registrations/anything/complete"),
    ("GET", "/api/platforms"),
    ("POST", "/api/platforms"),
    ("PUT", "/api/platforms/anything"),
    ("DELETE", "/api/platforms/anything"),
    ("POST", "/api/platforms/anything/activate"),
]


@pytest.mark.parametrize(
    "authorization",
    [None, "Bearer wrong-key", "sandbox-api-key", "LTIK-AUTH-V2 sandbox-api-key:ltik", "Bearer "],
)
def test_the_api_refuses_anything_but_the_bearer_api_key(sandbox: Sandbox, authorization: str | None) -> None:
    headers = {"Authorization": authorization} if authorization is not None else {}

    for method, path in API_CALLS:
        response = requests.request(method, sandbox.live.url + path, headers=headers, json={}, timeout=10)
        assert response.status_code == 401, (method, path)
        assert response.json() == UNAUTHORIZED


def test_platforms_can_be_created_found_replaced_toggled_and_deleted(sandbox: Sandbox) -> None:
    api = sandbox.api
    created = api.post(sandbox.platforms_url, json=new_platform(), timeout=10)
    assert created.status_code == 200
    platform = created.json()
    assert platform["active"] is True
    assert platform["publicKey"].startswith("-----BEGIN PUBLIC KEY-----")
    other = api.post(
        sandbox.platforms_url, json=new_platform(url="https://canvas.instructure.com"), timeout=10
    )
    assert other.status_code == 200

    assert [p["id"] for p in sandbox.platforms()] == [platform["id"], other.json()["id"]]
    assert [p["id"] for p in sandbox.platforms(url="https://moodle.springfield.edu")] == [platform["id"]]
    assert [p["id"] for p in sandbox.platforms(clientId="abc123")] == [platform["id"], other.json()["id"]]
    assert [p["id"] for p in sandbox.platforms(id=other.json()["id"])] == [other.json()["id"]]
    assert sandbox.platforms(url="https://nowhere.example") == []

    url = f"{sandbox.platforms_url}/{platform['id']}"
    assert api.get(url, timeout=10).json() == platform

    replaced = api.put(url, json=new_platform(name="Springfield Moodle (new)", clientId="xyz"), timeout=10)
    assert replaced.status_code == 200
    assert replaced.json()["name"] == "Springfield Moodle (new)"
    assert replaced.json()["clientId"] == "xyz"
    assert replaced.json()["id"] == platform["id"]

    deactivated = api.post(f"{url}/deactivate", timeout=10)
    assert deactivated.status_code == 200
    assert api.get(url, timeout=10).json()["active"] is False
    assert api.post(f"{url}/activate", timeout=10).status_code == 200
    assert api.get(url, timeout=10).json()["active"] is True

    deleted = api.delete(url, timeout=10)
    assert deleted.status_code == 204
    assert deleted.content == b""
    gone = api.get(url, timeout=10)
    assert gone.status_code == 404
    assert gone.json()["details"]["message"] == "PLATFORM_NOT_FOUND"


def test_the_same_issuer_and_client_id_cannot_be_registered_twice(sandbox: Sandbox) -> None:
    assert sandbox.api.post(sandbox.platforms_url, json=new_platform(), timeout=10).status_code == 200

    again = sandbox.api.post(sandbox.platforms_url, json=new_platform(name="Again"), timeout=10)

    assert again.status_code == 403
    assert again.json()["status"] == 403
    assert again.json()["error"] == "Forbidden"
    assert again.json()["details"]["description"] == "Platform already registered."


@pytest.mark.parametrize(
    "body",
    [
        new_platform(url=None),
        new_platform(clientId=""),
        new_platform(authConfig={"method": "PASSWORD", "key": "x"}),
        {"url": "https://moodle.springfield.edu"},
        ["not", "an", "object"],
    ],
)
def test_a_platform_needs_its_six_core_fields(sandbox: Sandbox, body: object) -> None:
    created = sandbox.api.post(sandbox.platforms_url, json=body, timeout=10)
    assert created.status_code == 400
    assert created.json()["details"]["message"] == "MISSING_OR_INVALID_PARAMETER"

    existing = sandbox.api.post(sandbox.platforms_url, json=new_platform(), timeout=10).json()
    replaced = sandbox.api.put(f"{sandbox.platforms_url}/{existing['id']}", json=body, timeout=10)
    assert replaced.status_code == 400


def test_unknown_platforms_are_not_found(sandbox: Sandbox) -> None:
    for method, suffix in [
        ("GET", ""),
        ("PUT", ""),
        ("DELETE", ""),
        ("POST", "/activate"),
        ("POST", "/deactivate"),
    ]:
        response = sandbox.api.request(
            method, f"{sandbox.platforms_url}/nope{suffix}", json=new_platform(), timeout=10
        )
        assert response.status_code == 404, (method, suffix)
        assert response.json()["details"]["message"] == "PLATFORM_NOT_FOUND"


def test_a_complete_body_of_the_wrong_shape_is_refused_without_using_the_registration(
    sandbox: Sandbox,
) -> None:
    registration_id = sandbox.receive(sandbox.start("moodle-4.4"))

    for body in ({"autoActivate": "yes"}, {"messages": [{"placements": []}]}, {"platformName": 42}):
        refused = sandbox.complete(registration_id, body)
        assert refused.status_code == 400
        assert refused.json()["details"]["message"] == "MISSING_OR_INVALID_PARAMETER"

    assert sandbox.complete(registration_id).status_code == 200


def test_a_replace_keeps_the_activation_as_ltiaas_does(sandbox: Sandbox) -> None:
    """LTIAAS's update (ltijs's updatePlatformById) writes the six core fields; only
    activate/deactivate change `active`, whatever the body says."""
    existing = sandbox.api.post(sandbox.platforms_url, json=new_platform(), timeout=10).json()
    url = f"{sandbox.platforms_url}/{existing['id']}"
    assert sandbox.api.post(f"{url}/deactivate", timeout=10).status_code == 200

    replaced = sandbox.api.put(url, json=new_platform(name="Renamed", active=True), timeout=10)

    assert replaced.status_code == 200
    assert replaced.json()["name"] == "Renamed"
    assert replaced.json()["active"] is False
    assert sandbox.api.get(url, timeout=10).json()["active"] is False


@pytest.mark.parametrize("active", [False, True, "no"])
def test_a_manual_registration_reads_only_the_partial_platform_so_active_is_not_taken_from_it(
    sandbox: Sandbox, active: object
) -> None:
    """Create's body is a PartialPlatform, its six core fields (ltiaas-api.md, Platforms): `active`
    is not one of them, and only activate/deactivate change it."""
    plain = sandbox.api.post(sandbox.platforms_url, json=new_platform(), timeout=10).json()

    created = sandbox.api.post(
        sandbox.platforms_url, json=new_platform(clientId="other", active=active), timeout=10
    )

    assert created.status_code == 200
    assert created.json()["active"] is plain["active"]


def test_a_replace_onto_another_platforms_issuer_and_client_id_is_refused(sandbox: Sandbox) -> None:
    first = sandbox.api.post(sandbox.platforms_url, json=new_platform(), timeout=10).json()
    second = sandbox.api.post(sandbox.platforms_url, json=new_platform(clientId="other"), timeout=10).json()

    clash = sandbox.api.put(f"{sandbox.platforms_url}/{second['id']}", json=new_platform(), timeout=10)

    assert clash.status_code == 403
    assert clash.json()["details"]["description"] == "Platform already registered."
    assert sandbox.api.get(f"{sandbox.platforms_url}/{first['id']}", timeout=10).json() == first


def test_a_slow_ltiaas_answers_every_api_call_late_and_only_those(
    sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    from portal.sandbox import ltiaas_views

    sleeps = RecordedSleeps()
    monkeypatch.setattr(ltiaas_views, "time", sleeps)
    sandbox.live.app.config["SANDBOX_LTIAAS_DELAY_MS"] = 250

    assert sandbox.api.get(sandbox.platforms_url, timeout=10).status_code == 200
    assert sandbox.registration("unknown-registration").status_code == 404
    assert requests.get(sandbox.platforms_url, timeout=10).status_code == 401
    assert sleeps.seconds == [0.25, 0.25, 0.25]

    requests.get(f"{sandbox.live.url}/sandbox/api/calls", timeout=10)
    sandbox.open_register_url(sandbox.start("moodle-4.4").register_url)
    assert sleeps.seconds == [0.25, 0.25, 0.25], "the browser's pages and the call log are not delayed"


def test_ltiaas_answers_at_once_by_default(sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch) -> None:
    from portal.sandbox import ltiaas_views

    sleeps = RecordedSleeps()
    monkeypatch.setattr(ltiaas_views, "time", sleeps)

    assert sandbox.api.get(sandbox.platforms_url, timeout=10).status_code == 200
    assert sleeps.seconds == []


@pytest.mark.parametrize(
    ("vendor_setting", "body", "active"),
    [
        (True, {}, True),
        (False, {}, False),
        (False, {"autoActivate": True}, True),
        (True, {"autoActivate": False}, False),
    ],
)
def test_a_platform_is_active_as_the_complete_call_says_else_as_the_vendors_setting(
    sandbox: Sandbox, vendor_setting: bool, body: dict[str, bool], active: bool
) -> None:
    sandbox.live.app.config["SANDBOX_LTIAAS_AUTO_ACTIVATE"] = vendor_setting
    registration_id = sandbox.receive(sandbox.start("moodle-4.4"))

    completed = sandbox.complete(registration_id, body)

    [platform] = sandbox.platforms(id=completed.json()["platformId"])
    assert platform["active"] is active


def test_an_lms_naming_no_authorization_server_gets_its_token_endpoint_as_ltijs_does(
    sandbox: Sandbox,
) -> None:
    registration_id = sandbox.receive(sandbox.start("moodle-4.4"))
    configuration = sandbox.registration(registration_id, raw="true").json()["openIdConfiguration"]
    assert "authorization_server" not in configuration

    completed = sandbox.complete(registration_id)

    [platform] = sandbox.platforms(id=completed.json()["platformId"])
    assert platform["authorizationServer"] == configuration["token_endpoint"]
