"""Paying for a registration with Stripe Checkout: the flow's payment step, the new-window
fallback, the webhook, and what the staff see of payments that did not end in a registration.

The blueprint's URLs carry the flow's session token (cookie-less browsers), except those
meant for the new window or for Stripe, which must never get the session.
"""

from flask import Blueprint

from portal.billing.money import format_money
from portal.sessions import carry_session_token

bp = Blueprint("billing", __name__, url_prefix="/billing")
carry_session_token(
    bp, except_endpoints={"billing.hosted", "billing.done", "billing.cancelled", "billing.stripe_webhook"}
)
bp.add_app_template_filter(format_money, "money")

from portal.billing import views, webhook  # noqa: E402, F401  (routes register on bp)
