"""Stand-ins for LTIAAS and an LMS (development and tests only; never in production).

LTIAAS answers at its real paths on the portal's origin (`/lti/register`,
`/api/registrations/...`, the platforms prefix); the LMS answers under
`/sandbox/lms/<profile>/...` on SANDBOX_LMS_URL, the same server under another
site name. All their state lives in `sandbox_*` tables.
"""

from flask import Flask

from portal.config import SANDBOX_STRIPE_SECRET_KEY
from portal.extensions import csrf


def init_sandbox(app: Flask) -> None:
    """Register the sandbox's blueprints (machine-to-machine endpoints are CSRF-exempt) and its
    commands (`flask sandbox seed`, `flask sandbox staff`)."""
    from portal.sandbox import lms_views, ltiaas_views, mailbox, staff_chat
    from portal.sandbox.cli import sandbox_cli

    for blueprint in (ltiaas_views.register_bp, ltiaas_views.api_bp, ltiaas_views.platforms_bp):
        csrf.exempt(blueprint)
    csrf.exempt(lms_views.lms_endpoint)
    csrf.exempt(staff_chat.webhook)
    app.register_blueprint(ltiaas_views.register_bp)
    app.register_blueprint(ltiaas_views.api_bp)
    app.register_blueprint(ltiaas_views.platforms_bp, url_prefix=app.config["LTIAAS_PLATFORMS_PATH"])
    app.register_blueprint(ltiaas_views.calls_bp)
    app.register_blueprint(lms_views.lms_bp)
    app.register_blueprint(lms_views.index_bp)
    app.register_blueprint(staff_chat.bp)
    app.register_blueprint(mailbox.bp)
    app.cli.add_command(sandbox_cli)
    if app.config["STRIPE_SECRET_KEY"] == SANDBOX_STRIPE_SECRET_KEY:
        from portal.sandbox.stripe_standin import register_stripe_standin

        register_stripe_standin(app)
