"""A signed-in person changes the e-mail address they sign in with (and where the portal writes to
them), proving the new address is theirs with a one-time link e-mailed to it.

Asking (`request_change`, from the account page) takes the new address and the current password:
a session left open on a shared computer is not enough to give the account away. A wrong password
counts toward the account's lockout, as at sign-in. The link goes to the new address through the
outbox (`link_emails.text_to_send` puts it in when the e-mail is sent), and a notice without a
link goes to the current one, so an owner whose password was stolen hears of it while they can
still act: choosing a new password revokes the link (it is one of the account's links,
`PasswordLink` with the purpose EMAIL_CHANGE).

The page answers alike whether or not another account uses the new address: the account page
must not become a way to find out who has an account (sign-up says so only while it is open,
and "Forgot your password?" never does). When the address is taken, no link is made; that
address is told that someone asked and that nothing changed.

A staff member may ask the same for someone else on the People pages (`staff_request_change`;
someone who cannot sign in, or lost their old mailbox): no password then, and a taken address is
refused plainly (staff see every account anyway). The person still confirms with the link.

Following the link (`confirm_change`, in a window of its own) changes the address with one
UPDATE: if another account took the address meanwhile, the unique constraint refuses it and
nothing changes. The link works once, and the account's other open links stop
working. The account's e-mails still waiting in the outbox (a decision on a request, say) go to
the new address instead: the outbox keeps an address, not an account, so they are re-addressed
then, all but those about the old address itself. The old address is told the change is made: it
is the one mailbox an owner whose account was taken this way still reads. Sessions stay signed
in: the id a session keeps carries a stamp of the password, which did not change, and whoever
confirmed holds the new mailbox as well as the account.

Functions do not commit; the caller commits once.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime
from enum import StrEnum

from itsdangerous import BadSignature, SignatureExpired
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from portal.auth import password_links, service
from portal.auth.link_emails import LINK_PLACEHOLDER
from portal.auth.password_reset import RESEND_AFTER
from portal.auth.service import AccountError, EmailTaken
from portal.branding import brand
from portal.db import update_if
from portal.models import PasswordLink, PasswordLinkPurpose, User, record_event, utcnow
from portal.notifications import outbox
from portal.urls import portal_url

# The outbox's kinds of the e-mails (the console lists them by kind).
LINK_KIND = "email-change"  # to the new address, with the link
NOTICE_KIND = "email-change-notice"  # to the current address, no link
TAKEN_KIND = "email-change-taken"  # to a new address another account uses, no link
CHANGED_KIND = "email-changed"  # to the old address once the change is confirmed, no link
# E-mails about an address rather than the account: they stay with it when the account moves.
ABOUT_THE_ADDRESS = (NOTICE_KIND, TAKEN_KIND, CHANGED_KIND)


class SameEmail(AccountError):
    pass


class ChangeOutcome(StrEnum):
    """What a request did; the page says the same for all of them (the audit trail tells)."""

    EMAILED = "emailed"
    TAKEN = "taken"  # another account uses the address: it is told so, no link is made
    ALREADY_SENT = "already-sent"  # a link to the same address went out less than RESEND_AFTER ago


class LinkProblem(StrEnum):
    """Why a link to confirm an address does not work; its page says so in words."""

    UNKNOWN = "unknown"  # forged, mangled, cut short, or not a link to confirm an address
    EXPIRED = "expired"
    USED = "used"
    REPLACED = "replaced"  # a newer request, a new password, or the account disabled


class UnusableLink(Exception):
    def __init__(self, problem: LinkProblem) -> None:
        super().__init__(problem.value)
        self.problem = problem


def request_change(
    db: Session, user: User, new_email: str, password: str, now: datetime | None = None
) -> ChangeOutcome:
    """`user` asks to sign in with `new_email` from now on, proving who they are with `password`;
    audited. E-mails the new address a link to confirm (or, when another account uses it, that
    nothing changed), and the current address a notice.

    :raise InvalidEmail: `new_email` is not an address (checked before the password).
    :raise SameEmail: it is the account's address already.
    :raise TooManyAttempts, WrongPassword: as `service.check_own_password` (a wrong password counts;
        the caller commits that).
    :raise AccountErased: the account was erased meanwhile: nothing was sent.
    """
    new = service.checked_email(new_email)
    if new == user.email:
        raise SameEmail("This is your email address already. Enter the new one.")
    service.check_own_password(db, user, password)
    service.hold_unerased(db, user)  # before anything that names the address goes out
    now = now or utcnow()
    if service.find_user(db, new) is not None:
        subject, text = _taken_letter(new)
        outbox.enqueue_email_to(db, _once_a_while("taken", user, new, now), TAKEN_KIND, new, subject, text)
        return _notify_and_audit(db, user, new, None, ChangeOutcome.TAKEN, now)
    return _send_link(db, user, new, None, now)


def staff_request_change(db: Session, person: User, new_email: str, actor: str) -> ChangeOutcome:
    """A staff member (`actor`) asks that `person` sign in with `new_email`: the same link and
    notice as the person's own request, which the person confirms; audited with the staff member.

    :raise InvalidEmail, SameEmail: as `request_change`.
    :raise EmailTaken: another account uses the address (staff are told plainly).
    :raise AccountErased: the account was erased meanwhile: nothing was sent.
    """
    new = service.checked_email(new_email)
    if new == person.email:
        raise SameEmail("This is their email address already. Enter the new one.")
    if person.is_disabled:
        raise AccountError("This account is disabled: enable it first (a link would not work).")
    if service.find_user(db, new) is not None:
        raise EmailTaken(f"Another account signs in with {new}. Nothing was sent.")
    service.hold_unerased(db, person)
    return _send_link(db, person, new, actor, utcnow())


def _send_link(db: Session, user: User, new: str, staff: str | None, now: datetime) -> ChangeOutcome:
    if _recently_sent(db, user, new, now):
        return _notify_and_audit(db, user, new, staff, ChangeOutcome.ALREADY_SENT, now)
    seed, expires_at = password_links.issue_email_change_link(db, user, new, staff or user.email)
    subject, text = _link_letter(user, new, staff, expires_at)
    key = f"{LINK_KIND}:{secrets.token_hex(8)}"
    outbox.enqueue_email_to(db, key, LINK_KIND, new, subject, text, seed)
    return _notify_and_audit(db, user, new, staff, ChangeOutcome.EMAILED, now)


def _notify_and_audit(
    db: Session, user: User, new: str, staff: str | None, outcome: ChangeOutcome, now: datetime
) -> ChangeOutcome:
    """The notice to the current address (once per request that sent something), and the audit."""
    if outcome is not ChangeOutcome.ALREADY_SENT:
        subject, text = _notice_letter(user, new, staff)
        key = _once_a_while("notice", user, new, now)
        outbox.enqueue_email_to(db, key, NOTICE_KIND, user.email, subject, text)
    details = {"from": user.email, "to": new, "outcome": outcome.value}
    record_event(db, "user:email-change-requested", actor=staff or user.email, details=details)
    return outcome


def _recently_sent(db: Session, user: User, new: str, now: datetime) -> bool:
    latest = db.scalar(
        select(PasswordLink).where(PasswordLink.user_id == user.id).order_by(PasswordLink.id.desc()).limit(1)
    )
    return (
        latest is not None
        and latest.purpose == PasswordLinkPurpose.EMAIL_CHANGE.value
        and latest.new_email == new
        and latest.is_usable(now)
        and latest.created_at > now - RESEND_AFTER
    )


def _once_a_while(what: str, user: User, new: str, now: datetime) -> str:
    """An outbox key the same for every request of `user` for `new` within one RESEND_AFTER
    window: the outbox queues such an e-mail once, so a double click sends one (requests further
    apart than RESEND_AFTER always fall in different windows)."""
    window = int(now.timestamp() // RESEND_AFTER.total_seconds())
    address = hashlib.sha256(new.encode()).hexdigest()[:16]
    return f"email-change-{what}:{user.id}:{address}:{window}"


def pending_change(db: Session, user: User) -> PasswordLink | None:
    """The user's link to confirm a new address, while it works (the People page shows it)."""
    link = db.scalar(
        select(PasswordLink).where(PasswordLink.user_id == user.id).order_by(PasswordLink.id.desc()).limit(1)
    )
    if link is None or link.purpose != PasswordLinkPurpose.EMAIL_CHANGE.value or not link.is_usable():
        return None
    return link


