"""The whole Dynamic Registration, over real HTTP: LMS -> LTIAAS -> (portal's calls) -> LMS."""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select, update

from portal.db import get_session
from portal.ltiaas import LmsRefusedRegistration, LtiaasClient, LtiaasRequestRejected, RegistrationNotFound
from portal.models import utcnow
from portal.sandbox import lms_service
from portal.sandbox.models import SandboxLtiaasRegistration, SandboxPlatform
from portal.sandbox.profiles import PLATFORM_CONFIGURATION, get_profile
from tests.sandbox.helpers import PLAYABLE, Sandbox

CLOSE_HTML = (
    "<script>(window.opener || window.parent).postMessage({subject:'org.imsglobal.lti.close'}, '*');</script>"
)
CANVAS = "https://canvas.instructure.com/lti/"

# What the portal asks for, per LMS, and what the LMS should end up with (placements filtered).
CHOICES = {
    "moodle-4.4": (
        [
            {"type": "LtiResourceLinkRequest", "placements": ["ContentArea"]},
            {"type": "LtiDeepLinkingRequest", "placements": ["ContentArea", "RichTextEditor"]},
        ],
        {"LtiResourceLinkRequest": [], "LtiDeepLinkingRequest": ["ContentArea"]},
    ),
    "moodle-3.11": (
        [
            {"type": "LtiResourceLinkRequest", "placements": ["AddContentMenu"]},
            {"type": "LtiDeepLinkingRequest", "placements": ["AddContentMenu", "ContentArea"]},
        ],
        {"LtiResourceLinkRequest": [], "LtiDeepLinkingRequest": ["AddContentMenu"]},
    ),
    "canvas": (
        [
            {"type": "LtiResourceLinkRequest", "placements": [CANVAS + "course_navigation", "Bogus"]},
            {
                "type": "LtiDeepLinkingRequest",
                "placements": [CANVAS + "editor_button", CANVAS + "link_selection"],
            },
            {"type": "LtiSomethingNewRequest", "placements": ["ContentArea"]},
        ],
        {
            "LtiResourceLinkRequest": [CANVAS + "course_navigation"],
            "LtiDeepLinkingRequest": [CANVAS + "editor_button", CANVAS + "link_selection"],
        },
    ),
    "sakai": (
        [
            {"type": "LtiResourceLinkRequest", "placements": ["ContentArea"]},
            {"type": "LtiDeepLinkingRequest"},
        ],
        {"LtiResourceLinkRequest": [], "LtiDeepLinkingRequest": []},
    ),
    "brightspace": (
        [{"type": "LtiDeepLinkingRequest", "placements": ["ContentArea"]}],
        {"LtiDeepLinkingRequest": []},
    ),
}

# What ltijs (src/Provider/Services/DynamicRegistration.js) asks every LMS for.
LTIJS_SCOPES = [
    "https://purl.imsglobal.org/spec/lti-ags/scope/lineitem.readonly",
    "https://purl.imsglobal.org/spec/lti-ags/scope/lineitem",
    "https://purl.imsglobal.org/spec/lti-ags/scope/score",
    "https://purl.imsglobal.org/spec/lti-ags/scope/result.readonly",
    "https://purl.imsglobal.org/spec/lti-nrps/scope/contextmembership.readonly",
]


def lms_configuration(profile: str) -> dict:
    return get_profile(profile).configuration_template


