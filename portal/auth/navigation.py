"""Where to send the browser after signing in, up or out, safely and with the session.

`next` comes from the query string or a form, so it is attacker-controlled: only
a path on this site is accepted. In token mode the path must also carry the
session token, and after a rotation that is the *new* token, so
`with_session_token` is called after `ServerSession.regenerate()`.
"""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from flask import session, url_for

from portal.sessions import TOKEN_PARAM, needs_token, session_token


def _without_token(path: str, query: str) -> str:
    pairs = [(key, value) for key, value in parse_qsl(query, keep_blank_values=True) if key != TOKEN_PARAM]
    return urlunsplit(("", "", path, urlencode(pairs), ""))


def safe_next(value: str | None) -> str | None:
    """`value` as a local path (query kept, any old session token dropped), or None if unsafe.

    Refused: anything with a scheme or host, protocol-relative `//host`,
    backslashes (browsers read `/\\host` as `//host`), whitespace or control
    characters (browsers strip some of them before parsing).
    """
    if not value or not value.startswith("/") or value.startswith("//"):
        return None
    if "\\" in value or any(char.isspace() or ord(char) < 32 or ord(char) == 127 for char in value):
        return None
    parts = urlsplit(value)
    if parts.scheme or parts.netloc:
        return None
    return _without_token(parts.path, parts.query)


def with_session_token(path: str) -> str:
    """`path` carrying the current session's token when URLs need it (cookie not known to work)."""
    if not session or not needs_token():
        return path
    parts = urlsplit(path)
    bare = _without_token(parts.path, parts.query)
    separator = "&" if "?" in bare else "?"
    return f"{bare}{separator}{urlencode({TOKEN_PARAM: session_token()})}"


def leads_to_console(path: str | None) -> bool:
    """Whether `path` (a safe `next`) is a page of the staff console: the sign-in page before it
    speaks to staff."""
    if path is None:
        return False
    console = url_for("admin.index", _st=None)
    return f"{urlsplit(path).path.rstrip('/')}/".startswith(console)


# Where a registration's flow lives: its steps, and its payment's pages.
_FLOW_PATHS = ("/registration/", "/billing/", "/intermediate-target")


def leads_to_registration(path: str | None) -> bool:
    """Whether `path` (a safe `next`) is a page of a registration's flow: the sign-in (or sign-up)
    page before it may say that what was done so far in that registration is kept."""
    return path is not None and urlsplit(path).path.startswith(_FLOW_PATHS)


def console_sign_in() -> str:
    """The sign-in page that leads back into the console (where staff land after signing out)."""
    return url_for("auth.sign_in", next=url_for("admin.index", _st=None), _st=None)
