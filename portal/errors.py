"""Error pages an LMS admin understands, with what to do next (JSON under API paths)."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Flask, current_app, g, render_template, request, url_for
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import BadRequest, HTTPException, InternalServerError

from portal.auth.navigation import safe_next
from portal.auth.pauses import why_session_ended
from portal.db import close_session
from portal.request_checks import UnacceptableInput
from portal.sessions import why_this_session_ended

HANDLED_CODES = (400, 403, 404, 405, 413, 429, 500)
API_PREFIXES = ("/api/", "/sandbox/api/", "/healthz", "/billing/webhook")


def wants_json() -> bool:
    return request.path.startswith(API_PREFIXES) or (request.accept_mimetypes.best == "application/json")


def _render(code: int, template: str, **context: object) -> tuple[str | dict[str, object], int]:
    if wants_json():
        return {"status": code, "error": context.get("title", "Error")}, code
    return render_template(template, code=code, **context), code


def handle_http_error(error: HTTPException) -> tuple[str | dict[str, object], int]:
    code = error.code or 500
    template = f"errors/{code}.html" if code in HANDLED_CODES else "errors/generic.html"
    return _render(code, template, title=error.name, description=error.description)


def handle_csrf_error(error: BadRequest) -> tuple[str | dict[str, object], int]:
    """Flask-WTF's CSRFError, a BadRequest: the form's token is missing, expired or forged; or the
    browser's session ended (idle past its lifetime, or its link too old) since the page showed the form."""
    if ended := why_this_session_ended():
        return _render(
            400,
            "errors/session_ended.html",
            title="You were signed out",
            why=why_session_ended(ended),
            sign_in=_sign_in_back(),
        )
    return _render(400, "errors/csrf.html", title="This form has expired", description=error.description)


def _sign_in_back() -> str:
    """Sign in, then back to the page that showed the form (this site's, from the Referer)."""
    referrer = urlsplit(request.referrer or "")
    page = f"{referrer.path}?{referrer.query}" if referrer.query else referrer.path
    back = safe_next(page) if referrer.netloc == request.host else None
    return url_for("auth.sign_in", next=back) if back else url_for("auth.sign_in")


def handle_unacceptable_input(error: BadRequest) -> tuple[str | dict[str, object], int]:
    """`UnacceptableInput`: a control character in a link or a hidden form field."""
    return _render(400, "errors/characters.html", title="Invisible characters", description=error.description)


def handle_unexpected_error(error: Exception) -> tuple[str | dict[str, object], int]:
    current_app.logger.exception("unhandled error on %s %s", request.method, request.path)
    # Roll back whatever the failed request left half-written before rendering.
    if "db_session" in g:
        g.db_session.rollback()
        close_session()
    return handle_http_error(InternalServerError())


def register_error_handlers(app: Flask) -> None:
    app.register_error_handler(CSRFError, handle_csrf_error)
    app.register_error_handler(UnacceptableInput, handle_unacceptable_input)
    app.register_error_handler(HTTPException, handle_http_error)
    app.register_error_handler(Exception, handle_unexpected_error)
