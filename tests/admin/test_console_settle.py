"""A staff member settles a registration whose outcome was unknown: looks LTIAAS up (over real HTTP,
against a scriptable LTIAAS), then records it as registered with the platform found, or as not registered."""

from __future__ import annotations

from collections.abc import Iterator
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
from tests.ltiaas.conftest import API_KEY
from tests.ltiaas.conftest import FakeLtiaas as LtiaasServer
from tests.registration.helpers import csrf_token_in

STAFF = "staff@vendor.example"
SENT_NAME = "Springfield Moodle"


def platform_json(
    platform_id: str, name: str = SENT_NAME, url: str = MOODLE, active: bool = True
) -> dict[str, Any]:
    return {
        "id": platform_id,
        "url": url,
        "clientId": f"client-{platform_id}",
        "name": name,
        "authenticationEndpoint": f"{url}/auth",
        "accesstokenEndpoint": f"{url}/token",
        "authConfig": {"method": "JWK_SET", "key": f"{url}/jwks"},
        "publicKey": None,
        "active": active,
    }


@pytest.fixture(scope="module")
def ltiaas_server() -> Iterator[LtiaasServer]:
    server = LtiaasServer()
    yield server
    server.close()


def client_for(url: str) -> LtiaasClient:
    return LtiaasClient(base_url=url, api_key=API_KEY, retries=0, connect_timeout=0.5, read_timeout=0.5)


@pytest.fixture
def upstream(app: Flask, ltiaas_server: LtiaasServer) -> Iterator[LtiaasServer]:
    """The app's LTIAAS client talks to the scriptable server; nothing received or queued yet."""
    ltiaas_server.reset()
    client = client_for(ltiaas_server.url)
    app.extensions["ltiaas"] = client
    yield ltiaas_server
    client.close()


@pytest.fixture
def unknown(app: Flask, customer: User) -> Registration:
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
            known_platforms=[
                {"id": "Earlier1", "name": "Springfield (2025)", "clientId": "c", "active": True}
            ],
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


def test_a_lookup_lists_the_platforms_new_since_receipt_and_stores_them(
    app: Flask, upstream: LtiaasServer, unknown: Registration
) -> None:
    taken_by = other_registration_with(app, "Other3")
    listed = [platform_json("Earlier1", "Springfield (2025)"), platform_json("New2", active=False)]
    upstream.reply(200, {"platforms": [*listed, platform_json("Other3", "Springfield too")]})
    with app.app_context():
        db = get_session()
        registration = db.get(Registration, unknown.id)
        assert registration is not None
        assert look_up(db, get_ltiaas_of(app), registration, STAFF) is None
        lookup = last_lookup(db, registration)

    assert upstream.last.path == "/api/platforms" and upstream.last.query == {"url": [MOODLE]}
    assert (
        lookup is not None and lookup.by == STAFF and not lookup.shared_issuer and not lookup.baseline_missing
    )
    new, other = lookup.platforms  # Earlier1 was there when the registration arrived
    assert (new.id, new.created, new.name_matches, new.active, new.taken_by) == (
        "New2",
        True,
        True,
        False,
        None,
    )
    assert (other.id, other.created, other.taken_by) == ("Other3", False, taken_by)
    assert lookup.candidates == (new,)
    assert reloaded(app, unknown).state == "failed"
    ((action, actor, details),) = events(app, unknown)
    assert (action, actor, details["created"]) == ("outcome:looked-up", STAFF, "New2")


def test_without_the_platforms_known_at_receipt_every_platform_of_the_address_is_listed(
    app: Flask, upstream: LtiaasServer, customer: User
) -> None:
    with app.app_context():
        db = get_session()
        blind = add_registration(db, state="failed", problem="outcome_unknown", platform_name=SENT_NAME)
        db.commit()
        upstream.reply(200, {"platforms": [platform_json("Earlier1", "Old"), platform_json("New2")]})
        assert look_up(db, get_ltiaas_of(app), blind, STAFF) is None
        lookup = last_lookup(db, blind)
    assert lookup is not None and lookup.baseline_missing
    assert [found.id for found in lookup.platforms] == ["Earlier1", "New2"]


def get_ltiaas_of(app: Flask) -> LtiaasClient:
    return app.extensions["ltiaas"]


FAILURES = {
    "down": ("could not be reached", None),
    "slow": ("did not answer in time", (200, {"platforms": []}, 2.0)),
    "refusing the key": ("refused the portal's API key", (401, {"status": 401, "error": "Unauthorized"}, 0)),
    "refusing the request": (
        "refused the request (HTTP 400: bad url)",
        (400, {"details": {"message": "bad url"}}, 0),
    ),
    "failing": ("could not be reached", (503, {"status": 503}, 0)),
    "answering nonsense": ("could not read", (200, {"platforms": "none"}, 0)),
}


