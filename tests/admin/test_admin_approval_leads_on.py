"""After deciding a request, a staff member sees where it led and goes on: to the registration's
page, to the platform LTIAAS made, and to the next request waiting (or back to the list)."""

from __future__ import annotations

import re
from html import unescape

from flask import Flask
from flask.testing import FlaskClient

from portal.models import ApprovalRequest
from tests.admin.test_admin_approvals import STAFF_FORM, act
from tests.fakes.ltiaas import FakeLtiaas
from tests.registration.helpers import registration_row


def approved(browser: FlaskClient, approval: ApprovalRequest) -> str:
    response = act(browser, approval, "approve", STAFF_FORM)
    assert response.status_code == 303
    return unescape(browser.get(response.location).text)


def test_an_approved_request_links_its_registration_and_its_platform(
    app: Flask, staff_browser: FlaskClient, pending: ApprovalRequest
) -> None:
    page = approved(staff_browser, pending)

    registration = registration_row(app, pending.registration.public_id)
    assert registration.platform_id
    assert f'href="/admin/registrations/{registration.public_id}" id="open-registration"' in page
    assert f'href="/admin/platforms/{registration.platform_id}" id="open-platform"' in page
    assert re.search(r'<span id="registration-state">Registered[^<]*</span> \(platform <a', page)


def test_after_deciding_the_staff_member_goes_on_to_the_next_waiting_request(
    staff_browser: FlaskClient, pending: ApprovalRequest, next_pending: ApprovalRequest
) -> None:
    page = approved(staff_browser, pending)

    assert f'href="/admin/approvals/{next_pending.public_id}" id="next-request">Next request</a>' in page
    assert f"Shelbyville Moodle, asked by {next_pending.requested_by_email}" in page


def test_when_nothing_else_waits_the_page_leads_back_to_the_approval_requests(
    staff_browser: FlaskClient, pending: ApprovalRequest
) -> None:
    page = approved(staff_browser, pending)

    assert 'id="next-request"' not in page
    assert "no other request is waiting" in page
    assert 'href="/admin/approvals/" id="back-to-approvals"' in page


def test_a_waiting_request_does_not_point_away_from_itself(
    staff_browser: FlaskClient, pending: ApprovalRequest, next_pending: ApprovalRequest
) -> None:
    page = unescape(staff_browser.get(f"/admin/approvals/{pending.public_id}").text)

    assert 'id="next-step"' not in page
    assert 'href="/admin/approvals/">Approval requests</a>' in page


def test_a_platforms_page_links_the_registration_that_made_it(
    app: Flask, staff_browser: FlaskClient, ltiaas: FakeLtiaas, pending: ApprovalRequest
) -> None:
    approved(staff_browser, pending)
    registration = registration_row(app, pending.registration.public_id)

    page = unescape(staff_browser.get(f"/admin/platforms/{registration.platform_id}").text)

    assert f'<a href="/admin/registrations/{registration.public_id}" class="platform-registration">' in page
