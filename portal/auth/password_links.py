"""One-time links to choose a password, which a staff member hands to a new colleague (or to someone
whose password they reset) instead of typing a password for them, or which is e-mailed to a person
who forgot theirs (`password_reset`).

The link carries a random secret, signed and timestamped (`itsdangerous`), so a
forged or stale link is refused before any lookup. The database keeps only the
secret's sha256 (`PasswordLink.token_hash`): the link is shown once, to the staff
member who made it, and cannot be shown again. It works once, for
PASSWORD_LINK_MAX_AGE seconds, and only while it is the user's newest link and the
account is enabled (`service.set_password` and `service.disable_user` revoke it).

An e-mailed link's secret (`link_emails`: a forgotten password, or a staff member's choice) is
not random but made from a random seed and SECRET_KEY (`secret_of_seed`), so the outbox keeps
only the seed until it sends the e-mail: the database alone still hands out no usable link.

A link that confirms a new e-mail address (`email_change`) is made and sent the same way, and
is the same kind of row (one user's newest link, revoked alike), but it never sets a password:
`find_link` does not find it, and its own page (`email_change.find_change`) finds nothing else.

Functions do not commit; the caller commits once.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime, timedelta

from flask import current_app
from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.auth import service
from portal.db import update_if
from portal.models import PasswordLink, PasswordLinkPurpose, User, record_event, utcnow

_SALT = "auth-set-password-link"


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=_SALT)


def _max_age() -> int:
    return int(current_app.config["PASSWORD_LINK_MAX_AGE"])


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def issue_link(db: Session, user: User, purpose: PasswordLinkPurpose, actor: str) -> str:
    """A new link's token for `user` (their earlier links stop working); audited.

    The token is the only copy of the secret: show it once and forget it.
    """
    secret = secrets.token_urlsafe(32)
    _add_link(db, user, purpose, actor, secret, emailed=False)
    return token_of(secret)


def issue_emailed_link(
    db: Session, user: User, purpose: PasswordLinkPurpose, actor: str
) -> tuple[str, datetime]:
    """A new link for `user`, to be e-mailed to them (their earlier links stop working); audited.

    Returns the seed its secret is made from (`secret_of_seed`), for the outbox to keep until it
    sends the e-mail (`link_emails`), and when the link expires.
    """
    seed = secrets.token_urlsafe(32)
    link = _add_link(db, user, purpose, actor, secret_of_seed(seed), emailed=True)
    return seed, link.expires_at


def issue_email_change_link(db: Session, user: User, new_email: str, actor: str) -> tuple[str, datetime]:
    """A new link that makes `new_email` (checked already) `user`'s address, to be e-mailed there
    (their earlier links stop working); not audited here (`email_change` audits the request).

    Returns the seed of its secret and when it expires, as `issue_emailed_link`.
    """
    seed = secrets.token_urlsafe(32)
    link = _new_link(db, user, PasswordLinkPurpose.EMAIL_CHANGE, actor, secret_of_seed(seed))
    link.new_email = new_email
    return seed, link.expires_at


def secret_of_seed(seed: str) -> str:
    key = str(current_app.config["SECRET_KEY"]).encode()
    return hmac.new(key, f"{_SALT}:emailed:{seed}".encode(), hashlib.sha256).hexdigest()


def token_of(secret: str) -> str:
    """The token a link's URL carries: the secret, signed and timestamped."""
    return _serializer().dumps(secret)


def link_of_secret(db: Session, secret: str) -> PasswordLink | None:
    return db.scalar(select(PasswordLink).where(PasswordLink.token_hash == _hash(secret)))


def _new_link(db: Session, user: User, purpose: PasswordLinkPurpose, actor: str, secret: str) -> PasswordLink:
    """:raise AccountErased: `user` was erased meanwhile (`service.hold_unerased`): no link."""
    service.hold_unerased(db, user)
    service.revoke_password_links(db, user)
    now = utcnow()
    link = PasswordLink(
        user_id=user.id,
        token_hash=_hash(secret),
        purpose=purpose.value,
        created_by=actor,
        created_at=now,
        expires_at=now + timedelta(seconds=_max_age()),
    )
    db.add(link)
    return link


def _add_link(
    db: Session, user: User, purpose: PasswordLinkPurpose, actor: str, secret: str, emailed: bool
) -> PasswordLink:
    link = _new_link(db, user, purpose, actor, secret)
    details = {
        "email": user.email,
        "purpose": purpose.value,
        "delivery": "e-mailed" if emailed else "shown to its maker",
        "expires_at": link.expires_at.isoformat(),
    }
    record_event(db, "user:password-link-issued", actor=actor, details=details)
    return link


def secret_of_token(token: str) -> str:
    """The secret a link's token carries.

    :raise SignatureExpired: signed by us, but older than PASSWORD_LINK_MAX_AGE.
    :raise BadSignature: not signed by us (forged, mangled, cut short), or not a secret.
    """
    secret = _serializer().loads(token, max_age=_max_age())
    if not isinstance(secret, str):
        raise BadSignature("not a link's secret")
    return secret


def find_link(db: Session, token: str, now: datetime | None = None) -> PasswordLink | None:
    """The usable link to set a password that `token` names: signed by us, not stale, unused, not
    revoked, its account enabled (never a link that confirms an e-mail address)."""
    try:
        secret = secret_of_token(token)
    except BadSignature:  # also SignatureExpired
        return None
    link = link_of_secret(db, secret)
    if link is None or not link.is_usable(now) or link.user.is_disabled:
        return None
    return link if PasswordLinkPurpose(link.purpose).sets_password else None


def claim_link(db: Session, link: PasswordLink, now: datetime) -> bool:
    """Use `link` up, if it is still unused, unrevoked and unexpired at `now`: a conditional UPDATE
    lets exactly one submit win. True if this call did (a loser's transaction is rolled back)."""
    return update_if(
        db,
        link,
        PasswordLink.used_at.is_(None),
        PasswordLink.revoked_at.is_(None),
        PasswordLink.expires_at > now,
        used_at=now,
    )


def set_password_with_link(db: Session, link: PasswordLink, password: str) -> User | None:
    """Use `link` up and give its user `password`; audited with the user as actor.

    Returns None (nothing changed) when the link was used, revoked or expired
    meanwhile (its account erased, say): a conditional UPDATE lets exactly one submit win.
    :raise WeakPassword: before the link is used up, so the person can try again.
    """
    service.check_password_rules(password)
    user = link.user
    try:  # the account's row before the link's, in the order an erasure takes them
        service.hold_unerased(db, user)
    except service.AccountErased:
        return None  # its links were revoked with it
    if not claim_link(db, link, utcnow()):
        return None
    service.set_password(db, user, password)
    record_event(
        db, "user:password-set", actor=user.email, details={"email": user.email, "link": link.purpose}
    )
    return user


def open_link_of(db: Session, user: User, now: datetime | None = None) -> PasswordLink | None:
    """The user's newest link if it still works and sets a password (the people page says until when)."""
    link = db.scalar(
        select(PasswordLink).where(PasswordLink.user_id == user.id).order_by(PasswordLink.id.desc()).limit(1)
    )
    if link is None or not link.is_usable(now) or not PasswordLinkPurpose(link.purpose).sets_password:
        return None
    return link
