"""What must never reach a log line, and a handler that checks every record the suite produces.

`tests/conftest.py` puts one `SecretWatch` on the root logger for the whole run: each record
is rendered (its message, exception and the portal's JSON line) and searched for the shapes of
the portal's credentials and for the exact secrets the tests use. A test whose records hold
one fails at teardown; a record outside any test fails the run.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterable, Mapping
from typing import Any

from portal.config import SANDBOX_API_KEY
from portal.logs import JsonFormatter

_B64 = "[A-Za-z0-9_-]"
SHAPES = {
    "a session token in a query string": re.compile(r"[?&]_st=[^&\s\"'<>]+"),
    # itsdangerous' URLSafeTimedSerializer: payload.timestamp.signature (the `_st` token,
    # the one-time hosted-checkout link).
    "a signed, timed token": re.compile(rf"{_B64}{{20,}}\.{_B64}{{5,8}}\.{_B64}{{27}}(?![\w-])"),
    # The session cookie: a 43-character id and its 27-character signature.
    "a signed session cookie": re.compile(rf"(?<![\w-]){_B64}{{43}}\.{_B64}{{27}}(?![\w-])"),
    "a JWT (an LMS registration token)": re.compile(rf"eyJ{_B64}{{8,}}\.eyJ{_B64}{{8,}}\.{_B64}+"),
    "a Stripe secret key": re.compile(r"(?<![A-Za-z])[sr]k_(?:test|live)_[A-Za-z0-9]+"),
    "a Stripe webhook secret": re.compile(r"whsec_[A-Za-z0-9_]+"),
    "a Checkout Session client secret": re.compile(r"cs_(?:test|live)_[A-Za-z0-9]+_secret_[A-Za-z0-9]+"),
    "a Bearer credential": re.compile(r"Bearer\s+(?!\*)[^\s'\"]+"),
}

# Exact values the tests use; more are added from each test app's settings (`remember`).
KNOWN = {
    SANDBOX_API_KEY: "the sandbox's LTIAAS API key",
    "test-key-5c1f0e8a-2b7d-4f9e-9a41-d3c6b2e0f7aa": "the LTIAAS tests' API key",
    "correct horse battery": "a test password",
    "a brand new passphrase": "a test password",
    "not the password": "a test password",
}
SECRET_SETTINGS = ("SECRET_KEY", "LTIAAS_API_KEY", "STRIPE_SECRET_KEY", "STRIPE_WEBHOOK_SECRET")
_SHORTEST_KNOWN = 8  # shorter values ("k") would match innocent text


def secrets_in(text: str, known: Mapping[str, str] = KNOWN) -> list[str]:
    """What `text` gives away: the names of the shapes and known secrets found in it."""
    found = [name for name, shape in SHAPES.items() if shape.search(text)]
    found += [name for value, name in known.items() if value in text]
    return found


def _rendered(record: logging.LogRecord) -> str:
    try:
        message = record.getMessage()
    except Exception:  # a broken record still gets searched
        message = f"{record.msg} {record.args}"
    return f"{message}\n{JsonFormatter().format(record)}"


class SecretWatch(logging.Handler):
    """Keeps one line per record that holds a secret, until `take` hands them over."""

    def __init__(self) -> None:
        super().__init__(level=logging.NOTSET)
        self.known = dict(KNOWN)
        self._leaks: list[str] = []
        self._lock_leaks = threading.Lock()

    def remember(self, settings: Mapping[str, Any]) -> None:
        for name in SECRET_SETTINGS:
            value = settings.get(name)
            if isinstance(value, str) and len(value) >= _SHORTEST_KNOWN:
                self.known.setdefault(value, f"the setting {name}")

    def emit(self, record: logging.LogRecord) -> None:
        found = secrets_in(_rendered(record), self.known)
        if found:
            with self._lock_leaks:
                self._leaks.append(f"{record.name} {record.levelname}: {', '.join(found)}")

    def take(self) -> list[str]:
        with self._lock_leaks:
            leaks, self._leaks = self._leaks, []
        return leaks


def describe(leaks: Iterable[str]) -> str:
    return "log lines gave away secrets:\n  " + "\n  ".join(leaks)
