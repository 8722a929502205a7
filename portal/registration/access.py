"""Which browser may act on which registration: the ids its session holds, and loading one.

The intermediate target puts a registration in the browser's session (cookie or
token); every later page loads it from there, so a registration id alone,
leaked or guessed, opens nothing.
"""

from __future__ import annotations

from datetime import datetime

from flask import session
from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.models import Registration
from portal.registration.lifecycle import raise_if_closed
from portal.registration.problems import RegistrationProblem

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


def find_registration(db: Session, public_id: str) -> Registration | None:
    return db.scalar(select(Registration).where(Registration.public_id == public_id))


def load_registration(db: Session, public_id: str, now: datetime | None = None) -> Registration:
    """The registration this browser may act on, first expiring it if it is past its lifetime
    or failing it if its completion never settled (`raise_if_closed`).

    :raise RegistrationProblem: not_in_session (unknown id or another browser's),
        expired, outcome_unknown, or failed (with LTIAAS's reason as detail).
    """
    if not may_act_on(public_id):
        raise RegistrationProblem("not_in_session")
    registration = find_registration(db, public_id)
    if registration is None:
        raise RegistrationProblem("not_in_session")
    raise_if_closed(db, registration, now)
    return registration
