"""The sandbox's own tables (prefixed `sandbox_`): the state of its LTIAAS, LMS and Stripe stand-ins.

Everything lives in the portal's database so that the sandbox survives restarts
and works the same with several server processes.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from portal.db import Base
from portal.models import UTCDateTime, utcnow


class RegistrationStatus(StrEnum):
    PENDING = "pending"
    # Held only while the one complete call talks to the LMS.
    COMPLETING = "completing"
    COMPLETED = "completed"


class SandboxLtiaasRegistration(Base):
    """A registration LTIAAS received from an LMS (`/lti/register`), keyed by its registrationId."""

    __tablename__ = "sandbox_ltiaas_registrations"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    openid_configuration_url: Mapped[str] = mapped_column(Text)
    openid_configuration: Mapped[dict[str, Any]] = mapped_column(JSON)
    registration_token: Mapped[str | None] = mapped_column(Text, nullable=True)
    status: Mapped[str] = mapped_column(String(20), default=RegistrationStatus.PENDING.value)
    platform_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class SandboxPlatform(Base):
    """A platform (an LMS registration) as LTIAAS keeps it."""

    __tablename__ = "sandbox_platforms"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    url: Mapped[str] = mapped_column(String(2048), index=True)
    client_id: Mapped[str] = mapped_column(String(255), index=True)
    name: Mapped[str] = mapped_column(String(255))
    authentication_endpoint: Mapped[str] = mapped_column(Text)
    accesstoken_endpoint: Mapped[str] = mapped_column(Text)
    auth_config: Mapped[dict[str, Any]] = mapped_column(JSON)
    public_key: Mapped[str] = mapped_column(Text)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    authorization_server: Mapped[str | None] = mapped_column(Text, nullable=True)
    deployment_id: Mapped[str | None] = mapped_column(String(255), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class SandboxApiCall(Base):
    """One call to the LTIAAS stand-in, so tests can count what the portal did."""

    __tablename__ = "sandbox_api_calls"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    method: Mapped[str] = mapped_column(String(10))
    path: Mapped[str] = mapped_column(Text)
    status: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class SandboxLmsAttempt(Base):
    """An admin's "register a tool" attempt in the sandbox LMS, with its registration token."""

    __tablename__ = "sandbox_lms_attempts"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    profile: Mapped[str] = mapped_column(String(64))
    token_jti: Mapped[str | None] = mapped_column(String(64), nullable=True)
    token_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # Set from the admin page: the LMS refuses this attempt's registration with these words.
    refusal: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class SandboxLmsTool(Base):
    """A tool the sandbox LMS registered through Dynamic Registration."""

    __tablename__ = "sandbox_lms_tools"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    profile: Mapped[str] = mapped_column(String(64), index=True)
    attempt_id: Mapped[str | None] = mapped_column(
        ForeignKey("sandbox_lms_attempts.id"), nullable=True, index=True
    )
    client_id: Mapped[str] = mapped_column(String(255), unique=True)
    deployment_id: Mapped[str] = mapped_column(String(255))
    # The tool's whole registration request, as it was posted.
    registration: Mapped[dict[str, Any]] = mapped_column(JSON)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class SandboxStripeSession(Base):
    """A Checkout Session as the stand-in keeps it: the whole Stripe object in `data`."""

    __tablename__ = "sandbox_stripe_sessions"

    id: Mapped[str] = mapped_column(String(255), primary_key=True)
    client_secret: Mapped[str | None] = mapped_column(String(255), unique=True, nullable=True)
    data: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class SandboxStripeIdempotencyKey(Base):
    """A request answered under an `Idempotency-Key`: the same key and parameters get `body` again."""

    __tablename__ = "sandbox_stripe_idempotency_keys"

    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    fingerprint: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int] = mapped_column(Integer)
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class SandboxStripeEvent(Base):
    """An event the stand-in emitted, with the exact payload it signs and delivers."""

    __tablename__ = "sandbox_stripe_events"

    id: Mapped[str] = mapped_column(String(255), primary_key=True)
    type: Mapped[str] = mapped_column(String(100))
    object_id: Mapped[str] = mapped_column(String(255), index=True)
    payload: Mapped[str] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_status: Mapped[int | None] = mapped_column(Integer, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
