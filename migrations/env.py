"""Alembic environment: the engine comes from the Flask app (portal.migrations)."""

from __future__ import annotations

from alembic import context

from portal.models import load_all

config = context.config
target_metadata = load_all()


def run_migrations_online() -> None:
    engine = config.attributes["engine"]
    with engine.connect() as connection:
        sqlite = connection.dialect.name == "sqlite"
        if sqlite:
            # A batch operation copies the table; with foreign keys enforced, the copy fails as
            # soon as other tables point at its rows. The pragma only applies outside a transaction.
            connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
            connection.commit()
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            render_as_batch=sqlite,
            compare_type=True,
            # Column types render by their public name (portal.models.UTCDateTime), not the
            # submodule that defines them, so migrations survive a reshuffle of the package.
            user_module_prefix="portal.models.",
        )
        with context.begin_transaction():
            context.run_migrations()
        if sqlite:
            connection.exec_driver_sql("PRAGMA foreign_keys=ON")
            connection.commit()


run_migrations_online()
