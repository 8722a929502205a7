"""Accounts: creating users, checking passwords, and the per-account sign-in limit.

Functions take the caller's database session and do not commit (the view or CLI
command commits once), except where a duplicate email forces a rollback, or a
lost race (`update_if`) rolls back.
Every failure a person can fix raises an `AccountError` with a message to show.
The staff console (`portal.admin.people`) and the CLI (`portal.cli`) call the same functions.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, Literal, TypeVar, cast

from flask import current_app
from sqlalchemy import delete, exists, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, aliased
from werkzeug.security import check_password_hash, generate_password_hash

from portal.db import update_if
from portal.models import ERASED_DOMAIN, LoginAttempt, PasswordLink, User, UserRole, record_event, utcnow
from portal.text import is_acceptable

_T = TypeVar("_T")

MIN_PASSWORD_LENGTH = 10
MAX_PASSWORD_LENGTH = 1024
_EMAIL_SHAPE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class AccountError(ValueError):
    """A request about an account that cannot be done; the message says why."""


class EmailTaken(AccountError):
    pass


class InvalidEmail(AccountError):
    pass


class WeakPassword(AccountError):
    pass


class UnknownUser(AccountError):
    pass


class TooManyAttempts(AccountError):
    """The email's sign-ins are paused until `until` (UTC), whether or not an account uses it."""

    def __init__(self, until: datetime) -> None:
        super().__init__("Too many failed sign-ins for this email address.")
        self.until = until


class WrongPassword(AccountError):
    pass


SignOutReason = Literal["disabled", "password-changed", "erased"]


class SignedOut(Exception):
    """A session's sign-in no longer holds: `reason` says why, None when its user is unknown."""

    def __init__(self, reason: SignOutReason | None) -> None:
        super().__init__(reason or "unknown user")
        self.reason = reason


class LastActiveStaff(AccountError):
    pass


class CannotDisableSelf(AccountError):
    pass


class AccountErased(AccountError):
    """The account was erased (`portal.auth.erasure`): nothing can be done with it any more."""


# scrypt with N=2^13, r=8, p=10: one of the settings OWASP's Password Storage Cheat Sheet lists as
# equally strong as its minimum (N=2^17, r=8, p=1), using 8 MiB per hash instead of 128 MiB
# (werkzeug's default, N=2^15, r=8, p=1, uses 32 MiB and is below that minimum). About 130 ms of
# CPU per hash here. A stored hash names its own parameters, so older hashes still verify.
PASSWORD_METHOD = "scrypt:8192:8:10"  # noqa: S105 - a hash method, not a password
# Hashes computed at once per process: each holds 8 MiB while it runs. One per worker keeps
# every core busy in a burst of sign-ups when there is a worker per core, as gunicorn.conf.py has.
CONCURRENT_HASHES = 1
_hashing = threading.BoundedSemaphore(CONCURRENT_HASHES)


class PasswordHasher:
    """The one place that knows the password algorithm (werkzeug's scrypt, `PASSWORD_METHOD`).

    At most CONCURRENT_HASHES hashes run at once in a process, so a burst of sign-ups costs that
    many hashes' memory at most, however many threads the worker has (the others wait their
    turn). Lives in `app.extensions["password_hasher"]`, so tests can swap in a subclass that
    counts `verify` calls.
    """

    def __init__(self, method: str = PASSWORD_METHOD) -> None:
        self.method = method
        self._dummy_hash: str | None = None

    def _compute(self, function: Callable[..., _T], *args: Any) -> _T:
        with _hashing:
            return function(*args)

    def hash(self, password: str) -> str:
        return self._compute(generate_password_hash, password, self.method)

    def verify(self, password_hash: str, password: str) -> bool:
        return self._compute(check_password_hash, password_hash, password)

    def is_current(self, password_hash: str) -> bool:
        """Whether `password_hash` was made with today's method and parameters."""
        return password_hash.startswith(f"{self.method}$")

    def dummy_hash(self) -> str:
        """A hash of a random secret, with the same cost as a real user's."""
        if self._dummy_hash is None:
            self._dummy_hash = self.hash(secrets.token_urlsafe(32))
        return self._dummy_hash


def password_hasher() -> PasswordHasher:
    return cast(PasswordHasher, current_app.extensions["password_hasher"])


def normalise_email(email: str) -> str:
    return email.strip().lower()


def find_user(db: Session, email: str) -> User | None:
    """The user with this email, or None (also for an email no account can have: a control character)."""
    if not is_acceptable(email):
        return None
    return db.scalar(select(User).where(User.email == normalise_email(email)))


