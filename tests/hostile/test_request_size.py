"""A request body is read up to MAX_CONTENT_LENGTH (64 KiB: the forms are small), Stripe's webhook
up to STRIPE_WEBHOOK_MAX_CONTENT_LENGTH (1 MiB); beyond that the answer is 413, before the rest
is read, whether the length is declared or the body is streamed (chunked)."""

from __future__ import annotations

import io
import json
import socket
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select
from werkzeug.test import EnvironBuilder, run_wsgi_app

from portal.config import settings_from_env
from portal.db import get_session
from portal.models import StripeEvent
from portal.sandbox.stripe_standin import sign_webhook_payload
from tests.conftest import LiveServer

FORM_LIMIT = 64 * 1024
WEBHOOK_LIMIT = 1024 * 1024
FORM = "application/x-www-form-urlencoded"


def text(response: Any) -> str:
    return response.get_data(as_text=True)


class CountingStream(io.RawIOBase):
    """A request body of 16 times the form limit (endless, for what the limit must do), counting
    the bytes the app took from it."""

    length = 16 * FORM_LIMIT

    def __init__(self) -> None:
        self.taken = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        size = min(len(buffer), self.length - self.taken)
        buffer[:size] = b"a" * size
        self.taken += size
        return size


def test_the_limits_default_to_a_form_and_a_stripe_event() -> None:
    settings = settings_from_env({}, "/instance")

    assert (settings["MAX_CONTENT_LENGTH"], settings["STRIPE_WEBHOOK_MAX_CONTENT_LENGTH"]) == (
        FORM_LIMIT,
        WEBHOOK_LIMIT,
    )


def test_a_form_larger_than_the_limit_gets_the_413_page(app: Flask) -> None:
    app.config["WTF_CSRF_ENABLED"] = False
    body = "email=admin%40springfield.edu&password=" + "x" * (2 * 1024 * 1024)

    response = app.test_client().post("/auth/sign-in", data=body, content_type=FORM)

    assert response.status_code == 413
    assert "What you sent is too large" in text(response)
    assert "Go back, shorten what you entered" in text(response)
    assert response.headers["Cache-Control"] == "no-store"


def test_a_form_within_the_limit_is_read(app: Flask) -> None:
    app.config["WTF_CSRF_ENABLED"] = False
    body = "email=admin%40springfield.edu&password=" + "x" * (FORM_LIMIT - 100)

    response = app.test_client().post("/auth/sign-in", data=body, content_type=FORM)

    assert response.status_code == 200  # read, and answered: the password is too long
    assert "Field cannot be longer than" in text(response)


def post_stream(app: Flask, body: io.RawIOBase | io.BytesIO, content_length: int | None) -> str:
    """POST `body` to the sign-in form as a WSGI server hands it over; the response's status line.

    Without a length the body is streamed (chunked): the server then marks the stream as
    ending by itself (`wsgi.input_terminated`), as the development server and gunicorn do.
    """
    environ = EnvironBuilder("/auth/sign-in", method="POST", content_type=FORM).get_environ()
    environ["wsgi.input"] = body
    if content_length is None:
        del environ["CONTENT_LENGTH"]
        environ["wsgi.input_terminated"] = True
    else:
        environ["CONTENT_LENGTH"] = str(content_length)
    app_iter, status, _headers = run_wsgi_app(app.wsgi_app, environ)
    b"".join(app_iter)
    getattr(app_iter, "close", lambda: None)()
    return status


def test_a_declared_length_above_the_limit_is_refused_without_reading_the_body(app: Flask) -> None:
    body = CountingStream()

    assert post_stream(app, body, content_length=200 * 1024 * 1024) == "413 REQUEST ENTITY TOO LARGE"
    assert body.taken == 0