def find_change(db: Session, token: str, now: datetime | None = None) -> PasswordLink:
    """The usable link to confirm an address that `token` names.

    :raise UnusableLink: with what is wrong with it.
    """
    try:
        secret = password_links.secret_of_token(token)
    except SignatureExpired as error:
        raise UnusableLink(LinkProblem.EXPIRED) from error
    except BadSignature as error:
        raise UnusableLink(LinkProblem.UNKNOWN) from error
    link = password_links.link_of_secret(db, secret)
    if link is None or link.purpose != PasswordLinkPurpose.EMAIL_CHANGE.value or link.new_email is None:
        raise UnusableLink(LinkProblem.UNKNOWN)
    problem = _problem_of(link, now or utcnow())
    if problem is not None:
        raise UnusableLink(problem)
    return link


def _problem_of(link: PasswordLink, now: datetime) -> LinkProblem | None:
    if link.used_at is not None:
        return LinkProblem.USED
    if link.revoked_at is not None or link.user.is_disabled:
        return LinkProblem.REPLACED
    if now >= link.expires_at:
        return LinkProblem.EXPIRED
    return None


def confirm_change(db: Session, link: PasswordLink) -> User:
    """Use `link` up and make its new address its user's; the account's other links stop working,
    its e-mails still waiting in the outbox go to the new address (but those about the old address
    itself); audited with the new address as actor, and the old address told.

    :raise UnusableLink: the link was used, revoked or expired meanwhile (a second submit), or the
        account was disabled: nothing changed.
    :raise EmailTaken: another account took the address since it was asked for: nothing changed,
        and the link still stands (it would work if the address were freed).
    """
    now = utcnow()
    user = link.user
    # The account's row before the link's, in the order an erasure, a new password or disabling
    # the account takes them (then revokes its links): in the other order, PostgreSQL could find
    # each waiting for the other, and end one as a deadlock.
    if not update_if(db, user, User.is_disabled.is_(False), is_disabled=False):
        raise UnusableLink(LinkProblem.REPLACED)  # disabled or erased meanwhile: rolled back
    if not password_links.claim_link(db, link, now):
        raise UnusableLink(_problem_of(link, now) or LinkProblem.USED)
    old, new = user.email, str(link.new_email)
    try:
        update_if(db, user, email=new)  # the row is held: only the unique constraint can refuse
    except IntegrityError as error:  # users.email is unique
        db.rollback()
        raise EmailTaken(f"Another account signs in with {new} now.") from error
    service.revoke_password_links(db, user)
    outbox.readdress(db, old, new, ABOUT_THE_ADDRESS)
    record_event(db, "user:email-changed", actor=new, details={"from": old, "to": new})
    subject, text = _changed_letter(user, old, now)
    outbox.enqueue_email_to(db, f"{CHANGED_KIND}:{link.id}", CHANGED_KIND, old, subject, text)
    return user


