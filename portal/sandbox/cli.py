"""The sandbox's command-line tasks (only registered when the sandbox is on)."""

from __future__ import annotations

import click
from flask.cli import AppGroup

from portal.db import get_session
from portal.sandbox.seed import MANUAL_PLATFORM, seed_manual_platform

sandbox_cli = AppGroup("sandbox", help="The development sandbox (LTIAAS, LMS and Stripe stand-ins).")


@sandbox_cli.command("seed")
def seed() -> None:
    """Add what the sandbox starts with (idempotent): a platform registered by hand at LTIAAS."""
    added = seed_manual_platform(get_session())
    click.echo(f"{'added' if added else 'kept'} the hand-registered platform {MANUAL_PLATFORM['name']!r}")
