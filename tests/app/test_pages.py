"""The pages every visitor can hit: health check, error pages, security headers."""

from __future__ import annotations

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import text

from portal.db import get_session
from tests.headers import content_security_policy


def test_the_health_check_reports_the_database_and_the_sandbox(client: FlaskClient) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json == {"status": "ok", "database": True, "ltiaas": "sandbox"}


def test_the_health_check_fails_when_the_database_is_unreachable(app: Flask) -> None:
    app.extensions["db_engine"].dispose()
    app.extensions["db_sessionmaker"].configure(bind=_broken_engine())
    response = app.test_client().get("/healthz")
    assert response.status_code == 503
    assert response.json["database"] is False


def _broken_engine():
    from sqlalchemy import create_engine

    return create_engine("sqlite:////nonexistent-folder/for/sure/portal.db")


@pytest.mark.parametrize(
    ("method", "path", "code", "words"),
    [
        ("GET", "/no-such-page", 404, "start again from your LMS"),
        ("DELETE", "/static/css/portal.css", 405, "Go back"),
    ],
)
def test_error_pages_say_what_happened_and_what_to_do(
    client: FlaskClient, method: str, path: str, code: int, words: str
) -> None:
    response = client.open(path, method=method, headers={"Accept": "text/html"})
    assert response.status_code == code
    page = response.get_data(as_text=True)
    assert f"Error {code}" in page
    assert "What to do next" in page
    assert words in page.replace("&#39;", "'")


def test_api_paths_get_json_errors(client: FlaskClient) -> None:
    response = client.get("/api/registrations/unknown/nothing-here")
    assert response.status_code in (401, 404)
    assert response.is_json


def test_an_unexpected_error_shows_a_calm_page_and_rolls_back(app: Flask) -> None:
    @app.get("/boom")
    def boom() -> str:
        get_session().execute(text("SELECT 1"))
        raise RuntimeError("secret internals that must not be shown")

    response = app.test_client().get("/boom")
    assert response.status_code == 500
    page = response.get_data(as_text=True)
    assert "Something went wrong on our side" in page
    assert "secret internals" not in page
    assert "Traceback" not in page


def test_a_form_posted_without_its_csrf_token_gets_the_expired_form_page(app: Flask) -> None:
    @app.post("/form")
    def form() -> str:
        return "accepted"

    response = app.test_client().post("/form", data={"name": "x"})
    assert response.status_code == 400
    assert "This form has expired" in response.get_data(as_text=True)


@pytest.mark.parametrize(
    ("code", "heading"), [(400, "could not be understood"), (403, "cannot open"), (429, "Too many")]
)
def test_each_error_code_has_its_own_explanation(app: Flask, code: int, heading: str) -> None:
    from flask import abort

    @app.get("/fail")
    def fail() -> None:
        abort(code)

    response = app.test_client().get("/fail")
    assert response.status_code == code
    assert heading in response.get_data(as_text=True)


def test_pages_may_be_framed_by_an_lms_but_nothing_else_is_loosened(client: FlaskClient) -> None:
    response = client.get("/healthz")
    csp = content_security_policy(response)
    assert csp["frame-ancestors"][0] == "https:"
    assert "X-Frame-Options" not in response.headers
    assert "'unsafe-inline'" not in csp["script-src"]
    assert csp["object-src"] == ["'none'"]
    assert response.headers["Referrer-Policy"] == "same-origin"
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_the_front_door_explains_that_registration_starts_in_the_lms(client: FlaskClient) -> None:
    page = client.get("/").get_data(as_text=True)
    assert "Registration starts in your LMS" in page
    assert "http://localhost/lti/register" in page
    assert "http://127.0.0.1/sandbox/lms/" in page
