"""The current password that the account's pages ask for again (changing the password or the
e-mail address, deleting the account), refused: each page answers a refusal alike, and differs
only in what it does once the password is right.

    try:
        ...  # the service call that checks the password first
    except current_password.REFUSED as refused:
        current_password.answer(refused, form.current, url_for("auth.this_page"))
"""

from __future__ import annotations

from typing import Protocol

from flask import abort

from portal.auth.pauses import locked_out
from portal.auth.service import TooManyAttempts, WrongPassword
from portal.db import get_session

REFUSED = (TooManyAttempts, WrongPassword)


class _Field(Protocol):
    errors: list[str]


def answer(refused: TooManyAttempts | WrongPassword, field: _Field, try_again: str) -> None:
    """Commit first, either way: a wrong password counts toward the account's lockout, as a failed
    sign-in does, and must not be rolled back with the rest of the request. Then a wrong password's
    error goes under `field`, for the view to show its form again (400).

    :raise HTTPException: (by `abort`) the lockout's 429 page, until when, "Try again" `try_again`.
    """
    get_session().commit()
    if isinstance(refused, TooManyAttempts):
        abort(locked_out(refused.until, try_again, None))
    field.errors.append(str(refused))
