"""The payment tables, now in `portal.models.payments`: import them from `portal.models`.

Kept only for the importers in portal/registration/ and billing/attention.py that
are being rewritten; remove it once they import from `portal.models`.
"""

from portal.models.payments import HostedCheckoutToken, Payment, PaymentStatus, StripeEvent

__all__ = ["HostedCheckoutToken", "Payment", "PaymentStatus", "StripeEvent"]
