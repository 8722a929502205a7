"""A scriptable stand-in for LTIAAS over real HTTP, and clients pointed at it.

Each test queues the replies it wants (status, body, delay, or a dropped
connection) and reads back the requests the server received (method, raw path,
query, headers, body). `lms_refusal` words an LMS's refusal the way LTIAAS
reports it; `closed_url` and `unconnectable_url` fail before anything is sent.
"""

from __future__ import annotations

import json
import logging
import socket
import struct
import threading
import traceback
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from portal.ltiaas import LtiaasClient

API_KEY = "test-key-5c1f0e8a-2b7d-4f9e-9a41-d3c6b2e0f7aa"


@dataclass
class Reply:
    """What the server answers: a dict/list body is sent as JSON, str/bytes as is.

    `drop` answers nothing once the request is read: "reset" aborts the
    connection (TCP RST), "hang_up" closes it (FIN).
    """

    status: int = 200
    body: Any = None
    delay: float = 0.0
    headers: dict[str, str] = field(default_factory=dict)
    drop: str | None = None

    def encoded(self) -> tuple[bytes, str]:
        if isinstance(self.body, bytes):
            return self.body, "application/octet-stream"
        if isinstance(self.body, str):
            return self.body.encode(), "text/html; charset=utf-8"
        if self.body is None:
            return b"", "application/json"
        return json.dumps(self.body).encode(), "application/json"


@dataclass
class Received:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class FakeLtiaas:
    """A threaded HTTP server on 127.0.0.1 that plays back queued replies."""

    def __init__(self) -> None:
        self.received: list[Received] = []
        self._replies: deque[Reply] = deque()
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._server.daemon_threads = True
        # A client that timed out has hung up; the late answer fails, quietly.
        self._server.handle_error = lambda request, address: None  # type: ignore[method-assign]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def reply(self, status: int = 200, body: Any = None, *, delay: float = 0.0, times: int = 1) -> None:
        with self._lock:
            self._replies.extend(Reply(status, body, delay) for _ in range(times))

    def drop(self, how: str, *, times: int = 1) -> None:
        """Read the request, then "reset" or "hang_up" without answering."""
        assert how in {"reset", "hang_up"}
        with self._lock:
            self._replies.extend(Reply(drop=how) for _ in range(times))

    def next_reply(self, received: Received) -> Reply:
        with self._lock:
            self.received.append(received)
            if self._replies:
                return self._replies.popleft()
        return Reply(
            500, {"status": 500, "error": "Test server", "details": {"message": "NO_REPLY_SCRIPTED"}}
        )

    def wait(self, seconds: float) -> None:
        self._stopping.wait(seconds)

    def reset(self) -> None:
        """Forget requests and replies; wake any reply still delayed for an earlier test."""
        with self._lock:
            self.received.clear()
            self._replies.clear()
            self._stopping.set()
            self._stopping = threading.Event()

    @property
    def last(self) -> Received:
        assert self.received, "the server received no request"
        return self.received[-1]

    def close(self) -> None:
        self._stopping.set()
        self._server.shutdown()
        self._server.server_close()


def _handler_for(fake: FakeLtiaas) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            parts = urlsplit(self.path)
            received = Received(
                method=self.command,
                path=parts.path,
                query=parse_qs(parts.query, keep_blank_values=True),
                headers={name.lower(): value for name, value in self.headers.items()},
                body=self.rfile.read(length) if length else b"",
            )
            reply = fake.next_reply(received)
            if reply.delay:
                fake.wait(reply.delay)
            if reply.drop:
                self._drop(reply.drop)
                return
            payload, content_type = reply.encoded()
            self.send_response(reply.status)
            if reply.status != 204:
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(payload)))
            for name, value in reply.headers.items():
                self.send_header(name, value)
            self.end_headers()
            if reply.status != 204:
                self.wfile.write(payload)

        def _drop(self, how: str) -> None:
            self.close_connection = True
            if how == "reset":
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.rfile.close()
            self.wfile.close()
            self.connection.close()

        do_GET = do_POST = do_PUT = do_DELETE = _serve

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


@pytest.fixture(scope="session")
def ltiaas_server() -> Iterator[FakeLtiaas]:
    server = FakeLtiaas()
    yield server
    server.close()


@pytest.fixture
def ltiaas(ltiaas_server: FakeLtiaas) -> FakeLtiaas:
    """The fake LTIAAS, with no request received and no reply queued yet."""
    ltiaas_server.reset()
    return ltiaas_server


@pytest.fixture
def make_client(ltiaas: FakeLtiaas) -> Iterator[Callable[..., LtiaasClient]]:
    """`make_client(**settings)`: a client for the fake server, fast backoff, short timeouts."""
    clients: list[LtiaasClient] = []

    def make(**settings: Any) -> LtiaasClient:
        options: dict[str, Any] = {
            "base_url": ltiaas.url,
            "api_key": API_KEY,
            "connect_timeout": 1.0,
            "read_timeout": 2.0,
            "retries": 2,
            "backoff_factor": 0.001,
        }
        options.update(settings)
        client = LtiaasClient(**options)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


@pytest.fixture
def api(make_client: Callable[..., LtiaasClient]) -> LtiaasClient:
    """A client with the test defaults: 2 retries, 2 s read timeout."""
    return make_client()


@pytest.fixture(autouse=True)
def no_key_in_logs(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """Every test in this folder runs with DEBUG logging, and no record may hold the API key."""
    caplog.set_level(logging.DEBUG)
    # create_app sets the "portal" logger's own level; lift it for this test too.
    caplog.set_level(logging.DEBUG, logger="portal")
    yield
    for record in caplog.records:
        assert API_KEY not in record.getMessage()
    assert API_KEY not in caplog.text


@pytest.fixture
def closed_url() -> str:
    """A loopback URL on which nothing listens: connections are refused at once."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


@pytest.fixture
def unconnectable_url() -> Iterator[str]:
    """A loopback URL whose listener never accepts and whose queue is full: connects time out."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    fillers = []
    for _ in range(4):
        filler = socket.socket()
        filler.setblocking(False)
        filler.connect_ex(("127.0.0.1", port))
        fillers.append(filler)
    yield f"http://127.0.0.1:{port}"
    for filler in fillers:
        filler.close()
    listener.close()


def lms_refusal(lms_status: int, lms_body: Any, endpoint: str) -> tuple[int, dict[str, Any]]:
    """LTIAAS's answer to complete when the LMS refused: ltijs's 500 wrapping the LMS's answer.

    As LTIAAS's SDK reads it: `details.message` names the LMS's status as got
    words it, `externalError` is true, `bodyReceived` is the LMS's body and
    `externalUrl` the registration endpoint.
    """
    phrase = HTTPStatus(lms_status).phrase
    return 500, {
        "status": 500,
        "error": "Internal Server Error",
        "details": {
            "message": f"Response code {lms_status} ({phrase})",
            "externalError": True,
            "bodyReceived": lms_body,
            "externalUrl": endpoint,
        },
    }


def _raises_without_key(expected: type[BaseException], call: Callable[[], Any]) -> Any:
    with pytest.raises(expected) as caught:
        call()
    error = caught.value
    text = "".join(traceback.format_exception(error)) + repr(error) + str(vars(error))
    assert API_KEY not in text
    return error


@pytest.fixture
def expect_error() -> Callable[[type[BaseException], Callable[[], Any]], Any]:
    """`expect_error(ErrorClass, call)`: the error raised, checked to hold no API key anywhere.

    The whole traceback (with the chained transport error), repr and attributes are searched.
    """
    return _raises_without_key


@pytest.fixture
def api_key() -> str:
    return API_KEY
