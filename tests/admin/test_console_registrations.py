"""The staff's list of every registration (filters, search, keyset pages) and one registration's page."""

from __future__ import annotations

from datetime import date, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from portal.admin import registration_list
from portal.admin.registration_list import Filters, ListPage, list_registrations
from portal.db import get_session
from portal.models import Registration, User, record_event
from tests.accounts import create_user
from tests.admin.console_helpers import NOW, add_approval, add_payment, add_registration
from tests.registration.helpers import configured_by

LONG = timedelta(days=365)


def listed(db: Session, **filters: object) -> list[str]:
    """Platform names (or LMS addresses) of the first page for `filters`, newest first."""
    page = list_registrations(db, Filters(**filters), now=NOW)  # type: ignore[arg-type]
    return [row.registration.shown_platform_name or row.registration.platform_url for row in page.rows]


@pytest.fixture
def mix(app: Flask, customer: User) -> User:
    """Registrations of several families, policies, states and customers; returns the other customer."""
    with app.app_context():
        db = get_session()
        other = create_user(app, "it@shelbyville.example", organisation="Shelbyville College")
        other = db.merge(other)
        add_registration(
            db,
            created_at=NOW - timedelta(hours=1),
            state="completed",
            platform_name="Springfield Moodle",
            customer=customer,
            platform_id="Plat-1",
        )
        add_registration(
            db,
            created_at=NOW - timedelta(hours=2),
            state="reviewed",
            family="canvas",
            url="https://shelbyville.instructure.com",
            platform_name="Shelbyville Canvas",
            policy="live-approval",
            customer=other,
            lifetime=LONG,
        )
        add_registration(
            db,
            created_at=NOW - timedelta(days=3),
            state="failed",
            family="sakai",
            url="https://sakai.example.org",
            platform_name="100%_Sakai",
            policy="review-later",
            customer=customer,
        )
        add_registration(
            db,
            created_at=NOW - timedelta(days=9),
            state="expired",
            family="other",
            url="https://lms.ogdenville.example",
            policy=None,
        )
        db.commit()
        return other


def test_the_list_is_newest_first_and_filters_by_state_family_policy_customer_and_dates(
    app: Flask, mix: User, customer: User
) -> None:
    with app.app_context():
        db = get_session()
        assert listed(db) == [
            "Springfield Moodle",
            "Shelbyville Canvas",
            "100%_Sakai",
            "https://lms.ogdenville.example",
        ]
        assert listed(db, state="completed") == ["Springfield Moodle"]
        assert listed(db, state="reviewed") == ["Shelbyville Canvas"]
        assert listed(db, state="expired") == ["https://lms.ogdenville.example"]
        assert listed(db, family="sakai") == ["100%_Sakai"]
        assert listed(db, family="other") == ["https://lms.ogdenville.example"]
        assert listed(db, policy="live-approval") == ["Shelbyville Canvas"]
        assert listed(db, policy="unrecorded") == ["https://lms.ogdenville.example"]
        assert listed(db, customer=customer.email) == ["Springfield Moodle", "100%_Sakai"]
        assert listed(db, customer=mix.email) == ["Shelbyville Canvas"]
        assert listed(db, customer="nobody@nowhere.example") == []
        assert listed(db, since=date(2026, 11, 29)) == [
            "Springfield Moodle",
            "Shelbyville Canvas",
            "100%_Sakai",
        ]
        assert listed(db, until=date(2026, 11, 29)) == ["100%_Sakai", "https://lms.ogdenville.example"]
        assert listed(db, since=date(2026, 11, 29), until=date(2026, 11, 29)) == ["100%_Sakai"]
        assert listed(db, state="completed", family="canvas") == []


@pytest.mark.parametrize(
    ("words", "expected"),
    [
        ("SHELBYVILLE.instructure", ["Shelbyville Canvas"]),  # the LMS address, any case
        ("shelbyville.example", ["Shelbyville Canvas"]),  # the customer's email
        ("springfield.edu", ["Springfield Moodle", "100%_Sakai"]),
        ("moodle", ["Springfield Moodle"]),  # the platform name (and the address)
        ("100%_", ["100%_Sakai"]),  # % and _ are letters here, not wildcards
        ("%", ["100%_Sakai"]),
        ("Plat-1", ["Springfield Moodle"]),  # a platform id
        ("nothing like it", []),
    ],
)
def test_search_finds_words_in_the_address_the_customers_email_and_the_platform_name(
    app: Flask, mix: User, words: str, expected: list[str]
) -> None:
    with app.app_context():
        assert listed(get_session(), q=words) == expected


