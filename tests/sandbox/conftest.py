"""Fixtures for the sandbox: the live sandbox driven like a browser and a portal, and a forged LMS."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import ThreadingHTTPServer
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import pytest

from portal.ltiaas import LtiaasClient
from tests.fakes.http import JsonHandler
from tests.sandbox.helpers import API_KEY, ForgedLms, Sandbox

if TYPE_CHECKING:
    from tests.conftest import LiveServer


@pytest.fixture
def sandbox(live_server: LiveServer) -> Sandbox:
    return Sandbox(live_server)


@pytest.fixture
def ltiaas_client(live_server: LiveServer) -> Iterator[LtiaasClient]:
    """The portal's own LTIAAS client, pointed at the live sandbox LTIAAS."""
    client = LtiaasClient(live_server.url, API_KEY, retries=0)
    yield client
    client.close()


@pytest.fixture
def forged_lms() -> Iterator[ForgedLms]:
    forged: ForgedLms

    class Handler(JsonHandler):
        def do_GET(self) -> None:
            forged.seen_headers.append(dict(self.headers))
            status, text = forged.responses.get(urlsplit(self.path).path, (404, "{}"))
            self.send_body(status, text.encode())

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    forged = ForgedLms(server=server)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    yield forged
    server.shutdown()
    server.server_close()
