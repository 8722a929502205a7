"""What the logs say: one line per request with its id, no query string, no token; JSON in production."""

from __future__ import annotations

import json
import logging
import re
import sys
from datetime import timedelta
from types import SimpleNamespace

import pytest
import requests
from flask import Flask
from flask.testing import FlaskClient
from gunicorn.config import Config

from portal.logs import DevServerLines, JsonFormatter, TextFormatter
from portal.serving import PortalLogger
from tests.conftest import LiveServer
from tests.log_secrets import secrets_in
from tests.registration.test_registration_live import register_through_the_portal

TOKEN = "ImFiY2RlZmdoaWprbG1ub3BxcnN0dXZ3eHl6MDEyMzQ1Njc4OWFiY2RlZmdoaWoi.Z1a2bC.abcdefghijklmnopqrstuvwxyz0"


def request_lines(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [record for record in caplog.records if record.name == "portal.request"]


def as_json(record: logging.LogRecord) -> dict:
    return json.loads(JsonFormatter().format(record))


def test_every_response_says_its_request_id_and_keeps_a_sane_incoming_one(client: FlaskClient) -> None:
    given = client.get("/healthz", headers={"X-Request-ID": "lb-7f3a:42"})
    made = client.get("/healthz")
    refused = client.get("/healthz", headers={"X-Request-ID": "<script>alert(1)</script>"})
    too_long = client.get("/healthz", headers={"X-Request-ID": "a" * 129})

    assert given.headers["X-Request-ID"] == "lb-7f3a:42"
    assert re.fullmatch(r"[0-9a-f]{32}", made.headers["X-Request-ID"])
    assert re.fullmatch(r"[0-9a-f]{32}", refused.headers["X-Request-ID"])
    assert re.fullmatch(r"[0-9a-f]{32}", too_long.headers["X-Request-ID"])
    assert made.headers["X-Request-ID"] != refused.headers["X-Request-ID"]


def test_each_request_is_one_line_without_its_query_string(
    client: FlaskClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="portal")
    response = client.get(f"/healthz?_st={TOKEN}&x=1", headers={"X-Request-ID": "req-1"})

    [line] = request_lines(caplog)
    fields = as_json(line)
    assert line.getMessage().startswith("GET /healthz 200 ")
    assert {key: fields[key] for key in ("request_id", "method", "path", "status", "client")} == {
        "request_id": "req-1",
        "method": "GET",
        "path": "/healthz",
        "status": 200,
        "client": "127.0.0.1",
    }
    assert fields["duration_ms"] >= 0
    assert response.headers["X-Request-ID"] == "req-1"
    assert "_st" not in caplog.text and TOKEN not in caplog.text


def test_lines_written_during_a_request_carry_its_id_and_the_registration(
    app: Flask, caplog: pytest.LogCaptureFixture
) -> None:
    def note(public_id: str) -> str:
        app.logger.warning("something worth a line about %s", public_id)
        return "noted"

    app.add_url_rule("/registration/<public_id>/note", view_func=note)
    caplog.set_level(logging.INFO, logger="portal")

    app.test_client().get("/registration/rg_42/note", headers={"X-Request-ID": "req-2"})

    lines = [as_json(record) for record in caplog.records if record.name.startswith("portal")]
    assert [line["logger"] for line in lines] == ["portal", "portal.request"]
    assert all(line["request_id"] == "req-2" and line["registration"] == "rg_42" for line in lines)


def test_billing_lines_name_the_payment_and_a_hosted_link_token_is_masked(
    client: FlaskClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="portal")
    client.get("/billing/status/pay_123")
    client.get(f"/billing/hosted/{TOKEN}")

    status, hosted = (as_json(record) for record in request_lines(caplog))
    assert status["payment"] == "pay_123"
    assert hosted["path"] == "/billing/hosted/<token>"
    assert TOKEN not in caplog.text


def test_a_json_line_is_one_line_even_with_a_traceback() -> None:
    try:
        raise ValueError("first line\nsecond line")
    except ValueError:
        record = logging.LogRecord("portal.x", logging.ERROR, __file__, 1, "failed: %s", ("why",), None)
        record.exc_info = sys.exc_info()

    line = JsonFormatter().format(record)

    assert "\n" not in line
    parsed = json.loads(line)
    assert parsed["message"] == "failed: why"
    assert parsed["level"] == "ERROR"
    assert "ValueError: first line" in parsed["exception"]
    assert "request_id" not in parsed  # written outside any request


def test_human_lines_show_the_request_id(app: Flask) -> None:
    with app.test_request_context("/", environ_base={"portal.request_id": "req-3"}):
        record = logging.makeLogRecord({"name": "portal", "levelno": logging.INFO, "levelname": "INFO"})
    record.msg = "hello"
    assert TextFormatter().format(record).endswith("INFO portal: [req-3] hello")


def test_the_development_server_writes_no_query_string(
    live_server: LiveServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    requests.get(f"{live_server.url}/healthz", params={"_st": TOKEN}, timeout=10)

    assert [record.getMessage().split(" ")[:2] for record in request_lines(caplog)] == [["GET", "/healthz"]]
    assert not [record for record in caplog.records if record.name == "werkzeug"]
    assert TOKEN not in caplog.text


def test_the_development_servers_other_lines_lose_their_query_string() -> None:
    record = logging.LogRecord(
        "werkzeug",
        logging.ERROR,
        __file__,
        1,
        "127.0.0.1 - - [01/Dec/2026 10:00:00] code %d, message %s",
        (400, f"Bad request syntax ('GET /x?_st={TOKEN} HTTP/1.1 junk')"),
        None,
    )
    assert DevServerLines().filter(record) is True
    assert record.getMessage().endswith("Bad request syntax ('GET /x HTTP/1.1 junk')")


def test_a_whole_registration_in_token_mode_leaves_no_secret_in_any_line(
    live_server: LiveServer, caplog: pytest.LogCaptureFixture
) -> None:
    # Every line of the portal and its servers (not those of the test's own HTTP client), and
    # SQL echo: statements without their parameters. (SQLAlchemy's DEBUG prints result rows,
    # which hold whatever the database holds.)
    for name in ("portal", "werkzeug", "stripe"):
        caplog.set_level(logging.DEBUG, logger=name)
    caplog.set_level(logging.INFO, logger="sqlalchemy")

    done = register_through_the_portal(live_server, "moodle-4.4", {"LtiDeepLinkingRequest": ["ContentArea"]})

    assert 'data-state="completed"' in done["done"].text
    lines = request_lines(caplog)
    assert any(as_json(line).get("registration") for line in lines)
    assert {as_json(line)["path"].split("/")[1] for line in lines} >= {"intermediate-target", "registration"}
    leaks = [(record.name, secrets_in(record.getMessage())) for record in caplog.records]
    assert [leak for leak in leaks if leak[1]] == []
    assert "_st=" not in caplog.text


def test_gunicorns_access_line_shows_neither_query_string_nor_referer() -> None:
    config = Config()
    config.set("accesslog", "-")
    logger = PortalLogger(config)
    response = SimpleNamespace(status="200 OK", headers=[("X-Request-ID", "req-4")], sent=120)
    request = SimpleNamespace(headers=[("REFERER", f"http://localhost/registration/x/?_st={TOKEN}")])
    environ = {
        "REQUEST_METHOD": "GET",
        "RAW_URI": f"/billing/hosted/{TOKEN}?_st={TOKEN}",
        "PATH_INFO": f"/billing/hosted/{TOKEN}",
        "QUERY_STRING": f"_st={TOKEN}",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "203.0.113.9",
        "portal.logged_path": "/billing/hosted/<token>",
    }
    atoms = logger.atoms(response, request, environ, timedelta(milliseconds=12))
    everything = "%(r)s %(U)s %(q)s %(f)s %({referer}i)s %({x-request-id}o)s"

    line = everything % logger.atoms_wrapper_class(atoms)

    assert line == "GET /billing/hosted/<token> HTTP/1.1 /billing/hosted/<token> - - - req-4"


def test_a_path_cannot_forge_a_line(client: FlaskClient, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="portal")
    client.get("/registration/x%0AINFO%20portal.request:%20forged/")

    [line] = request_lines(caplog)
    assert "\n" not in line.getMessage()
    assert as_json(line)["registration"] == "x\\nINFO portal.request: forged"
