"""A person who forgot their password asks, from the sign-in page, for a link to choose a new one,
and gets it by e-mail.

The answer on the page is the same whether an account uses the address or not, so the page tells
nobody who has an account; what really happened is in the audit trail. The e-mail goes through
the outbox (queued with the request, sent by the background sender, retried), and the outbox
keeps only the seed of the link's secret (`password_links.issue_emailed_link`): the link exists
in the e-mail and nowhere else. A second request for the same account within RESEND_AFTER sends
nothing more, so a double click, or someone typing another person's address again and again,
does not fill an inbox.

Functions do not commit; the caller commits once.
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.auth import password_links
from portal.auth.service import find_user, normalise_email
from portal.auth.users import ANONYMOUS_ACTOR
from portal.branding import brand
from portal.models import Notification, PasswordLink, PasswordLinkPurpose, User, record_event, utcnow
from portal.notifications import outbox
from portal.urls import portal_url

KIND = "password-reset"
RESEND_AFTER = timedelta(minutes=2)
# Where the link goes in a queued e-mail's text; the outbox's row (shown on the console) never
# holds the link itself.
LINK_PLACEHOLDER = "[the one-time link]"


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
        _email_link(db, user)
        outcome = ResetOutcome.EMAILED
    details = {"email": normalise_email(email), "outcome": outcome.value}
    record_event(db, "user:password-reset-requested", actor=ANONYMOUS_ACTOR, details=details)
    return outcome


def _recently_emailed(db: Session, user: User, now: datetime) -> bool:
    latest = db.scalar(
        select(PasswordLink)
        .where(PasswordLink.user_id == user.id, PasswordLink.purpose == PasswordLinkPurpose.FORGOT.value)
        .order_by(PasswordLink.id.desc())
        .limit(1)
    )
    return latest is not None and latest.is_usable(now) and latest.created_at > now - RESEND_AFTER


def _email_link(db: Session, user: User) -> None:
    seed, expires_at = password_links.issue_emailed_link(db, user)
    vendor = brand().name
    portal_name = f"{vendor}'s tool registration portal" if vendor else "the tool registration portal"
    subject = f"[{vendor}] Choose a new password" if vendor else "Choose a new password"
    text = (
        f"Someone, we hope you, asked for a new password for {user.email} on {portal_name}.\n\n"
        f"Choose your new password here:\n{LINK_PLACEHOLDER}\n\n"
        f"The link works once, until {expires_at:%Y-%m-%d %H:%M} UTC. Your current password keeps "
        f"working until you choose a new one.\n\n"
        "If you did not ask for this, you can ignore this e-mail."
    )
    key = f"{KIND}:{secrets.token_hex(8)}"
    outbox.enqueue_email_to(db, key, KIND, user.email, subject, text, seed)


def text_to_send(db: Session, notification: Notification) -> str | None:
    """A queued e-mail's text with its link in place, or None when the link no longer works (used,
    replaced, expired, or the account disabled): an e-mail with a dead link would only confuse."""
    secret = password_links.secret_of_seed(str(notification.secret_seed))
    link = password_links.link_of_secret(db, secret)
    if link is None or not link.is_usable() or link.user.is_disabled:
        return None
    url = portal_url("auth.set_password", token=password_links.token_of(secret))
    return notification.text.replace(LINK_PLACEHOLDER, url, 1)
