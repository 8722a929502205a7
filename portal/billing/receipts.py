"""Receipts Stripe has and the portal lacks, fetched once on the vendor's request
(`flask --app app fetch-receipts`).

A paid payment normally keeps its receipt from the one read that recorded it. These did not: paid
before the portal kept receipts (migration 0011) or before it read a subscription's invoice, or
while a restricted key could not read charges or invoices. One Stripe read per payment, oldest
first; an outage stops the run (what is left waits for the next), a refusal skips that payment.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from portal.billing.fulfilment import add_missing_receipt
from portal.billing.stripe_gateway import PaymentProviderError, PaymentProviderUnavailable, get_gateway
from portal.models import Payment, PaymentStatus

LONGEST_DETAIL = 200  # Stripe's explanation, on one line of the command's output


class ReceiptOutcome(StrEnum):
    ADDED = "receipt added"
    NONE_AT_STRIPE = "Stripe showed no receipt for it"
    REFUSED = "skipped"
    KEY_MAY_NOT_READ = (
        "skipped: Stripe refused to show its receipt to this key (a restricted key needs Charges, "
        "PaymentIntents and Invoices read)"
    )
    UNAVAILABLE = "stopped here, run it again later"


@dataclass(frozen=True)
class ReceiptFetch:
    payment: str  # its public id
    session: str
    outcome: ReceiptOutcome
    detail: str = ""  # what Stripe said, for a refusal or an outage

    def line(self) -> str:
        said = " ".join(self.detail.split())
        if len(said) > LONGEST_DETAIL:
            said = said[: LONGEST_DETAIL - 1] + "…"
        outcome = f"{said}; {self.outcome.value}" if said else self.outcome.value
        return f"payment {self.payment}, session {self.session}: {outcome}"


def payments_missing_receipts(db: Session, limit: int) -> list[Payment]:
    """Paid payments of an amount (a free one-time session has no receipt) without a receipt,
    oldest payment first."""
    return list(
        db.scalars(
            select(Payment)
            .where(
                Payment.status == PaymentStatus.PAID.value,
                Payment.receipt_url.is_(None),
                Payment.stripe_session_id.is_not(None),
                or_(Payment.amount_total.is_(None), Payment.amount_total != 0),
            )
            .order_by(Payment.paid_at, Payment.id)
            .limit(limit)
        )
    )


def fetch_missing_receipts(db: Session, limit: int) -> Iterator[ReceiptFetch]:
    """Read each payment's paying session once and keep the receipt Stripe gives; yields as it goes."""
    gateway = get_gateway()
    for payment in payments_missing_receipts(db, limit):
        session_id = payment.stripe_session_id or ""
        try:
            info = gateway.retrieve_session(session_id)
        except PaymentProviderUnavailable as error:
            yield ReceiptFetch(payment.public_id, session_id, ReceiptOutcome.UNAVAILABLE, str(error))
            return
        except PaymentProviderError as error:
            yield ReceiptFetch(payment.public_id, session_id, ReceiptOutcome.REFUSED, str(error))
            continue
        if info.receipt_refused:
            yield ReceiptFetch(payment.public_id, session_id, ReceiptOutcome.KEY_MAY_NOT_READ)
            continue
        stored = add_missing_receipt(db, payment, info)
        outcome = ReceiptOutcome.ADDED if stored else ReceiptOutcome.NONE_AT_STRIPE
        yield ReceiptFetch(payment.public_id, session_id, outcome)


def _refused(fetched: list[ReceiptFetch]) -> int:
    return sum(f.outcome in (ReceiptOutcome.REFUSED, ReceiptOutcome.KEY_MAY_NOT_READ) for f in fetched)


def failed(fetched: list[ReceiptFetch]) -> bool:
    """Whether the run left something for the vendor to act on: an outage or a refusal."""
    return _refused(fetched) > 0 or any(f.outcome is ReceiptOutcome.UNAVAILABLE for f in fetched)


def summary(fetched: list[ReceiptFetch]) -> str:
    added = sum(f.outcome is ReceiptOutcome.ADDED for f in fetched)
    none = sum(f.outcome is ReceiptOutcome.NONE_AT_STRIPE for f in fetched)
    return f"{added} receipts added, {none} without one at Stripe, {_refused(fetched)} refused"
