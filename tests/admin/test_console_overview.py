"""The console's front page: how the registrations received today, this week and all time stand now,
and a chart of registrations per week by LMS family."""

from __future__ import annotations

import re
from datetime import date, timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient

from portal.admin.overview import counts, weekly_chart
from portal.admin.registration_list import Filters, list_registrations
from portal.db import get_session
from portal.models import User
from tests.admin.console_helpers import NOW, add_approval, add_payment, add_registration

DAY = timedelta(days=1)
LONG = timedelta(days=365)  # alive long past NOW


@pytest.fixture
def week_of_registrations(app: Flask, customer: User) -> None:
    """Registrations received today (Wednesday), earlier this week, last week and in October."""
    with app.app_context():
        db = get_session()
        waiting = add_registration(db, created_at=NOW - timedelta(minutes=30), state="reviewed")
        add_approval(db, waiting, customer)
        add_registration(
            db, created_at=NOW - timedelta(hours=3), state="completed", family="canvas", platform_active=False
        )
        failed_paid = add_registration(db, created_at=NOW - 2 * DAY, state="failed", family="sakai")
        add_payment(db, failed_paid, user=customer)
        add_registration(db, created_at=NOW - 2 * DAY, state="expired")
        add_registration(db, created_at=NOW - DAY, state="received", family="other")  # open, past its hour
        completed_paid = add_registration(db, created_at=NOW - 7 * DAY, state="completed", lifetime=LONG)
        add_payment(db, completed_paid, user=customer)
        refunded = add_registration(db, created_at=NOW - 7 * DAY, state="failed", family="canvas")
        add_payment(db, refunded, user=customer, refunded=True)
        stale = add_registration(db, created_at=NOW - 53 * DAY, state="reviewed")  # its request outlived it
        add_approval(db, stale, customer)
        add_registration(db, created_at=NOW - 120 * DAY, state="completed")  # before the chart's weeks
        db.commit()


def test_each_period_counts_the_registrations_received_in_it_by_where_they_stand_now(
    app: Flask, week_of_registrations: None
) -> None:
    with app.app_context():
        found = {c.period.key: (c.received, c.by_standing) for c in counts(get_session(), NOW)}

    def standing(
        waiting: int, paid: int, completed: int, inactive: int, failed: int, expired: int
    ) -> dict[str, int]:
        return {
            "waiting": waiting,
            "outcome-unknown": 0,
            "paid-not-registered": paid,
            "completed": completed,
            "awaiting-activation": inactive,
            "failed": failed,
            "expired": expired,
        }

    assert found == {
        "today": (2, standing(waiting=1, paid=0, completed=1, inactive=1, failed=0, expired=0)),
        "week": (5, standing(waiting=1, paid=1, completed=1, inactive=1, failed=1, expired=2)),
        "all": (9, standing(waiting=1, paid=1, completed=3, inactive=1, failed=2, expired=3)),
    }


def test_every_count_is_the_length_of_the_list_it_links_to(app: Flask, week_of_registrations: None) -> None:
    with app.app_context():
        db = get_session()
        for period in counts(db, NOW):
            everything = list_registrations(db, Filters(since=period.period.since), now=NOW)
            assert len(everything.rows) == period.received
            for slug, count in period.by_standing.items():
                listed = list_registrations(db, Filters(state=slug, since=period.period.since), now=NOW)
                assert len(listed.rows) == count, (period.period.key, slug)


def test_the_chart_counts_each_week_by_family_from_monday(app: Flask, week_of_registrations: None) -> None:
    with app.app_context():
        chart = weekly_chart(get_session(), NOW)

    this_week, last_week = date(2026, 11, 30), date(2026, 11, 23)
    assert len(chart.weeks) == 12 and chart.weeks[-1] == this_week and chart.weeks[0] == date(2026, 9, 14)
    assert chart.table[this_week] == {"moodle": 2, "canvas": 1, "sakai": 1, "other": 1}
    assert chart.table[last_week] == {"moodle": 1, "canvas": 1}
    assert chart.table[date(2026, 10, 5)] == {"moodle": 1}
    assert chart.grand_total == 8  # the one from 120 days ago is before the chart
    assert [slug for slug, _ in chart.families] == ["moodle", "canvas", "sakai", "other"]
    tallest = chart.bars[-1]
    assert tallest.total == 5 and sum(segment.count for segment in tallest.segments) == 5
    assert tallest.segments[-1].y == pytest.approx(
        chart.plot_bottom - 5 * (chart.plot_bottom - chart.plot_top) / chart.top
    )


def test_the_overview_page_shows_the_counts_the_chart_and_its_numbers(
    app: Flask, staff_browser: FlaskClient, week_of_registrations: None
) -> None:
    body = staff_browser.get("/admin/").get_data(as_text=True)

    assert 'data-page="admin-overview"' in body
    assert re.search(r'data-standing="received">\s*<th scope="row">Received</th>', body)
    assert 'href="/admin/registrations/?state=outcome-unknown"' in body
    assert 'href="/admin/registrations/?state=awaiting-activation" id="to-activate"' in body
    with app.app_context():  # what waits depends on the clock (a request outlives its hour)
        all_time = counts(get_session())[-1].by_standing
    shortcuts = body.split('class="console-shortcuts"', 1)[1].split("</p>", 1)[0]
    assert f'Approval requests <span class="count">({all_time["waiting"]} waiting)</span>' in shortcuts
    assert f'Outcomes to settle <span class="count">({all_time["outcome-unknown"]})</span>' in shortcuts
    assert 'Platforms to activate <span class="count">(1)</span>' in shortcuts  # the Canvas one
    assert 'href="/admin/approvals/"' in body and 'href="/admin/payments/"' in body
    assert '<svg viewBox="0 0 640 240" role="img" aria-labelledby="chart-title chart-desc"' in body
    assert '<title id="chart-title">Registrations per week by LMS' in body
    assert re.search(r'<desc id="chart-desc">\d+ registrations in 12 weeks; Moodle: \d+', body)
    assert '<table class="console-table" id="weekly-table">' in body
    assert "<script" not in body.split("</main>")[0]  # drawn on the server, no chart library


def test_with_nothing_received_the_overview_says_so(staff_browser: FlaskClient) -> None:
    body = staff_browser.get("/admin/").get_data(as_text=True)
    assert 'id="chart-empty"' in body
    assert '<td class="number" data-period="all">' in body
