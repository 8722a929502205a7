"""Where the portal copied a customer's e-mail address as text, and replacing those copies when
their account is erased (`erasure`): the audit trail (actors and details; the organisation's
names in the events of its changes go too), their requests for approval, their one-time links,
and the outbox (e-mails to them, and staff notifications naming them). Payments keep theirs: the
vendor keeps billing records (`erasure` says why).

An account may have signed in with several addresses over time (`email_change`), and one it left
may be another account's now. So an address counts as the account's only while it held it
(`Held`): from the account's creation, or from the link that asked for it, until the link that
replaced it was used. A copy made in that time is the account's.

Functions do not commit; `erasure` runs them in its transaction.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Text, and_, cast, or_, select, update
from sqlalchemy.orm import InstrumentedAttribute, Session

from portal.auth.email_change import CHANGED_KIND
from portal.models import (
    ApprovalRequest,
    AuditEvent,
    Notification,
    NotificationState,
    PasswordLink,
    PasswordLinkPurpose,
    User,
)

CANCELLED = "not sent: the account was erased"
# The one event that names an organisation (`service.change_organisation`): its names go with the
# account's, which the erasure clears.
ORGANISATION_CHANGED = "user:organisation-changed"


@dataclass(frozen=True)
class Held:
    """An address the account signed in with, or asked to, from `since` until `until` (None: still)."""

    address: str
    since: datetime
    until: datetime | None

    def during(self, column: InstrumentedAttribute[datetime]) -> ColumnElement[bool]:
        if self.until is None:
            return column >= self.since
        return and_(column >= self.since, column <= self.until)


def addresses_held(db: Session, user: User) -> list[Held]:
    """Every address `user` signed in with (their address now last), and each one they asked to
    change to and never confirmed, while its link could have been used."""
    links = db.scalars(
        select(PasswordLink)
        .where(
            PasswordLink.user_id == user.id,
            PasswordLink.purpose == PasswordLinkPurpose.EMAIL_CHANGE.value,
            PasswordLink.new_email.is_not(None),
        )
        .order_by(PasswordLink.id)  # a new link revokes the older ones, so they are used in this order
    ).all()
    held: list[Held] = []
    since = user.created_at
    for link in links:
        new = str(link.new_email)
        if link.used_at is None:
            held.append(Held(new, link.created_at, link.expires_at))
            continue
        previous = _address_before(db, new, link.used_at)
        if previous is not None:
            held.append(Held(previous, since, link.used_at))
        since = link.created_at
    return [*held, Held(user.email, since, None)]


def _address_before(db: Session, new: str, used_at: datetime) -> str | None:
    """The address a used link replaced, as its audit event (recorded with the link's use) says."""
    event = db.scalar(
        select(AuditEvent)
        .where(
            AuditEvent.action == "user:email-changed",
            AuditEvent.actor == new,
            AuditEvent.created_at >= used_at,
        )
        .order_by(AuditEvent.id)
        .limit(1)
    )
    previous = (event.details or {}).get("from") if event is not None else None
    return previous if isinstance(previous, str) else None


def replace_copies(db: Session, user: User, held: list[Held], placeholder: str) -> None:
    """Put `placeholder` wherever the portal wrote one of the `held` addresses as text, except in
    payments; `user`'s e-mails still queued are not sent."""
    addresses = {one.address for one in held}
    _forget_organisations(db, held)
    _replace_in_trail(db, held, addresses, placeholder)
    _replace_in_outbox(db, held, addresses, placeholder)
    db.execute(
        update(ApprovalRequest)
        .where(ApprovalRequest.requested_by_id == user.id)
        .values(requested_by_email=placeholder)
    )
    db.execute(  # a request they withdrew themselves was decided by them
        update(ApprovalRequest)
        .where(ApprovalRequest.requested_by_id == user.id, ApprovalRequest.decided_by_email.in_(addresses))
        .values(decided_by_email=placeholder)
    )
    db.execute(update(PasswordLink).where(PasswordLink.user_id == user.id).values(new_email=None))
    db.execute(
        update(PasswordLink)
        .where(PasswordLink.user_id == user.id, PasswordLink.created_by.in_(addresses))
        .values(created_by=placeholder)
    )


def _mentions(column: InstrumentedAttribute[Any], address: str) -> ColumnElement[bool]:
    """Whether a JSON column's text holds `address`, written as JSON writes it or as it is."""
    spellings = {json.dumps(address)[1:-1], address}
    return or_(*(cast(column, Text).contains(spelling, autoescape=True) for spelling in spellings))


def _replace_in_trail(db: Session, held: list[Held], addresses: set[str], placeholder: str) -> None:
    """The events the account recorded while it held an address, and those naming it then."""
    for one in held:
        db.execute(
            update(AuditEvent)
            .where(AuditEvent.actor == one.address, one.during(AuditEvent.created_at))
            .values(actor=placeholder)
        )
        naming = _mentions(AuditEvent.details, one.address)
        for event in db.scalars(select(AuditEvent).where(naming, one.during(AuditEvent.created_at))):
            event.details = {
                key: placeholder if isinstance(value, str) and value in addresses else value
                for key, value in event.details.items()
            }
            if event.actor in addresses:
                event.actor = placeholder


def _forget_organisations(db: Session, held: list[Held]) -> None:
    """The organisation's names in the events of its changes (before their actor is replaced)."""
    for one in held:
        db.execute(
            update(AuditEvent)
            .where(
                AuditEvent.action == ORGANISATION_CHANGED,
                AuditEvent.actor == one.address,
                one.during(AuditEvent.created_at),
            )
            .values(details={})
        )


def _replace_in_outbox(db: Session, held: list[Held], addresses: set[str], placeholder: str) -> None:
    """E-mails to the account (those not sent yet are cancelled), and any text naming it then.

    The warning a change of address sends to the address it left still goes (without the new
    address): whoever took an account that way can erase it at once, and its owner must still hear
    of it."""
    for one in held:
        to_them = and_(Notification.recipient == one.address, one.during(Notification.created_at))
        if one.until is not None:  # an address the account left
            to_them = and_(to_them, Notification.kind != CHANGED_KIND)
        db.execute(  # a sender may be claiming it this moment: only a pending one is cancelled
            update(Notification)
            .where(to_them, Notification.state == NotificationState.PENDING.value)
            .values(state=NotificationState.FAILED.value, last_error=CANCELLED, secret_seed=None)
        )
        naming = and_(
            Notification.text.contains(one.address, autoescape=True), one.during(Notification.created_at)
        )
        for notification in db.scalars(select(Notification).where(or_(to_them, naming))):
            notification.text = _without(notification.text, addresses, placeholder)
        db.execute(update(Notification).where(to_them).values(recipient=placeholder))


def _without(text: str, addresses: set[str], placeholder: str) -> str:
    """`text` with each of `addresses` replaced, where it stands as a whole address (not the end of
    another one, as a@school.edu ends ba@school.edu)."""
    for address in addresses:
        text = re.sub(rf"(?<![\w.+-]){re.escape(address)}(?![\w.-]*\w)", placeholder, text)
    return text
