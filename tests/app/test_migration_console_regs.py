"""The staff console's migration fills in what existing registrations already say: their LMS family,
the policy where it shows, and the account that worked on each."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from flask import Flask
from sqlalchemy import Engine, MetaData, insert, select

from portal.migrations import upgrade_database
from portal.models import utcnow

BEFORE = "0007"  # the revision this migration follows
NOW = utcnow()


def tables(engine: Engine) -> Any:
    metadata = MetaData()
    metadata.reflect(engine)
    return metadata.tables


def add(engine: Engine, table: str, **values: Any) -> int:
    with engine.begin() as connection:
        result = connection.execute(insert(tables(engine)[table]).values(**values))
        (key,) = result.inserted_primary_key or (None,)
        assert key is not None
        return int(key)


def add_user(engine: Engine, email: str) -> int:
    return add(
        engine, "users", email=email, password_hash="!", role="customer", is_disabled=False, created_at=NOW
    )


def add_registration(engine: Engine, name: str, family_code: str, overrides: Any = None) -> int:
    return add(
        engine,
        "registrations",
        public_id=f"pub-{name}",
        ltiaas_registration_id=f"reg-{name}",
        platform_url=f"https://{name}.example.edu",
        family_code=family_code,
        platform_version="",
        supported_scopes=[],
        supported_messages=[],
        state="reviewed",
        overrides=overrides,
        created_at=NOW,
        updated_at=NOW,
        expires_at=NOW + timedelta(hours=1),
    )


def test_existing_registrations_get_their_family_policy_and_customer(
    app_at_revision: Callable[[str], Flask],
) -> None:
    app = app_at_revision(BEFORE)
    engine = app.extensions["db_engine"]
    payer, asker, chooser = (
        add_user(engine, f"{who}@school.example") for who in ("payer", "asker", "chooser")
    )
    paid = add_registration(engine, "paid", "moodle", {"platformName": "Paid Moodle", "messages": []})
    payment = {"public_id": "pay-1", "status": "paid", "attempt": 1, "created_at": NOW, "updated_at": NOW}
    add(engine, "payments", registration_id=paid, user_id=payer, **payment)
    asked = add_registration(engine, "asked", " Desire2Learn ")
    request = {"public_id": "req-1", "state": "pending", "requested_choices": {}, "created_at": NOW}
    add(
        engine,
        "approval_requests",
        registration_id=asked,
        requested_by_id=asker,
        requested_by_email="a@s",
        **request,
    )
    paid_too = {**payment, "public_id": "pay-2"}
    add(engine, "payments", registration_id=asked, user_id=payer, **paid_too)  # the asker still wins
    chosen = add_registration(engine, "chosen", "sakailms.org")
    for action, actor, was in (
        ("received", "lms-admin", None),
        ("state:reviewed", "payer@school.example", "completing"),  # a failed completion going back
        ("state:reviewed", "chooser@school.example", "received"),
        ("state:reviewed", "asker@school.example", "reviewed"),  # a later change of choices
    ):
        add(
            engine,
            "audit_events",
            registration_id=chosen,
            actor=actor,
            action=action,
            from_state=was,
            details={},
            created_at=NOW,
        )
    nobody = add_registration(engine, "nobody", "")
    unknown_lms = add_registration(engine, "unknown", "Mystery LMS")

    upgrade_database(app)

    with engine.connect() as connection:
        registrations = tables(engine)["registrations"]
        found = {
            row.id: (row.family, row.policy, row.customer_id, row.platform_name)
            for row in connection.execute(select(registrations))
        }
    assert found == {
        paid: ("moodle", None, payer, "Paid Moodle"),
        asked: ("brightspace", "live-approval", asker, None),
        chosen: ("sakai", None, chooser, None),
        nobody: ("other", None, None, None),
        unknown_lms: ("other", None, None, None),
    }
