"""What the flow asks billing, through one small interface.

The flow never imports billing: billing registers its `Payments` in the app
(`use_payments`), and without billing nobody pays (`NoPayments`). So billing
may know registrations, and the dependency goes one way.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from flask import Flask, current_app
from sqlalchemy.orm import Session

from portal.models import Registration, User

_EXTENSION = "registration_payments"


@dataclass(frozen=True)
class PaidSummary:
    """A payment Stripe confirmed, as the flow's pages show it."""

    amount_total: int | None
    currency: str | None
    reference: str | None  # what the customer can quote: the payment intent, else the session
    amount: str = ""  # in words, e.g. "49.00 USD"
    refunded_at: datetime | None = None  # when the staff recorded its refund
    subscription: bool = False  # a recurring price: Stripe charges again each period until cancelled


class Payments(Protocol):
    def charges(self, user: User | None) -> bool:
        """Whether `user` pays for registrations at all (a price is set; staff never pay)."""
        ...

    def owes(self, db: Session, registration: Registration, user: User | None) -> bool:
        """Whether `user` must still pay for `registration` before it may be completed."""
        ...

    def checkout_url(self, registration: Registration, user: User | None, back: str) -> str:
        """The flow's payment page for `registration`, returning to the local path `back` once paid."""
        ...

    def paid(self, db: Session, registration: Registration) -> PaidSummary | None:
        """What was paid for `registration`, once Stripe confirmed it; None when nothing was."""
        ...

    def carry_over(self, db: Session, registration: Registration, user: User | None) -> PaidSummary | None:
        """Let `user`'s payment for an earlier, certainly unregistered registration of the same LMS
        count for `registration` (which they have not paid); what it was, if it now does."""
        ...

    def end_open_sessions(self, db: Session, user: User) -> int:
        """Make sure nothing more can be paid for `user`'s registrations that have closed (their
        account was erased); how many payment windows that ended."""
        ...


class NoPayments:
    """Nobody pays: the flow has no payment step."""

    def charges(self, user: User | None) -> bool:
        return False

    def owes(self, db: Session, registration: Registration, user: User | None) -> bool:
        return False

    def checkout_url(self, registration: Registration, user: User | None, back: str) -> str:
        raise RuntimeError("no payment step is configured")

    def paid(self, db: Session, registration: Registration) -> PaidSummary | None:
        return None

    def carry_over(self, db: Session, registration: Registration, user: User | None) -> PaidSummary | None:
        return None

    def end_open_sessions(self, db: Session, user: User) -> int:
        return 0


def use_payments(app: Flask, payments: Payments) -> None:
    app.extensions[_EXTENSION] = payments


def payments() -> Payments:
    found: Payments | None = current_app.extensions.get(_EXTENSION)
    return found if found is not None else NoPayments()
