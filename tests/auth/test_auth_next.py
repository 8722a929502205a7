"""After signing in, only a path on this site is followed; anything else lands on the account page."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from flask import Flask
from flask.testing import FlaskClient

from portal.auth.navigation import safe_next
from tests.accounts import PASSWORD, create_user

GOOD = [
    ("/registration/x/configure", "/registration/x/configure"),
    ("/registration/x/configure?step=2", "/registration/x/configure?step=2"),
    ("/registration/x/configure?_st=an-old-token&step=2", "/registration/x/configure?step=2"),
]
BAD = [
    "//evil.com",
    "https://evil.com",
    "/\\evil.com",
    "javascript:alert(1)",
    "evil.com/path",
    "http:/evil.com",
    "/\t/evil.com",
    "",
    None,
]


@pytest.mark.parametrize(("value", "expected"), GOOD)
def test_a_local_path_is_followed(value: str, expected: str) -> None:
    assert safe_next(value) == expected


@pytest.mark.parametrize("value", BAD)
def test_anything_that_could_leave_the_site_is_refused(value: str | None) -> None:
    assert safe_next(value) is None


@pytest.mark.parametrize("value", [v for v in BAD if v and v.isprintable()])
def test_signing_in_with_a_bad_next_lands_on_the_account_page(
    app: Flask, client: FlaskClient, value: str
) -> None:
    create_user(app)
    page = client.get("/auth/sign-in", query_string={"next": value}).get_data(as_text=True)

    response = client.post(
        "/auth/sign-in", data={"email": "admin@school.edu", "password": PASSWORD, "next": value}
    )

    assert 'name="next" type="hidden" value=""' in page
    assert urlsplit(response.location).path == "/auth/account"
    assert "evil" not in response.location


def test_a_next_with_a_control_character_is_refused_before_anything_else(
    app: Flask, client: FlaskClient
) -> None:
    create_user(app)

    page = client.get("/auth/sign-in", query_string={"next": "/\t/evil.com"})
    response = client.post(
        "/auth/sign-in", data={"email": "admin@school.edu", "password": PASSWORD, "next": "/\t/evil.com"}
    )

    assert page.status_code == response.status_code == 400
    assert "invisible control character (U+0009)" in page.get_data(as_text=True)
    assert response.location is None