@pytest.mark.parametrize("failure", list(FAILURES))
def test_ltiaas_down_slow_or_refusing_at_the_lookup_changes_nothing_and_says_why(
    app: Flask, upstream: LtiaasServer, unknown: Registration, failure: str, closed_url: str
) -> None:
    words, reply = FAILURES[failure]
    if reply is None:
        app.extensions["ltiaas"] = client_for(closed_url)
    else:
        status, body, delay = reply
        upstream.reply(status, body, delay=delay)
    with app.app_context():
        db = get_session()
        registration = db.get(Registration, unknown.id)
        assert registration is not None
        problem = look_up(db, get_ltiaas_of(app), registration, STAFF)
        assert last_lookup(db, registration) is None

    assert problem is not None and words in problem and "nothing changed" in problem
    assert events(app, unknown) == []
    assert reloaded(app, unknown).state == "failed"
    if failure == "down":
        get_ltiaas_of(app).close()


@pytest.fixture
def closed_url() -> str:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


# Recording what was found


def settle_registered(app: Flask, registration: Registration, platform_id: str) -> settling.Decision:
    with app.app_context():
        db = get_session()
        fresh = db.get(Registration, registration.id)
        assert fresh is not None
        return settling.settle_registered(db, get_ltiaas_of(app), fresh, platform_id, STAFF)


def test_recording_it_registered_checks_the_platform_with_ltiaas_once_and_audits_it(
    app: Flask, upstream: LtiaasServer, unknown: Registration
) -> None:
    upstream.reply(200, platform_json("New2"))

    first = settle_registered(app, unknown, "New2")
    again = settle_registered(app, unknown, "New2")  # a double submit

    assert (first.outcome, again.outcome) == (Settled.REGISTERED, Settled.NOTHING_TO_SETTLE)
    assert [(r.method, r.path) for r in upstream.received] == [("GET", "/api/platforms/New2")]
    settled = reloaded(app, unknown)
    assert (settled.state, settled.platform_id, settled.last_error, settled.problem) == (
        "completed",
        "New2",
        None,
        None,
    )
    assert settled.completed_at is not None
    ((action, actor, details),) = events(app, unknown)
    assert (action, actor) == ("outcome:registered", STAFF)
    assert details["platformId"] == "New2" and details["unknownOutcome"] == "outcome_unknown"
    with app.app_context():
        db = get_session()
        event = db.scalar(select(AuditEvent).where(AuditEvent.action == "outcome:registered"))
        assert event is not None and (event.from_state, event.to_state) == ("failed", "completed")
        (paid,) = attention.customer_payments(db, db.get(User, settled.customer_id))  # type: ignore[arg-type]
        assert paid.standing is attention.Standing.REGISTERED


def test_two_staff_members_deciding_at_once_record_one_decision(
    app: Flask, upstream: LtiaasServer, unknown: Registration
) -> None:
    upstream.reply(200, platform_json("New2"))
    with app.app_context():
        makers = app.extensions["db_sessionmaker"]
        with makers() as one, makers() as two:
            seen_by_one, seen_by_two = one.get(Registration, unknown.id), two.get(Registration, unknown.id)
            assert seen_by_one is not None and seen_by_two is not None
            registered = settling.settle_registered(
                one, get_ltiaas_of(app), seen_by_one, "New2", "one@vendor.example"
            )
            not_registered = settling.settle_not_registered(two, seen_by_two, "two@vendor.example")

    assert (registered.outcome, not_registered.outcome) == (Settled.REGISTERED, Settled.NOTHING_TO_SETTLE)
    assert reloaded(app, unknown).state == "completed"
    assert [action for action, _, _ in events(app, unknown)] == ["outcome:registered"]


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        ((200, platform_json("New2", url="https://elsewhere.example.edu")), Settled.PLATFORM_ELSEWHERE),
        ((404, {"status": 404, "error": "Not Found"}), Settled.PLATFORM_NOT_FOUND),
        ((503, {"status": 503}), Settled.LTIAAS_FAILED),
        ((401, {"status": 401}), Settled.LTIAAS_FAILED),
    ],
)
def test_a_platform_ltiaas_does_not_confirm_for_this_lms_is_not_recorded(
    app: Flask, upstream: LtiaasServer, unknown: Registration, reply: tuple[int, dict], expected: Settled
) -> None:
    upstream.reply(*reply)
    decision = settle_registered(app, unknown, "New2")
    assert decision.outcome is expected
    if expected is Settled.LTIAAS_FAILED:
        assert decision.detail is not None and "nothing changed" in decision.detail
    assert (reloaded(app, unknown).state, reloaded(app, unknown).platform_id) == ("failed", None)
    assert events(app, unknown) == []


