"""The sandbox's staff account, so that a newcomer can open the staff console right away.

Its password is public (printed by `scripts/run`), so it exists only where the
sandbox runs: `SANDBOX_ENABLED` is never true in production (portal.config).
"""

from __future__ import annotations

from flask import current_app
from sqlalchemy.orm import Session

from portal.auth import service
from portal.models import User

SANDBOX_STAFF_EMAIL = "staff@sandbox.example"
SANDBOX_STAFF_PASSWORD = "sandbox-staff-password"  # noqa: S105 - public on purpose, sandbox only
SANDBOX_ACTOR = "sandbox"


class NoSandbox(RuntimeError):
    """The sandbox is off (a real LTIAAS, or production): no account with a public password."""


def ensure_sandbox_staff(db: Session) -> User:
    """The sandbox's staff account, enabled and with its printed password, created if missing.

    Running it again changes nothing but what someone changed (a new password,
    disabling it); the caller commits. :raise NoSandbox: the sandbox is off.
    """
    if not current_app.config["SANDBOX_ENABLED"]:
        raise NoSandbox("the sandbox is off (LTIAAS_URL is set, or PORTAL_ENV is production)")
    user = service.find_user(db, SANDBOX_STAFF_EMAIL)
    if user is None:
        return service.create_staff(db, SANDBOX_STAFF_EMAIL, SANDBOX_STAFF_PASSWORD, SANDBOX_ACTOR)
    if user.is_disabled:
        service.enable_user(db, user.email, SANDBOX_ACTOR)
    if not service.password_hasher().verify(user.password_hash, SANDBOX_STAFF_PASSWORD):
        service.reset_password(db, user.email, SANDBOX_STAFF_PASSWORD, SANDBOX_ACTOR)
    return user
