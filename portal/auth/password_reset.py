"""A person who forgot their password asks, from the sign-in page, for a link to choose a new one,
and gets it by e-mail.

The answer on the page is the same whether an account uses the address or not, so the page tells
nobody who has an account; what really happened is in the audit trail. The e-mail goes through
the outbox (`link_emails`), which keeps only the seed of the link's secret: the link exists in
the e-mail and nowhere else. A second request for the same account within RESEND_AFTER sends
nothing more, so a double click, or someone typing another person's address again and again,
does not fill an inbox.

Functions do not commit; the caller commits once.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.auth import link_emails
from portal.auth.service import AccountErased, find_user, normalise_email
from portal.auth.users import ANONYMOUS_ACTOR
from portal.models import PasswordLink, PasswordLinkPurpose, User, record_event, utcnow

RESEND_AFTER = timedelta(minutes=2)


class ResetOutcome(StrEnum):
    """What a request did; the page says the same for all of them."""

    EMAILED = "emailed"
    NO_ACCOUNT = "no-account"
    DISABLED = "disabled"
    ALREADY_SENT = "already-sent"  # a link went out less than RESEND_AFTER ago and still works


def request_reset(db: Session, email: str, now: datetime | None = None) -> ResetOutcome:
    """E-mail the account using `email` a link to choose a new password, unless there is no such
    enabled account or one went out moments ago; audited either way."""
    now = now or utcnow()
    user = find_user(db, email)
    if user is None:
        outcome = ResetOutcome.NO_ACCOUNT
    elif user.is_disabled:
        outcome = ResetOutcome.DISABLED
    elif _recently_emailed(db, user, now):
        outcome = ResetOutcome.ALREADY_SENT
    else:
        outcome = _email_link(db, user)
    details = {"email": normalise_email(email), "outcome": outcome.value}
    record_event(db, "user:password-reset-requested", actor=ANONYMOUS_ACTOR, details=details)
    return outcome


def _email_link(db: Session, user: User) -> ResetOutcome:
    try:
        link_emails.email_link(db, user, PasswordLinkPurpose.FORGOT, user.email)
    except AccountErased:  # erased since it was found (rolled back): as if it had not been
        return ResetOutcome.NO_ACCOUNT
    return ResetOutcome.EMAILED


def _recently_emailed(db: Session, user: User, now: datetime) -> bool:
    latest = db.scalar(
        select(PasswordLink)
        .where(PasswordLink.user_id == user.id, PasswordLink.purpose == PasswordLinkPurpose.FORGOT.value)
        .order_by(PasswordLink.id.desc())
        .limit(1)
    )
    return latest is not None and latest.is_usable(now) and latest.created_at > now - RESEND_AFTER
