"""Fixtures for hostile input: the flow's fake LTIAAS and people, and the Stripe stand-in over HTTP.

Every test here runs on SQLite, and on PostgreSQL when `TEST_DATABASE_URL` is set: PostgreSQL is
the database that refuses a NUL or an over-long value, so both must be run.
"""

from __future__ import annotations

from tests.billing import conftest as billing
from tests.registration import conftest as flow

ltiaas = flow.ltiaas
customer = flow.customer
staff = flow.staff
client = flow.client
customer_browser = flow.customer_browser
staff_browser = flow.staff_browser
no_csrf = flow.no_csrf
stripe_over_http = billing.stripe_over_http
