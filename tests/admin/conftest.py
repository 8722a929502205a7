"""Fixtures for the staff pages: the flow's fake LTIAAS and people, a pending request, signed-in browsers."""

from __future__ import annotations

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from portal.db import get_session
from portal.models import ApprovalRequest
from tests.registration import conftest as flow
from tests.registration.helpers import FakeLtiaas, configured_by

# The flow's fixtures, shared: its fake LTIAAS and its people.
ltiaas = flow.ltiaas
customer = flow.customer
staff = flow.staff
customer_browser = flow.customer_browser
staff_browser = flow.staff_browser


@pytest.fixture
def pending(app: Flask, ltiaas: FakeLtiaas, customer_browser: FlaskClient) -> ApprovalRequest:
    """A Moodle admin's request under live approval, waiting in their iframe (CSRF off while asking)."""
    app.config.update(APPROVAL_POLICY="live-approval", WTF_CSRF_ENABLED=False)
    public_id = configured_by(customer_browser)
    assert customer_browser.post(f"/registration/{public_id}/request").status_code == 303
    app.config["WTF_CSRF_ENABLED"] = True
    with app.app_context():
        approval = get_session().scalars(select(ApprovalRequest)).one()
        approval.registration  # noqa: B018 - loaded for the tests, which use it detached
        return approval
