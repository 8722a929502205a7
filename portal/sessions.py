"""Sessions that survive the LMS's iframe.

The browser holds only a random session id; the data lives in `web_sessions`.
The id travels in a `__Host-` cookie marked `SameSite=None; Secure; Partitioned`
(the only kind Chromium sends to a cross-site iframe). When no cookie comes back
at all (Safari before 26.2, strict settings), the id travels instead in a
signed, short-lived token (`_st`) that the flow's blueprints add to every URL
they build. Flask-Login and Flask-WTF use `flask.session` unchanged.

Mode detection: a request that brings the cookie is in cookie mode and builds
URLs without a token. A request that brings only the token is in token mode and
keeps carrying it. The first response of a flow carries both, so the next
request tells which one works.
"""

from __future__ import annotations

import functools
import hashlib
import json
import secrets
from collections.abc import Collection
from datetime import datetime, timedelta
from typing import Any

from flask import Blueprint, Flask, Request, Response, current_app, g, session
from flask.sessions import SessionInterface, SessionMixin
from itsdangerous import BadSignature, SignatureExpired, Signer, URLSafeTimedSerializer
from sqlalchemy import bindparam, delete, insert, select, update
from werkzeug.datastructures import CallbackDict

from portal.db import get_session
from portal.models import WebSession, utcnow

TOKEN_PARAM = "_st"  # noqa: S105 - a parameter name, not a secret
TOKEN_HEADER = "X-Session-Token"  # noqa: S105 - a header name
# Kept in the session that replaced one that had ended, until its sign-in page says so.
ENDED_KEY = "_previous_session_ended"
# Why a session ended, as far as the portal can tell: left idle past its lifetime (or gone), or
# reached through a token older than FLOW_TOKEN_MAX_AGE.
IDLE = "idle"
OLD_LINK = "old-link"
# A session that did not change gets its expiry moved on at most this often (one write).
EXTEND_EVERY = timedelta(minutes=1)
_SESSION_ROW = select(WebSession.data, WebSession.expires_at).where(
    WebSession.id_hash == bindparam("id_hash")
)


