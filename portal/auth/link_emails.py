"""E-mails that carry a one-time set-password link: to a person who forgot their password
(`password_reset`), and, when a staff member chooses "e-mail them the link" on the People pages,
to a new staff colleague or to someone whose password was reset. (The e-mail that confirms a new
address, `email_change`, is written there and sent the same way: `text_to_send` puts in either.)

They go through the outbox (queued with the request, sent by the background sender, retried).
The outbox keeps only the seed of the link's secret and a placeholder in the text; the link is
put in when the e-mail is sent (`text_to_send`), so the database alone hands out no usable link,
and an e-mail whose link stopped working first is not sent at all.

Functions do not commit; the caller commits once.
"""

from __future__ import annotations

import secrets
from datetime import datetime

from sqlalchemy.orm import Session

from portal.auth import password_links
from portal.branding import brand
from portal.models import Notification, PasswordLinkPurpose, User
from portal.notifications import outbox
from portal.urls import portal_url

# The outbox's kind of each purpose's e-mail (the console lists them by kind).
KINDS = {
    PasswordLinkPurpose.FORGOT: "password-reset",
    PasswordLinkPurpose.RESET: "password-reset",
    PasswordLinkPurpose.NEW_ACCOUNT: "staff-invitation",
    PasswordLinkPurpose.INVITATION: "customer-invitation",
}
# The page each purpose's link opens.
PAGES = {purpose: "auth.set_password" for purpose in PasswordLinkPurpose} | {
    PasswordLinkPurpose.EMAIL_CHANGE: "auth.confirm_email_change"
}
# Where the link goes in a queued e-mail's text; the outbox's row (shown on the console) never
# holds the link itself.
LINK_PLACEHOLDER = "[the one-time link]"


def email_link(db: Session, user: User, purpose: PasswordLinkPurpose, actor: str) -> None:
    """Issue `user` a new link (their earlier links stop working) and queue the e-mail carrying it."""
    seed, expires_at = password_links.issue_emailed_link(db, user, purpose, actor)
    subject, text = _letter(user, purpose, actor, expires_at)
    kind = KINDS[purpose]
    outbox.enqueue_email_to(db, f"{kind}:{secrets.token_hex(8)}", kind, user.email, subject, text, seed)


def _letter(user: User, purpose: PasswordLinkPurpose, actor: str, expires_at: datetime) -> tuple[str, str]:
    """The subject and text of the e-mail, with LINK_PLACEHOLDER where the link goes."""
    vendor = brand().name
    portal_name = f"{vendor}'s tool registration portal" if vendor else "the tool registration portal"
    until = f"The link works once, until {expires_at:%Y-%m-%d %H:%M} UTC."
    keeps_working = "Your current password keeps working until you choose a new one."
    staff = f"{vendor}'s staff" if vendor else "The staff"
    tool = f"{vendor}'s tool" if vendor else "the tool"
    if purpose is PasswordLinkPurpose.NEW_ACCOUNT:
        title = "Your staff account: choose your password"
        text = (
            f"{actor} made you a staff account, {user.email}, on {portal_name}, where staff approve "
            f"and manage the LMSs that register the tool.\n\n"
            f"Choose your password here:\n{LINK_PLACEHOLDER}\n\n"
            f"{until} Then sign in at {portal_url('admin.index')}"
        )
    elif purpose is PasswordLinkPurpose.INVITATION:
        title = "Your account: choose your password"
        text = (
            f"{actor} made you an account, {user.email}, on {portal_name}, where you register "
            f"{tool} with your LMS.\n\n"
            f"Choose your password here:\n{LINK_PLACEHOLDER}\n\n"
            f"{until} Then add the tool in your LMS with the registration URL you were given, and sign "
            "in with this e-mail address when the registration window asks."
        )
    elif purpose is PasswordLinkPurpose.RESET:
        title = "Choose a new password"
        text = (
            f"{staff} reset the password of {user.email} on {portal_name}.\n\n"
            f"Choose your new password here:\n{LINK_PLACEHOLDER}\n\n"
            f"{until} {keeps_working}"
        )
    else:
        title = "Choose a new password"
        text = (
            f"Someone, we hope you, asked for a new password for {user.email} on {portal_name}.\n\n"
            f"Choose your new password here:\n{LINK_PLACEHOLDER}\n\n"
            f"{until} {keeps_working}\n\n"
            "If you did not ask for this, you can ignore this e-mail."
        )
    return brand().subject(title), text


def text_to_send(db: Session, notification: Notification) -> str | None:
    """A queued e-mail's text with its link in place, or None when the link no longer works (used,
    replaced, expired, or the account disabled): an e-mail with a dead link would only confuse."""
    secret = password_links.secret_of_seed(str(notification.secret_seed))
    link = password_links.link_of_secret(db, secret)
    if link is None or not link.is_usable() or link.user.is_disabled:
        return None
    page = PAGES[PasswordLinkPurpose(link.purpose)]
    url = portal_url(page, token=password_links.token_of(secret))
    return notification.text.replace(LINK_PLACEHOLDER, url, 1)
