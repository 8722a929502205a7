"""Paying for a registration with Stripe Checkout: the checkout page, the new-window fallback, the webhook.

Not registered by the factory yet: the registration flow links here with a
payment's public id and the URL to continue with (see `views.checkout`).
"""

from flask import Blueprint

bp = Blueprint("billing", __name__, url_prefix="/billing")

from portal.billing import views, webhook  # noqa: E402, F401  (routes register on bp)
