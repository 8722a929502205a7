"""Response headers: a strict CSP per response, framing only where it is needed.

Pages are frameable by the LMS by default (the registration flow lives in its
iframe); a view that must never be framed calls `forbid_framing()`. Inline
scripts run only with the response's nonce, or, for the close script LTIAAS
returns, by the hash of its exact text (`allow_inline_script`).

Nothing but the static files may be cached: every other response (pages, redirects, JSON)
belongs to one person's session, and its links may carry that session's `_st` token, so it
is sent with `Cache-Control: no-store` unless its view chose otherwise.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from collections import defaultdict

from flask import Flask, Response, current_app, g, request


def csp_nonce() -> str:
    if "csp_nonce" not in g:
        g.csp_nonce = secrets.token_urlsafe(18)
    return str(g.csp_nonce)


def add_csp_source(directive: str, source: str) -> None:
    """Allow one more `source` for `directive` on this response only."""
    if "csp_extra" not in g:
        g.csp_extra = defaultdict(list)
    g.csp_extra[directive].append(source)


def allow_inline_script(script_text: str) -> None:
    """Let exactly this inline script's text run, by its sha256 hash."""
    digest = base64.b64encode(hashlib.sha256(script_text.encode()).digest()).decode()
    add_csp_source("script-src", f"'sha256-{digest}'")


def forbid_framing() -> None:
    g.forbid_framing = True


def _content_security_policy() -> str:
    frame_ancestors = "'none'" if g.get("forbid_framing") else current_app.config["FRAME_ANCESTORS"]
    directives: dict[str, list[str]] = {
        "default-src": ["'self'"],
        "script-src": ["'self'", f"'nonce-{csp_nonce()}'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "connect-src": ["'self'"],
        "frame-src": ["'self'"],
        "form-action": ["'self'"],
        "base-uri": ["'none'"],
        "object-src": ["'none'"],
        "frame-ancestors": [frame_ancestors],
    }
    for directive, sources in g.get("csp_extra", {}).items():
        directives.setdefault(directive, []).extend(sources)
    return "; ".join(f"{name} {' '.join(sources)}" for name, sources in directives.items())


def _set_security_headers(response: Response) -> Response:
    response.headers["Content-Security-Policy"] = _content_security_policy()
    response.headers["Referrer-Policy"] = "same-origin"
    response.headers["X-Content-Type-Options"] = "nosniff"
    if g.get("forbid_framing"):
        response.headers["X-Frame-Options"] = "DENY"
    if request.endpoint != "static" and "Cache-Control" not in response.headers:
        response.headers["Cache-Control"] = "no-store"
    if current_app.config["PORTAL_ENV"] == "production":
        response.headers["Strict-Transport-Security"] = "max-age=31536000; includeSubDomains"
    return response


def init_security(app: Flask) -> None:
    app.jinja_env.globals["csp_nonce"] = csp_nonce
    app.after_request(_set_security_headers)
