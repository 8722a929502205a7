"""Staff manage the platforms LTIAAS knows: list, read, create, replace, delete, (de)activate."""

from __future__ import annotations

import pytest

from portal.ltiaas import (
    LtiaasInvalidResponse,
    LtiaasRequestRejected,
    LtiaasUnauthorized,
    LtiaasUnavailable,
    Platform,
    PlatformNotFound,
)

PLATFORM_ID = "0123456789abcdef0123456789abcdef"

CORE = {
    "url": "https://moodle.example.edu",
    "clientId": "kL9x2QwErT",
    "name": "Springfield University Moodle",
    "authenticationEndpoint": "https://moodle.example.edu/mod/lti/auth.php",
    "accesstokenEndpoint": "https://moodle.example.edu/mod/lti/token.php",
    "authConfig": {"method": "JWK_SET", "key": "https://moodle.example.edu/mod/lti/certs.php"},
}

PLATFORM_JSON = {
    "id": PLATFORM_ID,
    **CORE,
    "publicKey": "-----BEGIN PUBLIC KEY-----\nMIIB\n-----END PUBLIC KEY-----",
    "active": False,
}

PLATFORM = Platform(
    id=PLATFORM_ID,
    url="https://moodle.example.edu",
    client_id="kL9x2QwErT",
    name="Springfield University Moodle",
    authentication_endpoint="https://moodle.example.edu/mod/lti/auth.php",
    accesstoken_endpoint="https://moodle.example.edu/mod/lti/token.php",
    auth_config={"method": "JWK_SET", "key": "https://moodle.example.edu/mod/lti/certs.php"},
    public_key="-----BEGIN PUBLIC KEY-----\nMIIB\n-----END PUBLIC KEY-----",
    active=False,
)


def test_staff_see_every_platform(api, ltiaas, api_key):
    second = {**PLATFORM_JSON, "id": "A2F48n9Ss8Hjpw4gjo0", "clientId": "other", "active": True}
    ltiaas.reply(200, {"platforms": [PLATFORM_JSON, second]})

    platforms = api.list_platforms()

    assert platforms[0] == PLATFORM
    assert (platforms[1].id, platforms[1].client_id, platforms[1].active) == (
        "A2F48n9Ss8Hjpw4gjo0",
        "other",
        True,
    )
    request = ltiaas.last
    assert (request.method, request.path, request.query) == ("GET", "/api/platforms", {})
    assert request.headers["authorization"] == f"Bearer {api_key}"


def test_earlier_registrations_of_the_same_lms_are_found_by_issuer(api, ltiaas):
    ltiaas.reply(200, {"platforms": []})

    assert (
        api.list_platforms(url="https://moodle.example.edu/?a=1&b", client_id="kL9 x", platform_id="p-1")
        == []
    )

    assert ltiaas.last.query == {
        "url": ["https://moodle.example.edu/?a=1&b"],
        "clientId": ["kL9 x"],
        "id": ["p-1"],
    }


def test_a_platform_is_read_by_id_with_unknown_fields_kept_aside(api, ltiaas):
    ltiaas.reply(
        200,
        {
            **PLATFORM_JSON,
            "authorizationServer": "https://moodle.example.edu/token",
            "kid": "abc",
            "dynamic": True,
        },
    )

    platform = api.get_platform(PLATFORM_ID)

    assert platform.authorization_server == "https://moodle.example.edu/token"
    assert platform.extra == {"kid": "abc", "dynamic": True}
    assert (ltiaas.last.method, ltiaas.last.path) == ("GET", f"/api/platforms/{PLATFORM_ID}")


def test_a_platform_is_registered_by_hand(api, ltiaas):
    ltiaas.reply(200, PLATFORM_JSON)

    assert api.create_platform(CORE) == PLATFORM

    assert (ltiaas.last.method, ltiaas.last.path) == ("POST", "/api/platforms")
    assert ltiaas.last.json() == CORE


def test_a_platform_is_replaced_whole(api, ltiaas):
    renamed = {**CORE, "name": "Springfield Moodle (new)"}
    ltiaas.reply(200, {**PLATFORM_JSON, "name": "Springfield Moodle (new)"})

    platform = api.update_platform(PLATFORM_ID, renamed)

    assert platform.name == "Springfield Moodle (new)"
    assert (ltiaas.last.method, ltiaas.last.path) == ("PUT", f"/api/platforms/{PLATFORM_ID}")
    assert ltiaas.last.json() == renamed


def test_a_platform_is_deleted(api, ltiaas):
    ltiaas.reply(204)

    assert api.delete_platform(PLATFORM_ID) is None

    assert (ltiaas.last.method, ltiaas.last.path, ltiaas.last.body) == (
        "DELETE",
        f"/api/platforms/{PLATFORM_ID}",
        b"",
    )


@pytest.mark.parametrize("action", ["activate", "deactivate"])
def test_a_platform_is_activated_or_deactivated(api, ltiaas, action):
    ltiaas.reply(200, "OK")

    assert getattr(api, f"{action}_platform")(PLATFORM_ID) is None

    assert (ltiaas.last.method, ltiaas.last.path) == ("POST", f"/api/platforms/{PLATFORM_ID}/{action}")