@pytest.mark.parametrize("words", ["Ü", "ünïcødé", "ACADÉMIE", "école.example"])
def test_search_ignores_the_case_of_letters_beyond_ascii_on_every_database(app: Flask, words: str) -> None:
    with app.app_context():
        db = get_session()
        add_registration(db, platform_name="Ünïcødé Académie", url="https://ÉCOLE.example/moodle")
        add_registration(db, platform_name="Springfield Moodle")
        db.commit()

        assert listed(db, q=words) == ["Ünïcødé Académie"]


@pytest.fixture
def many(app: Flask) -> list[str]:
    """120 registrations (their public ids, newest first); 7 share one instant across page 1's edge."""
    with app.app_context():
        db = get_session()
        made: list[Registration] = []
        for index in range(120):
            created = NOW - timedelta(minutes=index) if not 46 <= index <= 52 else NOW - timedelta(minutes=46)
            made.append(add_registration(db, created_at=created, url=f"https://lms{index}.example.edu"))
        db.commit()
        return [r.public_id for r in sorted(made, key=lambda r: (r.created_at, r.id), reverse=True)]


def ids(page: ListPage) -> list[str]:
    return [row.registration.public_id for row in page.rows]


def test_pages_of_50_follow_each_other_without_gaps_or_repeats_even_across_equal_timestamps(
    app: Flask, many: list[str]
) -> None:
    with app.app_context():
        db = get_session()
        first = list_registrations(db, Filters(), now=NOW)
        second = list_registrations(db, Filters(), after=first.older, now=NOW)
        third = list_registrations(db, Filters(), after=second.older, now=NOW)

        assert ids(first) + ids(second) + ids(third) == many
        assert (len(first.rows), len(second.rows), len(third.rows)) == (50, 50, 20)
        assert first.newer is None and first.older == many[49]
        assert second.newer == many[50] and second.older == many[99]
        assert third.newer == many[100] and third.older is None

        back = list_registrations(db, Filters(), before=third.newer, now=NOW)
        assert ids(back) == ids(second) and back.newer == second.newer and back.older == second.older
        back_to_first = list_registrations(db, Filters(), before=second.newer, now=NOW)
        assert ids(back_to_first) == ids(first) and back_to_first.newer is None


def test_a_cursor_that_names_no_registration_shows_the_first_page(app: Flask, many: list[str]) -> None:
    with app.app_context():
        page = list_registrations(get_session(), Filters(), after="no-such-id", now=NOW)
    assert page.stale_cursor and ids(page) == many[:50]


def test_pages_keep_their_filters(app: Flask, staff_browser: FlaskClient) -> None:
    with app.app_context():
        db = get_session()
        for index in range(70):
            family = "canvas" if index % 7 else "moodle"
            add_registration(
                db,
                created_at=NOW - timedelta(minutes=index),
                family=family,
                url=f"https://school{index}.example.edu",
            )
        db.commit()

    def rows_and_links(url: str) -> tuple[int, dict[str, dict[str, list[str]]]]:
        response = staff_browser.get(url)
        assert response.status_code == 200
        body = response.get_data(as_text=True)
        links = {}
        for name in ("page-older", "page-newer", "page-newest"):
            if f'id="{name}"' in body:
                href = (
                    body.split(f'id="{name}"')[0].rsplit('href="', 1)[1].split('"')[0].replace("&amp;", "&")
                )
                links[name] = parse_qs(urlsplit(href).query)
        return body.count('class="registration-row"'), links

    count, links = rows_and_links("/admin/registrations/?family=canvas&q=SCHOOL")
    assert count == 50 and set(links) == {"page-older"}
    assert links["page-older"]["family"] == ["canvas"] and links["page-older"]["q"] == ["SCHOOL"]

    query = "&".join(f"{key}={values[0]}" for key, values in links["page-older"].items())
    count, links = rows_and_links(f"/admin/registrations/?{query}")
    assert count == 10 and set(links) == {"page-newer", "page-newest"}
    assert links["page-newer"]["family"] == ["canvas"] and "before" in links["page-newer"]
    assert links["page-newest"] == {"family": ["canvas"], "q": ["SCHOOL"]}


