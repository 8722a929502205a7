"""A console form that must act once but has nothing at LTIAAS to record (e-mailing a password
link, sending a test notification), keyed by the one-time token it was shown with
(`portal.forms.OneTimeForm`): the mechanism of `platform_actions`, for these actions.

The action inserts its row (the token is unique) in the transaction that acts; a second submit of
the same form, however fast, finds the row instead and does nothing again. An action that fails
before its commit leaves no row, so the form can be sent again.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import Integer, String, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from portal.db import Base, add_unless_raced
from portal.models.columns import UTCDateTime, utcnow


class FormSubmissionKind(StrEnum):
    RESET_LINK_EMAIL = "reset-link-email"  # a link to choose a new password, e-mailed to the person
    TEST_NOTIFICATION = "test-notification"


class FormSubmission(Base):
    """One submit of a one-time form: its token, what it did, who sent it and when."""

    __tablename__ = "form_submissions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token: Mapped[str] = mapped_column(String(64), unique=True)
    kind: Mapped[str] = mapped_column(String(40))
    actor: Mapped[str] = mapped_column(String(320))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


def submit_once(
    session: Session, token: str, kind: FormSubmissionKind, actor: str
) -> tuple[FormSubmission, bool]:
    """Claim the form's `token` for this submit (flushed, committed with the action); or return
    the submit that claimed it first. Returns (the submit that stands, whether it is this one)."""
    submission = FormSubmission(token=token, kind=kind.value, actor=actor)
    return add_unless_raced(
        session,
        submission,
        lambda: session.scalar(select(FormSubmission).where(FormSubmission.token == token)),
    )
