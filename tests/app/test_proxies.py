"""Behind a proxy: the rate limit and the logs see the client, and only when the proxy is trusted.
In production every response tells browsers to use https only (HSTS)."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask, request
from flask.testing import FlaskClient

from portal.logs import JsonFormatter
from tests.conftest import make_test_app

PROXY = "10.0.0.2"


def sign_in_through_proxy(client: FlaskClient, forwarded_for: str):
    return client.post(
        "/auth/sign-in",
        data={"email": "someone@school.edu", "password": "not the password"},
        headers={"X-Forwarded-For": forwarded_for, "X-Forwarded-Proto": "https"},
        environ_base={"REMOTE_ADDR": PROXY},
    )


@pytest.fixture
def behind_one_proxy(tmp_path: Path) -> Iterator[Flask]:
    app = make_test_app(tmp_path, TRUSTED_PROXIES=1, AUTH_RATE_LIMIT="2 per minute", WTF_CSRF_ENABLED=False)
    yield app
    app.extensions["db_engine"].dispose()


def test_behind_a_trusted_proxy_each_client_has_its_own_limit(
    behind_one_proxy: Flask, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="portal")
    client = behind_one_proxy.test_client()

    first = [sign_in_through_proxy(client, "203.0.113.7").status_code for _ in range(3)]
    other = sign_in_through_proxy(client, "198.51.100.4").status_code

    assert first == [200, 200, 429]
    assert other == 200
    lines = [json.loads(JsonFormatter().format(r)) for r in caplog.records if r.name == "portal.request"]
    assert [line["client"] for line in lines] == ["203.0.113.7"] * 3 + ["198.51.100.4"]


def test_only_the_entry_the_trusted_proxy_added_counts(behind_one_proxy: Flask) -> None:
    client = behind_one_proxy.test_client()

    # A client that makes up its own X-Forwarded-For gets the proxy's entry appended after it.
    answers = [sign_in_through_proxy(client, f"1.2.3.{n}, 203.0.113.7").status_code for n in range(3)]

    assert answers == [200, 200, 429]


def test_without_a_trusted_proxy_a_forwarded_address_is_ignored(tmp_path: Path) -> None:
    app = make_test_app(tmp_path, AUTH_RATE_LIMIT="2 per minute", WTF_CSRF_ENABLED=False)
    client = app.test_client()

    answers = [sign_in_through_proxy(client, f"203.0.113.{n}").status_code for n in range(3)]

    assert answers == [200, 200, 429]
    app.extensions["db_engine"].dispose()


def test_a_trusted_proxy_tells_the_scheme(behind_one_proxy: Flask) -> None:
    behind_one_proxy.add_url_rule("/scheme", view_func=lambda: request.scheme)
    client = behind_one_proxy.test_client()

    forwarded = client.get(
        "/scheme", headers={"X-Forwarded-Proto": "https"}, environ_base={"REMOTE_ADDR": PROXY}
    )

    assert forwarded.get_data(as_text=True) == "https"


def production_app(tmp_path: Path) -> Flask:
    return make_test_app(
        tmp_path,
        PORTAL_ENV="production",
        PORTAL_URL="https://portal.vendor.example",
        LTIAAS_URL="https://vendor.ltiaas.example",
        LTIAAS_API_KEY="a-real-looking-ltiaas-key-0001",
    )


def test_production_pages_tell_browsers_to_use_https_only(tmp_path: Path) -> None:
    app = production_app(tmp_path)

    for path in ("/", "/healthz", "/auth/sign-in", "/no-such-page"):
        response = app.test_client().get(path)
        assert response.headers["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains", path
        assert response.headers["X-Content-Type-Options"] == "nosniff"
    app.extensions["db_engine"].dispose()


def test_development_sends_no_hsts_so_localhost_stays_usable(client: FlaskClient) -> None:
    assert "Strict-Transport-Security" not in client.get("/").headers