def test_a_streamed_body_is_read_only_up_to_the_limit(app: Flask) -> None:
    body = CountingStream()

    assert post_stream(app, body, content_length=None) == "413 REQUEST ENTITY TOO LARGE"
    assert FORM_LIMIT < body.taken <= FORM_LIMIT + 1


def test_a_streamed_body_within_the_limit_is_read_whole(app: Flask) -> None:
    app.config["WTF_CSRF_ENABLED"] = False
    body = io.BytesIO(b"email=admin%40springfield.edu&password=" + b"x" * (FORM_LIMIT - 100))

    assert post_stream(app, body, content_length=None) == "200 OK"


def test_the_limit_is_a_setting(app: Flask) -> None:
    app.config.update(WTF_CSRF_ENABLED=False, MAX_CONTENT_LENGTH=1024)

    response = app.test_client().post("/auth/sign-in", data={"email": "a" * 2000}, content_type=FORM)

    assert response.status_code == 413


# Stripe's webhook: its own, larger limit


def signed(app: Flask, event: dict[str, Any], padding: int = 0) -> dict[str, Any]:
    if padding:
        event = {**event, "data": {"object": {**event["data"]["object"], "padding": "p" * padding}}}
    payload = json.dumps(event).encode()
    return {
        "data": payload,
        "content_type": "application/json",
        "headers": {"Stripe-Signature": sign_webhook_payload(payload, app.config["STRIPE_WEBHOOK_SECRET"])},
    }


AN_EVENT = {
    "id": "evt_large",
    "object": "event",
    "type": "customer.updated",
    "data": {"object": {"id": "cus_1"}},
}


def test_the_webhook_reads_an_event_larger_than_a_form(app: Flask) -> None:
    response = app.test_client().post("/billing/webhook", **signed(app, AN_EVENT, padding=300 * 1024))

    assert response.status_code == 200
    assert response.get_json()["result"] == "ignored"


def test_a_webhook_delivery_above_its_limit_is_refused_in_json_and_stores_nothing(app: Flask) -> None:
    response = app.test_client().post("/billing/webhook", **signed(app, AN_EVENT, padding=WEBHOOK_LIMIT))

    assert response.status_code == 413
    assert response.get_json() == {"status": 413, "error": "Request Entity Too Large"}
    with app.app_context():
        assert get_session().scalar(select(func.count()).select_from(StripeEvent)) == 0


# Over real HTTP, as the development server (and gunicorn) hand the body over


@pytest.fixture
def connection(live_server: LiveServer) -> Iterator[socket.socket]:
    with socket.create_connection(("127.0.0.1", live_server.port), timeout=10) as sock:
        yield sock


def status_line(sock: socket.socket) -> str:
    """The response's first line; a server still waiting for the body never answers (timeout)."""
    received = b""
    while b"\r\n" not in received:
        chunk = sock.recv(4096)
        if not chunk:
            break
        received += chunk
    return received.split(b"\r\n", 1)[0].decode()


def test_over_http_a_200_mb_declared_body_is_refused_before_it_is_sent(connection: socket.socket) -> None:
    connection.sendall(
        b"POST /auth/sign-in HTTP/1.1\r\nHost: localhost\r\n"
        b"Content-Type: application/x-www-form-urlencoded\r\n"
        b"Content-Length: 209715200\r\n\r\nemail=a"
    )

    assert status_line(connection) == "HTTP/1.1 413 REQUEST ENTITY TOO LARGE"


def test_over_http_an_endless_chunked_body_is_refused_at_the_limit(connection: socket.socket) -> None:
    connection.sendall(
        b"POST /auth/sign-in HTTP/1.1\r\nHost: localhost\r\n"
        b"Content-Type: application/x-www-form-urlencoded\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n"
    )
    chunk = b"a" * 16384
    for _ in range(2 * FORM_LIMIT // len(chunk)):  # never the last chunk: the body has no end
        connection.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))

    assert status_line(connection) == "HTTP/1.1 413 REQUEST ENTITY TOO LARGE"
