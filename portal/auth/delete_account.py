"""A customer deletes their own account (`erasure`) from their account page, inside the LMS's
dialog or not (the page may be framed, as every customer's account page). The page says what goes
and what stays, and asks for the current password (a wrong one counts toward the account's lockout,
as on the change-password page); its CSRF-checked POST erases the account, then forgets this
browser's session and says it is done. Staff have no such page: a staff account is disabled, not erased.
"""

from __future__ import annotations

from typing import cast

from flask import current_app, redirect, render_template, session, url_for
from flask.typing import ResponseReturnValue
from flask_login import logout_user
from werkzeug.wrappers import Response

from portal.auth import bp, current_password, erasure
from portal.auth.forms import DeleteAccountForm
from portal.auth.users import signed_in_user
from portal.db import get_session
from portal.extensions import login_manager
from portal.registration.payments import payments


@bp.route("/account/delete", methods=["GET", "POST"])
def delete_account() -> ResponseReturnValue:
    """What deleting the account does, and its password form; once sent with the right password, the
    account is erased and this browser signed out. Staff are sent back to their account page.

    Too many wrong passwords for this account: the lockout's 429 page, saying until when.
    """
    user = signed_in_user()
    if user is None:
        return cast(Response, login_manager.unauthorized())
    if user.is_staff:
        return redirect(url_for("auth.account"))
    form = DeleteAccountForm()
    if form.validate_on_submit():
        db = get_session()
        try:
            erasure.delete_own_account(db, user, form.current.data)
        except current_password.REFUSED as refused:
            current_password.answer(refused, form.current, url_for("auth.delete_account"))
        else:
            db.commit()
            payments().end_open_sessions(db, user)
            _forget_this_browser()
            signup = bool(current_app.config["SIGNUP_ENABLED"])
            return render_template("auth/account_deleted.html", signup_enabled=signup)
    status = 400 if form.errors else 200
    return render_template("auth/delete_account.html", form=form, user=user), status


def _forget_this_browser() -> None:
    """Sign out, and keep nothing of the session (not even the registrations it was on): under a new
    id, so the old one, or a link carrying it, leads nowhere."""
    logout_user()
    session.clear()
    session.regenerate()  # type: ignore[attr-defined]  # portal.sessions.ServerSession
