"""Who signs in (the vendor's staff and institutions' admins), the failed sign-ins that limit them,
and the one-time links of an account: to set a password, or to confirm a new e-mail address."""

from __future__ import annotations

import hashlib
from datetime import datetime
from enum import StrEnum

from flask_login import UserMixin
from sqlalchemy import Boolean, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.db import Base
from portal.models.columns import UTCDateTime, utcnow


class UserRole(StrEnum):
    STAFF = "staff"  # the vendor's people
    CUSTOMER = "customer"  # an institution's admin, who may pay


class User(UserMixin, Base):
    """Someone who signs in: the vendor's staff or an institution's admin.

    `email` is stored lower-cased, so uniqueness is case-insensitive. A disabled
    user is not `is_active`: Flask-Login refuses to sign them in, and the user
    loader drops them on their next request.

    The id a session keeps (`get_id`) carries a stamp of the password hash, so
    a new password (set with a link, or by staff) signs out every session that
    signed in with the old one: the user loader finds the stamps differ.

    An erased customer account (`erased_at`, `portal.auth.erasure`) keeps its row, so that
    what refers to it (registrations, payments) still does, but none of its personal data:
    its email is `erased_address(id)`, it has no organisation, no usable password, and it is
    disabled for good.
    """

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(20))
    organisation: Mapped[str | None] = mapped_column(String(255), nullable=True)
    is_disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    erased_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    @property
    def is_active(self) -> bool:
        return not self.is_disabled

    @property
    def is_erased(self) -> bool:
        return self.erased_at is not None

    @property
    def is_staff(self) -> bool:
        return self.role == UserRole.STAFF.value

    @property
    def password_stamp(self) -> str:
        """Changes whenever the password hash does (every hash has its own salt)."""
        return hashlib.sha256(self.password_hash.encode()).hexdigest()[:16]

    def get_id(self) -> str:
        return f"{self.id}:{self.password_stamp}"


# Reserved for names that can never resolve (RFC 2606, RFC 6761): nothing can be delivered there.
ERASED_DOMAIN = "erased.invalid"


def erased_address(user_id: int) -> str:
    """What an erased account's email becomes: unique (users.email is), and never deliverable."""
    return f"erased-{user_id}@{ERASED_DOMAIN}"


class LoginAttempt(Base):
    """A failed sign-in, kept for the per-account limit (the window's worth only)."""

    __tablename__ = "login_attempts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # sha256 of the normalised email typed, known account or not, so that
    # unknown emails are limited alike and the table holds no addresses.
    email_key: Mapped[str] = mapped_column(String(64), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)


class PasswordLinkPurpose(StrEnum):
    NEW_ACCOUNT = "new-account"  # a staff account created without a password
    RESET = "reset"  # a staff member reset someone's password
    FORGOT = "forgot"  # the person asked for one by e-mail, from the sign-in page
    INVITATION = "invitation"  # a customer account a staff member made (sign-up may be off)
    # Not a password at all: the person asked to sign in with `PasswordLink.new_email`, and the
    # link, e-mailed to that address, proves it is theirs (`portal.auth.email_change`).
    EMAIL_CHANGE = "email-change"

    @property
    def sets_password(self) -> bool:
        return self is not PasswordLinkPurpose.EMAIL_CHANGE


class PasswordLink(Base):
    """A one-time link to choose a password, made by a staff member or e-mailed to a person who forgot
    theirs (see `portal.auth.password_links`); or, with the purpose EMAIL_CHANGE, e-mailed to
    `new_email` to confirm that the account may sign in with it (`portal.auth.email_change`).

    Only the sha256 of the link's secret is stored, so the table hands out no
    usable link. A link works once (`used_at`), until `expires_at`, and only while
    it is the user's newest: issuing another, a new password (typed, reset or chosen
    with a link), a changed e-mail address and disabling the account revoke it
    (`revoked_at`).
    """

    __tablename__ = "password_links"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    purpose: Mapped[str] = mapped_column(String(20))
    created_by: Mapped[str] = mapped_column(String(320))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    new_email: Mapped[str | None] = mapped_column(String(320), nullable=True)  # EMAIL_CHANGE only

    user: Mapped[User] = relationship()

    def is_usable(self, now: datetime | None = None) -> bool:
        return self.used_at is None and self.revoked_at is None and (now or utcnow()) < self.expires_at
