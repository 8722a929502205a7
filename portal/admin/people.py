"""People (staff only): every account with its role, organisation and last sign-in; a new staff
account; a password reset; a new e-mail address (confirmed by the person); disabling and
re-enabling (erasing a customer's personal data is `people_erasure`).

Thin views over `portal.auth.people` and `portal.auth.service` (the CLI's functions
too). Every change is a CSRF-checked POST, audited with the staff member's email;
the destructive ones need a ticked confirmation; submitting twice changes nothing
more. A one-time link is shown once, in the answer to the POST that made it, and
never cached.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import abort, current_app, flash, make_response, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from sqlalchemy.orm import Session
from werkzeug.wrappers import Response

from portal.admin import bp
from portal.admin.access import staff_required
from portal.admin.approval_words import at
from portal.admin.not_found import PERSON, not_found
from portal.admin.people_forms import (
    DisableForm,
    EnableForm,
    NewCustomerForm,
    NewStaffForm,
    PeopleSearchForm,
    PersonEmailForm,
    ResetPasswordForm,
)
from portal.auth import email_change, password_links
from portal.auth import people as accounts
from portal.auth.people import PasswordChoice
from portal.auth.service import (
    AccountError,
    EmailTaken,
    WeakPassword,
    disable_user,
    enable_user,
    normalise_email,
)
from portal.auth.users import actor_of, signed_in_user, start_signed_in_session
from portal.db import get_session
from portal.models import MAX_ROW_ID, FormSubmission, FormSubmissionKind, User, UserRole, submit_once
from portal.notifications import outbox
from portal.urls import portal_url

# A person's id in the URL: beyond the ids a row can have, 404 without asking the database.
PERSON_URL = f"/people/<int(min=1, max={MAX_ROW_ID}):user_id>"


def _actor() -> str:
    return actor_of(signed_in_user())


def person_or_404(user_id: int) -> User:
    person = accounts.find_person(get_session(), user_id)
    if person is None:
        not_found(PERSON, user_id)
    return person


def link_lifetime() -> str:
    seconds = int(current_app.config["PASSWORD_LINK_MAX_AGE"])
    if seconds % 3600 == 0:
        hours = seconds // 3600
        return f"{hours} hour{'s' if hours != 1 else ''}"
    return f"{max(1, seconds // 60)} minutes"


def _password_choices() -> dict[str, Any]:
    """What the new-staff and reset forms offer: the link's lifetime, and e-mail where it is set up."""
    return {"link_lifetime": link_lifetime(), "can_email": outbox.email_configured(current_app.config)}


def _reset_form() -> ResetPasswordForm:
    return ResetPasswordForm.fresh(**_password_choices())


def _emailed(person: User, created: bool) -> Response:
    """Back to the person's page, saying the link is on its way (the page shows what became of it)."""
    lifetime = link_lifetime()
    if created:
        created_as = f"{_kind(person)} {person.email} created."
        said = f"{created_as} We are e-mailing them a link to choose their password"
    else:
        said = f"We are e-mailing {person.email} a link to choose a new password"
    flash(f"{said}; it works once, for {lifetime}. Whether the e-mail went out shows below.", "success")
    return to_person(person)


def _emailed_already(person: User, submission: FormSubmission) -> Response:
    """A second submit of the form that e-mailed a link (a double click): the link went once.

    Only the e-mailed link is taken once per form: a link shown to its maker is shown in the answer
    to the POST that made it, and a browser shows only the last answer of a double submit, so that
    one makes a new link (which replaces the first) and shows it."""
    by = "" if submission.actor == _actor() else f" by {submission.actor}"
    flash(
        f"This form was sent already{by}{at(submission.created_at)}: one link is on its way to "
        f"{person.email}; nothing was sent again. Whether the e-mail went out shows below.",
        "warning",
    )
    return to_person(person)


def to_person(person: User) -> Response:
    return redirect(url_for("admin.person", user_id=person.id), code=303)


