"""What the staff console's People pages do with accounts: list them a page at a time, create a staff
account, reset a password, each either with a password typed by the staff member or with a one-time
link (`password_links`) for the person to choose their own, which the staff member passes on or
the portal e-mails (`link_emails`).

The rules live in `service` (shared with the CLI); functions here do not commit.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import ColumnElement, func, or_, select
from sqlalchemy.orm import Session

from portal.auth import link_emails, password_links, service
from portal.models import PasswordLinkPurpose, User, UserRole

PAGE_SIZE = 50


class PasswordChoice(StrEnum):
    EMAIL = "email"  # the person chooses it, through a one-time link the portal e-mails them
    LINK = "link"  # the person chooses it, through a one-time link the staff member passes on
    TYPED = "typed"  # the staff member types it (twice)


@dataclass(frozen=True)
class PeoplePage:
    people: list[User]
    page: int
    pages: int
    total: int


def people_page(
    db: Session, page: int = 1, role: UserRole | None = None, search: str = "", page_size: int = PAGE_SIZE
) -> PeoplePage:
    """Accounts, newest first, `page_size` a page; those whose address or organisation contains
    `search` (any case), if given. A page past the end is the last one."""
    where = [User.role == role.value] if role is not None else []
    if search:
        where.append(_matching(search))
    total = db.scalar(select(func.count()).select_from(User).where(*where)) or 0
    pages = max(1, -(-total // page_size))
    page = min(max(page, 1), pages)
    people = db.scalars(
        select(User)
        .where(*where)
        .order_by(User.created_at.desc(), User.id.desc())
        .offset((page - 1) * page_size)
        .limit(page_size)
    ).all()
    return PeoplePage(list(people), page, pages, total)


def _matching(search: str) -> ColumnElement[bool]:
    needle = search.lower()  # addresses are stored in lower case; organisations as typed
    return or_(
        User.email.contains(needle, autoescape=True),
        func.lower(User.organisation).contains(needle, autoescape=True),
    )


def find_person(db: Session, user_id: int) -> User | None:
    return db.get(User, user_id)


def create_staff_account(
    db: Session, email: str, choice: PasswordChoice, password: str | None, actor: str
) -> tuple[User, str | None]:
    """A new staff account, and the token of its set-password link when `choice` is LINK (EMAIL:
    the link is e-mailed to them).

    :raise AccountError: bad or taken email, weak password.
    """
    if choice is PasswordChoice.TYPED:
        return service.create_staff(db, email, password or "", actor), None
    user = service.create_staff(db, email, None, actor)
    return user, _link_for(db, user, choice, PasswordLinkPurpose.NEW_ACCOUNT, actor)


def create_customer_account(
    db: Session, email: str, organisation: str, choice: PasswordChoice, password: str | None, actor: str
) -> tuple[User, str | None]:
    """A new customer account made by a staff member, and its set-password link's token when
    `choice` is LINK (EMAIL: the link is e-mailed to them, with what the account is for).

    :raise AccountError: bad or taken email, weak password.
    """
    if choice is PasswordChoice.TYPED:
        return service.create_invited_customer(db, email, organisation, password or "", actor), None
    user = service.create_invited_customer(db, email, organisation, None, actor)
    return user, _link_for(db, user, choice, PasswordLinkPurpose.INVITATION, actor)


def reset_password(
    db: Session, user: User, choice: PasswordChoice, password: str | None, actor: str
) -> str | None:
    """Replace `user`'s password: with `password`, or with what they choose through a new link, whose
    token is returned (LINK) or which is e-mailed to them (EMAIL). Until a link is used the old
    password still works.

    :raise AccountError: weak password; a disabled account gets no link (enable it first).
    """
    if choice is PasswordChoice.TYPED:
        service.reset_password(db, user.email, password or "", actor)
        return None
    if user.is_disabled:
        raise service.AccountError("This account is disabled: enable it before sending a link.")
    return _link_for(db, user, choice, PasswordLinkPurpose.RESET, actor)


def _link_for(
    db: Session, user: User, choice: PasswordChoice, purpose: PasswordLinkPurpose, actor: str
) -> str | None:
    """A new link's token to show its maker (LINK), or None once its e-mail is queued (EMAIL)."""
    if choice is PasswordChoice.EMAIL:
        link_emails.email_link(db, user, purpose, actor)
        return None
    return password_links.issue_link(db, user, purpose, actor)
