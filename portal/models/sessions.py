"""The server-side session store (see portal.sessions): one row per live session."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, String
from sqlalchemy.orm import Mapped, mapped_column

from portal.db import Base
from portal.models.columns import UTCDateTime, utcnow


class WebSession(Base):
    """Server-side session data; the browser holds only the session id (cookie or token)."""

    __tablename__ = "web_sessions"

    # sha256 of the session id, so a database leak does not hand out live sessions.
    id_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