def _link_shown_once(person: User, token: str, created: bool) -> Response:
    """The one time the link is shown: in the answer to the POST that made it, never cached."""
    page = render_template(
        "admin/people/link.html",
        person=person,
        link=portal_url("auth.set_password", token=token),
        created=created,
        lifetime=link_lifetime(),
    )
    response = make_response(page)
    response.headers["Cache-Control"] = "no-store"
    return response


def _person_page(
    person: User,
    reset_form: ResetPasswordForm | None = None,
    status: int = 200,
    email_form: PersonEmailForm | None = None,
) -> Response:
    page = render_template(
        "admin/people/person.html",
        person=person,
        is_me=person.email == _actor(),
        open_link=password_links.open_link_of(get_session(), person),
        pending_change=email_change.pending_change(get_session(), person),
        email_form=email_form or PersonEmailForm(formdata=None),
        can_email=outbox.email_configured(current_app.config),
        last_email=outbox.latest_email_to(get_session(), person.email),
        reset_form=reset_form or _reset_form(),
        disable_form=DisableForm(),
        enable_form=EnableForm(),
    )
    return make_response(page, status)


@bp.get("/people/", endpoint="people")
@staff_required
def people_list() -> tuple[str, int]:
    """Every account, newest first, 50 a page; `?role=staff` or `?role=customer` narrows it, and
    `?q=` to the addresses and organisations that contain it (an erasure request names an address)."""
    role_name = request.args.get("role", "")
    role = UserRole(role_name) if role_name in set(UserRole) else None
    search = PeopleSearchForm(formdata=request.args)
    if not search.validate():
        return render_template("admin/people/list.html", listing=None, role=role, search=search, q=""), 400
    q = search.q.data or ""
    listing = accounts.people_page(get_session(), request.args.get("page", 1, type=int), role, q)
    return render_template("admin/people/list.html", listing=listing, role=role, search=search, q=q), 200


@bp.route("/people/new", methods=["GET", "POST"], endpoint="new_staff")
@staff_required
def new_staff() -> ResponseReturnValue:
    form = NewStaffForm(**_password_choices())
    return _new_account(
        form,
        lambda db: accounts.create_staff_account(
            db, form.email.data, form.password_choice, form.password.data, _actor()
        ),
        "admin/people/new.html",
    )


@bp.route("/people/new-customer", methods=["GET", "POST"], endpoint="new_customer")
@staff_required
def new_customer() -> ResponseReturnValue:
    """A customer account for an institution: how customers get in when SIGNUP_ENABLED is off."""
    form = NewCustomerForm(**_password_choices())
    return _new_account(
        form,
        lambda db: accounts.create_customer_account(
            db, form.email.data, form.organisation.data, form.password_choice, form.password.data, _actor()
        ),
        "admin/people/new_customer.html",
    )


def _new_account(
    form: NewStaffForm, create: Callable[[Session], tuple[User, str | None]], template: str
) -> ResponseReturnValue:
    """The form's page; once it validates, the account `create` makes, and its link shown once or
    e-mailed, or the typed password kept."""
    if form.validate_on_submit():
        db = get_session()
        try:
            person, token = create(db)
        except EmailTaken:  # also a second submit of the same form
            form.email.errors.append("There is already an account with this email.")
        except WeakPassword as error:
            form.password.errors.append(str(error))
        except AccountError as error:
            form.email.errors.append(str(error))
        else:
            db.commit()
            if token is not None:
                return _link_shown_once(person, token, created=True)
            if form.password_choice is PasswordChoice.EMAIL:
                return _emailed(person, created=True)
            flash(f"{_kind(person)} {person.email} created, with the password you typed.", "success")
            return to_person(person)
    status = 400 if form.errors else 200
    return render_template(template, form=form), status


def _kind(person: User) -> str:
    return "Staff account" if person.is_staff else "Customer account"


@bp.get(PERSON_URL, endpoint="person")
@staff_required
def person_page(user_id: int) -> Response:
    return _person_page(person_or_404(user_id))


