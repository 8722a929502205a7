"""Hostile input: the flow's app on the fake LTIAAS, with the Stripe stand-in's keys (billing's).

Every test here runs on SQLite, and on PostgreSQL when `TEST_DATABASE_URL` is set: PostgreSQL is
the database that refuses a NUL or an over-long value, so both must be run.
"""

from __future__ import annotations

from tests.billing import conftest as billing

app_settings = billing.app_settings
stripe_over_http = billing.stripe_over_http
