"""Command-line tasks (`flask --app app ...`): thin wrappers over functions the tests call."""

from __future__ import annotations

from collections.abc import Callable

import click
from flask import Flask, current_app
from flask.cli import AppGroup, with_appcontext
from sqlalchemy.orm import Session

from portal.admin import platforms
from portal.auth import erasure
from portal.auth import service as accounts
from portal.billing import receipts
from portal.db import get_session
from portal.ltiaas import get_ltiaas
from portal.migrations import check_database, new_revision, upgrade_database
from portal.models import User
from portal.preflight import failed, run_preflight, summary
from portal.registration.payments import payments

db_cli = AppGroup("db", help="Create, upgrade and evolve the database schema.")


@db_cli.command("upgrade")
@click.argument("revision", default="head")
def db_upgrade(revision: str) -> None:
    """Create or upgrade the schema (default: to the newest migration)."""
    upgrade_database(current_app, revision)
    click.echo(f"database at {revision}")


@db_cli.command("revision")
@click.option("-m", "--message", required=True)
def db_revision(message: str) -> None:
    """Write a new migration from the difference between the models and the database."""
    new_revision(current_app, message)


@db_cli.command("check")
def db_check() -> None:
    """Fail, naming the differences, unless the database is at head and matches the models."""
    from alembic.util import CommandError

    try:
        check_database(current_app)
    except CommandError as error:
        raise click.ClickException(str(error)) from error
    click.echo("database matches the models")


CLI_ACTOR = "cli"


def _change_account(change: Callable[[Session], User]) -> User:
    """Run `change` and commit; an AccountError becomes the command's error message."""
    db = get_session()
    try:
        user = change(db)
    except accounts.AccountError as error:
        raise click.ClickException(str(error)) from error
    db.commit()
    return user


@click.command("create-staff")
@click.argument("email")
@click.password_option("--password", help="The new user's password (prompted for when left out).")
@with_appcontext
def create_staff(email: str, password: str) -> None:
    """Create a staff user (one of the vendor's people)."""
    user = _change_account(lambda db: accounts.create_staff(db, email, password, actor=CLI_ACTOR))
    click.echo(f"staff user {user.email} created")


@click.command("reset-password")
@click.argument("email")
@click.password_option("--password", help="The new password (prompted for when left out).")
@with_appcontext
def reset_password(email: str, password: str) -> None:
    """Set a new password for a user."""
    user = _change_account(lambda db: accounts.reset_password(db, email, password, actor=CLI_ACTOR))
    click.echo(f"password of {user.email} reset")
    if user.is_disabled:
        click.echo(
            f"{user.email} is disabled, so it cannot sign in yet: `flask enable-user {user.email}` lets it"
        )


@click.command("disable-user")
@click.argument("email")
@with_appcontext
def disable_user(email: str) -> None:
    """Disable a user: no more sign-ins, and signed out on their next request."""
    user = _change_account(lambda db: accounts.disable_user(db, email, actor=CLI_ACTOR))
    click.echo(f"user {user.email} disabled")


@click.command("enable-user")
@click.argument("email")
@with_appcontext
def enable_user(email: str) -> None:
    """Let a disabled user sign in again, with their password as it was (e.g. a staff member disabled
    by mistake, when no other staff member can sign in to the console to do it)."""
    user = _change_account(lambda db: accounts.enable_user(db, email, actor=CLI_ACTOR))
    click.echo(f"user {user.email} enabled")


@click.command("erase-user")
@click.argument("email")
@click.option("--yes", is_flag=True, help="Erase without asking for confirmation.")
@with_appcontext
def erase_user(email: str, yes: bool) -> None:
    """Erase a customer's personal data (an erasure request, GDPR art. 17): their address, organisation
    and password; what they left open closes. Payments and registered platforms are kept. Staff
    accounts are disabled instead. Cannot be undone."""
    db = get_session()
    user = accounts.find_user(db, email)
    if user is None:
        raise click.ClickException(f"No user with the email {accounts.normalise_email(email)}.")
    was = user.email
    if not user.is_erased and not yes:
        _confirm_erasure(db, user)
    try:
        erased = erasure.erase_customer(db, user, CLI_ACTOR)
    except accounts.AccountError as error:
        raise click.ClickException(str(error)) from error
    db.commit()
    if erased:
        payments().end_open_sessions(db, user)
        click.echo(f"personal data of {was} erased; the account is now {user.email}")
    else:
        click.echo(f"{user.email} was erased already; nothing changed")


def _confirm_erasure(db: Session, user: User) -> None:
    """Say what erasing `user` does, and go on only if the operator says yes (else exit 1)."""
    try:
        erasure.check_erasable(user)
    except accounts.AccountError as error:
        raise click.ClickException(str(error)) from error
    preview = erasure.preview(db, user)
    click.echo(
        f"Erasing {user.email} withdraws {preview.pending_requests} pending request(s) and closes "
        f"{preview.unfinished_registrations} unfinished registration(s); its {preview.payments} payment(s) "
        "are kept, with its address."
    )
    click.confirm("Erase its personal data? This cannot be undone", abort=True)


@click.command("check")
@with_appcontext
def check() -> None:
    """Check the settings, then LTIAAS, Stripe, the database and Redis with the real keys."""
    findings = run_preflight(current_app)
    for finding in findings:
        click.echo(finding.line())
    click.echo(summary(findings))
    if failed(findings):
        raise click.exceptions.Exit(1)


@click.command("fetch-receipts")
@click.option(
    "--limit", default=500, show_default=True, type=click.IntRange(min=1), help="At most this many payments."
)
@with_appcontext
def fetch_receipts(limit: int) -> None:
    """Fetch from Stripe the receipts of paid payments that have none (one read each)."""
    fetched = []
    for one in receipts.fetch_missing_receipts(get_session(), limit):
        click.echo(one.line())  # as it goes: each line is one Stripe read
        fetched.append(one)
    click.echo(receipts.summary(fetched))
    if receipts.failed(fetched):
        raise click.exceptions.Exit(1)


@click.command("refresh-platforms")
@with_appcontext
def refresh_platforms() -> None:
    """Read LTIAAS's platforms (one call) and remember whether each registration's is active, e-mailing
    customers whose LMS became active (e.g. activated on LTIAAS's dashboard). For a timer."""
    refresh = platforms.refresh_remembered(get_session(), get_ltiaas())
    for change in refresh.changes:
        click.echo(change.line())
    click.echo(refresh.summary())
    if refresh.error is not None:
        raise click.exceptions.Exit(1)


def register_cli(app: Flask) -> None:
    app.cli.add_command(db_cli)
    for command in (
        create_staff,
        reset_password,
        disable_user,
        enable_user,
        erase_user,
        check,
        fetch_receipts,
        refresh_platforms,
    ):
        app.cli.add_command(command)