@bp.post(f"{PERSON_URL}/password", endpoint="reset_password")
@staff_required
def reset_password(user_id: int) -> ResponseReturnValue:
    """A new password typed twice, or a one-time link for the person to choose one."""
    person = person_or_404(user_id)
    form = ResetPasswordForm(**_password_choices())
    if not form.validate_on_submit():
        return _person_page(person, reset_form=form, status=400)
    db = get_session()
    if form.password_choice is PasswordChoice.EMAIL:
        submission, first = submit_once(db, form.token, FormSubmissionKind.RESET_LINK_EMAIL, _actor())
        if not first:
            return _emailed_already(person, submission)
    try:
        token = accounts.reset_password(db, person, form.password_choice, form.password.data, _actor())
    except AccountError as error:
        db.rollback()  # nothing was done: the form's one-time token stays unused
        form.password.errors.append(str(error))
        return _person_page(person, reset_form=form, status=400)
    db.commit()
    if token is not None:
        return _link_shown_once(person, token, created=False)
    if form.password_choice is PasswordChoice.EMAIL:
        return _emailed(person, created=False)
    if person is signed_in_user():  # a new password signs out its old sessions, but not this one
        start_signed_in_session(person)
    flash(f"The password of {person.email} is now the one you typed.", "success")
    return to_person(person)


@bp.post(f"{PERSON_URL}/email", endpoint="change_person_email")
@staff_required
def change_person_email(user_id: int) -> ResponseReturnValue:
    """E-mail someone's new address a link that makes it theirs (they confirm; until then nothing
    changes), and their current address a notice. Staff change their own on their account page."""
    person = person_or_404(user_id)
    if person is signed_in_user() or not outbox.email_configured(current_app.config):
        flash("The email address cannot be changed here.", "error")
        return to_person(person)
    form = PersonEmailForm()
    if not form.validate_on_submit():
        return _person_page(person, email_form=form, status=400)
    db = get_session()
    try:
        outcome = email_change.staff_request_change(db, person, form.new_email.data, _actor())
    except AccountError as error:
        form.new_email.errors.append(str(error))
        return _person_page(person, email_form=form, status=400)
    db.commit()
    new = normalise_email(form.new_email.data)
    if outcome is email_change.ChangeOutcome.ALREADY_SENT:
        flash(f"A link to {new} went out moments ago; nothing was sent again.", "warning")
    else:
        flash(
            f"We are e-mailing {new} a link that makes it the address of {person.email}, who keeps "
            f"signing in with {person.email} until it is opened (it works once, for {link_lifetime()}). "
            f"We also tell {person.email}.",
            "success",
        )
    return to_person(person)


@bp.post(f"{PERSON_URL}/disable", endpoint="disable_person")
@staff_required
def disable_person(user_id: int) -> Response:
    person = person_or_404(user_id)
    if not DisableForm().validate_on_submit():
        flash("Tick the box to confirm, then disable the account.", "error")
    elif person.is_disabled:
        flash(f"{person.email} is disabled already; nothing changed.", "warning")
    else:
        db = get_session()
        try:
            disable_user(db, person.email, _actor())
        except AccountError as error:
            flash(str(error), "error")
        else:
            db.commit()
            flash(f"{person.email} is disabled: signed out, and cannot sign in.", "success")
    return to_person(person)


@bp.post(f"{PERSON_URL}/enable", endpoint="enable_person")
@staff_required
def enable_person(user_id: int) -> Response:
    person = person_or_404(user_id)
    if not EnableForm().validate_on_submit():
        abort(400)
    if not person.is_disabled:
        flash(f"{person.email} is enabled already; nothing changed.", "warning")
    else:
        db = get_session()
        try:
            enable_user(db, person.email, _actor())
        except AccountError as error:  # erased
            flash(str(error), "error")
            return to_person(person)
        db.commit()
        flash(f"{person.email} can sign in again, with their password as it was.", "success")
    return to_person(person)