@pytest.mark.parametrize("profile", PLAYABLE)
def test_an_lms_registers_the_tool_once_through_ltiaas(sandbox: Sandbox, profile: str) -> None:
    asked, expected_placements = CHOICES[profile]
    started = sandbox.start(profile)
    assert ("registration_token=" in started.register_url) == (profile != "brightspace")

    registration_id = sandbox.receive(started)

    details = sandbox.registration(registration_id)
    assert details.status_code == 200
    platform_configuration = lms_configuration(profile)[PLATFORM_CONFIGURATION]
    assert details.json() == {
        "url": sandbox.issuer(profile),
        "familyCode": platform_configuration["product_family_code"],
        "version": platform_configuration["version"],
        "supportedScopes": lms_configuration(profile)["scopes_supported"],
        "supportedMessages": platform_configuration["messages_supported"],
    }
    raw = sandbox.registration(registration_id, raw="true").json()
    assert raw["registrationToken"] == started.registration_token
    assert raw["openIdConfiguration"]["registration_endpoint"].startswith(sandbox.live.lms_url)

    completed = sandbox.complete(
        registration_id, {"platformName": f"{profile} campus", "autoActivate": False, "messages": asked}
    )
    assert completed.status_code == 200, completed.text
    assert completed.json()["html"] == CLOSE_HTML
    platform_id = completed.json()["platformId"]
    assert len(platform_id) == 19 and platform_id.isalnum()

    [tool] = sandbox.lms_tools(attempt=started.attempt_id)
    assert tool["profile"] == profile
    assert tool["client_name"] == "Acme Learning"  # the tool's name; "… campus" names the platform at LTIAAS
    assert {m["type"]: m["placements"] for m in tool["messages"]} == expected_placements
    assert tool["deployment_id"]
    # ltijs's own scopes (grades and roster), as far as the LMS lists them; never all it lists
    supported = lms_configuration(profile)["scopes_supported"]
    assert tool["scope"].split() == [scope for scope in LTIJS_SCOPES if scope in supported]
    assert tool["claims"] == lms_configuration(profile).get("claims_supported")

    [platform] = sandbox.platforms(id=platform_id)
    assert platform["url"] == sandbox.issuer(profile)
    assert platform["clientId"] == tool["client_id"]
    assert platform["name"] == f"{profile} campus"
    assert platform["active"] is False
    assert platform["authConfig"] == {
        "method": "JWK_SET",
        "key": raw["openIdConfiguration"]["jwks_uri"],
    }
    assert platform["accesstokenEndpoint"] == raw["openIdConfiguration"]["token_endpoint"]
    assert platform["authenticationEndpoint"] == raw["openIdConfiguration"]["authorization_endpoint"]
    assert platform["publicKey"].startswith("-----BEGIN PUBLIC KEY-----")

    again = sandbox.complete(registration_id, {"messages": asked})
    assert again.status_code == 404
    assert again.json()["details"]["message"] == "REGISTRATION_NOT_FOUND"
    assert sandbox.registration(registration_id).status_code == 404


def test_nothing_chosen_registers_every_message_without_placements_and_activates(sandbox: Sandbox) -> None:
    started = sandbox.start("canvas")
    registration_id = sandbox.receive(started)

    completed = sandbox.complete(registration_id)

    assert completed.status_code == 200
    [tool] = sandbox.lms_tools(attempt=started.attempt_id)
    assert tool["messages"] == [
        {"type": "LtiResourceLinkRequest", "placements": []},
        {"type": "LtiDeepLinkingRequest", "placements": []},
        {"type": "LtiEulaRequest", "placements": []},
    ]
    [platform] = sandbox.platforms(id=completed.json()["platformId"])
    assert platform["active"] is True
    assert platform["name"].startswith("canvas_DynReg_")


def test_canvas_gives_its_deployment_id_at_the_top_level_and_moodle_inside_the_tool_configuration(
    sandbox: Sandbox,
) -> None:
    canvas = sandbox.complete(sandbox.receive(sandbox.start("canvas")))
    moodle = sandbox.complete(sandbox.receive(sandbox.start("moodle-4.4")))

    assert canvas.status_code == moodle.status_code == 200
    [canvas_tool] = sandbox.lms_tools(profile="canvas")
    [moodle_tool] = sandbox.lms_tools(profile="moodle-4.4")
    assert ":" in canvas_tool["deployment_id"]
    assert moodle_tool["deployment_id"].isdigit()
    with sandbox.live.app.app_context():
        kept = {p.client_id: p.deployment_id for p in get_session().scalars(select(SandboxPlatform))}
    assert kept[canvas_tool["client_id"]] == canvas_tool["deployment_id"]
    assert kept[moodle_tool["client_id"]] == moodle_tool["deployment_id"]


def test_an_expired_registration_is_not_found(sandbox: Sandbox) -> None:
    registration_id = sandbox.receive(sandbox.start("moodle-4.4"))
    with sandbox.live.app.app_context():
        session = get_session()
        session.execute(
            update(SandboxLtiaasRegistration)
            .where(SandboxLtiaasRegistration.id == registration_id)
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )
        session.commit()

    assert sandbox.registration(registration_id).status_code == 404
    completed = sandbox.complete(registration_id)
    assert completed.status_code == 404
    assert completed.json()["status"] == 404
    assert sandbox.lms_tools() == []


def test_a_registration_lives_as_long_as_the_setting_says(sandbox: Sandbox) -> None:
    before = utcnow()
    registration_id = sandbox.receive(sandbox.start("sakai"))
    with sandbox.live.app.app_context():
        registration = get_session().get(SandboxLtiaasRegistration, registration_id)
        lifetime = sandbox.live.app.config["SANDBOX_REGISTRATION_LIFETIME"]
        assert registration is not None
        assert before + timedelta(seconds=lifetime - 5) < registration.expires_at
        assert registration.expires_at <= utcnow() + timedelta(seconds=lifetime)


def test_an_unknown_registration_is_not_found(sandbox: Sandbox) -> None:
    response = sandbox.registration("no-such-registration")

    assert response.status_code == 404
    assert set(response.json()) == {"status", "error", "details"}
    assert set(response.json()["details"]) >= {"message", "description"}


