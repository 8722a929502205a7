"""The sandbox LMS: its registration tokens, its strictness, its errors, and its admin page."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
import requests
from urllib3.util import SKIP_HEADER

from portal.models import utcnow
from portal.sandbox.profiles import TOOL_CONFIGURATION
from tests.conftest import make_test_app
from tests.sandbox.helpers import PLAYABLE, Sandbox

CANVAS = "https://canvas.instructure.com/lti/"


def assert_lms_refused(response: requests.Response, code: int) -> dict:
    """LTIAAS's 500 wrapping the LMS's answer, as LTIAAS's SDK reads it; its `details`."""
    assert response.status_code == 500, response.text
    body = response.json()
    assert body["status"] == 500
    assert (
        body["details"]["message"]
        == {
            400: "Response code 400 (Bad Request)",
            401: "Response code 401 (Unauthorized)",
            422: "Response code 422 (Unprocessable Entity)",
        }[code]
    )
    assert body["details"]["externalError"] is True
    return body["details"]


def valid_request(sandbox: Sandbox, **changes: object) -> dict:
    tool = f"{sandbox.live.url}/sandbox/tool"
    request: dict = {
        "application_type": "web",
        "grant_types": ["client_credentials", "implicit"],
        "response_types": ["id_token"],
        "initiate_login_uri": f"{tool}/login",
        "redirect_uris": [f"{tool}/launch"],
        "client_name": "Direct Tool",
        "jwks_uri": f"{tool}/keys",
        "token_endpoint_auth_method": "private_key_jwt",
        "scope": "",
        TOOL_CONFIGURATION: {
            "domain": urlsplit(sandbox.live.url).netloc,
            "target_link_uri": f"{tool}/launch",
            "messages": [{"type": "LtiDeepLinkingRequest", "placements": ["AddContentMenu"]}],
        },
    }
    request.update(changes)
    return request


def test_without_its_registration_token_the_lms_refuses_and_the_registration_stays_usable(
    sandbox: Sandbox,
) -> None:
    started = sandbox.start("moodle-4.4")
    no_token = f"{sandbox.live.url}/lti/register?" + urlencode(
        {"openid_configuration": started.openid_configuration_url}
    )
    registration_id = sandbox.receive(replace(started, register_url=no_token))

    details = assert_lms_refused(sandbox.complete(registration_id), 401)

    assert details["bodyReceived"] == "missing_registration_token"  # Moodle's words, as plain text
    assert sandbox.registration(registration_id).status_code == 200
    assert sandbox.complete(registration_id).status_code == 500
    assert sandbox.lms_tools() == []
    assert sandbox.platforms() == []


def test_an_expired_registration_token_is_refused(sandbox: Sandbox) -> None:
    started = sandbox.start("moodle-3.11", issued_at=utcnow() - timedelta(seconds=3601))
    registration_id = sandbox.receive(started)

    details = assert_lms_refused(sandbox.complete(registration_id), 401)

    assert "expired" in details["bodyReceived"]
    assert sandbox.registration(registration_id).status_code == 200


def test_a_registration_token_works_only_once(sandbox: Sandbox) -> None:
    started = sandbox.start("sakai")
    assert sandbox.complete(sandbox.receive(started)).status_code == 200

    replayed = sandbox.receive(started)
    details = assert_lms_refused(sandbox.complete(replayed), 401)

    assert "already been used" in details["bodyReceived"]["error_description"]
    assert sandbox.registration(replayed).status_code == 200
    assert len(sandbox.lms_tools()) == 1


def test_a_forged_registration_token_is_refused(sandbox: Sandbox) -> None:
    token = sandbox.start("moodle-4.4").registration_token
    assert token is not None
    forged = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")

    response = requests.post(
        sandbox.registration_endpoint("moodle-4.4"),
        json=valid_request(sandbox),
        headers={"Authorization": f"Bearer {forged}"},
        timeout=10,
    )

    assert response.status_code == 401
    assert response.text == "The registration token is not valid."


def post_registration(sandbox: Sandbox, profile: str, token: str | None, body: dict) -> requests.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return requests.post(sandbox.registration_endpoint(profile), json=body, headers=headers, timeout=10)


def canvas_request(sandbox: Sandbox, scope: str = "", messages: list | None = None) -> dict:
    request = valid_request(sandbox, scope=scope)
    request[TOOL_CONFIGURATION]["messages"] = messages or [
        {"type": "LtiResourceLinkRequest", "placements": [CANVAS + "course_navigation"]}
    ]
    return request


