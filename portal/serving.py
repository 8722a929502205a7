"""Serving the portal under gunicorn: what gunicorn.conf.py computes from the settings.

Plain functions of the settings, so they are tested without a server: the worker timeout
(above the longest wait on LTIAAS or Stripe) and the startup notice when the per-address rate
limit is counted per process; and gunicorn's logger: its lines as the portal's JSON lines in
production, its access log never showing a query string or a token.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import math
from collections.abc import Mapping
from typing import Any, cast

from gunicorn.glogging import Logger

from portal.logs import ENVIRON_LOGGED_PATH, JsonFormatter

# Stripe-python's backoff between retries (its _max_network_retry_delay and initial delay).
_STRIPE_MAX_RETRY_DELAY = 5.0
_STRIPE_INITIAL_RETRY_DELAY = 0.5
_LTIAAS_MAX_BACKOFF = 8.0  # portal.ltiaas._MAX_BACKOFF_SECONDS
# Request headers gunicorn's access log could show (`%({name}i)s`) that carry URLs with the
# `_st` token, the session cookie or credentials.
_UNLOGGED_HEADERS = ("referer", "cookie", "authorization", "x-session-token", "stripe-signature")


def ltiaas_longest_wait(settings: Mapping[str, Any]) -> float:
    """Seconds one LTIAAS call may take at worst: every attempt timing out, plus the backoffs."""
    attempts = 1 + int(settings["LTIAAS_RETRIES"])
    per_attempt = float(settings["LTIAAS_CONNECT_TIMEOUT"]) + float(settings["LTIAAS_READ_TIMEOUT"])
    backoff = float(settings["LTIAAS_BACKOFF_FACTOR"])
    pauses = sum(min(backoff * 2**retry, _LTIAAS_MAX_BACKOFF) for retry in range(attempts - 1))
    return float(attempts * per_attempt + pauses)


def stripe_longest_wait(settings: Mapping[str, Any]) -> float:
    """Seconds one Stripe call may take at worst: every attempt timing out, plus the backoffs."""
    attempts = 1 + int(settings["STRIPE_MAX_RETRIES"])
    pauses = sum(
        min(_STRIPE_INITIAL_RETRY_DELAY * 2**retry, _STRIPE_MAX_RETRY_DELAY) for retry in range(attempts - 1)
    )
    return float(attempts * float(settings["STRIPE_TIMEOUT"]) + pauses)


def worker_timeout(settings: Mapping[str, Any], margin: float = 15) -> int:
    """Seconds gunicorn lets a request run (sync workers) and lets requests finish on a restart:
    above the longest wait on LTIAAS or Stripe, so a `complete` in flight is never cut off."""
    return math.ceil(max(ltiaas_longest_wait(settings), stripe_longest_wait(settings)) + margin)


def rate_limit_notice(settings: Mapping[str, Any], workers: int) -> str | None:
    """What to say at startup when the per-address limit is not shared by every process, or None."""
    if not settings["RATELIMIT_ENABLED"] or not settings["RATELIMIT_STORAGE_URI"].startswith("memory://"):
        return None
    limit = settings["AUTH_RATE_LIMIT"]
    fix = "set RATELIMIT_STORAGE_URI=redis://... to share one count"
    if workers > 1:
        return (
            f"the per-address sign-in limit ({limit}) is counted per process: each of the {workers} "
            f"workers counts alone, so an address gets up to {workers} times as many attempts; {fix} "
            "(the per-account lock is kept in the database and shared already)"
        )
    if settings["PORTAL_ENV"] == "production":
        return (
            f"the per-address sign-in limit ({limit}) is counted in this process: each host (and "
            f"each restart) counts alone; {fix} before running several hosts"
        )
    return None


class PortalLogger(Logger):  # type: ignore[misc,no-any-unimported]  # gunicorn ships no types
    """gunicorn's logger, whose access lines show the path as the portal logs it (no query
    string, credential segments masked) and none of the headers that carry tokens."""

    def atoms(self, resp: Any, req: Any, environ: dict[str, Any], request_time: Any) -> dict[str, Any]:
        atoms = super().atoms(resp, req, environ, request_time)
        path = environ.get(ENVIRON_LOGGED_PATH) or environ.get("PATH_INFO") or "-"
        atoms.update(U=path, q="-", f="-", r=f"{atoms['m']} {path} {atoms['H']}")
        for header in _UNLOGGED_HEADERS:
            atoms.pop(f"{{{header}}}i", None)
        return cast(dict[str, Any], atoms)


class JsonLinesLogger(PortalLogger):
    """The same, writing gunicorn's own lines and its access lines as the portal's JSON lines, to
    wherever gunicorn was told (--error-logfile, --access-logfile)."""

    def setup(self, cfg: Any) -> None:
        super().setup(cfg)
        formatter = JsonFormatter()
        for log in (self.error_log, self.access_log):
            for handler in log.handlers:
                if getattr(handler, "_gunicorn", False):  # its own, not someone else's
                    handler.setFormatter(formatter)


# glibc's mallopt parameters (malloc.h).
_M_MMAP_THRESHOLD = -3
_M_ARENA_MAX = -8
MALLOC_ARENAS = 2
MALLOC_MMAP_THRESHOLD = 1024 * 1024


def tune_malloc() -> bool:
    """Keep a worker's memory near what it uses, from gunicorn's post_fork (before any thread).

    glibc gives each thread its own arena (up to 8 per core), each keeping what it once held; and
    after freeing a large block it serves the next ones from those arenas, which keep them too. So
    a worker with many threads that once hashed a few passwords (8 MiB each) would hold on to tens
    of MB. Two arenas, and blocks of 1 MiB or more always given back to the system when freed
    (what MALLOC_ARENA_MAX=2 and MALLOC_MMAP_THRESHOLD_=1048576 would do, set from here). False
    where the C library is not glibc (nothing changed).
    """
    name = ctypes.util.find_library("c")
    try:
        mallopt = ctypes.CDLL(name).mallopt
    except (OSError, AttributeError, TypeError):
        return False
    mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
    return bool(mallopt(_M_ARENA_MAX, MALLOC_ARENAS)) and bool(
        mallopt(_M_MMAP_THRESHOLD, MALLOC_MMAP_THRESHOLD)
    )


# gunicorn.conf.py's `logger_class` for each LOG_FORMAT ("text" keeps gunicorn's own lines).
LOGGERS: dict[str, type[PortalLogger]] = {"json": JsonLinesLogger, "text": PortalLogger}
