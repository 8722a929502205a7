"""Who is at the keyboard: the signed-in account of this request, as a typed `User` or None.

Flask-Login's `current_user` is an untyped proxy; everything past the views takes
`User | None` from here instead, so the type checker sees who may do what.
"""

from __future__ import annotations

from flask import current_app, session
from flask_login import current_user, login_user

from portal.auth.service import SignOutReason
from portal.models import User
from portal.sessions import previous_session_ended

# The audit trail's name for someone who is not signed in: the LMS admin in the iframe.
ANONYMOUS_ACTOR = "lms-admin"
# Why the portal signed this session out, kept in it (never in a URL) for its sign-in page.
SIGNED_OUT_KEY = "signed_out_because"
_SIGN_IN_KEYS = ("_user_id", "_fresh", "_id")


def signed_in_user() -> User | None:
    """The signed-in, active user of this request, or None (anonymous or disabled)."""
    user = current_user._get_current_object()
    return user if isinstance(user, User) and is_signed_in(user) else None


def is_signed_in(user: User | None) -> bool:
    return user is not None and user.is_authenticated and user.is_active


def is_staff(user: User | None) -> bool:
    return user is not None and is_signed_in(user) and user.is_staff


def actor_of(user: User | None) -> str:
    """The audit trail's name for `user`: their email, or the anonymous LMS admin."""
    return user.email if user is not None and is_signed_in(user) else ANONYMOUS_ACTOR


def start_signed_in_session(user: User) -> None:
    """Sign `user` in under a new session id and CSRF secret (at sign-in, and after a password of
    their own changed, which signed out its older sessions); the flow's data stays."""
    session.regenerate()  # type: ignore[attr-defined]  # portal.sessions.ServerSession
    session.pop(current_app.config["WTF_CSRF_FIELD_NAME"], None)
    session.pop(SIGNED_OUT_KEY, None)
    previous_session_ended()  # forgotten: it is over
    login_user(user, remember=False)  # no remember-me: its cookie cannot live in the iframe


def end_sign_in(reason: SignOutReason | None) -> None:
    """Forget a sign-in the portal no longer honours, keeping why for the sign-in page.

    Called from Flask-Login's user loader, where `logout_user` would load the user again.
    """
    for key in _SIGN_IN_KEYS:
        session.pop(key, None)
    if reason is not None:
        session[SIGNED_OUT_KEY] = reason


def why_signed_out() -> SignOutReason | None:
    """Why the portal signed this session out, once (the sign-in page says it), or None."""
    reason: SignOutReason | None = session.pop(SIGNED_OUT_KEY, None)
    return reason