def _hash(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


class ServerSession(CallbackDict[str, Any], SessionMixin):
    """Session data keyed by a server-side id. `via` is how the id arrived; `ended`, why the
    browser came with the id of a session that has ended (`IDLE`, `OLD_LINK`), else "".

    `stored_json` is the data as its row holds it (None: no row yet) and `expires_at` the row's
    expiry, so that saving writes only what changed.
    """

    def __init__(
        self,
        data: dict[str, Any] | None = None,
        sid: str | None = None,
        via: str = "new",
        expires_at: datetime | None = None,
        ended: str = "",
    ) -> None:
        def on_update(_: Any) -> None:
            self.modified = True

        super().__init__(data or {}, on_update)
        self.sid = sid
        self.via = via
        self.modified = False
        self.rotated_from: str | None = None
        self.expires_at = expires_at
        self.ended = ended
        self.ended_said = False
        self.stored_json: str | None = _as_json(self) if sid is not None else None

    @property
    def new(self) -> bool:  # type: ignore[override]
        return self.sid is None

    def ensure_id(self) -> str:
        """The session id, created (and the session marked for saving) on first need."""
        if self.sid is None:
            self.sid = secrets.token_urlsafe(32)
            self.modified = True
        return self.sid

    def regenerate(self) -> None:
        """Give the session a new id (at sign-in), so a leaked old id or token is worthless."""
        if self.sid is not None and self.rotated_from is None:
            self.rotated_from = self.sid
        self.sid = secrets.token_urlsafe(32)
        self.stored_json = None  # the new id has no row yet
        self.modified = True


def _as_json(data: dict[str, Any]) -> str:
    """The data as its row would hold it: two sessions are equal when these are."""
    return json.dumps(data, sort_keys=True, separators=(",", ":"))


def _due_for_extension(expires_at: datetime | None, lifetime: timedelta, now: datetime) -> bool:
    """Whether the row's expiry is worth moving: at most once per EXTEND_EVERY."""
    return expires_at is None or expires_at < now + lifetime - EXTEND_EVERY


@functools.lru_cache(maxsize=4)
def _cookie_signer(secret_key: str) -> Signer:
    return Signer(secret_key, salt="portal-session-cookie")


@functools.lru_cache(maxsize=4)
def _token_serializer(secret_key: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(secret_key, salt="portal-session-token")


class PortalSessionInterface(SessionInterface):
    """Reads and writes sessions with the request's own database session (`portal.db.get_session`),
    so a request never holds two connections. A request whose session did not change writes
    nothing, except to move its expiry on, at most once a minute."""

    def _cookie_signer(self, app: Flask) -> Signer:
        return _cookie_signer(app.config["SECRET_KEY"])

    def _token_serializer(self, app: Flask) -> URLSafeTimedSerializer:
        return _token_serializer(app.config["SECRET_KEY"])

    def _session_id_from_request(self, app: Flask, request: Request) -> tuple[str | None, str]:
        cookie = request.cookies.get(app.config["SESSION_COOKIE_NAME"])
        if cookie:
            try:
                return self._cookie_signer(app).unsign(cookie).decode(), "cookie"
            except BadSignature:
                pass
        token = request.args.get(TOKEN_PARAM) or request.headers.get(TOKEN_HEADER)
        if token:
            try:
                max_age = app.config["FLOW_TOKEN_MAX_AGE"]
                return self._token_serializer(app).loads(token, max_age=max_age), "token"
            except SignatureExpired:
                return None, OLD_LINK  # ours, but too old: its session ended as far as this link goes
            except BadSignature:
                pass
        return None, "new"

    def open_session(self, app: Flask, request: Request) -> ServerSession:
        session_id, via = self._session_id_from_request(app, request)
        if session_id is None:
            return ServerSession(ended=OLD_LINK if via == OLD_LINK else "")
        # On the request's own connection, without the ORM: this runs on every request.
        found = get_session().connection().execute(_SESSION_ROW, {"id_hash": _hash(session_id)}).one_or_none()
        if found is None or found.expires_at <= utcnow():
            return ServerSession(ended=IDLE)
        return ServerSession(found.data, sid=session_id, via=via, expires_at=found.expires_at)

    def save_session(self, app: Flask, session: ServerSession, response: Response) -> None:  # type: ignore[override]
        name = app.config["SESSION_COOKIE_NAME"]
        if session.sid is None and not session:
            if session.ended_said:  # told of: the ended session's cookie need not come again
                response.delete_cookie(name, path="/", secure=True, samesite="None", partitioned=True)
            return  # nothing worth a row or a cookie (static files, anonymous pages)
        if session.ended and session:
            session[ENDED_KEY] = session.ended  # e.g. a redirect to sign in that flashed a message
        session_id = session.ensure_id()
        if not session and session.modified:
            self._write(app, session, delete_current=True)
            response.delete_cookie(name, path="/", secure=True, samesite="None", partitioned=True)
            return
        # A browser that brought this very cookie keeps it (it has no expiry of its own).
        cookie_known = session.via == "cookie" and not session.rotated_from
        self._write(app, session)
        if not cookie_known:
            response.set_cookie(
                name,
                self._cookie_signer(app).sign(session_id).decode(),
                path="/",
                secure=True,
                httponly=True,
                samesite="None",
                partitioned=True,
            )
        response.vary.add("Cookie")

    def _write(self, app: Flask, session: ServerSession, delete_current: bool = False) -> None:
        """Bring the session's row up to date, in one short transaction, only if it is out of date.

        The request's own uncommitted work, if any, is dropped first (as its teardown would).
        """
        session_id = session.ensure_id()
        now = utcnow()
        lifetime = timedelta(seconds=app.config["SESSION_LIFETIME"])
        data = _as_json(session)
        changed = data != session.stored_json
        if not (
            changed
            or delete_current
            or session.rotated_from
            or _due_for_extension(session.expires_at, lifetime, now)
        ):
            return
        db = get_session()
        db.rollback()
        if session.rotated_from:
            db.execute(delete(WebSession).where(WebSession.id_hash == _hash(session.rotated_from)))
        if delete_current:
            db.execute(delete(WebSession).where(WebSession.id_hash == _hash(session_id)))
        elif session.stored_json is None:
            db.execute(delete(WebSession).where(WebSession.expires_at <= now))
            db.execute(
                insert(WebSession).values(
                    id_hash=_hash(session_id), data=dict(session), created_at=now, expires_at=now + lifetime
                )
            )
        else:
            values: dict[str, Any] = {"expires_at": now + lifetime}
            if changed:
                values["data"] = dict(session)
            db.execute(update(WebSession).where(WebSession.id_hash == _hash(session_id)).values(**values))
        db.commit()
        session.stored_json, session.expires_at, session.rotated_from = data, now + lifetime, None

    def make_token(self, app: Flask, session: ServerSession) -> str:
        return self._token_serializer(app).dumps(session.ensure_id())


def session_token() -> str:
    """A signed token for the current session (creating the session if needed), signed once per
    request and session id: a page builds many URLs."""
    server_session: ServerSession = session  # type: ignore[assignment]
    session_id = server_session.ensure_id()
    signed: tuple[str, str] | None = g.get("_session_token")
    if signed is None or signed[0] != session_id:
        interface: PortalSessionInterface = current_app.session_interface  # type: ignore[assignment]
        signed = (session_id, interface.make_token(current_app, server_session))
        g._session_token = signed
    return signed[1]


def why_this_session_ended() -> str:
    """Why this request came with a session that has ended (`IDLE`, `OLD_LINK`), else ""; unlike
    `previous_session_ended`, asking does not use the news up."""
    return str(getattr(session, "ended", ""))


def previous_session_ended() -> str:
    """Why the browser came with a session that has since ended (`IDLE`, `OLD_LINK`), in this
    request or the one that made this session; said once, then ""."""
    server_session: ServerSession = session  # type: ignore[assignment]
    ended = server_session.ended
    server_session.ended = ""
    server_session.ended_said = server_session.ended_said or bool(ended)
    earlier = server_session.pop(ENDED_KEY, "")
    return ended or (earlier if earlier in (IDLE, OLD_LINK) else IDLE if earlier else "")


def needs_token() -> bool:
    """Whether URLs built now must carry the session token (cookie not known to work)."""
    return g.get("force_session_token", False) or getattr(session, "via", "new") != "cookie"


def force_session_token() -> None:
    """Make this response's URLs carry the token, e.g. on a flow's first redirect."""
    g.force_session_token = True


def carry_session_token(bp: Blueprint, *, except_endpoints: Collection[str] = ()) -> None:
    """Make every URL built for `bp`'s endpoints carry the session token while it is needed.

    `except_endpoints` never carry it: URLs meant for another window or another party
    (a one-time link, a page Stripe sends a new window to), which must not get the session.
    """
    skipped = frozenset(except_endpoints)

    @bp.url_defaults
    def _add_token(endpoint: str, values: dict[str, Any]) -> None:
        if TOKEN_PARAM in values or endpoint in skipped or not session or not needs_token():
            return
        values[TOKEN_PARAM] = session_token()


def init_sessions(app: Flask) -> None:
    app.session_interface = PortalSessionInterface()
