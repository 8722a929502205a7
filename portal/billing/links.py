"""One-time links into hosted Checkout, for the "pay in a new window" fallback.

The new window shares no cookie with the LMS's iframe, so the link itself carries
the authority: a signed, short-lived token naming the payment, accepted once
(its nonce is stored when used, under a primary key).
"""

from __future__ import annotations

import secrets

from flask import current_app
from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from portal.db import get_session
from portal.models import HostedCheckoutToken, Payment

_SALT = "billing-hosted-checkout"


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=_SALT)


def issue_hosted_token(payment: Payment) -> str:
    return _serializer().dumps({"p": payment.public_id, "n": secrets.token_urlsafe(16)})


def redeem_hosted_token(token: str) -> Payment | None:
    """The payment the token names, the first time a valid, unexpired token is redeemed; else None."""
    max_age = int(current_app.config["BILLING_LINK_MAX_AGE"])
    try:
        data = _serializer().loads(token, max_age=max_age)
    except BadSignature:
        return None
    db = get_session()
    payment = db.scalar(select(Payment).where(Payment.public_id == data.get("p")))
    if payment is None:
        return None
    db.add(HostedCheckoutToken(nonce=str(data.get("n")), payment_id=payment.id))
    try:
        db.commit()
    except IntegrityError:
        db.rollback()
        return None
    return payment
