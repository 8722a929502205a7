"""Every staff URL is behind one gate: sign in first, staff only, never framed, CSRF on every action."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
from flask import Flask
from flask.testing import FlaskClient

from portal.models import ApprovalRequest, User
from tests.accounts import sign_in, signed_in
from tests.registration.helpers import add_person, become

# (method, URL with {request} for the request's public id, {registration} for its registration's,
# {platform} for a platform id and {person} for a user's id, what staff get)
STAFF_URLS = [
    ("GET", "/admin/", 200),
    ("GET", "/admin/registrations/", 200),
    ("GET", "/admin/registrations/export.csv", 200),
    ("GET", "/admin/registrations/{registration}", 200),
    ("POST", "/admin/registrations/{registration}/lookup", 400),  # no confirmation ticked: nothing done
    ("POST", "/admin/registrations/{registration}/settle/registered", 400),
    ("POST", "/admin/registrations/{registration}/settle/not-registered", 400),
    ("GET", "/admin/approvals/", 200),
    ("GET", "/admin/approvals/{request}", 200),
    ("POST", "/admin/approvals/{request}/approve", 400),  # no confirmation ticked: nothing done
    ("POST", "/admin/approvals/{request}/reject", 400),
    ("POST", "/admin/approvals/{request}/finish", 303),
    ("GET", "/admin/payments/", 200),
    ("POST", "/admin/payments/{request}/refunded", 404),  # a request's id names no payment
    ("GET", "/admin/platforms/", 200),
    ("GET", "/admin/platforms/{platform}", 404),  # LTIAAS has no such platform
    ("POST", "/admin/platforms/{platform}/activate", 400),  # no confirmation ticked: nothing done
    ("POST", "/admin/platforms/{platform}/deactivate", 400),
    ("POST", "/admin/platforms/{platform}/rename", 400),
    ("GET", "/admin/platforms/{platform}/delete", 404),
    ("POST", "/admin/platforms/{platform}/delete", 400),
    ("GET", "/admin/people/", 200),
    ("GET", "/admin/people/new", 200),
    ("POST", "/admin/people/new", 400),  # no email: nothing created
    ("GET", "/admin/people/new-customer", 200),
    ("POST", "/admin/people/new-customer", 400),  # no email: nothing created
    ("GET", "/admin/people/{person}", 200),
    ("POST", "/admin/people/{person}/password", 400),  # no confirmation ticked: nothing changed
    ("POST", "/admin/people/{person}/email", 303),  # the portal cannot e-mail: back to their page
    ("POST", "/admin/people/{person}/disable", 303),  # no confirmation ticked: back to their page
    ("POST", "/admin/people/{person}/enable", 303),  # enabled already: nothing changed
    ("GET", "/admin/people/{person}/erase", 200),
    ("POST", "/admin/people/{person}/erase", 400),  # no address typed: nothing erased
    ("GET", "/admin/audit/", 200),
    ("GET", "/admin/audit/export.csv", 200),
    ("GET", "/admin/notifications/", 200),
    ("POST", "/admin/notifications/test", 303),  # notifications are off: nothing sent
]
PLACEHOLDERS = {
    "{request}": "<public_id>",
    "{registration}": "<public_id>",
    "{platform}": "<platform_id>",
    "{person}": "<int(min=1, max=2147483647):user_id>",
}
UNKNOWN_PLATFORM = "no-such-platform"
ROLES = ["anonymous", "customer", "disabled staff", "staff"]


def browser_for(app: Flask, role: str) -> FlaskClient:
    browser = app.test_client()
    if role != "anonymous":
        signed_in(browser, add_person(app, "customer" if role == "customer" else "staff"))
    if role == "disabled staff":
        become(app, browser, "disabled")
    return browser


def _as_rule(url: str) -> str:
    for placeholder, variable in PLACEHOLDERS.items():
        url = url.replace(placeholder, variable)
    return url


def test_every_staff_url_is_listed_here(app: Flask) -> None:
    listed = {(method, _as_rule(url)) for method, url, _ in STAFF_URLS}
    routes = {
        (method, rule.rule)
        for rule in app.url_map.iter_rules()
        if rule.endpoint.startswith("admin.")
        for method in rule.methods - {"HEAD", "OPTIONS"}
    }
    assert routes == listed


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize(("method", "url", "staff_status"), STAFF_URLS)
def test_staff_urls_by_role(
    app: Flask, pending: ApprovalRequest, customer: User, role: str, method: str, url: str, staff_status: int
) -> None:
    app.config["WTF_CSRF_ENABLED"] = False
    target = url.format(
        request=pending.public_id,
        registration=pending.registration.public_id,
        platform=UNKNOWN_PLATFORM,
        person=customer.id,
    )
    response = browser_for(app, role).open(target, method=method)
    if role in ("anonymous", "disabled staff"):
        assert response.status_code == 302
        assert response.location.startswith("/auth/sign-in?")
        assert parse_qs(urlsplit(response.location).query)["next"][0].startswith("/admin/")
    elif role == "customer":
        assert response.status_code == 403
    else:
        assert response.status_code == staff_status
    assert response.headers["X-Frame-Options"] == "DENY"
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]


def test_signing_in_from_a_staff_page_leads_back_to_it(app: Flask, pending: ApprovalRequest) -> None:
    app.config["WTF_CSRF_ENABLED"] = False
    browser = app.test_client()
    asked = browser.get(f"/admin/approvals/{pending.public_id}")
    staff = add_person(app, "staff")
    back = sign_in(browser, staff.email, page=asked.location).location
    assert urlsplit(back).path == f"/admin/approvals/{pending.public_id}"
    assert browser.get(back).status_code == 200


@pytest.mark.parametrize("action", ["approve", "reject", "finish"])
def test_every_staff_action_needs_the_csrf_token(
    app: Flask, staff_browser: FlaskClient, pending: ApprovalRequest, action: str
) -> None:
    response = staff_browser.post(
        f"/admin/approvals/{pending.public_id}/{action}",
        data={"confirm_approve": "y", "confirm_reject": "y", "confirm_finish": "y", "reason": "No."},
    )
    assert response.status_code == 400
    assert "This form has expired" in response.get_data(as_text=True)


def test_an_unknown_request_is_not_found(staff_browser: FlaskClient, pending: ApprovalRequest) -> None:
    assert staff_browser.get("/admin/approvals/nope").status_code == 404


def test_every_staff_page_leads_to_the_staff_members_own_account_to_change_their_password(
    staff_browser: FlaskClient,
) -> None:
    for page in ("/admin/", "/admin/people/", "/admin/notifications/"):
        header = staff_browser.get(page).get_data(as_text=True).split('class="admin-nav"', 1)[1]
        assert '<a href="/auth/account" id="nav-account">your account</a>' in header.split("</nav>", 1)[0]
    account = staff_browser.get("/auth/account").get_data(as_text=True)
    assert 'id="change-password-link"' in account and 'id="staff-next-step"' in account
