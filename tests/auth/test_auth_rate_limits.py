"""Guessing passwords is slowed per client address (all account POSTs) and per account: the 429 page."""

from __future__ import annotations

from pathlib import Path

from flask import Flask
from flask.testing import FlaskClient

from tests.accounts import PASSWORD, create_user, sign_in
from tests.conftest import make_test_app


def guess(client: FlaskClient, email: str, password: str = "not the password", address: str = "10.0.0.1"):
    """A sign-in attempt from `address` (a wrong password unless told)."""
    return sign_in(client, email, password, environ_base={"REMOTE_ADDR": address})


def next_sign_in_page(client: FlaskClient) -> str:
    return guess(client, "again@school.edu").get_data(as_text=True)


def test_too_many_sign_ins_from_one_address_get_the_429_page(app: Flask, client: FlaskClient) -> None:
    app.config["AUTH_RATE_LIMIT"] = "3 per minute"

    answers = [guess(client, f"user{n}@school.edu").status_code for n in range(4)]
    sign_up = client.post("/auth/sign-up", environ_base={"REMOTE_ADDR": "10.0.0.1"})
    other_address = guess(client, "user9@school.edu", address="10.0.0.2")

    assert answers == [200, 200, 200, 429]
    assert "Too many attempts" in next_sign_in_page(client)
    assert sign_up.status_code == 429
    assert other_address.status_code == 200


def test_too_many_failures_for_one_account_lock_it_from_every_address(
    app: Flask, client: FlaskClient
) -> None:
    create_user(app)

    failures = [guess(client, "admin@school.edu", address=f"10.0.1.{n}").status_code for n in range(5)]
    locked = guess(client, "ADMIN@school.edu", PASSWORD, address="10.0.2.1")

    assert failures == [200] * 5
    assert locked.status_code == 429
    assert "Too many attempts" in locked.get_data(as_text=True)
    assert client.get("/auth/account").status_code == 302
    assert guess(client, "other@school.edu", address="10.0.2.1").status_code == 200


def test_unknown_emails_are_limited_alike(app: Flask, client: FlaskClient) -> None:
    answers = [guess(client, "nobody@school.edu", address=f"10.0.1.{n}").status_code for n in range(6)]

    assert answers == [200] * 5 + [429]


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