def test_canvas_refuses_a_scope_it_does_not_know_in_its_own_words(sandbox: Sandbox) -> None:
    token = sandbox.start("canvas").registration_token
    unknown = "https://example.com/not-a-canvas-scope"
    known = "https://purl.imsglobal.org/spec/lti-ags/scope/score"

    refused = post_registration(sandbox, "canvas", token, canvas_request(sandbox, f"{known} {unknown}"))
    accepted = post_registration(sandbox, "canvas", token, canvas_request(sandbox, known))

    assert refused.status_code == 422
    assert refused.json() == {"errors": [{"message": f"Invalid scopes: {unknown}"}]}  # scopes_are_valid
    assert accepted.status_code == 200, accepted.text  # the refusal left the token unused
    assert accepted.json()["scope"] == known
    assert len(sandbox.lms_tools(profile="canvas")) == 1


def test_canvas_takes_any_placement_it_knows_on_any_message_and_no_messages_at_all(sandbox: Sandbox) -> None:
    messages = [
        {"type": "LtiDeepLinkingRequest", "placements": [CANVAS + "course_navigation", "course_navigation"]},
        {"type": "LtiResourceLinkRequest", "placements": ["RichTextEditor"]},
    ]
    no_target = canvas_request(sandbox, messages=messages)
    del no_target[TOOL_CONFIGURATION]["target_link_uri"]  # optional in Canvas's schema
    no_messages = canvas_request(sandbox)
    no_messages[TOOL_CONFIGURATION]["messages"] = []

    for request in (no_target, no_messages):
        registered = post_registration(sandbox, "canvas", sandbox.start("canvas").registration_token, request)
        assert registered.status_code == 200, registered.text

    assert [tool["messages"] for tool in sandbox.lms_tools(profile="canvas")] == [
        [
            {
                "type": "LtiDeepLinkingRequest",
                "placements": [CANVAS + "course_navigation", "course_navigation"],
            },
            {"type": "LtiResourceLinkRequest", "placements": ["RichTextEditor"]},
        ],
        [],
    ]


def test_canvas_refuses_a_placement_or_message_type_it_does_not_know(sandbox: Sandbox) -> None:
    """Canvas's tool configuration schema lists every placement and message type it knows
    (`build_placement_for` would drop an unknown placement, but the schema refuses it first)."""
    token = sandbox.start("canvas").registration_token
    unknown_placement = [{"type": "LtiResourceLinkRequest", "placements": [CANVAS + "not_a_placement"]}]
    unknown_type = [{"type": "LtiSomethingNewRequest"}]

    for messages in (unknown_placement, unknown_type):
        refused = post_registration(sandbox, "canvas", token, canvas_request(sandbox, messages=messages))
        assert refused.status_code == 422
        assert list(refused.json()) == ["errors"]

    assert sandbox.lms_tools() == []


def test_canvas_wants_a_user_agent_and_its_token_to_show_its_configuration(sandbox: Sandbox) -> None:
    started = sandbox.start("canvas")
    url = started.openid_configuration_url
    assert parse_qs(urlsplit(url).query)["registration_token"] == [started.registration_token]
    bearer = {"Authorization": f"Bearer {started.registration_token}"}

    no_agent = requests.get(url, headers={**bearer, "User-Agent": SKIP_HEADER}, timeout=10)
    no_token = requests.get(url, timeout=10)
    shown = requests.get(url, headers=bearer, timeout=10)

    assert no_agent.status_code == 400
    assert "errors" in no_agent.json()
    assert no_token.status_code == 401
    assert shown.status_code == 200
    assert shown.json()["issuer"] == "https://canvas.instructure.com"
    assert shown.json()["registration_endpoint"].startswith(sandbox.live.lms_url)
    assert shown.json()["authorization_server"] == "127.0.0.1"
    anonymous_post = requests.post(
        sandbox.registration_endpoint("canvas"),
        json=valid_request(sandbox),
        headers={**bearer, "User-Agent": SKIP_HEADER},
        timeout=10,
    )
    assert anonymous_post.status_code == 400


