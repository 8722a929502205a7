"""Which browser may act on which registration: the ids its session holds, and loading one.

The intermediate target puts a registration in the browser's session (cookie or
token); every later page loads it from there, so a registration id alone,
leaked or guessed, opens nothing.

A registration also belongs to the first customer account signed in on it
(`Registration.customer_id`, taken when a page serves that account): another
customer account, even in a browser that holds the registration, is shown
"another_account", and a browser nobody is signed in on "sign_in_to_continue"
(`keep_to_its_account`); that account itself may open it in any browser it signs in
to (a link copied out of the LMS's window). Staff may act on any registration their
browser holds.
"""

from __future__ import annotations

from datetime import datetime

from flask import flash, redirect, request, session, url_for
from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session
from werkzeug.wrappers import Response as BaseResponse

from portal.auth.users import is_staff, signed_in_user
from portal.db import update_if
from portal.models import Registration, User
from portal.registration.lifecycle import raise_if_closed
from portal.registration.problems import RegistrationProblem
from portal.sessions import why_this_session_ended

SESSION_KEY = "registrations"
# A browser rarely has more than one or two registrations open; the cap keeps
# a session from growing without bound.
MAX_SESSION_REGISTRATIONS = 10


def remember_in_session(public_id: str) -> None:
    """Let this browser's session act on `public_id` (most recent last, capped)."""
    ids = [known for known in session.get(SESSION_KEY, []) if known != public_id]
    ids.append(public_id)
    session[SESSION_KEY] = ids[-MAX_SESSION_REGISTRATIONS:]


def may_act_on(public_id: str) -> bool:
    return public_id in session.get(SESSION_KEY, [])


# Built once: every flow page loads its registration this way.
_BY_PUBLIC_ID = select(Registration).where(Registration.public_id == bindparam("public_id"))


def find_registration(db: Session, public_id: str) -> Registration | None:
    return db.scalar(_BY_PUBLIC_ID, {"public_id": public_id})


def load_registration(db: Session, public_id: str, now: datetime | None = None) -> Registration:
    """The registration this browser may act on, first expiring it if it is past its lifetime
    or failing it if its completion never settled (`raise_if_closed`).

    Serving a signed-in customer gives them the registration if no account has it yet; its
    customer may open it in any browser.

    :raise RegistrationProblem: not_in_session (unknown id, or another browser's and not theirs;
        session_ended instead when the browser came with a session that has ended),
        another_account (another customer's), expired, outcome_unknown, or failed (with
        LTIAAS's reason as detail).
    """
    registration = find_registration(db, public_id)
    if registration is None:
        raise RegistrationProblem("not_in_session")
    user = signed_in_user()
    if not may_act_on(public_id):
        if not _its_customer(registration, user):
            raise RegistrationProblem("session_ended" if why_this_session_ended() else "not_in_session")
        remember_in_session(public_id)  # their own, opened outside the LMS's window (a copied link)
    keep_to_its_account(db, registration, user)
    raise_if_closed(db, registration, now)
    return registration


def _its_customer(registration: Registration, user: User | None) -> bool:
    return user is not None and not is_staff(user) and registration.customer_id == user.id


def refuse_other_accounts(registration: Registration, user: User | None) -> None:
    """Once an account has `registration`, only that account (and staff) may see it.

    :raise RegistrationProblem: sign_in_to_continue, when nobody is signed in (a browser that
        holds its registrationId, or a window whose account signed out); another_account, when
        `user` is another customer.
    """
    if registration.customer_id is None or (user is not None and is_staff(user)):
        return
    if user is None:
        back = url_for("registration.review", public_id=registration.public_id, _st=None)
        raise RegistrationProblem("sign_in_to_continue", sign_in_url=url_for("auth.sign_in", next=back))
    if registration.customer_id != user.id:
        raise RegistrationProblem("another_account")


def keep_to_its_account(db: Session, registration: Registration, user: User | None) -> None:
    """Give `registration` to the customer `user` if no account has it yet (committed; of two
    accounts racing, one wins), then refuse anyone else.

    :raise RegistrationProblem: sign_in_to_continue or another_account (see `refuse_other_accounts`).
    """
    if user is None or is_staff(user):
        refuse_other_accounts(registration, user)
        return
    unowned = registration.customer_id is None
    if unowned and update_if(db, registration, Registration.customer_id.is_(None), customer_id=user.id):
        db.commit()
    refuse_other_accounts(registration, user)


def sign_in_to_continue(problem: RegistrationProblem) -> BaseResponse:
    """The page for sign_in_to_continue: to the sign-in page, then back to this page (a GET) or to
    the registration's first page."""
    flash("Sign in to continue registering the tool.", "info")
    public_id = (request.view_args or {}).get("public_id")
    if request.method == "GET" and public_id and request.blueprint == "registration":
        return redirect(url_for("auth.sign_in", next=request.path), code=303)
    return redirect(problem.sign_in_url or url_for("auth.sign_in"), code=303)
