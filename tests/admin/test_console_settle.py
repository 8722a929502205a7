"""A staff member settles a registration whose outcome was unknown: looks LTIAAS up (over real HTTP,
against a scriptable LTIAAS), then records it as registered with the platform found, or as not registered."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from portal.admin import settling
from portal.admin.settling import NOT_REGISTERED, Settled, last_lookup, look_up, needs_settling
from portal.billing import attention
from portal.db import get_session
from portal.ltiaas import LtiaasClient
from portal.models import (
    AuditEvent,
    InvalidTransition,
    Registration,
    RegistrationState,
    User,
    settle_outcome,
    transition,
    utcnow,
)
from portal.registration.lifecycle import STALE_COMPLETION, raise_if_closed
from portal.registration.problems import RegistrationProblem
from tests.admin.console_helpers import MOODLE, add_payment, add_registration
from tests.fakes.ltiaas import FakeLtiaas, ltiaas_error
from tests.registration.helpers import csrf_token_in, ltiaas_moved_to

STAFF = "staff@vendor.example"
SENT_NAME = "Springfield Moodle"


@pytest.fixture
def earlier(ltiaas: FakeLtiaas) -> dict[str, Any]:
    """A platform LTIAAS already held for the Moodle when the registration arrived."""
    return ltiaas.add_platform("Springfield (2025)", url=MOODLE)


@pytest.fixture
def unknown(app: Flask, customer: User, earlier: dict[str, Any]) -> Registration:
    """A paid registration whose completion never settled: failed with an unknown outcome."""
    with app.app_context():
        db = get_session()
        registration = add_registration(
            db,
            created_at=utcnow() - timedelta(minutes=20),
            state="failed",
            platform_name=SENT_NAME,
            customer=customer,
            last_error=STALE_COMPLETION,
            problem="outcome_unknown",
            known_platforms=[{key: earlier[key] for key in ("id", "name", "clientId", "active")}],
        )
        add_payment(db, registration, user=customer)
        db.commit()
        return registration


def reloaded(app: Flask, registration: Registration) -> Registration:
    with app.app_context():
        found = get_session().get(Registration, registration.id)
        assert found is not None
        return found


def events(app: Flask, registration: Registration, prefix: str = "outcome:") -> list[tuple[str, str, dict]]:
    with app.app_context():
        found = get_session().scalars(
            select(AuditEvent).where(AuditEvent.registration_id == registration.id).order_by(AuditEvent.id)
        )
        return [(e.action, e.actor, e.details) for e in found if e.action.startswith(prefix)]


def other_registration_with(app: Flask, platform_id: str) -> str:
    with app.app_context():
        db = get_session()
        other = add_registration(db, state="completed", platform_id=platform_id, url=MOODLE)
        db.commit()
        return other.public_id


# Which registrations can be settled


@pytest.mark.parametrize(
    ("state", "problem", "minutes_since_touched", "expected"),
    [
        ("failed", "outcome_unknown", 1, True),  # interrupted, or an answer nobody could read
        ("failed", "already_used", 1, True),  # a retry: LTIAAS says a lost attempt used it
        ("failed", "refused", 1, False),  # LTIAAS said no: known
        ("failed", "lms_refused", 1, False),
        ("failed", "not_registered", 1, False),  # settled already
        ("completing", None, 30, True),  # stuck: no call lasts that long
        ("completing", None, 0, False),  # a call may be in flight
        ("completed", None, 30, False),
        ("expired", None, 30, False),
    ],
)
def test_what_needs_settling(
    app: Flask, state: str, problem: str | None, minutes_since_touched: int, expected: bool
) -> None:
    with app.app_context():
        db = get_session()
        touched = utcnow() - timedelta(minutes=minutes_since_touched)
        registration = add_registration(
            db, state=state, problem=problem, created_at=touched, updated_at=touched
        )
        db.commit()
        assert needs_settling(registration) is expected
        found = db.scalars(select(Registration.id).where(settling.needs_settling_clause())).all()
        assert (registration.id in found) is expected


@pytest.mark.parametrize("state", ["received", "reviewed", "completed", "expired"])
def test_only_an_unknown_outcome_can_be_settled_and_failed_stays_final_otherwise(
    app: Flask, state: str
) -> None:
    with app.app_context():
        db = get_session()
        registration = add_registration(db, state=state)
        for new_state in (RegistrationState.COMPLETED, RegistrationState.FAILED):
            with pytest.raises(InvalidTransition):
                settle_outcome(db, registration, new_state, STAFF, action="outcome:registered")
        failed = add_registration(db, state="failed", problem="outcome_unknown")
        with pytest.raises(InvalidTransition):
            settle_outcome(db, failed, RegistrationState.REVIEWED, STAFF, action="outcome:registered")
        with pytest.raises(InvalidTransition):
            transition(db, failed, RegistrationState.COMPLETED, STAFF)


# Looking LTIAAS up


def client(app: Flask) -> LtiaasClient:
    return app.extensions["ltiaas"]


def test_a_lookup_lists_the_platforms_new_since_receipt_and_stores_them(
    app: Flask, ltiaas: FakeLtiaas, unknown: Registration, earlier: dict[str, Any]
) -> None:
    new = ltiaas.add_platform(SENT_NAME, url=MOODLE, active=False)
    other = ltiaas.add_platform("Springfield too", url=MOODLE)
    ltiaas.add_platform("Shelbyville", url="https://shelbyville.example.edu")  # another LMS
    taken_by = other_registration_with(app, other["id"])
    with app.app_context():
        db = get_session()
        registration = db.get(Registration, unknown.id)
        assert registration is not None
        assert look_up(db, client(app), registration, STAFF) is None
        lookup = last_lookup(db, registration)

    assert ltiaas.operations() == ["list_platforms"] and ltiaas.last.query == {"url": [MOODLE]}
    assert (
        lookup is not None and lookup.by == STAFF and not lookup.shared_issuer and not lookup.baseline_missing
    )
    found = {platform.id: platform for platform in lookup.platforms}
    assert set(found) == {new["id"], other["id"]}  # the earlier one was there when it arrived
    assert (found[new["id"]].created, found[new["id"]].name_matches, found[new["id"]].active) == (
        True,
        True,
        False,
    )
    assert (found[other["id"]].created, found[other["id"]].taken_by) == (False, taken_by)
    assert lookup.candidates == (found[new["id"]],)
    assert reloaded(app, unknown).state == "failed"
    ((action, actor, details),) = events(app, unknown)
    assert (action, actor, details["created"]) == ("outcome:looked-up", STAFF, new["id"])
    assert earlier["id"] not in str(details)


def test_without_the_platforms_known_at_receipt_every_platform_of_the_address_is_listed(
    app: Flask, ltiaas: FakeLtiaas
) -> None:
    old, new = ltiaas.add_platform("Old", url=MOODLE), ltiaas.add_platform(SENT_NAME, url=MOODLE)
    with app.app_context():
        db = get_session()
        blind = add_registration(db, state="failed", problem="outcome_unknown", platform_name=SENT_NAME)
        db.commit()
        assert look_up(db, client(app), blind, STAFF) is None
        lookup = last_lookup(db, blind)
    assert lookup is not None and lookup.baseline_missing
    assert {found.id for found in lookup.platforms} == {old["id"], new["id"]}


FAILURES: dict[str, tuple[str, Any]] = {
    "down": ("could not be reached", None),
    "slow": ("did not answer in time", lambda fake: fake.time_out("list_platforms")),
    "refusing the key": ("refused the portal's API key", lambda fake: fake.fail("list_platforms", 401)),
    "refusing the request": (
        "refused the request (HTTP 400: bad url)",
        lambda fake: fake.fail("list_platforms", 400, ltiaas_error(400, "INVALID_PARAMETER", "bad url")),
    ),
    "failing": ("could not be reached", lambda fake: fake.fail("list_platforms", 503)),
    "answering nonsense": ("could not read", lambda fake: fake.reply(200, {"platforms": "none"})),
}


@pytest.mark.parametrize("failure", list(FAILURES))
def test_ltiaas_down_slow_or_refusing_at_the_lookup_changes_nothing_and_says_why(
    app: Flask, ltiaas: FakeLtiaas, unknown: Registration, failure: str, closed_url: str
) -> None:
    words, script = FAILURES[failure]
    if script is not None:
        script(ltiaas)
    with ltiaas_moved_to(app, closed_url if failure == "down" else ltiaas.url), app.app_context():
        db = get_session()
        registration = db.get(Registration, unknown.id)
        assert registration is not None
        problem = look_up(db, client(app), registration, STAFF)
        assert last_lookup(db, registration) is None

    assert problem is not None and words in problem and "nothing changed" in problem
    assert events(app, unknown) == []
    assert reloaded(app, unknown).state == "failed"


# Recording what was found


def settle_registered(app: Flask, registration: Registration, platform_id: str) -> settling.Decision:
    with app.app_context():
        db = get_session()
        fresh = db.get(Registration, registration.id)
        assert fresh is not None
        return settling.settle_registered(db, client(app), fresh, platform_id, STAFF)


def test_recording_it_registered_checks_the_platform_with_ltiaas_once_and_audits_it(
    app: Flask, ltiaas: FakeLtiaas, unknown: Registration
) -> None:
    new = ltiaas.add_platform(SENT_NAME, url=MOODLE)

    first = settle_registered(app, unknown, new["id"])
    again = settle_registered(app, unknown, new["id"])  # a double submit

    assert (first.outcome, again.outcome) == (Settled.REGISTERED, Settled.NOTHING_TO_SETTLE)
    assert ltiaas.operations() == ["get_platform"] and ltiaas.last.path == f"/api/platforms/{new['id']}"
    settled = reloaded(app, unknown)
    assert (settled.state, settled.platform_id, settled.last_error, settled.problem) == (
        "completed",
        new["id"],
        None,
        None,
    )
    assert settled.completed_at is not None
    ((action, actor, details),) = events(app, unknown)
    assert (action, actor) == ("outcome:registered", STAFF)
    assert details["platformId"] == new["id"] and details["unknownOutcome"] == "outcome_unknown"
    with app.app_context():
        db = get_session()
        event = db.scalar(select(AuditEvent).where(AuditEvent.action == "outcome:registered"))
        assert event is not None and (event.from_state, event.to_state) == ("failed", "completed")
        customer = db.get(User, settled.customer_id)
        assert customer is not None
        (paid,) = attention.customer_payments(db, customer)
        assert paid.standing is attention.Standing.REGISTERED


def test_two_staff_members_deciding_at_once_record_one_decision(
    app: Flask, ltiaas: FakeLtiaas, unknown: Registration
) -> None:
    new = ltiaas.add_platform(SENT_NAME, url=MOODLE)
    with app.app_context():
        makers = app.extensions["db_sessionmaker"]
        with makers() as one, makers() as two:
            seen_by_one, seen_by_two = one.get(Registration, unknown.id), two.get(Registration, unknown.id)
            assert seen_by_one is not None and seen_by_two is not None
            registered = settling.settle_registered(
                one, client(app), seen_by_one, new["id"], "one@vendor.example"
            )
            not_registered = settling.settle_not_registered(two, seen_by_two, "two@vendor.example")

    assert (registered.outcome, not_registered.outcome) == (Settled.REGISTERED, Settled.NOTHING_TO_SETTLE)
    assert reloaded(app, unknown).state == "completed"
    assert [action for action, _, _ in events(app, unknown)] == ["outcome:registered"]


@pytest.mark.parametrize(
    ("situation", "expected"),
    [
        ("at another address", Settled.PLATFORM_ELSEWHERE),
        ("unknown to LTIAAS", Settled.PLATFORM_NOT_FOUND),
        ("LTIAAS failing", Settled.LTIAAS_FAILED),
        ("LTIAAS refusing the key", Settled.LTIAAS_FAILED),
        ("another registration's", Settled.PLATFORM_TAKEN),
    ],
)
def test_a_platform_ltiaas_does_not_confirm_for_this_registration_is_not_recorded(
    app: Flask, ltiaas: FakeLtiaas, unknown: Registration, situation: str, expected: Settled
) -> None:
    url = "https://elsewhere.example.edu" if situation == "at another address" else MOODLE
    platform_id = ltiaas.add_platform(SENT_NAME, url=url)["id"]
    if situation == "unknown to LTIAAS":
        platform_id = "NoSuchPlatform1"
    elif situation == "LTIAAS failing":
        ltiaas.fail("get_platform", 503)
    elif situation == "LTIAAS refusing the key":
        ltiaas.fail("get_platform", 401)
    elif situation == "another registration's":
        other_registration_with(app, platform_id)

    decision = settle_registered(app, unknown, platform_id)

    assert decision.outcome is expected
    if expected is Settled.LTIAAS_FAILED:
        assert decision.detail is not None and "nothing changed" in decision.detail
    assert (reloaded(app, unknown).state, reloaded(app, unknown).platform_id) == ("failed", None)
    assert events(app, unknown) == []


def test_recording_it_not_registered_fails_it_for_good_and_a_paid_one_is_due_a_refund(
    app: Flask, unknown: Registration
) -> None:
    with app.app_context():
        db = get_session()
        registration = db.get(Registration, unknown.id)
        assert registration is not None
        first = settling.settle_not_registered(db, registration, STAFF)
        again = settling.settle_not_registered(db, registration, STAFF)
        (item,) = attention.needing_attention(db)
        with pytest.raises(RegistrationProblem) as problem:
            raise_if_closed(db, registration)  # what the LMS admin's dialog now says

    assert (first.outcome, again.outcome) == (Settled.NOT_REGISTERED, Settled.NOTHING_TO_SETTLE)
    settled = reloaded(app, unknown)
    assert (settled.state, settled.last_error, settled.problem) == (
        "failed",
        NOT_REGISTERED,
        "not_registered",
    )
    assert item.registration.id == unknown.id and item.refund_due
    assert (problem.value.kind, problem.value.detail) == ("failed", NOT_REGISTERED)
    ((action, actor, details),) = events(app, unknown)
    assert (action, actor, details["refundDue"]) == ("outcome:not-registered", STAFF, True)


def test_a_registration_stuck_completing_can_be_settled(app: Flask, ltiaas: FakeLtiaas) -> None:
    with app.app_context():
        db = get_session()
        long_ago = utcnow() - timedelta(minutes=30)
        stuck = add_registration(db, state="completing", created_at=long_ago, platform_name=SENT_NAME)
        db.commit()
    new = ltiaas.add_platform(SENT_NAME, url=MOODLE)
    assert settle_registered(app, stuck, new["id"]).outcome is Settled.REGISTERED
    assert reloaded(app, stuck).state == "completed"
    ((_, _, details),) = events(app, stuck)
    assert details["unknownOutcome"] == "stuck completing"


# The pages (CSRF on, as in production)


def page(browser: FlaskClient, registration: Registration) -> str:
    response = browser.get(f"/admin/registrations/{registration.public_id}")
    assert response.status_code == 200
    return response.get_data(as_text=True)


def post(browser: FlaskClient, registration: Registration, action: str, data: dict[str, Any]) -> Any:
    token = csrf_token_in(page(browser, registration))
    url = f"/admin/registrations/{registration.public_id}/{action}"
    return browser.post(url, data={**data, "csrf_token": token})


def test_the_page_offers_a_lookup_and_calls_ltiaas_only_when_asked(
    app: Flask, staff_browser: FlaskClient, ltiaas: FakeLtiaas, unknown: Registration, earlier: dict[str, Any]
) -> None:
    body = page(staff_browser, unknown)
    assert 'id="settle"' in body and 'id="lookup-form"' in body
    assert 'id="settle-registered-form"' not in body and 'id="settle-not-registered-form"' not in body
    assert ltiaas.received == []

    unconfirmed = post(staff_browser, unknown, "lookup", {})
    assert unconfirmed.status_code == 400 and "Tick this box to confirm." in unconfirmed.get_data(
        as_text=True
    )
    assert ltiaas.received == []

    new = ltiaas.add_platform(SENT_NAME, url=MOODLE)
    looked = post(staff_browser, unknown, "lookup", {"confirm_lookup": "y"})
    assert looked.status_code == 303 and looked.location.endswith(f"/{unknown.public_id}#settle")
    body = page(staff_browser, unknown)
    assert ltiaas.operations() == ["list_platforms"]
    assert f'data-platform="{new["id"]}" data-taken="no"' in body
    assert f'data-platform="{earlier["id"]}"' not in body
    assert f'value="{new["id"]}" id="platform-1" checked' in body  # the one its completion most likely made
    assert "named as this registration asked" in body and "Most likely this registration" in body
    assert 'id="settle-registered-form"' in body and 'id="settle-not-registered-form"' in body


def test_a_staff_member_records_the_platform_found(
    app: Flask, staff_browser: FlaskClient, ltiaas: FakeLtiaas, unknown: Registration
) -> None:
    new = ltiaas.add_platform(SENT_NAME, url=MOODLE)
    post(staff_browser, unknown, "lookup", {"confirm_lookup": "y"})

    unchosen = post(staff_browser, unknown, "settle/registered", {"confirm_registered": "y"})
    assert unchosen.status_code == 400
    assert "Choose the platform LTIAAS created" in unchosen.get_data(as_text=True)
    unconfirmed = post(staff_browser, unknown, "settle/registered", {"platform_id": new["id"]})
    assert unconfirmed.status_code == 400
    assert f'value="{new["id"]}" id="platform-1" checked' in unconfirmed.get_data(as_text=True)
    assert reloaded(app, unknown).state == "failed"

    data = {"platform_id": new["id"], "confirm_registered": "y"}
    done = post(staff_browser, unknown, "settle/registered", data)

    assert done.status_code == 303
    body = staff_browser.get(done.location).get_data(as_text=True)
    assert "Recorded as registered" in body and 'id="settle"' not in body
    assert f'<code id="platform-id">{new["id"]}</code>' in body and 'id="open-platform"' in body
    assert "outcome:registered" in body.split('id="audit-trail"')[1]


def test_a_staff_member_records_that_nothing_was_registered(
    app: Flask, staff_browser: FlaskClient, ltiaas: FakeLtiaas, unknown: Registration
) -> None:
    before = staff_browser.get("/admin/payments/").get_data(as_text=True)
    assert 'data-standing="outcome_unknown"' in before and 'data-standing="refund_due"' not in before
    assert f'href="/admin/registrations/{unknown.public_id}#settle"' in before
    post(staff_browser, unknown, "lookup", {"confirm_lookup": "y"})
    assert 'id="no-platforms"' in page(staff_browser, unknown)

    assert post(staff_browser, unknown, "settle/not-registered", {}).status_code == 400
    token = csrf_token_in(page(staff_browser, unknown))
    url = f"/admin/registrations/{unknown.public_id}/settle/not-registered"
    done = staff_browser.post(url, data={"confirm_not_registered": "y", "csrf_token": token})
    assert "Recorded as not registered" in staff_browser.get(done.location).get_data(as_text=True)
    twice = staff_browser.post(url, data={"confirm_not_registered": "y", "csrf_token": token})
    assert "already settled" in staff_browser.get(twice.location).get_data(as_text=True)
    assert [action for action, _, _ in events(app, unknown)] == [
        "outcome:looked-up",
        "outcome:not-registered",
    ]
    payments = staff_browser.get("/admin/payments/").get_data(as_text=True)
    assert 'data-standing="refund_due"' in payments and SENT_NAME in payments


def test_ltiaas_down_at_the_lookup_is_said_on_the_page(
    app: Flask, staff_browser: FlaskClient, unknown: Registration, closed_url: str
) -> None:
    with ltiaas_moved_to(app, closed_url):
        response = post(staff_browser, unknown, "lookup", {"confirm_lookup": "y"})
    body = staff_browser.get(response.location).get_data(as_text=True)
    assert "LTIAAS could not be reached or did not answer in time, so nothing was looked up" in body
    assert 'id="settle-registered-form"' not in body and events(app, unknown) == []


def test_a_registration_with_a_call_in_flight_is_not_looked_up(
    app: Flask, staff_browser: FlaskClient, ltiaas: FakeLtiaas
) -> None:
    with app.app_context():
        db = get_session()
        busy = add_registration(db, state="completing", created_at=utcnow(), platform_name=SENT_NAME)
        db.commit()
    assert 'id="settle"' not in page(staff_browser, busy)
    token = csrf_token_in(page(staff_browser, busy))
    response = staff_browser.post(
        f"/admin/registrations/{busy.public_id}/lookup", data={"confirm_lookup": "y", "csrf_token": token}
    )
    assert "already settled (or was never unknown)" in staff_browser.get(response.location).get_data(
        as_text=True
    )
    assert ltiaas.received == []


@pytest.mark.parametrize("action", ["lookup", "settle/registered", "settle/not-registered"])
def test_every_settling_action_needs_the_csrf_token(
    app: Flask, staff_browser: FlaskClient, ltiaas: FakeLtiaas, unknown: Registration, action: str
) -> None:
    response = staff_browser.post(
        f"/admin/registrations/{unknown.public_id}/{action}",
        data={
            "confirm_lookup": "y",
            "confirm_registered": "y",
            "confirm_not_registered": "y",
            "platform_id": "X",
        },
    )
    assert response.status_code == 400
    assert "This form has expired" in response.get_data(as_text=True)
    assert ltiaas.received == [] and reloaded(app, unknown).state == "failed"