@pytest.mark.parametrize(
    ("change", "moodle_words"),
    [
        ({"response_types": []}, "missing required attribute response_types"),
        ({"initiate_login_uri": ""}, "missing required attribute initiate_login_uri"),
        ({"redirect_uris": []}, "missing required attribute redirect_uris"),
        ({"client_name": ""}, "missing required attribute client_name"),
        ({"jwks_uri": None}, "missing required attribute jwks_uri"),
        ({"token_endpoint_auth_method": None}, "missing required attribute token_endpoint_auth_method"),
        ({TOOL_CONFIGURATION: None}, f"missing required attribute {TOOL_CONFIGURATION}"),
        ({TOOL_CONFIGURATION: {"target_link_uri": "https://t/l"}}, "missing required attribute domain"),
        ({TOOL_CONFIGURATION: {"domain": "tool.example"}}, "missing required attribute target_link_uri"),
    ],
)
def test_moodle_names_a_missing_attribute_as_moodle_does_and_keeps_the_token(
    sandbox: Sandbox, change: dict, moodle_words: str
) -> None:
    token = sandbox.start("moodle-3.11").registration_token

    refused = post_registration(sandbox, "moodle-3.11", token, valid_request(sandbox, **change))

    assert (refused.status_code, refused.text) == (400, moodle_words)  # registration_helper::get_parameter
    assert refused.headers["Content-Type"].startswith("text/html")  # PHP's default: Moodle sets none
    accepted = post_registration(sandbox, "moodle-3.11", token, valid_request(sandbox))
    assert accepted.status_code == 200
    body = accepted.json()
    assert body["client_id"]
    assert body[TOOL_CONFIGURATION]["deployment_id"]
    assert "deployment_id" not in body


@pytest.mark.parametrize(
    ("change", "moodle_words"),
    [
        ({"response_types": ["code"]}, "invalid_response_types"),
        ({"redirect_uris": "https://tool.example/launch"}, "invalid_redirect_uris"),
        ({"token_endpoint_auth_method": "client_secret_basic"}, "invalid_token_endpoint_auth_method"),
        ({"application_type": "native"}, "invalid_application_type"),
    ],
)
def test_moodle_words_its_refusals_as_its_registration_script_does(
    sandbox: Sandbox, change: dict, moodle_words: str
) -> None:
    token = sandbox.start("moodle-4.4").registration_token

    refused = post_registration(sandbox, "moodle-4.4", token, valid_request(sandbox, **change))

    assert (refused.status_code, refused.text) == (400, moodle_words)


def without(request: dict, key: str) -> dict:
    del request[key]
    return request


@pytest.mark.parametrize(
    "request_of",
    [
        pytest.param(lambda s: without(valid_request(s), "grant_types"), id="no grant_types"),
        pytest.param(lambda s: without(valid_request(s), "application_type"), id="no application_type"),
        pytest.param(lambda s: valid_request(s, initiate_login_uri="tool.example/login"), id="not a URL"),
        pytest.param(
            lambda s: {
                **valid_request(s),
                TOOL_CONFIGURATION: {"domain": "t", "target_link_uri": "https://t/l"},
            },
            id="no messages",
        ),
        pytest.param(
            lambda s: {
                **valid_request(s),
                TOOL_CONFIGURATION: {
                    "domain": "t",
                    "target_link_uri": "https://t/l",
                    "messages": [
                        {"type": "LtiX"},
                        {"type": "LtiResourceLinkRequest", "placements": ["Nowhere"]},
                    ],
                },
            },
            id="unknown message type and placement",
        ),
    ],
)
def test_moodle_registers_a_tool_that_sends_what_moodle_never_checks(
    sandbox: Sandbox, request_of: Callable[[Sandbox], dict]
) -> None:
    """No grant_types, application_type or messages, or messages it has no use for: Moodle registers it."""
    token = sandbox.start("moodle-4.4").registration_token

    registered = post_registration(sandbox, "moodle-4.4", token, request_of(sandbox))

    assert registered.status_code == 200, registered.text
    assert registered.json()[TOOL_CONFIGURATION]["deployment_id"]
    assert len(sandbox.lms_tools(profile="moodle-4.4")) == 1


def test_sakai_refuses_a_malformed_registration_in_rfc7591_terms(sandbox: Sandbox) -> None:
    token = sandbox.start("sakai").registration_token
    refused = requests.post(
        sandbox.registration_endpoint("sakai"),
        json=valid_request(sandbox, application_type="native"),
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )

    assert refused.status_code == 400
    assert refused.json()["error"] == "invalid_client_metadata"
    assert "application_type" in refused.json()["error_description"]


def test_brightspace_needs_no_token_and_leaves_new_tools_disabled(sandbox: Sandbox) -> None:
    started = sandbox.start("brightspace")
    assert started.registration_token is None
    assert started.window == "new tab"

    assert sandbox.complete(sandbox.receive(started)).status_code == 200

    [tool] = sandbox.lms_tools(attempt=started.attempt_id)
    assert tool["enabled"] is False


