"""The stand-ins' app in the benchmark: the portal's sandbox (LTIAAS, LMS, Stripe) as its own server.

`gunicorn "benchmarks.standin_app:create_standin_app()"`, configured by the environment like the
portal. One change: no pool limit on database connections. The stand-ins serve many threads (a
slow LTIAAS only sleeps, holding its request's connection), and their call log writes with a
connection of its own, so a burst of requests would wait on a sized pool for connections the other
waiting requests hold. LTIAAS and Stripe have no such limit for the portal to run into; each
connection here is a cheap SQLite file handle.
"""

from __future__ import annotations

from flask import Flask
from sqlalchemy.orm import sessionmaker
from sqlalchemy.pool import NullPool

from portal import create_app
from portal.db import build_engine


def create_standin_app() -> Flask:
    app = create_app()
    if not app.config["SANDBOX_ENABLED"]:
        raise RuntimeError("the stand-ins need the sandbox: run them without LTIAAS_URL, in development")
    app.extensions["db_engine"].dispose()
    engine = build_engine(app.config["DATABASE_URL"], poolclass=NullPool)
    app.extensions["db_engine"] = engine
    app.extensions["db_sessionmaker"] = sessionmaker(engine, expire_on_commit=False)
    return app