def test_bad_filters_are_explained_and_kept(staff_browser: FlaskClient) -> None:
    response = staff_browser.get(
        "/admin/registrations/?state=sideways&since=yesterday&customer=not-an-email&q=kept"
    )
    body = response.get_data(as_text=True)
    assert response.status_code == 400
    assert 'id="filter-errors"' in body
    assert "Not a valid choice" in body and "Not a valid date value" in body
    assert "Enter an email address like name@example.edu." in body
    assert 'value="kept"' in body and 'value="not-an-email"' in body
    assert 'id="registration-list"' not in body

    backwards = staff_browser.get("/admin/registrations/?since=2026-12-02&until=2026-12-01")
    assert backwards.status_code == 400
    assert "must not be before its start" in backwards.get_data(as_text=True)


def test_the_list_shows_where_each_stands_and_who_worked_on_it(
    app: Flask, staff_browser: FlaskClient, customer: User
) -> None:
    with app.app_context():
        db = get_session()
        asked = add_registration(
            db, state="reviewed", platform_name="Asked for", customer=customer, lifetime=LONG
        )
        add_approval(db, asked, customer)
        paid = add_registration(
            db, created_at=NOW - timedelta(hours=1), state="failed", platform_name="Paid for"
        )
        add_payment(db, paid, user=customer)
        db.commit()
    body = staff_browser.get("/admin/registrations/").get_data(as_text=True)
    assert "Waiting for approval" in body and "Not registered (failed)" in body
    assert customer.email in body and ">Paid<" in body
    assert f'href="/admin/registrations/{asked.public_id}"' in body


def test_a_registrations_page_shows_the_lms_the_choices_the_approval_the_payment_and_the_trail(
    app: Flask, staff_browser: FlaskClient, customer: User
) -> None:
    with app.app_context():
        db = get_session()
        registration = add_registration(
            db,
            state="failed",
            platform_name="Springfield Moodle",
            customer=customer,
            policy="live-approval",
            last_error="LTIAAS refused the registration: nope",
        )
        add_approval(db, registration, customer, state="approved")
        add_payment(db, registration, user=customer)
        record_event(
            db,
            "received",
            "lms-admin",
            registration,
            details={"url": "https://moodle.example.edu"},
            to_state="received",
        )
        record_event(
            db,
            "state:failed",
            "staff@vendor.example",
            registration,
            details={"error": "LTIAAS refused <b>it</b>", "choices": {"platformName": "x"}, "ok": True},
            from_state="completing",
            to_state="failed",
        )
        db.commit()
    body = staff_browser.get(f"/admin/registrations/{registration.public_id}").get_data(as_text=True)

    assert '<h1 id="page-heading">Springfield Moodle</h1>' in body
    assert "https://moodle.example.edu" in body
    assert 'id="summary-platform-name">Springfield Moodle</dd>' in body
    assert "Live approval" in body and customer.email in body
    assert 'id="approval-state">approved' in body
    assert 'id="payment-status">paid' in body and "49.00" in body and "pi_" in body
    assert "LTIAAS refused the registration: nope" in body
    trail = body.split('id="audit-trail"')[1]
    assert trail.index("state:failed") < trail.index("received")  # newest first
    assert "LTIAAS refused &lt;b&gt;it&lt;/b&gt;" in trail  # escaped
    assert '{"platformName": "x"}' in trail.replace("&#34;", '"') and "<dd>yes</dd>" in trail
    assert 'id="settle"' not in body  # a definite failure: nothing to settle


def test_an_unknown_registration_is_not_found(staff_browser: FlaskClient) -> None:
    assert staff_browser.get("/admin/registrations/nope").status_code == 404


