"""The approval portal: an LTIAAS Dynamic Registration intermediate target."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Flask

__version__ = "0.1.0"


def create_app(overrides: Mapping[str, Any] | None = None) -> Flask:
    """Build the app: settings, database, outside services, blueprints. No import-time work."""
    from portal.config import load_settings

    app = Flask(
        __name__,
        template_folder="../templates",
        static_folder="../static",
        instance_relative_config=True,
    )
    app.config.from_mapping(load_settings(app.instance_path, overrides))

    from portal import cli, db, errors, extensions, health, logs, proxies, request_checks, security, sessions
    from portal.auth import init_auth
    from portal.ltiaas import init_ltiaas
    from portal.models import load_all
    from portal.notifications import init_notifications

    load_all()  # every table, whatever the settings: the metadata never depends on what is switched on
    logs.init_logging(app)
    proxies.trust_proxies(app)
    db.init_db(app)
    sessions.init_sessions(app)
    request_checks.init_request_checks(app)
    extensions.init_extensions(app)
    init_auth(app)
    init_ltiaas(app)
    init_notifications(app)
    security.init_security(app)
    errors.register_error_handlers(app)
    app.register_blueprint(health.bp)
    _register_flow_blueprints(app)
    cli.register_cli(app)
    return app


def _register_flow_blueprints(app: Flask) -> None:
    from portal.admin import bp as admin_bp
    from portal.billing import init_billing
    from portal.registration import bp as registration_bp

    app.register_blueprint(registration_bp)
    init_billing(app)
    app.register_blueprint(admin_bp)
    if app.config["SANDBOX_ENABLED"]:
        from portal.sandbox import init_sandbox

        init_sandbox(app)
