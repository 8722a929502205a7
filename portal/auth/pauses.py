"""The pages that say signing in is paused, and until when: an email's lockout after too many wrong
passwords (`service.account_locked_until`), and the per-address limit on account POSTs.

Both answer 429 with a Retry-After, say the real end of the pause, and link back to the form
(with the flow's `next`, and the session token when URLs carry it: these are pages of the flow,
inside the LMS's iframe, where there is no address bar to go back with).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from flask import current_app, make_response, render_template, request, url_for
from flask_limiter import Limiter, RateLimitExceeded
from werkzeug.wrappers import Response

from portal.auth.navigation import safe_next
from portal.models import utcnow
from portal.sessions import OLD_LINK

_UNITS = (("day", 86400), ("hour", 3600), ("minute", 60), ("second", 1))


@dataclass(frozen=True)
class Pause:
    """A pause from `now` until `until` (UTC), as a page and a Retry-After header say it."""

    until: datetime
    now: datetime

    @property
    def seconds(self) -> int:
        return max(1, math.ceil((self.until - self.now).total_seconds()))

    @property
    def minutes(self) -> int:
        return math.ceil(self.seconds / 60)

    @property
    def clock(self) -> str:
        """The end as "14:32 UTC", rounded up to the minute (never earlier than the real end),
        with the date when it is not today's."""
        until = self.until.astimezone(UTC)
        shown = until.replace(second=0, microsecond=0)
        if shown < until:
            shown += timedelta(minutes=1)
        if shown.date() != self.now.astimezone(UTC).date():
            return shown.strftime("%Y-%m-%d %H:%M UTC")
        return shown.strftime("%H:%M UTC")


def _answer(template: str, pause: Pause, **context: object) -> Response:
    response = make_response(render_template(template, pause=pause, **context), 429)
    response.headers["Retry-After"] = str(pause.seconds)
    return response


def locked_out(until: datetime, try_again: str, next_path: str | None) -> Response:
    """The lockout of the email just typed: until when, "Try again" (`try_again`) and
    "Forgot your password?". Worded for an email address, not an account: unknown emails are
    locked alike, so the page tells nobody whether an account exists."""
    return _answer("auth/locked.html", Pause(until, utcnow()), try_again=try_again, next_path=next_path)


def address_limited(error: RateLimitExceeded) -> Response:
    """The per-address limit on account POSTs (`AUTH_RATE_LIMIT`, Flask-Limiter): how many in
    what time, until when, and "Try again" back to the form the POST came from."""
    amount, window = error.limit.limit.amount, error.limit.limit.get_expiry()
    next_path = safe_next(request.values.get("next"))
    return _answer(
        "auth/address_limited.html",
        Pause(_limit_resets_at(window), utcnow()),
        amount=amount,
        window=duration_words(window),
        try_again=_form_page(next_path),
    )


def _limit_resets_at(window: int) -> datetime:
    limiter: Limiter = current_app.extensions["auth_limiter"]
    breached = limiter.current_limit
    longest = utcnow() + timedelta(seconds=window)
    if breached is None:  # not known: say the longest it can be
        return longest
    # The storage rounds its reset up to a whole second, a little past the window at worst.
    return min(datetime.fromtimestamp(breached.reset_at, UTC), longest)


def duration_words(seconds: int) -> str:
    """`seconds` as "a minute", "an hour", "5 minutes"."""
    for unit, size in _UNITS:
        if seconds % size == 0:
            count = seconds // size
            if count == 1:
                return f"an {unit}" if unit == "hour" else f"a {unit}"
            return f"{count} {unit}s"
    return f"{seconds} seconds"


def session_idle_limit() -> str:
    """How long a session lasts without a request (`SESSION_LIFETIME`), in words: "2 hours"."""
    return duration_words(int(current_app.config["SESSION_LIFETIME"]))


def why_session_ended(reason: str) -> str:
    """Why a session ended (`portal.sessions.IDLE` or `OLD_LINK`), as the end of a sentence."""
    if reason == OLD_LINK:
        age = duration_words(int(current_app.config["FLOW_TOKEN_MAX_AGE"]))
        return f"this window's link is more than {age} old, so its session ended"
    return f"your session ended after {session_idle_limit()} without activity"


def _form_page(next_path: str | None) -> str:
    """The page whose form was sent, to open again; the account page for a POST-only action
    (signing out, withdrawing a request)."""
    rule = request.url_rule
    if request.endpoint and rule is not None and "GET" in (rule.methods or ()):
        return url_for(request.endpoint, **(request.view_args or {}), next=next_path)
    return url_for("auth.account")
