"""A staff member's account page is a console page: the console's menu, and what to do next, which
is the approval requests only when some are waiting."""

from __future__ import annotations

from html import unescape

from flask.testing import FlaskClient

from portal.models import ApprovalRequest


def account_of(browser: FlaskClient) -> str:
    response = browser.get("/auth/account")
    assert response.status_code == 200
    return unescape(response.text)


def test_a_staff_member_with_nothing_to_decide_is_told_so_under_the_console_menu(
    staff_browser: FlaskClient,
) -> None:
    page = account_of(staff_browser)

    assert 'class="admin-nav"' in page and 'id="nav-approvals"' in page
    assert "nothing: no approval request is waiting" in page
    assert 'id="staff-approvals"' not in page
    assert page.count('id="sign-out-submit"') == 1  # the menu's


def test_a_staff_member_is_pointed_at_the_request_waiting(
    staff_browser: FlaskClient, pending: ApprovalRequest
) -> None:
    page = account_of(staff_browser)

    assert (
        '<a href="/admin/approvals/" id="staff-approvals">see the approval request waiting for a decision</a>'
        in page
    )
    assert "no approval request is waiting" not in page


def test_a_staff_member_is_told_how_many_requests_wait(
    staff_browser: FlaskClient, pending: ApprovalRequest, next_pending: ApprovalRequest
) -> None:
    assert "see the 2 approval requests waiting for a decision" in account_of(staff_browser)


def test_a_customers_account_page_stays_a_page_of_the_flow(
    customer_browser: FlaskClient, pending: ApprovalRequest
) -> None:
    page = account_of(customer_browser)

    assert 'class="admin-nav"' not in page and "approval request" not in page
    assert "nothing: the tool's vendor is deciding on your request" in page
    assert 'id="sign-out-submit"' in page
