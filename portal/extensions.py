"""Flask extension objects, created here and wired to the app in `init_extensions`."""

from __future__ import annotations

from flask import Flask
from flask_login import LoginManager
from flask_wtf import CSRFProtect

csrf = CSRFProtect()
# Wired (loader, views, messages) by portal.auth.init_auth.
login_manager = LoginManager()


def init_extensions(app: Flask) -> None:
    # The session lives in the portal's own store (portal.sessions), so the CSRF
    # secret survives even when the browser sends no cookie in the LMS iframe.
    app.config.setdefault("WTF_CSRF_TIME_LIMIT", None)
    csrf.init_app(app)
