"""Reading a response's security headers, whichever client got it (Flask's test client or
requests)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol


class _Response(Protocol):
    @property
    def headers(self) -> Mapping[str, str]: ...


def content_security_policy(response: _Response) -> dict[str, list[str]]:
    """The Content-Security-Policy's directives, each with its sources in order."""
    directives = (part.split() for part in response.headers["Content-Security-Policy"].split(";"))
    return {words[0]: words[1:] for words in directives if words}
