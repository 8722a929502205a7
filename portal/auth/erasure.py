"""Erasing a customer account's personal data (GDPR art. 17): the customer's own "Delete my account"
(`delete_own_account`), a staff member's "Erase personal data" on the People pages and `flask
erase-user` all come to `erase_customer`.

What goes: the e-mail address (the account's, and the copies the portal made of it as text:
`erased_copies`), the organisation's name and the password. The account is disabled for good, and
its sessions are signed out on their next request (the password stamp changed). What it left
open closes as a withdrawal does: its pending requests for approval are withdrawn and its
unfinished registrations closed (no staff member decides on a request from nobody; a payment for
one becomes due for a refund); its unused one-time links stop working; its e-mails still queued
are not sent.

What stays: the account's row, as `erased_address(id)`, so that registrations and payments still
refer to it; and payments as they are, the customer's e-mail address and Stripe's ids included:
the vendor keeps billing records and may still owe a refund. Registered LMS platforms stay
registered: LTIAAS is not called.

All of it is in the caller's transaction (it commits once): an erasure is done whole or not at
all. Its first step, a conditional UPDATE of the account's row, decides between two erasures (the
second does nothing) and against a sign-in at the same moment (`service.sign_in_with_password`
writes only while the password it checked stands). The conditional UPDATEs after it keep the
transaction when they lose (`rollback_on_loss=False`): a registration a completion took meanwhile
stays with it, and the erasure still stands.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from sqlalchemy import ColumnElement, func, or_, select
from sqlalchemy.orm import Session

from portal.auth import erased_copies, service
from portal.auth.service import AccountError
from portal.db import Base, update_if
from portal.models import (
    OPEN_STATES,
    ApprovalRequest,
    ApprovalState,
    Payment,
    PaymentStatus,
    Problem,
    Registration,
    User,
    UserRole,
    close_as_failed,
    decide_approval,
    erased_address,
    record_event,
    utcnow,
)

ERASED = "user:erased"
REASON = "account-erased"  # in the events of what the erasure closed
CLOSED = "The customer deleted their account, so nothing was registered."
CLOSED_UNCONFIRMED = (
    "LTIAAS's answer to the last attempt was lost, and the customer then deleted their account, so the "
    "outcome is unknown: LTIAAS may or may not have registered the tool. The tool's vendor must check "
    "LTIAAS's platform list."
)


class StaffNotErased(AccountError):
    """Staff accounts are disabled, not erased: what staff did stays attributed to them."""


@dataclass(frozen=True)
class Preview:
    """What erasing an account would close, and what it keeps, for whoever confirms it."""

    pending_requests: int
    unfinished_registrations: int
    payments: int


def check_erasable(user: User) -> None:
    """:raise StaffNotErased: `user` is staff."""
    if user.is_staff:
        raise StaffNotErased(
            f"{user.email} is a staff account: staff accounts are not erased (what they did stays "
            "attributed to them). Disable it instead."
        )


def preview(db: Session, user: User) -> Preview:
    """What erasing `user` now would withdraw and close, and how many payments it keeps."""

    def count(table: type[Base], *where: ColumnElement[bool]) -> int:
        return db.scalar(select(func.count()).select_from(table).where(*where)) or 0

    pending = ApprovalRequest.state == ApprovalState.PENDING.value
    return Preview(
        pending_requests=count(ApprovalRequest, ApprovalRequest.requested_by_id == user.id, pending),
        unfinished_registrations=count(Registration, Registration.customer_id == user.id, _still_open()),
        payments=count(Payment, Payment.user_id == user.id, Payment.status == PaymentStatus.PAID.value),
    )


def erase_customer(db: Session, user: User, actor: str | None) -> bool:
    """Erase the personal data of `user`, a customer; audited once (`user:erased`). `actor` is the
    staff member's e-mail (or the CLI's name), None for the customer themself. True if this call
    erased it; False if it was erased already, and nothing was done.

    :raise StaffNotErased: `user` is staff.
    """
    check_erasable(user)
    if user.is_erased:
        return False
    customer = (User.erased_at.is_(None), User.role == UserRole.CUSTOMER.value)
    # The account's row first, as `service.hold_unerased` takes it: what another request of theirs
    # writes meanwhile (an address asked for, a request for approval) commits before the copies are
    # looked for below, or waits for this transaction and then finds the account erased.
    if not update_if(db, user, *customer, erased_at=None):
        return False
    held = erased_copies.addresses_held(db, user)  # before the address goes
    placeholder = erased_address(user.id)
    if not update_if(
        db,
        user,
        *customer,
        email=placeholder,
        organisation=None,
        password_hash=f"!{secrets.token_urlsafe(32)}",  # no hash: nothing ever verifies against it
        is_disabled=True,
        erased_at=utcnow(),
    ):
        return False
    actor = actor or placeholder
    withdrawn = _withdraw_requests(db, user, actor)
    closed = _close_registrations(db, user, actor)
    service.revoke_password_links(db, user)
    erased_copies.replace_copies(db, user, held, placeholder)
    for one in held:
        service.clear_failed_sign_ins(db, one.address)
    details = {"email": placeholder, "requests_withdrawn": withdrawn, "registrations_closed": closed}
    record_event(db, ERASED, actor=actor, details=details)
    return True


def delete_own_account(db: Session, user: User, current: str) -> None:
    """A signed-in customer erases their own account, proving who they are with their password.

    :raise TooManyAttempts, WrongPassword: as `service.check_own_password` (a wrong password counts;
        the caller commits that).
    :raise StaffNotErased: `user` is staff.
    """
    service.check_own_password(db, user, current)
    erase_customer(db, user, None)


def _withdraw_requests(db: Session, user: User, actor: str) -> int:
    pending = db.scalars(
        select(ApprovalRequest).where(
            ApprovalRequest.requested_by_id == user.id,
            ApprovalRequest.state == ApprovalState.PENDING.value,
        )
    ).all()
    withdrawn = ApprovalState.WITHDRAWN
    details = {"reason": REASON}
    return sum(
        decide_approval(db, approval, withdrawn, actor, details=details, rollback_on_loss=False)
        for approval in pending
    )


def _still_open() -> ColumnElement[bool]:
    return Registration.state.in_([state.value for state in OPEN_STATES])


def _close_registrations(db: Session, user: User, actor: str) -> int:
    unfinished = db.scalars(
        select(Registration).where(Registration.customer_id == user.id, _still_open())
    ).all()
    return sum(close_unfinished(db, registration, actor) for registration in unfinished)


def close_unfinished(db: Session, registration: Registration, actor: str) -> bool:
    """Close one unfinished registration of an erased account, as withdrawn; or, when LTIAAS's answer
    to its last attempt was lost (the tool may be registered), with an unknown outcome, for the staff
    to settle. True if this call closed it; a loss keeps the transaction (`rollback_on_loss=False`).

    Also for a completion the erasure left alone, once it comes back unfinished (`completion`).
    """
    lost = Registration.problem == Problem.UNCONFIRMED.value
    if registration.answer_lost:
        problem, words, same = Problem.OUTCOME_UNKNOWN, CLOSED_UNCONFIRMED, lost
    else:
        problem, words, same = Problem.WITHDRAWN, CLOSED, or_(Registration.problem.is_(None), ~lost)
    return close_as_failed(
        db,
        registration,
        actor,
        _still_open(),
        same,
        problem=problem,
        words=words,
        details={"reason": REASON},
        rollback_on_loss=False,
    )
