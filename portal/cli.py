"""Command-line tasks (`flask --app app ...`): thin wrappers over functions the tests call."""

from __future__ import annotations

import click
from flask import Flask, current_app
from flask.cli import AppGroup

from portal.migrations import new_revision, upgrade_database

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


def register_cli(app: Flask) -> None:
    app.cli.add_command(db_cli)
