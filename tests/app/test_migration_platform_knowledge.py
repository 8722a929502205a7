"""Migration 0006 remembers the activation that registrations completed before it were completed with."""

from __future__ import annotations

from collections.abc import Callable

from flask import Flask
from sqlalchemy import text

from portal.migrations import upgrade_database

BEFORE = "0005"


def test_completed_registrations_keep_the_activation_they_were_completed_with(
    app_at_revision: Callable[[str], Flask],
) -> None:
    app = app_at_revision(BEFORE)
    engine = app.extensions["db_engine"]
    rows = [
        ("r-active", "completed", '{"autoActivate": true}'),
        ("r-inactive", "completed", '{"autoActivate": false}'),
        ("r-unsaid", "completed", '{"platformName": "x"}'),
        ("r-open", "reviewed", '{"autoActivate": true}'),
    ]
    with engine.begin() as connection:
        for public_id, state, overrides in rows:
            connection.execute(
                text(
                    "INSERT INTO registrations (public_id, ltiaas_registration_id, platform_url, "
                    "family_code, platform_version, supported_scopes, supported_messages, state, "
                    "overrides, created_at, updated_at, expires_at) VALUES (:id, :id, "
                    "'https://lms.example', '', '', '[]', '[]', :state, :overrides, :now, :now, :now)"
                ),
                {"id": public_id, "state": state, "overrides": overrides, "now": "2026-11-30 10:00:00+00:00"},
            )

    upgrade_database(app)

    with engine.connect() as connection:
        known = dict(connection.execute(text("SELECT public_id, platform_active FROM registrations")).all())
    assert {key: None if value is None else bool(value) for key, value in known.items()} == {
        "r-active": True,
        "r-inactive": False,
        "r-unsaid": None,
        "r-open": None,
    }
