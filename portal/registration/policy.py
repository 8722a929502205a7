"""Who may complete a registration, under the vendor's approval policy: the one place that decides."""

from __future__ import annotations

from typing import Any, Literal

from flask import current_app
from sqlalchemy.orm import Session

from portal.auth.users import is_signed_in, is_staff
from portal.config import ApprovalPolicy
from portal.models import ApprovalRequest, Registration, User, approval_of, other_requests_for_lms
from portal.registration.choices import current_choices
from portal.registration.payments import payments

Step = Literal["sign_in", "wait", "asked_already", "pay", "request", "confirm"]


def approval_policy() -> ApprovalPolicy:
    return ApprovalPolicy(current_app.config["APPROVAL_POLICY"])


def next_step(db: Session, registration: Registration, user: User | None) -> Step:
    """What must happen next before `user` may complete `registration`.

    - "sign_in": nobody (or a disabled account) is signed in;
    - "wait": a request for approval exists: its page shows where it stands;
    - "asked_already": live approval: the customer's request for another registration of the same
      LMS may still be registered by the staff (asking, and paying, again would make a second one);
    - "pay": a customer must pay first (a price is set and this registration is not paid);
    - "request": live approval: the customer's confirmation sends a request to the staff;
    - "confirm": `user` may complete now (staff always may, under every policy).
    """
    if not is_signed_in(user):
        return "sign_in"
    if approval_of(db, registration) is not None:
        return "wait"
    if is_staff(user):
        return "confirm"
    if must_ask_approval(user) and earlier_request_for_lms(db, registration, user) is not None:
        return "asked_already"
    if payments().owes(db, registration, user):
        return "pay"
    if must_ask_approval(user):
        return "request"
    return "confirm"


def earlier_request_for_lms(
    db: Session, registration: Registration, user: User | None
) -> ApprovalRequest | None:
    """`user`'s request for another registration of the same LMS that the staff may still register."""
    if user is None:
        return None
    undecided = other_requests_for_lms(db, registration, user.id, undecided_only=True)
    return undecided[0] if undecided else None


def must_ask_approval(user: User | None) -> bool:
    """Whether `user`'s registration goes to the vendor's staff as a request: a customer's (not a
    staff member's) under live approval."""
    return approval_policy().staff_approve_each_request and not is_staff(user)


def fixed_auto_activate(user: User | None) -> bool | None:
    """The activation `user` must accept, or None when they may choose it.

    Staff always choose. Under review-later a customer's platform is always
    created inactive; otherwise the vendor's settings decide.
    """
    if is_staff(user):
        return None
    if approval_policy().customer_platforms_start_inactive:
        return False
    if current_app.config["ALLOW_AUTO_ACTIVATE_CHOICE"]:
        return None
    return bool(current_app.config["DEFAULT_AUTO_ACTIVATE"])


def choices_for(registration: Registration, user: User | None) -> dict[str, Any]:
    """The body `user` may send: the saved choices, with activation forced off where the policy says."""
    choices = dict(current_choices(registration))
    fixed = fixed_auto_activate(user)
    if fixed is not None:
        choices["autoActivate"] = fixed
    return choices