def test_a_platform_another_registration_has_is_not_recorded_twice(
    app: Flask, upstream: LtiaasServer, unknown: Registration
) -> None:
    other_registration_with(app, "Earlier1")
    upstream.reply(200, platform_json("Earlier1"))
    assert settle_registered(app, unknown, "Earlier1").outcome is Settled.PLATFORM_TAKEN
    assert reloaded(app, unknown).state == "failed"


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


def test_a_registration_stuck_completing_can_be_settled(app: Flask, upstream: LtiaasServer) -> None:
    with app.app_context():
        db = get_session()
        long_ago = utcnow() - timedelta(minutes=30)
        stuck = add_registration(db, state="completing", created_at=long_ago, platform_name=SENT_NAME)
        db.commit()
    upstream.reply(200, platform_json("New2"))
    assert settle_registered(app, stuck, "New2").outcome is Settled.REGISTERED
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
    app: Flask, staff_browser: FlaskClient, upstream: LtiaasServer, unknown: Registration
) -> None:
    body = page(staff_browser, unknown)
    assert 'id="settle"' in body and 'id="lookup-form"' in body
    assert 'id="settle-registered-form"' not in body and 'id="settle-not-registered-form"' not in body
    assert upstream.received == []

    unconfirmed = post(staff_browser, unknown, "lookup", {})
    assert unconfirmed.status_code == 400 and "Tick this box to confirm." in unconfirmed.get_data(
        as_text=True
    )
    assert upstream.received == []

    upstream.reply(200, {"platforms": [platform_json("Earlier1"), platform_json("New2")]})
    looked = post(staff_browser, unknown, "lookup", {"confirm_lookup": "y"})
    assert looked.status_code == 303 and looked.location.endswith(f"/{unknown.public_id}#settle")
    body = page(staff_browser, unknown)
    assert len(upstream.received) == 1
    assert 'data-platform="New2" data-taken="no"' in body and 'data-platform="Earlier1"' not in body
    assert 'value="New2" id="platform-1" checked' in body  # the one its completion most likely made
    assert "named as this registration asked" in body and "Most likely this registration" in body
    assert 'id="settle-registered-form"' in body and 'id="settle-not-registered-form"' in body


def test_a_staff_member_records_the_platform_found(
    app: Flask, staff_browser: FlaskClient, upstream: LtiaasServer, unknown: Registration
) -> None:
    upstream.reply(200, {"platforms": [platform_json("New2")]})
    post(staff_browser, unknown, "lookup", {"confirm_lookup": "y"})

    unchosen = post(staff_browser, unknown, "settle/registered", {"confirm_registered": "y"})
    assert unchosen.status_code == 400
    assert "Choose the platform LTIAAS created" in unchosen.get_data(as_text=True)
    unconfirmed = post(staff_browser, unknown, "settle/registered", {"platform_id": "New2"})
    assert unconfirmed.status_code == 400 and 'value="New2" id="platform-1" checked' in unconfirmed.get_data(
        as_text=True
    )
    assert reloaded(app, unknown).state == "failed"

    upstream.reply(200, platform_json("New2"))
    done = post(
        staff_browser, unknown, "settle/registered", {"platform_id": "New2", "confirm_registered": "y"}
    )

    assert done.status_code == 303
    body = staff_browser.get(done.location).get_data(as_text=True)
    assert "Recorded as registered" in body and 'id="settle"' not in body
    assert '<code id="platform-id">New2</code>' in body and 'id="open-platform"' in body
    assert "outcome:registered" in body.split('id="audit-trail"')[1]


def test_a_staff_member_records_that_nothing_was_registered(
    app: Flask, staff_browser: FlaskClient, upstream: LtiaasServer, unknown: Registration
) -> None:
    upstream.reply(200, {"platforms": []})
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
    app: Flask, staff_browser: FlaskClient, upstream: LtiaasServer, unknown: Registration, closed_url: str
) -> None:
    app.extensions["ltiaas"] = down = client_for(closed_url)
    response = post(staff_browser, unknown, "lookup", {"confirm_lookup": "y"})
    body = staff_browser.get(response.location).get_data(as_text=True)
    down.close()
    assert "LTIAAS could not be reached or did not answer in time, so nothing was looked up" in body
    assert 'id="settle-registered-form"' not in body and events(app, unknown) == []


def test_a_registration_with_a_call_in_flight_is_not_looked_up(
    app: Flask, staff_browser: FlaskClient, upstream: LtiaasServer
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
    assert upstream.received == []


@pytest.mark.parametrize("action", ["lookup", "settle/registered", "settle/not-registered"])
def test_every_settling_action_needs_the_csrf_token(
    app: Flask, staff_browser: FlaskClient, upstream: LtiaasServer, unknown: Registration, action: str
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
    assert upstream.received == [] and reloaded(app, unknown).state == "failed"