def _portal_name() -> str:
    vendor = brand().name
    return f"{vendor}'s tool registration portal" if vendor else "the tool registration portal"


def _staff_member(staff: str) -> str:
    vendor = brand().name
    return f"{staff} ({vendor}'s staff)" if vendor else f"{staff} (the tool vendor's staff)"


def _contact() -> str:
    vendor = brand().name or "the tool's vendor"
    support = brand().support_email or brand().support_url
    return f"contact {vendor}" + (f" ({support})" if support else "")


def _link_letter(user: User, new: str, staff: str | None, expires_at: datetime) -> tuple[str, str]:
    """The e-mail to the new address, with LINK_PLACEHOLDER where the link goes."""
    if staff is None:
        asked = f"Someone signed in to the account {user.email} on {_portal_name()} asked to sign in with"
    else:
        asked = f"{_staff_member(staff)} asked that the account {user.email} on {_portal_name()} sign in with"
    text = (
        f"{asked} this address, {new}, from now on, and get the portal's e-mails here.\n\n"
        f"If that is right, confirm it here:\n{LINK_PLACEHOLDER}\n\n"
        f"The link works once, until {expires_at:%Y-%m-%d %H:%M} UTC. Until it is opened, the "
        f"account keeps signing in with {user.email}, and its password stays the same.\n\n"
        "If you did not ask for this, you can ignore this e-mail: nothing changes."
    )
    return brand().subject("Confirm your new email address"), text


def _notice_letter(user: User, new: str, staff: str | None) -> tuple[str, str]:
    """The notice to the current address: no link (it asks nothing of a person who did ask)."""
    whom = "tell the other staff" if user.is_staff else _contact()
    if staff is None:
        asked = f"Someone signed in to your account, {user.email}, on {_portal_name()} asked to sign in"
        otherwise = (
            "If it was not you, someone knows your password. Choose a new one at once (it also "
            f"cancels the change, if its link was not opened yet): {portal_url('auth.forgot_password')}\n"
            f"Then {whom}."
        )
    else:
        asked = f"{_staff_member(staff)} asked that your account, {user.email}, on {_portal_name()} sign in"
        otherwise = f"If you did not ask for this, {whom}."
    text = (
        f"{asked} with {new} from now on. The address changes only once a link e-mailed to {new} "
        "is opened.\n\n"
        "If you asked for it, there is nothing more to do here.\n\n"
        f"{otherwise}"
    )
    return brand().subject("Your email address is being changed"), text


def _changed_letter(user: User, old: str, now: datetime) -> tuple[str, str]:
    """To the old address once the change is made: whoever lost the account this way hears of it
    here, the one mailbox they still have."""
    if user.is_staff:
        whom = "tell the other staff at once: any of them can disable the account on the People page"
    else:
        whom = f"{_contact()} at once, from this address"
    text = (
        f"The email address of your account on {_portal_name()} was changed on "
        f"{now:%Y-%m-%d at %H:%M} UTC, from {old} to {user.email}, with a link e-mailed to {user.email}. "
        f"The account signs in with {user.email} now, and the portal writes there, not here.\n\n"
        "If you changed it, there is nothing more to do.\n\n"
        f"If you did not, someone else has your account: {whom}."
    )
    return brand().subject("Your email address was changed"), text


def _taken_letter(new: str) -> tuple[str, str]:
    """To a new address another account uses already: nothing changed, and how to sign in with it."""
    text = (
        f"Someone signed in to an account on {_portal_name()} asked to sign in with this address, "
        f"{new}, from now on. An account already signs in with {new}, so nothing changed.\n\n"
        f"If it was you, sign in with {new} instead; if you forgot its password, choose a new one "
        f"at {portal_url('auth.forgot_password')}\n\n"
        "If you did not ask for this, you can ignore this e-mail."
    )
    return brand().subject("Someone asked to use this email address"), text
