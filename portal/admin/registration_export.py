"""Every registration the list's filters keep, as a CSV download for spreadsheets (accounting, a
customer list): what the list shows and more (the LMS's address and version, the platform's id and
whether it is active, when it was registered, the customer's organisation, the amount paid).

Newest first, read in batches by keyset on (created_at, id), so it streams however many there are
and each batch costs the same.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

from sqlalchemy import ColumnElement, Select, select
from sqlalchemy.orm import Session

from portal.admin.registration_list import (
    POLICY_LABELS,
    UNRECORDED_POLICY,
    Filters,
    filter_clauses,
    older_than,
    standing_label,
    with_who_and_what,
)
from portal.admin.spreadsheet import csv_line, heading
from portal.billing.money import format_money
from portal.models import ApprovalRequest, Payment, PaymentStatus, Registration, User, utcnow
from portal.registration import labels

EXPORT_BATCH = 500
COLUMNS = (
    "registration",
    "received (UTC)",
    "where it stands",
    "LMS",
    "LMS address",
    "LMS version",
    "policy",
    "customer email",
    "organisation",
    "platform name",
    "platform id",
    "platform active",
    "registered (UTC)",
    "payment",
    "amount",
)


def csv_lines(db: Session, filters: Filters, now: datetime | None = None) -> Iterator[str]:
    """The registrations `filters` keep, as CSV lines (the column names first), newest first."""
    now = now or utcnow()
    clauses = filter_clauses(db, filters, now)
    yield heading(COLUMNS)
    edge: tuple[datetime, int] | None = None
    while True:
        rows = db.execute(_batch(clauses, edge)).all()
        for row in rows:
            yield csv_line(cells(*row, now=now))
        if len(rows) < EXPORT_BATCH:
            return
        last = rows[-1][0]
        edge = (last.created_at, last.id)
        db.expunge_all()  # a long export must not keep every registration it wrote in memory


def _batch(
    clauses: list[ColumnElement[bool]], edge: tuple[datetime, int] | None
) -> Select[Registration, str, str | None, Payment, str]:  # the last four may be None: outer joins
    columns = select(Registration, User.email, User.organisation, Payment, ApprovalRequest.state)
    query = with_who_and_what(columns).where(*clauses)
    if edge is not None:
        query = query.where(older_than(*edge))
    return query.order_by(Registration.created_at.desc(), Registration.id.desc()).limit(EXPORT_BATCH)


def cells(
    registration: Registration,
    customer_email: str | None,
    organisation: str | None,
    payment: Payment | None,
    approval_state: str | None,
    *,
    now: datetime,
) -> list[str]:
    """One registration's line."""
    return [
        registration.public_id,
        _when(registration.created_at),
        standing_label(registration, approval_state, now),
        labels.family(registration.family_code).name,
        registration.platform_url,
        registration.platform_version,
        POLICY_LABELS.get(registration.policy or UNRECORDED_POLICY, registration.policy or ""),
        customer_email or "",
        organisation or "",
        registration.shown_platform_name or "",
        registration.platform_id or "",
        _platform_active(registration),
        _when(registration.completed_at),
        _payment(payment),
        _amount(payment),
    ]


def _when(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S") if moment is not None else ""


def _platform_active(registration: Registration) -> str:
    if registration.platform_id is None:
        return ""
    if registration.platform_deleted_at is not None:
        return "deleted"
    if registration.platform_active is None:
        return "not known"
    return "yes" if registration.platform_active else "no"


def _payment(payment: Payment | None) -> str:
    if payment is None:
        return ""
    if payment.status == PaymentStatus.PAID.value:
        return "paid, refunded" if payment.refunded_at is not None else "paid"
    return payment.status


def _amount(payment: Payment | None) -> str:
    """What was paid ("49.00 USD"), as Stripe reported it; nothing for a payment not made."""
    if payment is None or payment.status != PaymentStatus.PAID.value:
        return ""
    return format_money(payment.amount_total, payment.currency)
