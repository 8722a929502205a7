"""Alembic, driven from the app's own settings (`flask db upgrade`)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from flask import Flask

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"


def alembic_config(app: Flask) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["engine"] = app.extensions["db_engine"]
    return config


def upgrade_database(app: Flask, revision: str = "head") -> None:
    """Create or upgrade the schema to `revision`."""
    command.upgrade(alembic_config(app), revision)


def downgrade_database(app: Flask, revision: str) -> None:
    command.downgrade(alembic_config(app), revision)


def new_revision(app: Flask, message: str) -> None:
    """Write a migration for the difference between the models and the database."""
    command.revision(alembic_config(app), message=message, autogenerate=True)