def test_concurrent_completes_of_one_registration_succeed_exactly_once(sandbox: Sandbox) -> None:
    registration_id = sandbox.receive(sandbox.start("moodle-4.4"))
    statuses: list[int] = []
    barrier = threading.Barrier(8)

    def complete() -> None:
        barrier.wait()
        statuses.append(sandbox.complete(registration_id).status_code)

    threads = [threading.Thread(target=complete) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(statuses) == [200] + [404] * 7
    assert len(sandbox.lms_tools()) == 1
    assert len(sandbox.platforms()) == 1
    assert len(sandbox.calls(f"/api/registrations/{registration_id}/complete")) == 8


def test_registering_the_same_lms_twice_makes_a_second_platform_with_a_new_client_id(
    sandbox: Sandbox,
) -> None:
    first = sandbox.complete(sandbox.receive(sandbox.start("moodle-4.4")))
    second = sandbox.complete(sandbox.receive(sandbox.start("moodle-4.4")))

    assert first.status_code == second.status_code == 200
    found = sandbox.platforms(url=sandbox.issuer("moodle-4.4"))
    assert len(found) == 2
    assert found[0]["clientId"] != found[1]["clientId"]
    assert {p["id"] for p in found} == {first.json()["platformId"], second.json()["platformId"]}


REUSED_CLIENT_ID = "reused-client-id"


def platform_registered_by_hand(sandbox: Sandbox, profile: str, client_id: str) -> dict[str, Any]:
    """A platform an operator added to LTIAAS by hand for this LMS's issuer and `client_id`."""
    issuer = sandbox.issuer(profile)
    body = {
        "url": issuer,
        "clientId": client_id,
        "name": "Springfield Moodle (registered by hand)",
        "authenticationEndpoint": f"{issuer}/mod/lti/auth.php",
        "accesstokenEndpoint": f"{issuer}/mod/lti/token.php",
        "authConfig": {"method": "JWK_SET", "key": f"{issuer}/mod/lti/certs.php"},
    }
    created = sandbox.api.post(sandbox.platforms_url, json=body, timeout=10)
    assert created.status_code == 200, created.text
    platform: dict[str, Any] = created.json()
    return platform


@pytest.fixture
def lms_reusing_a_client_id(monkeypatch: pytest.MonkeyPatch) -> str:
    """The sandbox LMS hands out the same client id at every registration."""
    monkeypatch.setattr(lms_service, "_new_client_id", lambda profile: REUSED_CLIENT_ID)
    return REUSED_CLIENT_ID


def test_an_lms_handing_out_a_client_id_ltiaas_already_holds_gets_platform_already_registered(
    sandbox: Sandbox, lms_reusing_a_client_id: str
) -> None:
    """ltijs POSTs to the LMS first and only then finds the issuer + client id taken: 403 "Platform
    already registered.", no second platform, and an orphan tool left on the LMS
    (ltiaas-api.md, Errors; lti-dynamic-registration.md, Quirks)."""
    existing = platform_registered_by_hand(sandbox, "moodle-4.4", lms_reusing_a_client_id)
    registration_id = sandbox.receive(sandbox.start("moodle-4.4"))

    refused = sandbox.complete(registration_id, {"platformName": "Springfield Moodle"})

    assert refused.status_code == 403
    assert refused.json()["status"] == 403
    assert refused.json()["error"] == "Forbidden"
    assert refused.json()["details"]["description"] == "Platform already registered."
    assert [p["id"] for p in sandbox.platforms(url=sandbox.issuer("moodle-4.4"))] == [existing["id"]]
    [orphan] = sandbox.lms_tools(profile="moodle-4.4")
    assert orphan["client_id"] == lms_reusing_a_client_id


def test_the_portal_s_client_reads_platform_already_registered_as_ltiaas_refusing_not_the_lms(
    sandbox: Sandbox, ltiaas_client: LtiaasClient, lms_reusing_a_client_id: str
) -> None:
    platform_registered_by_hand(sandbox, "moodle-4.4", lms_reusing_a_client_id)
    registration_id = sandbox.receive(sandbox.start("moodle-4.4"))

    with pytest.raises(LtiaasRequestRejected) as refused:
        ltiaas_client.complete_registration(registration_id, platform_name="Springfield Moodle")

    assert not isinstance(refused.value, RegistrationNotFound | LmsRefusedRegistration)
    assert refused.value.status == 403
    assert refused.value.said == "Platform already registered."


def test_every_api_call_is_logged(sandbox: Sandbox) -> None:
    registration_id = sandbox.receive(sandbox.start("sakai"))
    sandbox.registration(registration_id)
    sandbox.complete(registration_id)

    calls = sandbox.calls(registration_id)
    assert [(c["method"], c["status"]) for c in calls] == [("GET", 200), ("POST", 200)]
    assert all(c["path"].startswith("/api/registrations/") and c["created_at"] for c in calls)
