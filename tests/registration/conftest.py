"""Fixtures for the registration flow: the fake LTIAAS client in the app, people, and CSRF off on demand.

`client` is the LMS admin's browser signed in as a customer, since completing a
registration needs an account; tests of what anonymous visitors see make their
own `app.test_client()`.
"""

from __future__ import annotations

import pytest
from flask import Flask
from flask.testing import FlaskClient

from portal.models import User
from tests.auth.helpers import create_user
from tests.registration.helpers import (
    CANVAS_CLOUD,
    MOODLE_44,
    MOODLE_311,
    FakeLtiaas,
    sign_in,
)

CUSTOMER_EMAIL = "admin@springfield.edu"
STAFF_EMAIL = "staff@vendor.example"


@pytest.fixture
def ltiaas(app: Flask) -> FakeLtiaas:
    fake = FakeLtiaas(
        registrations={"reg-moodle": MOODLE_44, "reg-old-moodle": MOODLE_311, "reg-canvas": CANVAS_CLOUD},
    )
    app.extensions["ltiaas"] = fake
    return fake


@pytest.fixture
def no_csrf(app: Flask) -> Flask:
    app.config["WTF_CSRF_ENABLED"] = False
    return app


@pytest.fixture
def customer(app: Flask) -> User:
    return create_user(app, CUSTOMER_EMAIL, organisation="Springfield University")


@pytest.fixture
def staff(app: Flask) -> User:
    return create_user(app, STAFF_EMAIL, role="staff", organisation=None)


@pytest.fixture
def client(app: Flask, customer: User) -> FlaskClient:
    """The LMS admin's browser, signed in as a customer (self-service, the default policy)."""
    browser = app.test_client()
    sign_in(browser, customer)
    return browser


@pytest.fixture
def customer_browser(app: Flask, customer: User) -> FlaskClient:
    """A second browser signed in as the customer (the staff and payment tests keep `client` free)."""
    browser = app.test_client()
    sign_in(browser, customer)
    return browser


@pytest.fixture
def staff_browser(app: Flask, staff: User) -> FlaskClient:
    browser = app.test_client()
    sign_in(browser, staff)
    return browser
