"""The audit trail page and its CSV export: newest first, filtered by who, what, which registration
and when, paged; the CSV quoted properly and inert in spreadsheets (OWASP's CSV injection)."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime, timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from portal.admin.spreadsheet import neutralise
from portal.db import get_session
from portal.models import AuditEvent, Registration, utcnow
from tests.registration.helpers import links_in

STAFF = "staff@vendor.example"


def add_events(app: Flask, *events: dict) -> None:
    with app.app_context():
        db = get_session()
        for event in events:
            db.add(AuditEvent(**{"actor": "cli", "action": "user:created", "details": {}, **event}))
        db.commit()


def add_registration(app: Flask) -> tuple[int, str]:
    with app.app_context():
        db = get_session()
        # A fixed public id: a random one starting with "-" would be neutralised in the CSV (as it must).
        registration = Registration(
            public_id="trail-registration",
            ltiaas_registration_id="reg-trail",
            platform_url="https://moodle.example.edu",
            expires_at=utcnow(),
        )
        db.add(registration)
        db.commit()
        return registration.id, registration.public_id


def actions_on(browser: FlaskClient, query: str = "") -> list[str]:
    body = browser.get(f"/admin/audit/{query}").get_data(as_text=True)
    return [part.split('"', 1)[0] for part in body.split('class="trail-event" data-action="')[1:]]


def exported(browser: FlaskClient, query: str = "") -> list[list[str]]:
    response = browser.get(f"/admin/audit/export.csv{query}")
    assert response.status_code == 200 and response.is_streamed
    assert response.mimetype == "text/csv"
    assert response.headers["Content-Disposition"].startswith('attachment; filename="audit-trail-')
    return list(csv.reader(io.StringIO(response.get_data().decode("utf-8-sig"), newline="")))


def test_the_trail_is_newest_first_and_filtered_by_who_what_and_registration(
    app: Flask, staff_browser: FlaskClient
) -> None:
    registration_id, public_id = add_registration(app)
    add_events(
        app,
        {"action": "user:signed-in", "actor": "ops@vendor.example"},
        {"action": "state:reviewed", "actor": "lms-admin", "registration_id": registration_id},
        {"action": "user:disabled", "actor": STAFF},
        {"action": "username:odd", "actor": STAFF},
    )

    assert actions_on(staff_browser) == ["username:odd", "user:disabled", "state:reviewed", "user:signed-in"]
    assert actions_on(staff_browser, f"?actor={STAFF.upper()}") == ["username:odd", "user:disabled"]
    assert actions_on(staff_browser, "?action=user") == ["user:disabled", "user:signed-in"]
    assert actions_on(staff_browser, "?action=user:disabled") == ["user:disabled"]
    assert actions_on(staff_browser, "?action=user%25") == []  # a wildcard is only a character
    assert actions_on(staff_browser, f"?registration={public_id}") == ["state:reviewed"]
    assert actions_on(staff_browser, "?registration=unknown") == []
    assert f'href="/admin/audit/?registration={public_id}"' in staff_browser.get("/admin/audit/").get_data(
        as_text=True
    )


def test_sign_ins_and_sign_outs_can_be_hidden_and_the_choice_is_kept(
    app: Flask, staff_browser: FlaskClient
) -> None:
    add_events(
        app,
        {"action": "user:signed-in", "actor": "ops@vendor.example"},
        {"action": "user:disabled", "actor": STAFF},
        {"action": "user:signed-out", "actor": "ops@vendor.example"},
        {"action": "user:signed-up", "actor": "admin@school.example"},
    )

    hidden = "?without_sign_ins=y"
    assert actions_on(staff_browser, hidden) == ["user:signed-up", "user:disabled"]
    assert actions_on(staff_browser, f"{hidden}&action=user:signed-in") == []
    page = staff_browser.get(f"/admin/audit/{hidden}").get_data(as_text=True)
    (checkbox,) = re.findall(r'<input[^>]*name="without_sign_ins"[^>]*>', page)
    assert "checked" in checkbox
    export_link = next(link for link in links_in(page) if "export.csv" in link)
    assert "without_sign_ins=y" in export_link
    rows = exported(staff_browser, hidden)[1:]
    assert [row[2] for row in rows] == ["audit:exported", "user:signed-up", "user:disabled"]
    assert actions_on(staff_browser)[-4:] == [
        "user:signed-up",
        "user:signed-out",
        "user:disabled",
        "user:signed-in",
    ]


def test_the_trail_is_filtered_by_days(app: Flask, staff_browser: FlaskClient) -> None:
    day = datetime(2026, 11, 20, tzinfo=UTC)
    add_events(
        app,
        {"action": "user:a", "created_at": day - timedelta(seconds=1)},
        {"action": "user:b", "created_at": day},
        {"action": "user:c", "created_at": day + timedelta(hours=23, minutes=59)},
        {"action": "user:d", "created_at": day + timedelta(days=1)},
    )

    assert actions_on(staff_browser, "?since=2026-11-20&until=2026-11-20") == ["user:c", "user:b"]
    assert actions_on(staff_browser, "?since=2026-11-21") == ["user:d"]
    assert actions_on(staff_browser, "?until=2026-11-19") == ["user:a"]


@pytest.mark.parametrize(
    ("query", "error"),
    [
        ("?since=yesterday", "Not a valid date value."),
        ("?since=2026-11-20&until=2026-11-19", "Choose a day on or after the first one."),
    ],
)
def test_a_bad_date_says_why_and_keeps_what_was_typed(
    staff_browser: FlaskClient, query: str, error: str
) -> None:
    for page in ("/admin/audit/", "/admin/audit/export.csv"):
        response = staff_browser.get(f"{page}{query}&actor=cli")
        body = response.get_data(as_text=True)
        assert response.status_code == 400 and error in body and 'value="cli"' in body


def test_the_trail_is_paged_fifty_events_at_a_time(app: Flask, staff_browser: FlaskClient) -> None:
    add_events(app, *({"action": f"user:n{number:03d}"} for number in range(120)))

    first = staff_browser.get("/admin/audit/").get_data(as_text=True)
    older_link = next(link for link in links_in(first) if "before=" in link)
    second = staff_browser.get(older_link).get_data(as_text=True)
    third = staff_browser.get(next(link for link in links_in(second) if "before=" in link)).get_data(
        as_text=True
    )
    back = staff_browser.get(next(link for link in links_in(third) if "after=" in link)).get_data(
        as_text=True
    )

    def shown(body: str) -> list[str]:
        return [part.split('"', 1)[0] for part in body.split('data-action="')[1:]]

    assert shown(first) == [f"user:n{n:03d}" for n in range(119, 69, -1)]
    assert shown(second) == [f"user:n{n:03d}" for n in range(69, 19, -1)]
    assert shown(third) == [f"user:n{n:03d}" for n in range(19, -1, -1)] and 'id="older-page"' not in third
    assert shown(back) == shown(second)
    assert 'id="newer-page"' not in first


def test_the_export_has_every_filtered_event_quoted_with_its_details(
    app: Flask, staff_browser: FlaskClient
) -> None:
    registration_id, public_id = add_registration(app)
    add_events(
        app,
        {
            "action": "state:reviewed",
            "actor": "lms-admin",
            "registration_id": registration_id,
            "from_state": "received",
            "to_state": "reviewed",
            "details": {"choices": {"platformName": 'A "quoted", name\nwith a line'}},
        },
        {"action": "user:signed-in", "actor": "ops@vendor.example"},
    )

    everything = exported(staff_browser)
    one = exported(staff_browser, f"?registration={public_id}")

    assert everything[0] == [
        "time (UTC)",
        "actor",
        "action",
        "registration",
        "from state",
        "to state",
        "details",
    ]
    # The export is in the trail before it is read, so it lists itself.
    assert [row[2] for row in everything[1:]] == ["audit:exported", "user:signed-in", "state:reviewed"]
    (_, row) = one
    assert row[1:6] == ["lms-admin", "state:reviewed", public_id, "received", "reviewed"]
    assert row[6] == '{"choices": {"platformName": "A \\"quoted\\", name\\nwith a line"}}'


def test_the_export_streams_a_long_trail_in_batches(app: Flask, staff_browser: FlaskClient) -> None:
    add_events(app, *({"action": f"user:n{number:04d}"} for number in range(1203)))

    rows = exported(staff_browser, "?action=user")

    assert app.extensions["db_engine"].pool.checkedout() == 0  # the streaming session was closed

    assert len(rows) == 1 + 1203
    assert [row[2] for row in rows[1:]] == [f"user:n{n:04d}" for n in range(1202, -1, -1)]


@pytest.mark.parametrize("trigger", ["=", "+", "-", "@", "\t", "\r", "\n"])
def test_a_cell_a_spreadsheet_would_run_as_a_formula_is_made_inert(trigger: str) -> None:
    assert (
        neutralise(f'{trigger}HYPERLINK("https://evil.example")')
        == f'\'{trigger}HYPERLINK("https://evil.example")'
    )


@pytest.mark.parametrize(
    "cell", ["staff@vendor.example", "user:created", "2026-11-20 10:00:00", "", "'quoted"]
)
def test_ordinary_cells_are_left_alone(cell: str) -> None:
    assert neutralise(cell) == cell


@pytest.mark.parametrize("trigger", ["=", "+", "-", "@", "\t", "\r"])
def test_the_export_neutralises_formulas_in_every_column(
    app: Flask, staff_browser: FlaskClient, trigger: str
) -> None:
    add_events(app, {"actor": f"{trigger}cmd|' /C calc'!A0", "action": f"{trigger}SUM(1+1)", "details": {}})
    with app.app_context():
        db = get_session()
        event = db.scalars(select(AuditEvent)).one()
        event.details = {}  # empty details stay an empty cell
        db.commit()

    (row,) = [row for row in exported(staff_browser)[1:] if row[2] != "audit:exported"]

    assert row[1] == f"'{trigger}cmd|' /C calc'!A0" and row[2] == f"'{trigger}SUM(1+1)"
    assert row[6] == ""


def test_exporting_is_itself_in_the_trail(app: Flask, staff_browser: FlaskClient) -> None:
    exported(staff_browser, "?actor=cli")

    with app.app_context():
        (event,) = get_session().scalars(select(AuditEvent)).all()
        assert (event.action, event.actor, event.details) == (
            "audit:exported",
            STAFF,
            {"filters": {"actor": "cli"}},
        )
