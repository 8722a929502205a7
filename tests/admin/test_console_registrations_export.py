"""A staff member downloads the registrations the list's filters keep, as CSV for a spreadsheet:
every one of them (not a page), with what accounting and customer follow-up need, inert in
spreadsheets, and the download recorded in the audit trail."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from portal.admin import registration_export
from portal.admin.registration_list import Filters
from portal.admin.spreadsheet import neutralise
from portal.db import get_session
from portal.models import AuditEvent, User
from tests.accounts import create_user
from tests.admin.console_helpers import NOW, add_payment, add_registration
from tests.conftest import CUSTOMER_EMAIL, STAFF_EMAIL
from tests.registration.helpers import links_in

LONG = timedelta(days=3650)


def downloaded(browser: FlaskClient, query: str = "") -> list[dict[str, str]]:
    """The CSV's rows, by column name."""
    response = browser.get(f"/admin/registrations/export.csv{query}")
    assert response.status_code == 200 and response.is_streamed
    assert response.mimetype == "text/csv" and response.headers["Cache-Control"] == "no-store"
    assert response.headers["Content-Disposition"].startswith('attachment; filename="registrations-')
    lines = list(csv.reader(io.StringIO(response.get_data().decode("utf-8-sig"), newline="")))
    assert tuple(lines[0]) == registration_export.COLUMNS
    return [dict(zip(lines[0], line, strict=True)) for line in lines[1:]]


def as_exported(public_id: str) -> str:
    """A random public id may start with "-", which a spreadsheet would run as a formula."""
    return neutralise(public_id)


@pytest.fixture
def registered_and_paid(app: Flask, customer: User) -> dict[str, str]:
    """A Moodle registered and paid, a Canvas waiting, a Sakai whose platform was deleted; their
    public ids as the CSV has them."""
    with app.app_context():
        db = get_session()
        moodle = add_registration(
            db,
            created_at=NOW - timedelta(hours=1),
            state="completed",
            platform_name="Springfield Moodle",
            customer=customer,
            platform_id="Plat-1",
            platform_active=False,
        )
        moodle.completed_at = NOW - timedelta(minutes=50)
        add_payment(db, moodle, user=customer)
        canvas = add_registration(
            db,
            created_at=NOW - timedelta(hours=2),
            state="reviewed",
            family="canvas",
            url="https://shelbyville.instructure.com",
            platform_name="Shelbyville Canvas",
            policy="live-approval",
            lifetime=LONG,
        )
        add_payment(db, canvas, status="pending")
        sakai = add_registration(
            db,
            created_at=NOW - timedelta(days=3),
            state="completed",
            family="sakai",
            url="https://sakai.example.org",
            platform_name="Ogdenville Sakai",
            policy="review-later",
            platform_id="Plat-3",
            platform_active=True,
        )
        sakai.platform_deleted_at = NOW
        db.commit()
        made = {"moodle": moodle, "canvas": canvas, "sakai": sakai}
        return {name: as_exported(registration.public_id) for name, registration in made.items()}


def test_the_download_has_every_registration_with_what_accounting_and_follow_up_need(
    staff_browser: FlaskClient, registered_and_paid: dict[str, str]
) -> None:
    rows = downloaded(staff_browser)

    assert [row["registration"] for row in rows] == [
        registered_and_paid["moodle"],
        registered_and_paid["canvas"],
        registered_and_paid["sakai"],
    ]
    moodle, canvas, sakai = rows
    assert moodle == {
        "registration": registered_and_paid["moodle"],
        "received (UTC)": "2026-12-02 11:00:00",
        "where it stands": "Registered, awaiting activation",
        "LMS": "Moodle",
        "LMS address": "https://moodle.example.edu",
        "LMS version": "",
        "policy": "Self-service",
        "customer email": CUSTOMER_EMAIL,
        "organisation": "Springfield University",
        "platform name": "Springfield Moodle",
        "platform id": "Plat-1",
        "platform active": "no",
        "registered (UTC)": "2026-12-02 11:10:00",
        "payment": "paid",
        "amount": "49.00 EUR",
    }
    assert (canvas["where it stands"], canvas["policy"], canvas["customer email"]) == (
        "Choices saved, not registered yet",
        "Live approval",
        "",
    )
    assert (canvas["payment"], canvas["amount"], canvas["platform active"]) == ("pending", "", "")
    assert (sakai["LMS"], sakai["platform active"], sakai["payment"]) == ("Sakai", "deleted", "")
    assert sakai["where it stands"] == "Registered; its platform was deleted since"


