"""A staff member's action on a platform at LTIAAS (activate, deactivate, rename, delete), taken once.

Each form the console renders carries a fresh random `token`; the action claims it by
inserting its row (the token is unique) before LTIAAS is called. A second submit of the
same form, however fast, finds the row instead of calling LTIAAS again: one call, one
audit entry. The row then keeps what came of it::

    in_progress -> done | failed (LTIAAS did nothing) | unknown (LTIAAS may have acted)
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.db import Base
from portal.models.columns import UTCDateTime, utcnow
from portal.models.registrations import Registration


class PlatformActionKind(StrEnum):
    ACTIVATE = "activate"
    DEACTIVATE = "deactivate"
    RENAME = "rename"
    DELETE = "delete"


class PlatformActionState(StrEnum):
    IN_PROGRESS = "in_progress"
    DONE = "done"
    FAILED = "failed"  # LTIAAS certainly did nothing
    UNKNOWN = "unknown"  # LTIAAS may or may not have acted


class PlatformAction(Base):
    """One staff action on one LTIAAS platform, keyed by the token of the form that asked for it."""

    __tablename__ = "platform_actions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token: Mapped[str] = mapped_column(String(64), unique=True)
    platform_id: Mapped[str] = mapped_column(String(255), index=True)
    kind: Mapped[str] = mapped_column(String(20))
    actor: Mapped[str] = mapped_column(String(320))
    registration_id: Mapped[int | None] = mapped_column(ForeignKey("registrations.id"), nullable=True)
    state: Mapped[str] = mapped_column(String(20), default=PlatformActionState.IN_PROGRESS.value)
    # What was asked (e.g. the new name) and, once finished, what LTIAAS said.
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    message: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    registration: Mapped[Registration | None] = relationship()

    @property
    def current_state(self) -> PlatformActionState:
        return PlatformActionState(self.state)

    @property
    def current_kind(self) -> PlatformActionKind:
        return PlatformActionKind(self.kind)
