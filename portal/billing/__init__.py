"""Paying for a registration with Stripe Checkout: the flow's payment step, the new-window
fallback, the webhook, and what the staff see of payments that did not end in a registration.

The blueprint's URLs carry the flow's session token (cookie-less browsers), except those
meant for the new window or for Stripe, which must never get the session.
"""

from flask import Blueprint, Flask

from portal.billing.money import format_money
from portal.sessions import carry_session_token

bp = Blueprint("billing", __name__, url_prefix="/billing")
carry_session_token(
    bp, except_endpoints={"billing.hosted", "billing.done", "billing.cancelled", "billing.stripe_webhook"}
)
bp.add_app_template_filter(format_money, "money")

from portal.billing import views, webhook  # noqa: E402, F401  (routes register on bp)


def init_billing(app: Flask) -> None:
    """The Stripe gateway, the blueprint, and billing's answers to the flow's payment questions."""
    from portal.billing.flow import StripePayments
    from portal.billing.stripe_gateway import init_stripe
    from portal.registration.payments import use_payments

    init_stripe(app)
    app.register_blueprint(bp)
    use_payments(app, StripePayments())