def test_the_download_keeps_the_lists_filters_and_the_list_links_to_it_with_them(
    staff_browser: FlaskClient, registered_and_paid: dict[str, str]
) -> None:
    query = "?family=canvas&policy=live-approval"
    page = staff_browser.get(f"/admin/registrations/{query}").get_data(as_text=True)
    link = next(link for link in links_in(page) if "export.csv" in link)

    assert "Download every registration these filters keep as CSV" in page
    assert [row["registration"] for row in downloaded(staff_browser, link.split("export.csv", 1)[1])] == [
        registered_and_paid["canvas"]
    ]
    assert [row["registration"] for row in downloaded(staff_browser, "?q=springfield")] == [
        registered_and_paid["moodle"]
    ]
    assert downloaded(staff_browser, "?family=blackboard") == []


def test_a_long_download_is_read_in_batches_without_gaps_or_repeats(
    app: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(registration_export, "EXPORT_BATCH", 7)
    with app.app_context():
        db = get_session()
        made = [  # ten at each of three moments: batches end in the middle of equal timestamps
            add_registration(db, created_at=NOW - timedelta(minutes=number // 10)).public_id
            for number in range(30)
        ]
        db.commit()
        lines = list(registration_export.csv_lines(db, Filters()))

    exported = [next(csv.reader([line])) for line in lines[1:]]
    newest_first = [
        as_exported(public_id) for group in (0, 10, 20) for public_id in reversed(made[group : group + 10])
    ]
    assert [row[0] for row in exported] == newest_first


def test_what_a_spreadsheet_would_run_as_a_formula_is_made_inert(
    app: Flask, staff_browser: FlaskClient
) -> None:
    formula = '=HYPERLINK("https://evil.example","Click")'
    hostile = create_user(app, "it@evil.example", organisation=f"+{formula}")
    with app.app_context():
        db = get_session()
        add_registration(db, platform_name=formula, customer=db.merge(hostile))
        db.commit()

    (row,) = downloaded(staff_browser)

    assert row["platform name"] == f"'{formula}"
    assert row["organisation"] == f"'+{formula}"


def test_each_download_is_recorded_in_the_audit_trail_with_its_filters(
    app: Flask, staff_browser: FlaskClient, registered_and_paid: dict[str, str]
) -> None:
    downloaded(staff_browser, "?state=completed&q=moodle")

    with app.app_context():
        (event,) = get_session().scalars(
            select(AuditEvent).where(AuditEvent.action == "registrations:exported")
        )
    assert event.actor == STAFF_EMAIL
    assert event.details == {"filters": {"state": "completed", "q": "moodle"}}


def test_bad_filters_download_nothing_and_say_why(staff_browser: FlaskClient) -> None:
    response = staff_browser.get("/admin/registrations/export.csv?since=yesterday&family=canvas")
    body = response.get_data(as_text=True)

    assert response.status_code == 400 and response.mimetype == "text/html"
    assert "Please correct the highlighted filters below." in body


def test_a_platform_renamed_since_it_was_registered_has_its_current_name_in_the_list_the_csv_and_its_page(
    app: Flask, staff_browser: FlaskClient, customer: User
) -> None:
    with app.app_context():
        db = get_session()
        registration = add_registration(
            db, state="completed", platform_name="Springfield Moodle", customer=customer, platform_id="Plat-1"
        )
        registration.platform_name = "Springfield District Moodle"  # renamed in the console, or at LTIAAS
        db.commit()
        public_id = registration.public_id

    found = staff_browser.get("/admin/registrations/?q=District").text
    (row,) = downloaded(staff_browser)
    page = staff_browser.get(f"/admin/registrations/{public_id}").text

    assert ">Springfield District Moodle</a>" in found and ">Springfield Moodle<" not in found
    assert row["platform name"] == "Springfield District Moodle"
    assert '<h1 id="page-heading">Springfield District Moodle</h1>' in page
    assert "“Springfield District Moodle”" in page
    choices_sent = page.split('id="choices-heading"')[1].split('id="approval-heading"')[0]
    assert "Springfield Moodle" in choices_sent  # the name chosen at registration, where history is shown
