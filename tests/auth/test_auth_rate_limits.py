"""Guessing passwords is slowed per client address (all account POSTs) and per account: the 429 page."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import update

from portal.auth.pauses import Pause
from portal.db import get_session
from portal.models import LoginAttempt, utcnow
from tests.accounts import PASSWORD, create_user, sign_in
from tests.auth.helpers import add_flow_start, href_of, normalised, session_id_of, token_of, words
from tests.conftest import make_test_app

REVIEW = "/registration/abc/review"


def guess(client: FlaskClient, email: str, password: str = "not the password", address: str = "10.0.0.1"):
    """A sign-in attempt from `address` (a wrong password unless told)."""
    return sign_in(client, email, password, environ_base={"REMOTE_ADDR": address})


def next_sign_in_page(client: FlaskClient) -> str:
    return guess(client, "again@school.edu").get_data(as_text=True)


def lock(client: FlaskClient, email: str = "admin@school.edu") -> None:
    """Five wrong passwords for `email`, each from another address (the account's limit)."""
    for n in range(5):
        assert guess(client, email, address=f"10.0.1.{n}").status_code == 200


def age_failures(app: Flask, minutes: int) -> datetime:
    """Move every failed sign-in `minutes` into the past, as if the admin had waited that long;
    when they now happened."""
    then = utcnow() - timedelta(minutes=minutes)
    with app.app_context():
        db = get_session()
        db.execute(update(LoginAttempt).values(created_at=then))
        db.commit()
    return then


def test_too_many_sign_ins_from_one_address_get_the_429_page(app: Flask, client: FlaskClient) -> None:
    app.config["AUTH_RATE_LIMIT"] = "3 per minute"

    answers = [guess(client, f"user{n}@school.edu").status_code for n in range(4)]
    sign_up = client.post("/auth/sign-up", environ_base={"REMOTE_ADDR": "10.0.0.1"})
    other_address = guess(client, "user9@school.edu", address="10.0.0.2")

    assert answers == [200, 200, 200, 429]
    assert "Too many attempts" in next_sign_in_page(client)
    assert sign_up.status_code == 429
    assert other_address.status_code == 200


def test_the_address_limit_says_its_window_and_leads_back_to_the_form(
    app: Flask, client: FlaskClient
) -> None:
    app.config["AUTH_RATE_LIMIT"] = "3 per minute"
    for n in range(3):
        guess(client, f"user{n}@school.edu")

    limited = sign_in(
        client,
        "user4@school.edu",
        page=f"/auth/sign-in?next={REVIEW}",
        environ_base={"REMOTE_ADDR": "10.0.0.1"},
    )
    sign_up = client.post("/auth/sign-up", environ_base={"REMOTE_ADDR": "10.0.0.1"})

    assert limited.status_code == 429
    page = words(limited)
    assert "Wait a minute" not in page
    assert "more than 3 sign-in, sign-up or password requests in a minute" in page
    assert re.search(r"until \d\d:\d\d UTC \(in about 1 minute\)", page)
    assert 1 <= int(limited.headers["Retry-After"]) <= 60
    assert href_of(limited, "try-again-link") == f"/auth/sign-in?next={REVIEW}"
    assert href_of(sign_up, "try-again-link") == "/auth/sign-up"


def test_too_many_failures_for_one_account_lock_it_from_every_address(
    app: Flask, client: FlaskClient
) -> None:
    create_user(app)

    failures = [guess(client, "admin@school.edu", address=f"10.0.1.{n}").status_code for n in range(5)]
    locked = guess(client, "ADMIN@school.edu", PASSWORD, address="10.0.2.1")

    assert failures == [200] * 5
    assert locked.status_code == 429
    assert "Signing in is paused for this email address" in words(locked)
    assert client.get("/auth/account").status_code == 302
    assert guess(client, "other@school.edu", address="10.0.2.1").status_code == 200


def test_unknown_emails_are_limited_alike(app: Flask, client: FlaskClient) -> None:
    answers = [guess(client, "nobody@school.edu", address=f"10.0.1.{n}").status_code for n in range(6)]

    assert answers == [200] * 5 + [429]


def test_a_locked_admin_is_told_until_when_and_offered_the_way_back(app: Flask, client: FlaskClient) -> None:
    create_user(app)
    lock(client)
    ends = age_failures(app, 10) + timedelta(minutes=15)

    locked = sign_in(client, "admin@school.edu", page=f"/auth/sign-in?next={REVIEW}")

    assert locked.status_code == 429
    page = words(locked)
    assert "Wait a minute" not in page
    clock = (ends + timedelta(minutes=1)).strftime("%H:%M UTC")  # rounded up: never earlier
    assert f"cannot sign in until {clock} (in about 5 minutes)" in page
    assert 295 <= int(locked.headers["Retry-After"]) <= 300
    assert href_of(locked, "try-again-link") == f"/auth/sign-in?next={REVIEW}"
    assert href_of(locked, "forgot-password-link") == f"/auth/forgot-password?next={REVIEW}"


def test_the_lock_ends_when_it_said(app: Flask, client: FlaskClient) -> None:
    create_user(app)
    lock(client)
    age_failures(app, 15)

    assert guess(client, "admin@school.edu", PASSWORD).status_code == 302


def test_the_way_back_from_a_lock_keeps_the_session_without_cookies(app: Flask) -> None:
    add_flow_start(app)
    create_user(app)
    client = app.test_client(use_cookies=False)
    to_sign_in = client.get("/test/flow-start").location
    lock(client)

    locked = sign_in(client, "admin@school.edu", page=to_sign_in)

    assert locked.status_code == 429
    for link in (href_of(locked, "try-again-link"), href_of(locked, "forgot-password-link")):
        assert token_of(link) and session_id_of(link) == session_id_of(to_sign_in)
    assert href_of(locked, "try-again-link").startswith("/auth/sign-in?next=/test/flow-step&_st=")
    again = client.get(href_of(locked, "try-again-link"))
    assert 'name="next" type="hidden" value="/test/flow-step"' in again.get_data(as_text=True)


def test_a_locked_unknown_email_gets_the_same_page(app: Flask, client: FlaskClient) -> None:
    create_user(app)
    lock(client, "admin@school.edu")
    lock(client, "nobody@school.edu")
    age_failures(app, 10)

    known = sign_in(client, "admin@school.edu")
    unknown = sign_in(client, "nobody@school.edu", "not the password")

    assert known.status_code == unknown.status_code == 429
    assert normalised(known) == normalised(unknown)


def test_a_successful_sign_in_forgets_earlier_failures(app: Flask, client: FlaskClient) -> None:
    create_user(app)
    for n in range(4):
        guess(client, "admin@school.edu", address=f"10.0.1.{n}")
    guess(client, "admin@school.edu", PASSWORD)
    client.post("/auth/sign-out")

    answers = [guess(client, "admin@school.edu", address=f"10.0.3.{n}").status_code for n in range(5)]

    assert answers == [200] * 5


def test_the_address_limit_can_be_turned_off(tmp_path: Path) -> None:
    app = make_test_app(
        tmp_path, RATELIMIT_ENABLED=False, WTF_CSRF_ENABLED=False, AUTH_RATE_LIMIT="1 per minute"
    )
    client = app.test_client()

    answers = [guess(client, f"user{n}@school.edu").status_code for n in range(3)]

    assert answers == [200, 200, 200]
    app.extensions["db_engine"].dispose()


@pytest.mark.parametrize(
    ("now", "until", "said"),
    [
        ("14:00:00", "14:15:00", ("14:15 UTC", 15)),
        ("14:00:30", "14:15:00.5", ("14:16 UTC", 15)),
        ("14:14:59", "14:15:00", ("14:15 UTC", 1)),
        ("23:55:00", "00:10:00", ("2026-12-02 00:10 UTC", 15)),
    ],
    ids=["whole minutes", "rounded up", "a second left", "past midnight"],
)
def test_a_pause_is_said_in_utc_and_whole_minutes_never_earlier_than_it_ends(
    now: str, until: str, said: tuple[str, int]
) -> None:
    start = datetime.fromisoformat(f"2026-12-01T{now}+00:00")
    end = datetime.fromisoformat(f"2026-12-01T{until}+00:00")
    pause = Pause(end if end > start else end + timedelta(days=1), start)

    assert (pause.clock, pause.minutes) == said
