"""Changing the e-mail address an account signs in with (`email_change`): asked for on the account
page (inside the LMS's dialog or the console), confirmed by the link e-mailed to the new address,
which opens in a window of its own (never framed, never cached, no session needed: the token is
the whole authority; a GET only shows the button, and only its POST changes the address).
"""

from __future__ import annotations

from typing import cast

from flask import current_app, render_template, url_for
from flask.typing import ResponseReturnValue
from werkzeug.wrappers import Response

from portal.auth import bp, current_password, email_change
from portal.auth.forms import ChangeEmailForm, ConfirmEmailChangeForm
from portal.auth.service import AccountError, EmailTaken, normalise_email
from portal.auth.set_password import link_page
from portal.auth.users import signed_in_user
from portal.db import get_session
from portal.extensions import login_manager
from portal.notifications import outbox
from portal.security import forbid_framing


@bp.route("/email", methods=["GET", "POST"])
def change_email() -> ResponseReturnValue:
    """A signed-in person asks to sign in with another address (their current password first); the
    same answer whether or not another account uses it. Without e-mail (no SMTP settings) the
    page says the address cannot be changed here, and whom to ask.

    Too many wrong passwords for this account: the lockout's 429 page, saying until when.
    """
    user = signed_in_user()
    if user is None:
        return cast(Response, login_manager.unauthorized())
    if not outbox.email_configured(current_app.config):
        return render_template("auth/change_email.html", form=None, user=user)
    form = ChangeEmailForm()
    if form.validate_on_submit():
        db = get_session()
        try:
            email_change.request_change(db, user, form.email.data, form.current.data)
        except current_password.REFUSED as refused:
            current_password.answer(refused, form.current, url_for("auth.change_email"))
        except AccountError as error:  # not an address, or theirs already
            form.email.errors.append(str(error))
        else:
            db.commit()
            new = normalise_email(form.email.data)
            return render_template("auth/email_change_sent.html", user=user, new_email=new)
    status = 400 if form.errors else 200
    return render_template("auth/change_email.html", form=form, user=user), status


@bp.route("/email/<token>", methods=["GET", "POST"])
def confirm_email_change(token: str) -> Response:
    """Confirm a new address with the link e-mailed to it.

    :raise 410: (rendered) the link is unknown, expired, used, replaced, or its account disabled,
        each said in words.
    :raise 409: (rendered) another account took the address since it was asked for.
    """
    forbid_framing()
    db = get_session()
    try:
        link = email_change.find_change(db, token)
        new, old, staff = str(link.new_email), link.user.email, link.user.is_staff
        form = ConfirmEmailChangeForm()
        if form.validate_on_submit():
            email_change.confirm_change(db, link)
            db.commit()
            return link_page("auth/email_changed.html", email=new, staff=staff)
    except email_change.UnusableLink as unusable:
        return link_page("auth/email_link_invalid.html", 410, problem=unusable.problem.value)
    except EmailTaken:
        return link_page("auth/email_link_taken.html", 409, email=new, staff=staff)
    status = 400 if form.errors else 200
    return link_page(
        "auth/confirm_email_change.html", status, form=form, new_email=new, old_email=old, token=token
    )
