"""Sign in, sign up, sign out and ask for a forgotten password: pages of the registration flow,
inside the LMS iframe.

Signing in, up and out keep the session's other data (the flow's `registrations`)
and only rotate its id; sign-in and sign-up also renew the CSRF secret. Every
redirect is built after the rotation, so in token mode it carries the new token.
Asking for a forgotten password's link changes nothing in the session.
"""

from __future__ import annotations

from typing import cast

from flask import current_app, flash, redirect, render_template, request, session, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user, logout_user
from werkzeug.wrappers import Response

from portal.auth import bp, current_password
from portal.auth.connections import connections_of
from portal.auth.forms import (
    ChangePasswordForm,
    ForgotPasswordForm,
    OrganisationForm,
    SignInForm,
    SignUpForm,
    WithdrawForm,
)
from portal.auth.navigation import (
    console_sign_in,
    leads_to_console,
    leads_to_registration,
    safe_next,
    with_session_token,
)
from portal.auth.password_reset import request_reset
from portal.auth.pauses import locked_out, why_session_ended
from portal.auth.service import (
    AccountErased,
    AccountError,
    SignOutReason,
    TooManyAttempts,
    WeakPassword,
    change_organisation,
    change_own_password,
    create_customer,
    record_sign_out,
    sign_in_with_password,
)
from portal.auth.users import signed_in_user, start_signed_in_session, why_signed_out
from portal.db import get_session
from portal.extensions import login_manager
from portal.notifications import customer_emails, outbox
from portal.registration import approvals
from portal.sessions import previous_session_ended

DEFAULT_ENDPOINT = "auth.account"
GENERIC_SIGN_IN_ERROR = "The email or password is incorrect. Check both and try again."

bp.add_app_template_global(console_sign_in, "console_sign_in")  # where staff land after signing out

# Said on the sign-in page to the session the portal signed out, and to nobody else.
SIGNED_OUT_BECAUSE: dict[SignOutReason, str] = {
    "disabled": "You were signed out because your account was disabled.",
    "password-changed": "You were signed out because your password was changed after you signed in here.",
    "erased": "You were signed out because your account was deleted.",
}


def signup_enabled() -> bool:
    return bool(current_app.config["SIGNUP_ENABLED"])


def _offer_sign_up(target: str | None) -> bool:
    """Whether a page on the way to `target` offers to create an account: never on the way into
    the staff console, whose accounts staff make (People)."""
    return signup_enabled() and not leads_to_console(target)


def _requested_next() -> str | None:
    return safe_next(request.values.get("next"))


def _go_to(target: str | None) -> Response:
    return redirect(with_session_token(target or url_for(DEFAULT_ENDPOINT)))


def _signed_out_sentence() -> str | None:
    reason = why_signed_out()
    if reason:
        return SIGNED_OUT_BECAUSE[reason]
    if ended := previous_session_ended():
        return f"You are signed out: {why_session_ended(ended)}."
    return None


@bp.route("/sign-in", methods=["GET", "POST"])
def sign_in() -> ResponseReturnValue:
    """Sign in by email and password; one generic error whatever was wrong.

    :raise 429: too many failed attempts from this address (`pauses`); too many for this
        email is a 429 page of its own, saying until when.
    """
    target = _requested_next()
    if current_user.is_authenticated:
        return _go_to(target)
    form = SignInForm(next=target)
    error = None
    if form.validate_on_submit():
        db = get_session()
        try:
            user = sign_in_with_password(db, form.email.data, form.password.data)
        except TooManyAttempts as locked:
            return locked_out(locked.until, url_for("auth.sign_in", next=target), target)
        db.commit()
        if user is not None:
            start_signed_in_session(user)
            return _go_to(target)
        error = GENERIC_SIGN_IN_ERROR
    return render_template(
        "auth/sign_in.html",
        form=form,
        error=error,
        for_staff=leads_to_console(target),
        registering=leads_to_registration(target),
        signup_enabled=_offer_sign_up(target),
        signed_out=_signed_out_sentence(),
    )


@bp.route("/forgot-password", methods=["GET", "POST"])
def forgot_password() -> ResponseReturnValue:
    """Ask for a link to choose a new password, by e-mail; the same answer whether an account uses
    the address or not. Without e-mail (no SMTP settings) the page says whom to ask instead."""
    target = _requested_next()
    if not outbox.email_configured(current_app.config):
        return render_template(
            "auth/forgot_password.html",
            form=None,
            next_path=target,
            registering=leads_to_registration(target),
            signup_enabled=_offer_sign_up(target),
        )
    form = ForgotPasswordForm(next=target)
    if form.validate_on_submit():
        db = get_session()
        request_reset(db, form.email.data)
        db.commit()
        email = form.email.data.strip()
        return render_template("auth/reset_requested.html", email=email, next_path=target)
    status = 400 if form.errors else 200
    page = render_template(
        "auth/forgot_password.html", form=form, next_path=target, registering=leads_to_registration(target)
    )
    return page, status


