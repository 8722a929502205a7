"""The sandbox's command-line tasks (only registered when the sandbox is on)."""

from __future__ import annotations

import click
from flask import current_app
from flask.cli import AppGroup

from portal.db import get_session
from portal.sandbox.seed import MANUAL_PLATFORM, seed_manual_platform
from portal.sandbox.staff_account import SANDBOX_STAFF_PASSWORD, ensure_sandbox_staff

sandbox_cli = AppGroup("sandbox", help="The development sandbox (LTIAAS, LMS and Stripe stand-ins).")


@sandbox_cli.command("seed")
def seed() -> None:
    """Add what the sandbox starts with (idempotent): a platform registered by hand at LTIAAS."""
    added = seed_manual_platform(get_session())
    click.echo(f"{'added' if added else 'kept'} the hand-registered platform {MANUAL_PLATFORM['name']!r}")


@sandbox_cli.command("staff")
def staff() -> None:
    """Create (or restore) the sandbox's staff account, and print how to sign in to the console."""
    db = get_session()
    user = ensure_sandbox_staff(db)
    db.commit()
    console = f"{current_app.config['PORTAL_URL']}/admin/"
    click.echo(f"Staff console:  {console}  (sign in as {user.email}, password {SANDBOX_STAFF_PASSWORD})")
