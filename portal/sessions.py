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

import hashlib
import secrets
from collections.abc import Collection
from datetime import timedelta
from typing import Any

from flask import Blueprint, Flask, Request, Response, current_app, g, session
from flask.sessions import SessionInterface, SessionMixin
from itsdangerous import BadSignature, Signer, URLSafeTimedSerializer
from sqlalchemy import delete
from werkzeug.datastructures import CallbackDict

from portal.models import WebSession, utcnow

TOKEN_PARAM = "_st"  # noqa: S105 - a parameter name, not a secret
TOKEN_HEADER = "X-Session-Token"  # noqa: S105 - a header name


def _hash(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


class ServerSession(CallbackDict[str, Any], SessionMixin):
    """Session data keyed by a server-side id. `via` is how the id arrived."""

    def __init__(self, data: dict[str, Any] | None = None, sid: str | None = None, via: str = "new") -> None:
        def on_update(_: Any) -> None:
            self.modified = True

        super().__init__(data or {}, on_update)
        self.sid = sid
        self.via = via
        self.modified = False
        self.rotated_from: str | None = None

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
        self.modified = True


class PortalSessionInterface(SessionInterface):
    def _cookie_signer(self, app: Flask) -> Signer:
        return Signer(app.config["SECRET_KEY"], salt="portal-session-cookie")

    def _token_serializer(self, app: Flask) -> URLSafeTimedSerializer:
        return URLSafeTimedSerializer(app.config["SECRET_KEY"], salt="portal-session-token")

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
            except BadSignature:
                pass
        return None, "new"

    def open_session(self, app: Flask, request: Request) -> ServerSession:
        session_id, via = self._session_id_from_request(app, request)
        if session_id is None:
            return ServerSession()
        with app.extensions["db_sessionmaker"]() as db:
            record = db.get(WebSession, _hash(session_id))
            if record is None or record.expires_at <= utcnow():
                return ServerSession()
            return ServerSession(dict(record.data), sid=session_id, via=via)

    def save_session(self, app: Flask, session: ServerSession, response: Response) -> None:  # type: ignore[override]
        if session.sid is None and not session:
            return  # nothing worth a row or a cookie (static files, anonymous pages)
        session_id = session.ensure_id()
        name = app.config["SESSION_COOKIE_NAME"]
        with app.extensions["db_sessionmaker"]() as db:
            if session.rotated_from:
                db.execute(delete(WebSession).where(WebSession.id_hash == _hash(session.rotated_from)))
            if not session and session.modified:
                db.execute(delete(WebSession).where(WebSession.id_hash == _hash(session_id)))
                db.commit()
                response.delete_cookie(name, path="/", secure=True, samesite="None", partitioned=True)
                return
            lifetime = timedelta(seconds=app.config["SESSION_LIFETIME"])
            record = db.get(WebSession, _hash(session_id))
            if record is None:
                # Clean up before adding: the DELETE would autoflush the half-built record.
                db.execute(delete(WebSession).where(WebSession.expires_at <= utcnow()))
                record = WebSession(id_hash=_hash(session_id))
                db.add(record)
            record.data = dict(session)
            record.expires_at = utcnow() + lifetime
            db.commit()
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

    def make_token(self, app: Flask, session: ServerSession) -> str:
        return self._token_serializer(app).dumps(session.ensure_id())


def session_token() -> str:
    """A fresh signed token for the current session (creating the session if needed)."""
    interface: PortalSessionInterface = current_app.session_interface  # type: ignore[assignment]
    return interface.make_token(current_app, session)  # type: ignore[arg-type]


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
