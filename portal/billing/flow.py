"""Billing's answers to what the registration flow asks (`portal.registration.payments.Payments`)."""

from __future__ import annotations

from flask import url_for
from sqlalchemy.orm import Session

from portal.billing.carry_over import carry_over
from portal.billing.fulfilment import (
    end_open_sessions_of,
    get_or_create_payment,
    payment_of,
    payment_required,
)
from portal.billing.money import format_money
from portal.models import Payment, Registration, User
from portal.registration.payments import PaidSummary


def paid_payment(db: Session, registration: Registration) -> Payment | None:
    """The registration's payment once Stripe confirmed it (our record says paid), else None."""
    payment = payment_of(db, registration)
    return payment if payment is not None and payment.is_paid else None


class StripePayments:
    """Customers pay once per registration through Stripe Checkout when a price is set."""

    def charges(self, user: User | None) -> bool:
        return payment_required(user)

    def owes(self, db: Session, registration: Registration, user: User | None) -> bool:
        return payment_required(user) and paid_payment(db, registration) is None

    def checkout_url(self, registration: Registration, user: User | None, back: str) -> str:
        payment = get_or_create_payment(registration, user)
        return url_for("billing.checkout", public_id=payment.public_id, next=back)

    def paid(self, db: Session, registration: Registration) -> PaidSummary | None:
        payment = paid_payment(db, registration)
        return _summary(payment) if payment is not None else None

    def carry_over(self, db: Session, registration: Registration, user: User | None) -> PaidSummary | None:
        if user is None or not payment_required(user):
            return None
        payment = carry_over(db, registration, user)
        return _summary(payment) if payment is not None else None

    def end_open_sessions(self, db: Session, user: User) -> int:
        return end_open_sessions_of(db, user)


def _summary(payment: Payment) -> PaidSummary:
    reference = payment.stripe_payment_intent or payment.stripe_session_id
    amount = format_money(payment.amount_total, payment.currency)
    return PaidSummary(
        payment.amount_total,
        payment.currency,
        reference,
        amount,
        payment.refunded_at,
        subscription=payment.stripe_subscription is not None,
    )
