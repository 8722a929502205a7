"""A registration whose process died during LTIAAS's complete call does not stay `completing` forever.

Once it has been completing for longer than COMPLETION_STALE_AFTER, the next read
marks it failed with an unknown outcome, for the vendor's staff to check LTIAAS.
"""

from __future__ import annotations

import html
from datetime import timedelta

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from portal.billing import attention
from portal.db import get_session
from portal.models import Payment, PaymentStatus, Registration, utcnow
from portal.registration import lifecycle
from tests.fakes.ltiaas import FakeLtiaas
from tests.registration.helpers import audit_trail, configured_by, registration_row


def left_completing(app: Flask, public_id: str, seconds_ago: int) -> None:
    """As if a process claimed the completion `seconds_ago` and then died before LTIAAS answered."""
    with app.app_context():
        db = get_session()
        registration = db.scalar(select(Registration).where(Registration.public_id == public_id))
        assert registration is not None
        registration.state = "completing"
        db.flush()
        registration.updated_at = utcnow() - timedelta(seconds=seconds_ago)
        db.commit()


def test_a_completion_left_in_flight_too_long_fails_on_read_with_an_unknown_outcome(
    app: Flask, customer_browser: FlaskClient, ltiaas: FakeLtiaas, no_csrf: Flask
) -> None:
    public_id = configured_by(customer_browser)
    left_completing(app, public_id, seconds_ago=121)
    response = customer_browser.get(f"/registration/{public_id}/done")
    assert response.status_code == 409
    body = html.unescape(response.get_data(as_text=True))
    assert 'data-problem="outcome_unknown"' in body
    assert "We don't know whether the tool was registered" in body
    assert "refused" not in body
    registration = registration_row(app, public_id)
    assert registration.state == "failed"
    assert registration.last_error == lifecycle.STALE_COMPLETION
    assert "may or may not have registered the tool" in registration.last_error
    assert "LTIAAS's platform list" in registration.last_error
    action, actor, details = audit_trail(app, public_id)[-1]
    assert (action, actor) == ("state:failed", "portal")
    assert details == {"reason": "completion-stale", "error": lifecycle.STALE_COMPLETION}
    assert ltiaas.requests_to("complete_registration") == []


def test_a_completion_still_within_the_timeouts_is_left_alone(
    app: Flask, customer_browser: FlaskClient, ltiaas: FakeLtiaas, no_csrf: Flask
) -> None:
    public_id = configured_by(customer_browser)
    left_completing(app, public_id, seconds_ago=60)
    response = customer_browser.get(f"/registration/{public_id}/status")
    assert response.get_json() == {"state": "completing"}
    assert registration_row(app, public_id).state == "completing"
    assert [action for action, _, _ in audit_trail(app, public_id)][-1] == "state:reviewed"


def test_the_status_the_done_page_polls_reports_a_stale_completion_as_failed(
    app: Flask, customer_browser: FlaskClient, ltiaas: FakeLtiaas, no_csrf: Flask
) -> None:
    public_id = configured_by(customer_browser)
    left_completing(app, public_id, seconds_ago=121)
    response = customer_browser.get(f"/registration/{public_id}/status")
    assert response.status_code == 409
    assert response.get_json() == {"state": None, "problem": "outcome_unknown"}
    assert registration_row(app, public_id).state == "failed"


def test_the_stale_limit_is_a_setting(
    app: Flask, customer_browser: FlaskClient, ltiaas: FakeLtiaas, no_csrf: Flask
) -> None:
    app.config["COMPLETION_STALE_AFTER"] = 600
    public_id = configured_by(customer_browser)
    left_completing(app, public_id, seconds_ago=300)
    assert customer_browser.get(f"/registration/{public_id}/status").get_json() == {"state": "completing"}


def test_a_completion_that_finishes_meanwhile_is_not_overwritten(
    app: Flask, customer_browser: FlaskClient, ltiaas: FakeLtiaas, no_csrf: Flask
) -> None:
    public_id = configured_by(customer_browser)
    left_completing(app, public_id, seconds_ago=121)
    with app.test_request_context("/"):
        db = get_session()
        seen_stale = db.scalar(select(Registration).where(Registration.public_id == public_id))
        assert seen_stale is not None and seen_stale.state == "completing"
        # The completing process gets LTIAAS's answer between our read and our update.
        with app.extensions["db_sessionmaker"]() as other:
            finishing = other.scalar(select(Registration).where(Registration.public_id == public_id))
            assert finishing is not None
            finishing.state = "completed"
            finishing.platform_id = "platform-1"
            other.commit()
        assert lifecycle.fail_if_completion_stale(db, seen_stale) is False
        assert seen_stale.state == "completed"
        assert seen_stale.last_error is None
    assert registration_row(app, public_id).state == "completed"
    assert "state:failed" not in [action for action, _, _ in audit_trail(app, public_id)]


def test_a_paid_registration_left_completing_needs_the_staffs_attention(
    app: Flask, customer_browser: FlaskClient, ltiaas: FakeLtiaas, no_csrf: Flask
) -> None:
    public_id = configured_by(customer_browser)
    with app.app_context():
        db = get_session()
        registration = db.scalar(select(Registration).where(Registration.public_id == public_id))
        assert registration is not None
        db.add(
            Payment(
                registration_id=registration.id,
                status=PaymentStatus.PAID.value,
                paid_at=utcnow(),
                amount_total=4900,
                currency="usd",
            )
        )
        db.commit()
    left_completing(app, public_id, seconds_ago=121)
    with app.test_request_context("/"):
        [item] = attention.needing_attention(get_session())
        assert item.registration.public_id == public_id
        assert item.registration.state == "failed"
        assert item.needs_attention
        assert item.registration.last_error == lifecycle.STALE_COMPLETION
    body = html.unescape(customer_browser.get(f"/registration/{public_id}/done").get_data(as_text=True))
    assert "Paid, outcome unknown." in body
    assert "Paid, not registered." not in body


def test_two_processes_expiring_the_same_registration_expire_it_once(
    app: Flask, customer_browser: FlaskClient, ltiaas: FakeLtiaas, no_csrf: Flask
) -> None:
    public_id = configured_by(customer_browser)
    later = utcnow() + timedelta(days=1)
    with app.test_request_context("/"):
        db = get_session()
        seen_here = db.scalar(select(Registration).where(Registration.public_id == public_id))
        assert seen_here is not None and seen_here.state == "reviewed"
        # Another worker's sweep reads the same open registration and expires it first.
        with app.extensions["db_sessionmaker"]() as other:
            seen_there = other.scalar(select(Registration).where(Registration.public_id == public_id))
            assert seen_there is not None
            assert lifecycle.expire_if_past_lifetime(other, seen_there, now=later) is True
        assert lifecycle.expire_if_past_lifetime(db, seen_here, now=later) is False
        assert seen_here.state == "expired"
    expiries = [action for action, _, _ in audit_trail(app, public_id) if action == "state:expired"]
    assert expiries == ["state:expired"]