@bp.route("/password", methods=["GET", "POST"])
def change_password() -> ResponseReturnValue:
    """A signed-in person changes their password (the current one first). This session stays
    signed in, under a new id; every other one of theirs is signed out.

    Too many wrong passwords for this account: the lockout's 429 page, saying until when.
    """
    user = signed_in_user()
    if user is None:
        return cast(Response, login_manager.unauthorized())
    form = ChangePasswordForm()
    if form.validate_on_submit():
        db = get_session()
        try:
            change_own_password(db, user, form.current.data, form.password.data)
        except current_password.REFUSED as refused:
            current_password.answer(refused, form.current, url_for("auth.change_password"))
        except WeakPassword as error:
            form.password.errors.append(str(error))
        except AccountErased:  # deleted in another window meanwhile: the next page signs it out
            return redirect(url_for("auth.account"), code=303)
        else:
            db.commit()
            start_signed_in_session(user)
            flash("Your password is changed, and you are signed out everywhere else.", "success")
            return _go_to(url_for(DEFAULT_ENDPOINT))
    status = 400 if form.errors else 200
    return render_template("auth/change_password.html", form=form, user=user), status


@bp.route("/organisation", methods=["GET", "POST"])
def change_organisation_page() -> ResponseReturnValue:
    """A signed-in customer changes their organisation's name (staff have none)."""
    user = signed_in_user()
    if user is None:
        return cast(Response, login_manager.unauthorized())
    if user.is_staff:
        return redirect(url_for("auth.account"))
    form = OrganisationForm(organisation=user.organisation)
    if form.validate_on_submit():
        db = get_session()
        try:
            changed = change_organisation(db, user, form.organisation.data)
        except AccountErased:  # deleted in another window meanwhile: the next page signs it out
            changed = False
        if changed:
            db.commit()
            flash("Your organisation's name is changed.", "success")
        return redirect(url_for("auth.account"), code=303)
    status = 400 if form.errors else 200
    return render_template("auth/organisation.html", form=form, user=user), status


@bp.route("/sign-up", methods=["GET", "POST"])
def sign_up() -> ResponseReturnValue:
    """Create a customer account and sign it in; by invitation only when SIGNUP_ENABLED is off.

    :raise 403: (rendered as the invitation page) a POST while sign-up is off.
    """
    target = _requested_next()
    if not signup_enabled():
        status = 403 if request.method == "POST" else 200
        return render_template("auth/sign_up_closed.html", next_path=target), status
    if current_user.is_authenticated:
        return _go_to(target)
    form = SignUpForm(next=target)
    if form.validate_on_submit():
        db = get_session()
        try:
            user = create_customer(db, form.email.data, form.organisation.data, form.password.data)
        except AccountError as error:
            field = form.password if isinstance(error, WeakPassword) else form.email
            field.errors.append(str(error))
        else:
            db.commit()
            start_signed_in_session(user)
            flash("Your account is ready.", "success")
            return _go_to(target)
    return render_template("auth/sign_up.html", form=form, registering=leads_to_registration(target))


@bp.post("/sign-out")
def sign_out() -> Response:
    """Sign out (a CSRF-checked POST), keeping the flow's session data, then go to `next`."""
    target = _requested_next()
    if current_user.is_authenticated:
        db = get_session()
        record_sign_out(db, current_user._get_current_object())
        db.commit()
        logout_user()
        session.regenerate()  # type: ignore[attr-defined]
        flash("You have signed out.", "info")
    return _go_to(target or url_for("auth.sign_in"))


@bp.get("/account")
def account() -> ResponseReturnValue:
    """Who is signed in, with a way out, and their LMS connections with what they paid; where
    sign-in lands without `next`; for staff, under the console's menu, how many approval requests
    wait. Anyone not signed in is sent to sign in first."""
    user = signed_in_user()
    if user is None:
        return cast(Response, login_manager.unauthorized())
    db = get_session()
    connections = connections_of(db, user)
    return render_template(
        "auth/account.html",
        user=user,
        connections=connections,
        withdraw_form=WithdrawForm(),
        told_when_activated={
            connection.registration.id
            for connection in connections
            if customer_emails.told_when_activated(db, connection.registration)
        },
        waiting=len(approvals.pending_requests(db)) if user.is_staff else 0,
    )
