"""Clients of the fake LTIAAS (tests/fakes/ltiaas.py) for the client's own tests.

Each test queues the replies it wants (`ltiaas.reply(...)`: status, body, delay, or a
dropped connection with `ltiaas.drop(...)`) and reads back the requests the server received
(`ltiaas.received`: method, raw path, query, headers, body). `lms_refusal` words an LMS's
refusal the way LTIAAS reports it; `closed_url` and `unconnectable_url` (tests/conftest.py)
fail before anything is sent.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from portal.ltiaas import LtiaasClient
from tests.fakes.ltiaas import API_KEY, FakeLtiaas


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
