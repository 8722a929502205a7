"""Accounts: sign in, sign up and sign out, as pages of the registration flow.

`init_auth(app)` wires Flask-Login (a disabled user, or one whose password changed, is
signed out on the next request, and the sign-in page says why), the password hasher, the
per-address rate limit on the blueprint's POSTs and the blueprint itself. The per-account
limit lives in `service`.

A customer's account pages may be framed (they are used inside the LMS's dialog); a staff
member's are not (`_unframed_for_staff`), but for the flow's own pages, which staff use there too.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from flask import Blueprint, Flask, current_app, request
from flask_limiter import Limiter, RateLimitExceeded
from flask_limiter.util import get_remote_address

from portal.security import forbid_framing
from portal.sessions import carry_session_token

if TYPE_CHECKING:
    from portal.models import User

bp = Blueprint("auth", __name__, url_prefix="/auth")
carry_session_token(bp)

# Staff sign in inside the LMS's dialog to register directly, and sign out there: these pages stay
# frameable for them (none of them shows the signed-in account, or changes it but to sign it out).
FLOW_ENDPOINTS = frozenset({"auth.sign_in", "auth.sign_up", "auth.sign_out", "auth.forgot_password"})


@bp.before_request
def _unframed_for_staff() -> None:
    """Forbid framing every other page here to a signed-in staff member, as the console does: a
    site allowed to frame the flow (any `https:` one by default) could otherwise lay its own page
    over their account's pages and make their clicks act there (clickjacking)."""
    from portal.auth.users import is_staff, signed_in_user

    if request.endpoint not in FLOW_ENDPOINTS and is_staff(signed_in_user()):
        forbid_framing()


def _load_user(user_id: str) -> User | None:
    from portal.auth.service import SignedOut, load_active_user
    from portal.auth.users import end_sign_in
    from portal.db import get_session

    try:
        return load_active_user(get_session(), user_id)
    except SignedOut as signed_out:
        end_sign_in(signed_out.reason)
        return None


def _address_limit() -> str:
    return str(current_app.config["AUTH_RATE_LIMIT"])


def _init_rate_limits(app: Flask) -> None:
    from portal.auth.pauses import address_limited

    # One Limiter per app: Flask-Limiter keeps its storage and `enabled` flag on
    # the instance, so a shared one would leak between apps (tests build many).
    limiter = Limiter(
        get_remote_address,
        app=app,
        storage_uri=app.config["RATELIMIT_STORAGE_URI"],
        key_prefix="auth",
        # Redis down must not lock everyone out of signing in: count per process until it is back.
        in_memory_fallback_enabled=True,
    )
    limiter.shared_limit(_address_limit, scope="auth-posts", methods=["POST"])(bp)
    # The only limit is on this blueprint's POSTs: every other request skips the limiter's
    # per-request work (about a sixth of a plain page's time).
    limiter.request_filter(_not_an_account_post)
    app.extensions["auth_limiter"] = limiter
    app.register_error_handler(RateLimitExceeded, address_limited)


def _not_an_account_post() -> bool:
    return request.method != "POST" or request.blueprint != bp.name


def init_auth(app: Flask) -> None:
    from portal.auth import (
        change_email,  # noqa: F401 - a signed-in person changes their e-mail address
        delete_account,  # noqa: F401 - a customer deletes their own account
        set_password,  # noqa: F401 - the page a one-time set-password link opens
        views,  # noqa: F401 - registers the routes on bp
        withdrawal,  # noqa: F401 - a customer withdraws a request for approval
    )
    from portal.auth.service import PasswordHasher
    from portal.extensions import login_manager

    login_manager.init_app(app)
    login_manager.login_view = "auth.sign_in"
    login_manager.login_message = "Please sign in to continue."
    login_manager.login_message_category = "info"
    login_manager.user_loader(_load_user)
    app.extensions["password_hasher"] = PasswordHasher()
    app.register_blueprint(bp)
    _init_rate_limits(app)
