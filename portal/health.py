"""The portal's front door (`GET /`) and `GET /healthz` for load balancers."""

from __future__ import annotations

from flask import Blueprint, current_app, render_template
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from portal.db import get_session

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz() -> tuple[dict[str, object], int]:
    database_ok = True
    try:
        get_session().execute(text("SELECT 1"))
    except SQLAlchemyError:
        current_app.logger.exception("health check: database unreachable")
        database_ok = False
    ltiaas = "sandbox" if current_app.config["SANDBOX_ENABLED"] else "configured"
    body = {"status": "ok" if database_ok else "unavailable", "database": database_ok, "ltiaas": ltiaas}
    return dict(body), 200 if database_ok else 503


@bp.get("/")
def home() -> str:
    """What someone who opens the portal's address directly needs: how registration starts."""
    return render_template(
        "home.html",
        register_url=f"{current_app.config['LTIAAS_URL']}/lti/register",
        sandbox_lms_url=current_app.config["SANDBOX_LMS_URL"]
        if current_app.config["SANDBOX_ENABLED"]
        else None,
    )
