"""Test data for the staff console: registrations in any state, their payments and approval requests,
written straight to the database (the flow that makes them is tested elsewhere)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from uuid import uuid4

from sqlalchemy.orm import Session

from portal.models import ApprovalRequest, Payment, Registration, User, utcnow

# A Wednesday, noon UTC: "today" began at midnight, "this week" on Monday the 30th of November.
NOW = datetime.fromisoformat("2026-12-02T12:00:00+00:00")
MOODLE = "https://moodle.example.edu"


def add_registration(
    db: Session,
    *,
    created_at: datetime | None = None,
    state: str = "received",
    family: str = "moodle",
    url: str = MOODLE,
    policy: str | None = "self-service",
    customer: User | None = None,
    platform_name: str | None = None,
    platform_id: str | None = None,
    platform_active: bool | None = None,
    last_error: str | None = None,
    problem: str | None = None,
    known_platforms: list[dict[str, Any]] | None = None,
    lifetime: timedelta = timedelta(hours=1),
    updated_at: datetime | None = None,
) -> Registration:
    """A registration received at `created_at` (default NOW), alive for `lifetime` from then."""
    created = created_at or NOW
    overrides: dict[str, Any] | None = None
    if platform_name is not None:
        overrides = {"platformName": platform_name, "autoActivate": True, "messages": []}
    registration = Registration(
        ltiaas_registration_id=f"reg-{uuid4().hex}",
        platform_url=url,
        family_code=family if family != "other" else "",
        family=family,
        policy=policy,
        customer_id=customer.id if customer is not None else None,
        state=state,
        overrides=overrides,
        platform_id=platform_id,
        platform_active=platform_active,
        last_error=last_error,
        problem=problem,
        known_platforms=known_platforms,
        created_at=created,
        updated_at=updated_at or created,
        expires_at=created + lifetime,
    )
    db.add(registration)
    db.flush()
    return registration


def add_payment(
    db: Session,
    registration: Registration,
    *,
    status: str = "paid",
    refunded: bool = False,
    user: User | None = None,
) -> Payment:
    payment = Payment(
        registration_id=registration.id,
        user_id=user.id if user is not None else None,
        customer_email=user.email if user is not None else None,
        status=status,
        amount_total=4900,
        currency="eur",
        stripe_session_id=f"cs_test_{uuid4().hex}",
        stripe_payment_intent=f"pi_{uuid4().hex[:24]}" if status == "paid" else None,
        paid_at=utcnow() if status == "paid" else None,
        refunded_at=utcnow() if refunded else None,
        refunded_by="staff@vendor.example" if refunded else None,
    )
    db.add(payment)
    db.flush()
    return payment


def add_approval(
    db: Session, registration: Registration, user: User, *, state: str = "pending"
) -> ApprovalRequest:
    approval = ApprovalRequest(
        registration_id=registration.id,
        requested_by_id=user.id,
        requested_by_email=user.email,
        state=state,
        requested_choices={"platformName": "Asked", "autoActivate": False, "messages": []},
    )
    db.add(approval)
    db.flush()
    return approval
