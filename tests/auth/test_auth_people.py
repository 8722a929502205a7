"""The rules for managing accounts (shared by the staff console and the CLI): nobody disables their
own account or the last active staff account, even when two staff members act at the same moment."""

from __future__ import annotations

import threading
import time

import pytest
from flask import Flask
from sqlalchemy import select, text

from portal.auth import service
from portal.auth.service import CannotDisableSelf, LastActiveStaff, disable_user, enable_user
from portal.db import get_session
from portal.models import AuditEvent, User, utcnow
from tests.accounts import create_user
from tests.auth.helpers import audit_actions, find_user

ALICE = "alice@vendor.example"
BOB = "bob@vendor.example"


@pytest.fixture
def two_staff(app: Flask) -> tuple[User, User]:
    return (
        create_user(app, ALICE, role="staff", organisation=None),
        create_user(app, BOB, role="staff", organisation=None),
    )


def active_staff(app: Flask) -> list[str]:
    with app.app_context():
        return sorted(
            get_session().scalars(select(User.email).where(User.role == "staff", User.is_disabled.is_(False)))
        )


def run(app: Flask, change) -> User:
    with app.app_context():
        db = get_session()
        user = change(db)
        db.commit()
        return user


def test_a_staff_member_disables_another_once_and_it_is_audited(app: Flask, two_staff) -> None:
    run(app, lambda db: disable_user(db, BOB, actor=ALICE))
    run(app, lambda db: disable_user(db, BOB, actor=ALICE))  # a double submit

    assert active_staff(app) == [ALICE]
    assert audit_actions(app).count(("user:disabled", ALICE)) == 1


def test_nobody_disables_their_own_account(app: Flask, two_staff) -> None:
    with pytest.raises(CannotDisableSelf, match="your own account"):
        run(app, lambda db: disable_user(db, ALICE.upper(), actor=ALICE))

    assert active_staff(app) == [ALICE, BOB]
    assert audit_actions(app) == []


def test_the_last_active_staff_account_cannot_be_disabled(app: Flask, two_staff) -> None:
    run(app, lambda db: disable_user(db, BOB, actor=ALICE))

    with pytest.raises(LastActiveStaff, match=r"alice@vendor\.example is the last active staff account"):
        run(app, lambda db: disable_user(db, ALICE, actor="cli"))

    assert active_staff(app) == [ALICE]


def test_a_staff_account_nobody_has_signed_in_to_does_not_count_as_another(app: Flask) -> None:
    create_user(app, ALICE, role="staff", organisation=None)
    # Made with a set-password link that may never be used, or a password nobody has tried yet.
    run(app, lambda db: service.create_staff(db, BOB, None, actor=ALICE))

    with pytest.raises(LastActiveStaff, match="Another staff account must sign in once first"):
        run(app, lambda db: disable_user(db, ALICE, actor="cli"))
    assert active_staff(app) == [ALICE, BOB]

    with app.app_context():  # once Bob has signed in, Alice may go
        db = get_session()
        db.scalars(select(User).where(User.email == BOB)).one().last_login_at = utcnow()
        db.commit()
    run(app, lambda db: disable_user(db, ALICE, actor="cli"))
    assert active_staff(app) == [BOB]


def test_customers_can_be_disabled_whatever_the_staff_count(app: Flask) -> None:
    create_user(app, "admin@school.edu")

    run(app, lambda db: disable_user(db, "admin@school.edu", actor="cli"))

    assert find_user(app, "admin@school.edu").is_disabled


def test_re_enabling_is_audited_once(app: Flask, two_staff) -> None:
    run(app, lambda db: disable_user(db, BOB, actor=ALICE))
    run(app, lambda db: enable_user(db, BOB, actor=ALICE))
    run(app, lambda db: enable_user(db, BOB, actor=ALICE))

    assert active_staff(app) == [ALICE, BOB]
    assert audit_actions(app).count(("user:enabled", ALICE)) == 1


def _wait_until_someone_waits_for_a_lock(app: Flask) -> None:
    """On PostgreSQL, until another session is blocked on a row lock (SQLite cannot tell: its writers
    queue on the busy timeout, and the test holds either way)."""
    engine = app.extensions["db_engine"]
    if engine.dialect.name != "postgresql":
        return
    deadline = time.monotonic() + 15
    query = text(
        "SELECT count(*) FROM pg_stat_activity"
        " WHERE wait_event_type = 'Lock' AND datname = current_database()"
    )
    while time.monotonic() < deadline:
        with engine.connect() as connection:
            if connection.scalar(query):
                return
        time.sleep(0.01)
    pytest.fail("the second disable never waited for the first")


def test_two_staff_disabling_each_other_at_the_same_moment_leave_one_of_them(app: Flask, two_staff) -> None:
    outcome: dict[str, object] = {}

    def bob_disables_alice() -> None:
        with app.app_context():
            db = get_session()
            try:
                disable_user(db, ALICE, actor=BOB)
                db.commit()
                outcome["bob"] = "disabled alice"
            except LastActiveStaff as error:
                outcome["bob"] = error

    with app.app_context():
        db = get_session()
        disable_user(db, BOB, actor=ALICE)  # in flight, not committed yet
        bob = threading.Thread(target=bob_disables_alice)
        bob.start()
        _wait_until_someone_waits_for_a_lock(app)
        db.commit()
    bob.join()

    assert isinstance(outcome["bob"], LastActiveStaff)
    assert active_staff(app) == [ALICE]


def _disable_each_other_at_once(app: Flask) -> list[str]:
    """Alice and Bob each disable the other, starting together; who was refused."""
    start = threading.Barrier(2)
    refused: list[str] = []

    def disable(target: str, actor: str) -> None:
        with app.app_context():
            db = get_session()
            start.wait()
            try:
                disable_user(db, target, actor=actor)
                db.commit()
            except LastActiveStaff:
                refused.append(actor)

    threads = [
        threading.Thread(target=disable, args=(BOB, ALICE)),
        threading.Thread(target=disable, args=(ALICE, BOB)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return refused


def test_racing_disables_never_leave_nobody(app: Flask, two_staff) -> None:
    for _ in range(5):
        refused = _disable_each_other_at_once(app)

        assert len(refused) == 1 and len(active_staff(app)) == 1
        (survivor,) = active_staff(app)
        run(app, lambda db, s=survivor: enable_user(db, BOB if s == ALICE else ALICE, actor=s))


def test_a_staff_account_without_a_password_cannot_be_signed_in_to(app: Flask) -> None:
    run(app, lambda db: service.create_staff(db, "new@vendor.example", None, actor=ALICE))

    with app.app_context():
        db = get_session()
        for guess in ("", "None", "password123"):
            assert service.authenticate(db, "new@vendor.example", guess) is None
        (event,) = db.scalars(select(AuditEvent)).all()
        assert event.details == {"email": "new@vendor.example", "role": "staff", "password": "not set"}