def load_active_user(db: Session, session_user_id: str) -> User:
    """The user behind a session's user id (`User.get_id`).

    :raise SignedOut: unknown, erased, disabled, or their password changed since that session
        signed in.
    """
    user_id, _, stamp = session_user_id.partition(":")
    user = db.get(User, int(user_id)) if user_id.isdigit() else None
    if user is None:
        raise SignedOut(None)
    if user.is_erased:
        raise SignedOut("erased")
    if not user.is_active:
        raise SignedOut("disabled")
    if not hmac.compare_digest(stamp, user.password_stamp):
        raise SignedOut("password-changed")
    return user


def check_password_rules(password: str) -> None:
    """:raise WeakPassword: too short or too long."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise WeakPassword(f"Choose a password of at least {MIN_PASSWORD_LENGTH} characters.")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise WeakPassword(f"Choose a password of at most {MAX_PASSWORD_LENGTH} characters.")


def checked_email(email: str) -> str:
    """`email` normalised (as stored and looked up). :raise InvalidEmail: not an address's shape,
    longer than 320 characters, holding a control character, or an erased account's kind."""
    email = normalise_email(email)
    if len(email) > 320 or not _EMAIL_SHAPE.match(email) or not is_acceptable(email):
        raise InvalidEmail("Enter an email address like name@example.edu.")
    if email.endswith(f"@{ERASED_DOMAIN}"):  # `erased_address` must stay free for the erasure
        raise InvalidEmail("Enter an email address like name@example.edu.")
    return email


def _create_user(db: Session, email: str, password: str, role: UserRole, organisation: str | None) -> User:
    email = checked_email(email)
    if organisation is not None and not is_acceptable(organisation):
        raise AccountError("Enter the organisation's name without control characters.")
    check_password_rules(password)
    if find_user(db, email) is not None:
        raise EmailTaken("An account with this email already exists. Sign in instead.")
    user = User(email=email, password_hash=password_hasher().hash(password), role=role.value)
    user.organisation = organisation
    db.add(user)
    try:
        db.flush()
    except IntegrityError as error:  # a concurrent sign-up with the same email won the race
        db.rollback()
        raise EmailTaken("An account with this email already exists. Sign in instead.") from error
    return user


def create_customer(db: Session, email: str, organisation: str, password: str) -> User:
    """Sign-up of an institution's admin, who is signed in by it; audited.

    :raise AccountError: bad or taken email, weak password.
    """
    user = _create_user(db, email, password, UserRole.CUSTOMER, organisation.strip())
    user.last_login_at = utcnow()
    record_event(db, "user:signed-up", actor=user.email, details={"role": user.role})
    return user


def create_staff(db: Session, email: str, password: str | None, actor: str) -> User:
    """A staff account; audited. With no `password`, nobody can sign in to it until someone sets one
    (`portal.auth.password_links`). :raise AccountError: as `create_customer`.
    """
    unknown = password is None
    user = _create_user(db, email, password or secrets.token_urlsafe(32), UserRole.STAFF, None)
    details = {"email": user.email, "role": user.role, "password": "not set" if unknown else "typed"}
    record_event(db, "user:created", actor=actor, details=details)
    return user


def create_invited_customer(
    db: Session, email: str, organisation: str, password: str | None, actor: str
) -> User:
    """A customer account a staff member makes (when sign-up is off, the only way in); audited. With
    no `password`, nobody can sign in to it until they set one through a link.

    :raise AccountError: as `create_customer`.
    """
    unknown = password is None
    user = _create_user(
        db, email, password or secrets.token_urlsafe(32), UserRole.CUSTOMER, organisation.strip()
    )
    details = {"email": user.email, "role": user.role, "password": "not set" if unknown else "typed"}
    record_event(db, "user:created", actor=actor, details=details)
    return user


def _existing_user(db: Session, email: str) -> User:
    user = find_user(db, email)
    if user is None:
        raise UnknownUser(f"No user with the email {normalise_email(email)}.")
    return user


def refuse_erased(user: User) -> None:
    """:raise AccountErased: `user`'s account was erased, so it can have no password, link or address."""
    if user.is_erased:
        raise AccountErased(
            f"{user.email} was erased: its personal data is gone, and it cannot be used again."
        )


def hold_unerased(db: Session, user: User) -> None:
    """Check that `user` was not erased, and keep an erasure from starting until this transaction
    ends: for a request that read the account before an erasure may have committed, and is about to
    write its password, organisation, or something naming it. Call it before the first such write.

    A conditional UPDATE that changes nothing but takes the account's row: an erasure at the same
    moment either committed first (then this sees it) or waits for this transaction and then erases
    what it wrote too (`erasure.erase_customer` takes the row the same way before it looks).

    :raise AccountErased: erased meanwhile; the transaction is rolled back (`update_if`).
    """
    if not update_if(db, user, User.erased_at.is_(None), erased_at=None):
        raise AccountErased("This account was deleted: nothing was changed.")


