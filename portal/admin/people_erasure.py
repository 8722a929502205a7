"""People (staff only): erasing a customer's personal data (`portal.auth.erasure`), on a page of its
own that says what goes and what stays, confirmed by typing the account's e-mail address.

Typing the address, rather than ticking a box as disabling does: erasing cannot be undone (disabling
can), and it makes the staff member read whose account it is. A second submit finds the account
erased already and changes nothing.
"""

from __future__ import annotations

from flask import flash, make_response, render_template
from werkzeug.wrappers import Response

from portal.admin import bp
from portal.admin.access import staff_required
from portal.admin.people import PERSON_URL, person_or_404, to_person
from portal.admin.people_forms import EraseForm
from portal.auth import erasure
from portal.auth.service import AccountError, normalise_email
from portal.auth.users import actor_of, signed_in_user
from portal.db import get_session
from portal.models import User
from portal.registration.payments import payments

MISMATCH = "This is not their email address: type it as the page shows it. Nothing was erased."


def _not_erasable(person: User) -> Response | None:
    """Back to the person's page, saying why, when there is nothing to erase here."""
    if person.is_erased:
        flash(f"{person.email} was erased already; nothing changed.", "warning")
        return to_person(person)
    try:
        erasure.check_erasable(person)
    except AccountError as error:
        flash(str(error), "error")
        return to_person(person)
    return None


def _erase_page(person: User, form: EraseForm, status: int = 200) -> Response:
    page = render_template(
        "admin/people/erase.html", person=person, form=form, preview=erasure.preview(get_session(), person)
    )
    return make_response(page, status)


@bp.get(f"{PERSON_URL}/erase", endpoint="confirm_erase_person")
@staff_required
def confirm_erase_person(user_id: int) -> Response:
    """What erasing this customer's personal data does, and the form that does it."""
    person = person_or_404(user_id)
    return _not_erasable(person) or _erase_page(person, EraseForm(formdata=None))


@bp.post(f"{PERSON_URL}/erase", endpoint="erase_person")
@staff_required
def erase_person(user_id: int) -> Response:
    """Erase the customer's personal data once their address is typed; audited with the staff member."""
    person = person_or_404(user_id)
    if (back := _not_erasable(person)) is not None:
        return back
    form = EraseForm()
    if not form.validate_on_submit():
        return _erase_page(person, form, 400)
    if normalise_email(form.email.data) != person.email:
        form.email.errors.append(MISMATCH)
        return _erase_page(person, form, 400)
    was = person.email
    db = get_session()
    if erasure.erase_customer(db, person, actor_of(signed_in_user())):
        db.commit()
        payments().end_open_sessions(db, person)
        flash(f"The personal data of {was} is erased; the account is now {person.email}.", "success")
    else:  # erased by someone else since this page was read
        flash(f"{person.email} was erased already; nothing changed.", "warning")
    return to_person(person)
