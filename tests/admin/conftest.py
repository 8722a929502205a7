"""Fixtures for the staff pages: the flow's app on the fake LTIAAS, and a pending request."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from portal.db import get_session
from portal.models import ApprovalRequest
from tests.accounts import signed_in
from tests.registration.helpers import add_person, configured_by


@pytest.fixture
def app_settings(ltiaas_settings: dict[str, Any]) -> dict[str, Any]:
    return ltiaas_settings


@pytest.fixture
def pending(app: Flask, customer_browser: FlaskClient) -> ApprovalRequest:
    """A Moodle admin's request under live approval, waiting in their iframe (CSRF off while asking)."""
    app.config.update(APPROVAL_POLICY="live-approval", WTF_CSRF_ENABLED=False)
    public_id = configured_by(customer_browser)
    assert customer_browser.post(f"/registration/{public_id}/request").status_code == 303
    app.config["WTF_CSRF_ENABLED"] = True
    with app.app_context():
        approval = get_session().scalars(select(ApprovalRequest)).one()
        approval.registration  # noqa: B018 - loaded for the tests, which use it detached
        return approval


@pytest.fixture
def next_pending(app: Flask, pending: ApprovalRequest) -> ApprovalRequest:
    """Another school's request, asked after `pending` and waiting too."""
    browser = signed_in(app.test_client(), add_person(app, "customer"))
    app.config["WTF_CSRF_ENABLED"] = False
    shelbyville = {"platform_name": "Shelbyville Moodle", "messages": ["LtiResourceLinkRequest"]}
    public_id = configured_by(browser, shelbyville, registration_id="reg-old-moodle")
    assert browser.post(f"/registration/{public_id}/request").status_code == 303
    app.config["WTF_CSRF_ENABLED"] = True
    with app.app_context():
        approval = get_session().scalars(select(ApprovalRequest).order_by(ApprovalRequest.id.desc())).first()
        assert approval is not None and approval.registration.public_id == public_id
        return approval