def reset_password(db: Session, email: str, new_password: str, actor: str) -> User:
    """Set a new password (any set-password link of the user stops working); audited.

    :raise AccountError: unknown email, weak password; AccountErased.
    """
    user = _existing_user(db, email)
    refuse_erased(user)
    check_password_rules(new_password)
    set_password(db, user, new_password)
    record_event(db, "user:password-reset", actor=actor, details={"email": user.email})
    return user


def set_password(db: Session, user: User, new_password: str) -> None:
    """Store `new_password` (checked already) and end what the old one left open: links, lockouts.

    :raise AccountErased: `user` was erased meanwhile (`hold_unerased`): nothing was stored.
    """
    hold_unerased(db, user)
    user.password_hash = password_hasher().hash(new_password)
    revoke_password_links(db, user)
    clear_failed_sign_ins(db, user.email)


def revoke_password_links(db: Session, user: User) -> None:
    db.execute(
        update(PasswordLink)
        .where(
            PasswordLink.user_id == user.id, PasswordLink.used_at.is_(None), PasswordLink.revoked_at.is_(None)
        )
        .values(revoked_at=utcnow())
    )


def disable_user(db: Session, email: str, actor: str) -> User:
    """Disable an account: it cannot sign in, is signed out on its next request, its links stop working.

    Disabling a disabled account changes nothing (a double submit). Nobody may
    disable their own account (`actor` is the staff member's email), nor the last
    active staff account: two staff members disabling each other at once must not
    leave nobody to run the portal. A conditional UPDATE ("... only if another
    active staff account exists") decides it; on PostgreSQL the active staff rows
    are locked first, because under READ COMMITTED two such UPDATEs of different
    rows would each still see the other's account as active. (SQLite lets one
    writer at a time, so its UPDATE sees the other's committed change.)

    :raise AccountError: unknown email; CannotDisableSelf; LastActiveStaff.
    """
    user = _existing_user(db, email)
    if user.email == normalise_email(actor):
        raise CannotDisableSelf("You cannot disable your own account.")
    if user.is_disabled:
        return user
    conditions = [User.is_disabled.is_(False)]
    if user.is_staff:
        _lock_active_staff(db)
        conditions.append(_another_active_staff(user))
    if not update_if(db, user, *conditions, is_disabled=True):
        if not user.is_active:  # refreshed: someone else disabled it at the same moment
            return user
        raise LastActiveStaff(
            f"{user.email} is the last active staff account that has signed in: it cannot be disabled. "
            "Another staff account must sign in once first."
        )
    revoke_password_links(db, user)
    record_event(db, "user:disabled", actor=actor, details={"email": user.email, "role": user.role})
    return user


def _active_staff() -> list[Any]:
    return [User.role == UserRole.STAFF.value, User.is_disabled.is_(False)]


def _lock_active_staff(db: Session) -> None:
    """Row-lock every active staff account, in one order (no deadlocks); SQLite renders no FOR UPDATE."""
    db.execute(select(User.id).where(*_active_staff()).order_by(User.id).with_for_update()).all()


def _another_active_staff(user: User) -> Any:
    """Another enabled staff account that has signed in: one whose password nobody has set yet (its
    link may be lost or expire) or that nobody has used cannot be relied on to run the portal."""
    other = aliased(User)
    return exists().where(
        other.role == UserRole.STAFF.value,
        other.is_disabled.is_(False),
        other.last_login_at.is_not(None),
        other.id != user.id,
    )


def enable_user(db: Session, email: str, actor: str) -> User:
    """Let a disabled account sign in again (with its password as it was); audited once.

    :raise AccountError: unknown email; AccountErased.
    """
    user = _existing_user(db, email)
    refuse_erased(user)
    if update_if(db, user, User.is_disabled.is_(True), User.erased_at.is_(None), is_disabled=False):
        record_event(db, "user:enabled", actor=actor, details={"email": user.email, "role": user.role})
    return user


def authenticate(db: Session, email: str, password: str) -> User | None:
    """The active user with this email and password, else None.

    Always checks one password hash (a dummy one for an unknown email), so the
    answer takes as long whether or not the email has an account.
    """
    hasher = password_hasher()
    user = find_user(db, email)
    if user is None:
        hasher.verify(hasher.dummy_hash(), password)
        return None
    checked = user.password_hash
    if not hasher.verify(checked, password) or not user.is_active:
        return None
    if hasher.is_current(checked):
        return user
    # Made with older parameters: renewed now, only over the hash just checked. A new password or
    # an erasure meanwhile wins (a plain write would put back a password the account no longer
    # has), and this one no longer holds.
    renewed = update_if(db, user, User.password_hash == checked, password_hash=hasher.hash(password))
    return user if renewed else None


