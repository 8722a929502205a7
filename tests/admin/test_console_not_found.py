"""A staff member who follows a wrong link inside the console stays in the console: the page says
what was not found, in staff words, and leads back to the list to look in. Anyone else meets the
gate first and learns nothing about what exists."""

from __future__ import annotations

from html import unescape
from urllib.parse import urlsplit

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.admin.test_admin_access import browser_for
from tests.fakes.ltiaas import FakeLtiaas

CUSTOMER_WORDS = "If you were registering this tool"

# (method, URL, heading, the list it leads back to)
WRONG_LINKS = [
    ("GET", "/admin/registrations/nope", "No such registration", "/admin/registrations/"),
    ("POST", "/admin/registrations/nope/lookup", "No such registration", "/admin/registrations/"),
    ("GET", "/admin/people/9999", "No such person", "/admin/people/"),
    ("GET", "/admin/approvals/nope", "No such approval request", "/admin/approvals/"),
    ("POST", "/admin/approvals/nope/approve", "No such approval request", "/admin/approvals/"),
    ("POST", "/admin/payments/nope/refunded", "No such payment", "/admin/payments/"),
    ("GET", "/admin/platforms/not%20an%20id", "No such platform at LTIAAS", "/admin/platforms/"),
    ("POST", "/admin/platforms/not%20an%20id/rename", "No such platform at LTIAAS", "/admin/platforms/"),
]


def page_text(browser: FlaskClient, method: str, url: str) -> tuple[int, str]:
    response = browser.open(url, method=method)
    return response.status_code, unescape(response.get_data(as_text=True))


@pytest.mark.parametrize(("method", "url", "heading", "back"), WRONG_LINKS)
def test_a_wrong_link_in_the_console_says_what_is_missing_and_leads_back_to_its_list(
    app: Flask, staff_browser: FlaskClient, method: str, url: str, heading: str, back: str
) -> None:
    app.config["WTF_CSRF_ENABLED"] = False
    status, page = page_text(staff_browser, method, url)

    assert status == 404
    assert f'<h1 id="page-heading">{heading}</h1>' in page
    assert 'class="admin-nav"' in page
    assert f'href="{back}" id="back-to-list"' in page
    assert CUSTOMER_WORDS not in page


def test_the_page_names_the_id_that_was_not_found(staff_browser: FlaskClient) -> None:
    _, page = page_text(staff_browser, "GET", "/admin/people/9999")
    assert "No account in this portal has the id <code>9999</code>." in page
    assert "Find them on" in page and ">the People page</a>" in page


def test_a_platform_ltiaas_does_not_hold_keeps_its_own_console_page(
    staff_browser: FlaskClient, ltiaas: FakeLtiaas
) -> None:
    ltiaas.reply(404, {"status": 404, "error": "Not Found", "details": {"message": "PLATFORM_NOT_FOUND"}})

    status, page = page_text(staff_browser, "GET", "/admin/platforms/gone")

    assert status == 404
    assert 'class="admin-nav"' in page
    assert "LTIAAS has no platform with the id <code>gone</code>: it may have been deleted." in page


@pytest.mark.parametrize("url", ["/admin/registrations/nope", "/admin/people/9999", "/admin/approvals/nope"])
def test_someone_not_staff_learns_nothing_from_a_wrong_link(app: Flask, url: str) -> None:
    anonymous = browser_for(app, "anonymous").get(url)
    assert anonymous.status_code == 302
    assert urlsplit(anonymous.location).path == "/auth/sign-in"

    customer = browser_for(app, "customer").get(url)
    assert customer.status_code == 403
    assert 'class="admin-nav"' not in customer.get_data(as_text=True)


def test_a_path_the_portal_refuses_outright_gets_the_portals_own_page_before_the_gate(app: Flask) -> None:
    response = browser_for(app, "anonymous").get("/admin/registrations/%01", headers={"Accept": "text/html"})
    assert response.status_code == 404
    page = unescape(response.get_data(as_text=True))
    assert CUSTOMER_WORDS in page and 'class="admin-nav"' not in page


def test_staff_asking_for_json_still_get_json(staff_browser: FlaskClient) -> None:
    response = staff_browser.get("/admin/registrations/nope", headers={"Accept": "application/json"})
    assert response.status_code == 404
    assert response.json == {"status": 404, "error": "Not Found"}


def test_staff_following_a_link_the_portal_refuses_outright_stay_in_the_console(
    staff_browser: FlaskClient,
) -> None:
    status, page = page_text(staff_browser, "GET", "/admin/registrations/%01")
    assert status == 404
    assert '<h1 id="page-heading">No such console page</h1>' in page
    assert 'href="/admin/" id="back-to-list"' in page
    assert "\x01" not in page


@pytest.mark.parametrize("url", ["/admin/nonsense", "/admin/registrations/no/such", "/admin/people/x/y"])
def test_a_console_address_no_page_answers_is_a_console_page_for_staff(
    app: Flask, staff_browser: FlaskClient, url: str
) -> None:
    status, page = page_text(staff_browser, "GET", url)
    assert status == 404
    assert '<h1 id="page-heading">No such console page</h1>' in page
    assert 'href="/admin/" id="back-to-list"' in page

    customer = browser_for(app, "customer").get(url)
    assert customer.status_code == 404
    assert 'class="admin-nav"' not in customer.get_data(as_text=True)


def test_an_address_outside_the_console_keeps_the_portals_page_for_staff(staff_browser: FlaskClient) -> None:
    status, page = page_text(staff_browser, "GET", "/no-such-page")
    assert status == 404
    assert CUSTOMER_WORDS in page and 'class="admin-nav"' not in page


@pytest.mark.parametrize("number", ["2147483648", "9999999999999999999999999"])
def test_a_number_beyond_any_row_id_in_a_console_link_is_not_a_server_error(
    staff_browser: FlaskClient, number: str
) -> None:
    """PostgreSQL refuses such a number even in a comparison; SQLite refuses one beyond 64 bits."""
    status, page = page_text(staff_browser, "GET", f"/admin/people/{number}")
    assert status == 404 and 'id="back-to-list"' in page

    for cursor in ("before", "after"):
        trail = staff_browser.get(f"/admin/audit/?{cursor}={number}")
        assert trail.status_code == 200, cursor
        assert 'data-page="admin-audit"' in trail.get_data(as_text=True)
