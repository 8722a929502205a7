"""Ids from outside (a query string, a form, a URL) become path segments only if they are safe."""

from __future__ import annotations

import pytest

from portal.ltiaas import InvalidIdentifier, validate_identifier

VALID = [
    "3f2b8c1e-9d4a-4b7e-8f6a-1c2d3e4f5a6b",
    "0123456789abcdef0123456789abcdef",
    "A2F48n9Ss8Hjpw4gjo0",
    "a.b_c~d-e",
    "x" * 128,
]

INVALID = ["../x", "%2F", "a/b", "a?b", "a#b", " a", "a b", "\n", "a\n", "\x00", "", ".", ".."]
INVALID += ["x" * 129, "é", "a\\b", "a;b", "a%00"]


@pytest.mark.parametrize("value", VALID)
def test_a_valid_identifier_is_returned_unchanged(value):
    assert validate_identifier(value) == value


@pytest.mark.parametrize("value", INVALID)
def test_an_unsafe_identifier_is_refused(value):
    with pytest.raises(InvalidIdentifier):
        validate_identifier(value)


@pytest.mark.parametrize("value", [None, 123, b"abc", ["abc"]])
def test_a_non_string_identifier_is_refused(value):
    with pytest.raises(InvalidIdentifier):
        validate_identifier(value)


def test_the_refusal_does_not_echo_the_value():
    with pytest.raises(InvalidIdentifier) as caught:
        validate_identifier("<script>")
    assert "<script>" not in str(caught.value)


CALLS_WITH_AN_ID = {
    "get_registration": lambda api, bad: api.get_registration(bad),
    "get_raw_registration": lambda api, bad: api.get_raw_registration(bad),
    "complete_registration": lambda api, bad: api.complete_registration(bad, platform_name="x"),
    "get_platform": lambda api, bad: api.get_platform(bad),
    "update_platform": lambda api, bad: api.update_platform(bad, {"name": "x"}),
    "delete_platform": lambda api, bad: api.delete_platform(bad),
    "activate_platform": lambda api, bad: api.activate_platform(bad),
    "deactivate_platform": lambda api, bad: api.deactivate_platform(bad),
    "list_platforms": lambda api, bad: api.list_platforms(platform_id=bad),
}


@pytest.mark.parametrize("call", CALLS_WITH_AN_ID.values(), ids=CALLS_WITH_AN_ID.keys())
@pytest.mark.parametrize("bad", [*INVALID, 42])
def test_an_unsafe_identifier_never_reaches_ltiaas(api, ltiaas, call, bad):
    with pytest.raises(InvalidIdentifier):
        call(api, bad)
    assert ltiaas.received == []


@pytest.mark.parametrize("good", VALID)
def test_a_valid_identifier_is_the_path_segment_as_given(api, ltiaas, good):
    ltiaas.reply(204)
    api.delete_platform(good)
    assert ltiaas.last.path == f"/api/platforms/{good}"