def test_unknown_profiles_and_paths_are_not_found(sandbox: Sandbox) -> None:
    lms = f"{sandbox.live.lms_url}/sandbox/lms"
    assert requests.get(f"{lms}/blackboard-developer-portal/x", timeout=10).status_code == 404
    assert requests.get(f"{lms}/moodle-4.4/mod/lti/nothing.php", timeout=10).status_code == 404
    assert requests.get(f"{lms}/moodle-4.4/mod/lti/openid-registration.php", timeout=10).status_code == 404


@pytest.mark.parametrize("profile", PLAYABLE)
def test_each_lms_serves_its_configuration_with_its_own_base(sandbox: Sandbox, profile: str) -> None:
    started = sandbox.start(profile)
    headers = {"Authorization": f"Bearer {started.registration_token}"} if started.registration_token else {}

    configuration = requests.get(started.openid_configuration_url, headers=headers, timeout=10).json()

    base = f"{sandbox.live.lms_url}/sandbox/lms/{profile}"
    assert configuration["registration_endpoint"].startswith(base)
    assert configuration["jwks_uri"].startswith(base)
    assert "{base}" not in str(configuration)


def admin_page(sandbox: Sandbox) -> requests.Response:
    return requests.get(f"{sandbox.live.lms_url}/sandbox/lms/", timeout=10)


def test_the_admin_page_lives_on_the_lms_site_and_may_frame_the_portal(sandbox: Sandbox) -> None:
    page = admin_page(sandbox)

    assert page.status_code == 200
    for label in (
        "Moodle 4.4",
        "Moodle 3.11",
        "Canvas",
        "Sakai",
        "Brightspace",
        "blackboard-developer-portal",
    ):
        assert label in page.text
    assert f'value="{sandbox.live.url}/lti/register"' in page.text
    assert f'href="{sandbox.live.url}/"' in page.text
    assert 'id="close-status"' in page.text
    assert 'id="registered-tools"' in page.text
    assert "/static/js/sandbox-lms.js" in page.text
    assert "<script>" not in page.text
    frame_src = re.search(r"frame-src ([^;]+)", page.headers["Content-Security-Policy"])
    assert frame_src is not None
    assert sandbox.live.url in frame_src.group(1)


def test_the_sandbox_index_and_the_portal_origin_lead_to_the_lms_site(sandbox: Sandbox) -> None:
    for url in (f"{sandbox.live.url}/sandbox/", f"{sandbox.live.url}/sandbox/lms/"):
        response = requests.get(url, allow_redirects=False, timeout=10)
        assert response.status_code == 302
        assert response.headers["Location"] == f"{sandbox.live.lms_url}/sandbox/lms/"


def test_the_start_button_needs_the_pages_csrf_token(sandbox: Sandbox) -> None:
    page = admin_page(sandbox)
    csrf = re.search(r'name="csrf-token" content="([^"]+)"', page.text)
    session_token = re.search(r'name="session-token" content="([^"]+)"', page.text)
    assert csrf is not None and session_token is not None
    start = f"{sandbox.live.lms_url}/sandbox/lms/attempts"
    body = {"profile": "moodle-4.4", "register_url": f"{sandbox.live.url}/lti/register"}

    refused = requests.post(start, json=body, headers={"X-Session-Token": session_token.group(1)}, timeout=10)
    started = requests.post(
        start,
        json=body,
        headers={"X-CSRFToken": csrf.group(1), "X-Session-Token": session_token.group(1)},
        timeout=10,
    )

    assert refused.status_code == 400
    assert started.status_code == 200, started.text
    assert started.json()["window"] == "iframe"
    response = sandbox.open_register_url(started.json()["register_url"])
    assert response.status_code == 302


def test_the_dialog_may_frame_an_intermediate_target_on_another_server(tmp_path: Path) -> None:
    app = make_test_app(tmp_path, SANDBOX_INTERMEDIATE_TARGET="https://portal.test:8443/intermediate-target")
    lms_url = app.config["SANDBOX_LMS_URL"]

    page = app.test_client().get("/sandbox/lms/", base_url=lms_url)

    assert page.status_code == 200
    frame_src = re.search(r"frame-src ([^;]+)", page.headers["Content-Security-Policy"])
    assert frame_src is not None
    assert {app.config["PORTAL_URL"], "https://portal.test:8443"} <= set(frame_src.group(1).split())
    app.extensions["db_engine"].dispose()