def test_the_platforms_prefix_is_a_setting(make_client, ltiaas):
    api = make_client(platforms_path="/admin/platforms/")
    ltiaas.reply(200, {"platforms": [PLATFORM_JSON]})
    ltiaas.reply(200, PLATFORM_JSON)
    ltiaas.reply(200, PLATFORM_JSON)
    ltiaas.reply(200, PLATFORM_JSON)
    ltiaas.reply(204)
    ltiaas.reply(200)
    ltiaas.reply(200)

    api.list_platforms()
    api.get_platform(PLATFORM_ID)
    api.create_platform(CORE)
    api.update_platform(PLATFORM_ID, CORE)
    api.delete_platform(PLATFORM_ID)
    api.activate_platform(PLATFORM_ID)
    api.deactivate_platform(PLATFORM_ID)

    assert [(r.method, r.path) for r in ltiaas.received] == [
        ("GET", "/admin/platforms"),
        ("GET", f"/admin/platforms/{PLATFORM_ID}"),
        ("POST", "/admin/platforms"),
        ("PUT", f"/admin/platforms/{PLATFORM_ID}"),
        ("DELETE", f"/admin/platforms/{PLATFORM_ID}"),
        ("POST", f"/admin/platforms/{PLATFORM_ID}/activate"),
        ("POST", f"/admin/platforms/{PLATFORM_ID}/deactivate"),
    ]


def test_a_duplicate_platform_is_rejected_with_ltiaas_reason(api, ltiaas, expect_error):
    ltiaas.reply(
        403,
        {"status": 403, "error": "Forbidden", "details": {"message": "Platform already registered."}},
    )

    error = expect_error(LtiaasRequestRejected, lambda: api.create_platform(CORE))

    assert not isinstance(error, LtiaasUnauthorized | PlatformNotFound)
    assert (error.status, error.details_message) == (403, "Platform already registered.")
    assert "Platform already registered." in str(error)


@pytest.mark.parametrize(
    "call",
    [
        lambda api: api.get_platform(PLATFORM_ID),
        lambda api: api.update_platform(PLATFORM_ID, CORE),
        lambda api: api.delete_platform(PLATFORM_ID),
        lambda api: api.activate_platform(PLATFORM_ID),
    ],
    ids=["get", "update", "delete", "activate"],
)
def test_an_unknown_platform_is_not_found(api, ltiaas, expect_error, call):
    ltiaas.reply(404, {"status": 404, "error": "Not Found", "details": {"message": "PLATFORM_NOT_FOUND"}})

    error = expect_error(PlatformNotFound, lambda: call(api))

    assert isinstance(error, LtiaasRequestRejected)
    assert (error.status, error.details_message) == (404, "PLATFORM_NOT_FOUND")
    assert len(ltiaas.received) == 1


def test_a_bad_update_is_rejected(api, ltiaas, expect_error):
    ltiaas.reply(400, {"status": 400, "error": "Bad Request", "details": {"message": "MISSING_PARAMETER"}})

    error = expect_error(LtiaasRequestRejected, lambda: api.update_platform(PLATFORM_ID, {"name": "x"}))

    assert type(error) is LtiaasRequestRejected
    assert error.status == 400


def test_an_lms_error_wrapped_in_a_500_is_unavailable(api, ltiaas, expect_error):
    ltiaas.reply(
        500,
        {
            "status": 500,
            "error": "Internal Server Error",
            "details": {"message": "Response code 422 (Unprocessable Entity)"},
        },
    )

    error = expect_error(LtiaasUnavailable, lambda: api.create_platform(CORE))

    assert (error.status, error.details_message) == (500, "Response code 422 (Unprocessable Entity)")


@pytest.mark.parametrize(
    "body",
    [
        {"platforms": "none"},
        {"items": []},
        {"platforms": ["p1"]},
        {"platforms": [{**PLATFORM_JSON, "active": "yes"}]},
        {"platforms": [{key: value for key, value in PLATFORM_JSON.items() if key != "clientId"}]},
        [PLATFORM_JSON],
    ],
)
def test_a_platform_list_in_an_unexpected_shape_is_an_invalid_response(api, ltiaas, expect_error, body):
    ltiaas.reply(200, body)

    expect_error(LtiaasInvalidResponse, api.list_platforms)


@pytest.mark.parametrize(
    "change",
    [{"id": None}, {"url": 5}, {"authConfig": "JWK_SET"}, {"publicKey": 1}, {"authorizationServer": []}],
)
def test_a_platform_in_an_unexpected_shape_is_an_invalid_response(api, ltiaas, expect_error, change):
    ltiaas.reply(200, {**PLATFORM_JSON, **change})

    expect_error(LtiaasInvalidResponse, lambda: api.get_platform(PLATFORM_ID))


def test_a_platform_without_display_fields_still_reads(api, ltiaas):
    ltiaas.reply(200, {"id": PLATFORM_ID, "url": "https://lms.example.edu", "clientId": "c1"})

    platform = api.get_platform(PLATFORM_ID)

    assert (platform.name, platform.authentication_endpoint, platform.auth_config, platform.active) == (
        "",
        "",
        {},
        False,
    )