def test_the_customer_is_the_account_that_saved_the_choices_and_the_policy_the_one_in_force(
    app: Flask, ltiaas: object, customer_browser: FlaskClient, customer: User
) -> None:
    app.config.update(APPROVAL_POLICY="review-later", WTF_CSRF_ENABLED=False)
    public_id = configured_by(customer_browser)
    with app.app_context():
        db = get_session()
        registration = db.query(Registration).filter_by(public_id=public_id).one()
        assert registration.customer_id == customer.id
        assert registration.policy == "review-later"
        assert registration.family == "moodle"


@pytest.mark.parametrize("matching", [range(0, 30), range(0, 30, 2), [3, 17, 28], [29], []])
def test_a_search_finds_the_same_page_whether_its_words_are_common_or_rare(
    app: Flask, monkeypatch: pytest.MonkeyPatch, matching: range | list[int]
) -> None:
    """Searches look among the newest rows first (the window), then everywhere: same answer either way."""
    monkeypatch.setattr(registration_list, "SEARCH_WINDOW", 5)
    with app.app_context():
        db = get_session()
        made = [
            add_registration(
                db,
                created_at=NOW - timedelta(minutes=index // 2),  # pairs share an instant
                url=f"https://{'needle' if index in matching else 'hay'}{index}.example.edu",
            )
            for index in range(30)
        ]
        db.commit()
        newest_first = sorted(made, key=lambda r: (r.created_at, r.id), reverse=True)
        expected = [r.public_id for r in newest_first if "needle" in r.platform_url]
        forwards, page = [], list_registrations(db, Filters(q="NEEDLE"), now=NOW, page_size=4)
        forwards.append(ids(page))
        while page.older is not None:
            page = list_registrations(db, Filters(q="NEEDLE"), after=page.older, now=NOW, page_size=4)
            forwards.append(ids(page))
        backwards = [ids(page)]
        while page.newer is not None:
            page = list_registrations(db, Filters(q="NEEDLE"), before=page.newer, now=NOW, page_size=4)
            backwards.insert(0, ids(page))
    assert [found for one in forwards for found in one] == expected
    assert backwards == forwards


def test_a_registrations_page_links_to_the_stripe_receipt_when_one_is_stored(
    app: Flask, staff_browser: FlaskClient, customer: User
) -> None:
    receipt = "https://pay.stripe.com/receipts/payment/CAcaFwoVYWNjdF8xRXhhbXBsZQ"
    with app.app_context():
        db = get_session()
        with_receipt = add_registration(db, state="completed", customer=customer)
        add_payment(db, with_receipt, user=customer).receipt_url = receipt
        without = add_registration(db, state="completed", customer=customer)
        add_payment(db, without, user=customer)
        db.commit()

    shown = staff_browser.get(f"/admin/registrations/{with_receipt.public_id}").get_data(as_text=True)
    not_shown = staff_browser.get(f"/admin/registrations/{without.public_id}").get_data(as_text=True)

    assert f'<a id="payment-receipt" href="{receipt}" target="_blank" rel="noopener">' in shown
    assert 'id="payment-receipt"' not in not_shown


def test_platforms_to_activate_are_the_registered_ones_still_inactive_and_not_deleted(app: Flask) -> None:
    with app.app_context():
        db = get_session()
        for name, active in (("Waiting", False), ("Active", True), ("Not known", None), ("Gone", False)):
            registration = add_registration(
                db, state="completed", platform_name=name, platform_id=name, platform_active=active
            )
        registration.platform_deleted_at = NOW  # the last one: its platform was deleted at LTIAAS
        db.commit()

        assert listed(db, state="awaiting-activation") == ["Waiting"]


def test_a_platform_deactivated_after_it_was_active_is_not_one_to_activate(app: Flask) -> None:
    with app.app_context():
        db = get_session()
        waiting = add_registration(db, state="completed", platform_name="Waiting", platform_id="P-1")
        waiting.platform_active = False  # registered inactive (review-later): never active yet
        switched_off = add_registration(
            db, state="completed", platform_name="Switched off", platform_id="P-2"
        )
        switched_off.platform_active = True  # registered active, then a staff member deactivated it
        switched_off.platform_active = False
        db.commit()

        assert listed(db, state="awaiting-activation") == ["Waiting"]
        assert listed(db, state="deactivated") == ["Switched off"]
        assert registration_list.standing_label(switched_off, None) == "Registered, deactivated since"
        assert registration_list.standing_label(waiting, None) == "Registered, awaiting activation"