def _email_key(email: str) -> str:
    return hashlib.sha256(normalise_email(email).encode()).hexdigest()


def _failure_limit() -> tuple[int, timedelta]:
    config = current_app.config
    limit = int(config["LOGIN_FAILURE_LIMIT"])
    window = timedelta(seconds=int(config["LOGIN_FAILURE_WINDOW"]))
    return limit, window


def account_locked_until(db: Session, email: str, now: datetime | None = None) -> datetime | None:
    """When `email`'s (known or not) sign-ins may start again, or None if it is not locked.

    Locked while the window holds LIMIT failures; none are counted while locked, so the lock
    ends when the oldest of the newest LIMIT leaves the window.
    """
    limit, window = _failure_limit()
    since = (now or utcnow()) - window
    newest = db.scalars(
        select(LoginAttempt.created_at)
        .where(LoginAttempt.email_key == _email_key(email), LoginAttempt.created_at > since)
        .order_by(LoginAttempt.created_at.desc())
        .limit(limit)
    ).all()
    return newest[-1] + window if len(newest) >= limit else None


def record_failed_sign_in(db: Session, email: str) -> None:
    _, window = _failure_limit()
    now = utcnow()
    db.execute(delete(LoginAttempt).where(LoginAttempt.created_at <= now - window))
    db.add(LoginAttempt(email_key=_email_key(email), created_at=now))


def clear_failed_sign_ins(db: Session, email: str) -> None:
    db.execute(delete(LoginAttempt).where(LoginAttempt.email_key == _email_key(email)))


def _check_password_counted(db: Session, email: str, password: str) -> User | None:
    """`authenticate`, under the account's limit of failures, counting a failure.

    :raise TooManyAttempts: this email has too many recent failures (checked
        before the password, so a locked account reveals nothing about it).
    """
    until = account_locked_until(db, email)
    if until is not None:
        raise TooManyAttempts(until)
    user = authenticate(db, email, password)
    if user is None:
        record_failed_sign_in(db, email)
    return user


def sign_in_with_password(db: Session, email: str, password: str) -> User | None:
    """Check a sign-in and keep the books: failures counted, success audited.

    :raise TooManyAttempts: this email has too many recent failures (checked
        before the password, so a locked account reveals nothing about it).
    """
    user = _check_password_counted(db, email, password)
    if user is None:
        return None
    # Taken only while the password just checked and the account still stand: an erasure, a new
    # password or disabling that commits between the check and here wins, and nothing of this
    # sign-in is written (its event would bring an erased address back into the audit trail).
    still = (User.password_hash == user.password_hash, User.is_disabled.is_(False))
    if not update_if(db, user, *still, last_login_at=utcnow()):
        return None
    clear_failed_sign_ins(db, user.email)
    record_event(db, "user:signed-in", actor=user.email)
    return user


def check_own_password(db: Session, user: User, current: str) -> None:
    """A signed-in person proves who they are again before changing their account, their password
    counted as a sign-in's would be.

    :raise TooManyAttempts: the account has too many recent failed sign-ins (a wrong password here
        counts as one).
    :raise WrongPassword: `current` is not their password.
    """
    if _check_password_counted(db, user.email, current) is None:
        raise WrongPassword("This is not your current password.")


def change_own_password(db: Session, user: User, current: str, new: str) -> None:
    """A signed-in person changes their password, proving the current one first; audited. Every
    other session of theirs is signed out by the new password (`User.get_id`).

    :raise TooManyAttempts: the account has too many recent failed sign-ins (a wrong current
        password here counts as one, by the same check as a sign-in).
    :raise WrongPassword: the current password is not right.
    :raise WeakPassword: the new one breaks the rules.
    """
    check_own_password(db, user, current)
    check_password_rules(new)
    set_password(db, user, new)
    record_event(db, "user:password-changed", actor=user.email)


def change_organisation(db: Session, user: User, organisation: str) -> bool:
    """A customer names their organisation anew (checked by the form); audited when it changed.

    :raise AccountErased: `user` was erased meanwhile (`hold_unerased`): nothing was stored.
    """
    organisation = organisation.strip()
    if organisation == user.organisation:
        return False
    hold_unerased(db, user)
    record_event(
        db,
        "user:organisation-changed",
        actor=user.email,
        details={"from": user.organisation, "to": organisation},
    )
    user.organisation = organisation
    return True


def record_sign_out(db: Session, user: User) -> None:
    record_event(db, "user:signed-out", actor=user.email)
