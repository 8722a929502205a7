"""How fast the staff console lists registrations when the portal has seen many of them.

Builds a throwaway database with the real migrations (so the real indexes), bulk-inserts
`--console-rows` registrations with a realistic spread (two years, growing; LMS families,
states and policies in plausible shares; a few thousand customers, payments and approval
requests), then renders pages of the console through the app as a signed-in staff member
and prints the median (p50) and p99 of each, in milliseconds:

    .venv/bin/python benchmarks/console.py --console-rows 100000
    .venv/bin/python benchmarks/console.py --console-rows 100000 --database postgresql+psycopg://...

SQLite is the default (a file in a temporary folder); `--database` takes a PostgreSQL URL
(its tables are dropped and rebuilt: use a throwaway database). Whole requests are timed
(routing, the gate, the queries, the template), in one process, one request at a time.
No target is asserted here: compare runs before and after a change.
"""

from __future__ import annotations

import argparse
import logging
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, insert, select, text

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from portal import create_app
from portal.db import Base, get_session
from portal.migrations import upgrade_database
from portal.models import ApprovalRequest, Payment, Registration, User, load_all, new_public_id

FAMILIES = [
    ("moodle", 35),
    ("canvas", 30),
    ("brightspace", 12),
    ("blackboard", 10),
    ("sakai", 6),
    ("schoology", 3),
]
FAMILY_CODES = {"brightspace": "desire2learn", "blackboard": "BlackboardLearn", "sakai": "sakailms.org"}
STATES = [
    ("completed", 55),
    ("expired", 20),
    ("reviewed", 9),
    ("failed", 8),
    ("received", 6),
    ("completing", 2),
]
POLICIES = [("self-service", 60), ("review-later", 25), ("live-approval", 15)]
TOWNS = ("springfield", "shelbyville", "ogdenville", "north-haverbrook", "capital-city", "brockway")
KINDS = ("university", "college", "state", "tech", "academy", "high", "institute", "district")
SCHOOLS = [
    f"{town}-{kind}" for town in (*TOWNS, "cypress-creek", "waverly-hills", "monorail") for kind in KINDS
]
BATCH = 5000
STAFF_EMAIL = "staff@benchmark.example"


def pick(choices: list[tuple[str, int]], rnd: random.Random) -> str:
    return rnd.choices([value for value, _ in choices], weights=[weight for _, weight in choices])[0]


def build_app(database: str) -> Any:
    app = create_app(
        {
            "PORTAL_ENV": "development",
            "SECRET_KEY": "benchmark-secret-key-that-is-long-enough",
            "DATABASE_URL": database,
            "PORTAL_URL": "http://localhost",
            "STRIPE_PRICE_ID": "",
            "RATELIMIT_ENABLED": False,
            "LOG_LEVEL": "WARNING",
        }
    )
    engine: Engine = app.extensions["db_engine"]
    if engine.dialect.name != "sqlite":
        load_all()
        with engine.begin() as connection:
            Base.metadata.drop_all(connection)
            connection.execute(text("DROP TABLE IF EXISTS alembic_version"))
    upgrade_database(app)
    return app


def seed(app: Any, rows: int, rnd: random.Random) -> None:
    """`rows` registrations over two years (more recent weeks busier), bulk-inserted."""
    engine: Engine = app.extensions["db_engine"]
    now = datetime.now(UTC)
    customers = max(10, rows // 40)
    with engine.begin() as connection:
        connection.execute(
            insert(User),
            [
                {
                    "email": STAFF_EMAIL,
                    "password_hash": "!",
                    "role": "staff",
                    "is_disabled": False,
                    "created_at": now,
                }
            ]
            + [
                {
                    "email": f"admin{n}@{rnd.choice(SCHOOLS)}.example.edu",
                    "password_hash": "!",
                    "role": "customer",
                    "organisation": "Benchmark",
                    "is_disabled": False,
                    "created_at": now,
                }
                for n in range(customers)
            ],
        )
        first_customer = connection.execute(
            select(User.id).where(User.role == "customer").limit(1)
        ).scalar_one()
    started = time.perf_counter()
    for offset in range(0, rows, BATCH):
        registrations, payments, approvals = [], [], []
        for index in range(offset, min(rows, offset + BATCH)):
            # sqrt skews towards recent dates: the portal is busier now than two years ago.
            created = now - timedelta(days=730 * (1 - rnd.random() ** 0.5), seconds=rnd.randrange(86400))
            family, state, policy = pick(FAMILIES, rnd), pick(STATES, rnd), pick(POLICIES, rnd)
            host = f"lms{index}.{rnd.choice(SCHOOLS)}.edu"
            customer = first_customer + rnd.randrange(customers) if state != "received" else None
            registrations.append(
                {
                    "id": index + 1,
                    "public_id": new_public_id(),
                    "ltiaas_registration_id": f"reg-{index}",
                    "platform_url": f"https://{host}",
                    "family_code": FAMILY_CODES.get(family, family),
                    "family": family,
                    "policy": policy,
                    "customer_id": customer,
                    "platform_version": "1.0",
                    "supported_scopes": ["openid"],
                    "supported_messages": [{"type": "LtiResourceLinkRequest", "placements": []}],
                    "state": state,
                    "overrides": {"platformName": f"{host} ({family})", "autoActivate": True, "messages": []}
                    if state != "received"
                    else None,
                    "platform_name": f"{host} ({family})" if state != "received" else None,
                    "platform_id": f"P{index}" if state == "completed" else None,
                    "problem": "outcome_unknown" if state == "failed" and rnd.random() < 0.2 else None,
                    "created_at": created,
                    "updated_at": created,
                    "expires_at": created + timedelta(hours=1),
                    "completed_at": created + timedelta(minutes=5) if state == "completed" else None,
                }
            )
            if customer is not None and rnd.random() < 0.15:
                payments.append(
                    {
                        "public_id": new_public_id(),
                        "registration_id": index + 1,
                        "user_id": customer,
                        "status": "paid",
                        "attempt": 1,
                        "amount_total": 4900,
                        "currency": "eur",
                        "paid_at": created,
                        "created_at": created,
                        "updated_at": created,
                    }
                )
            if customer is not None and policy == "live-approval" and state != "received":
                approvals.append(
                    {
                        "public_id": new_public_id(),
                        "registration_id": index + 1,
                        "requested_by_id": customer,
                        "requested_by_email": "admin@benchmark.example",
                        "state": "approved" if state == "completed" else "pending",
                        "requested_choices": {},
                        "created_at": created,
                    }
                )
        with engine.begin() as connection:
            connection.execute(insert(Registration), registrations)
            if payments:
                connection.execute(insert(Payment), payments)
            if approvals:
                connection.execute(insert(ApprovalRequest), approvals)
    with engine.begin() as connection:
        connection.execute(text("ANALYZE"))
    print(f"seeded {rows} registrations in {time.perf_counter() - started:.1f} s ({engine.dialect.name})")


def measure(app: Any, urls: dict[str, str], repeat: int) -> None:
    browser = app.test_client()
    with app.app_context():
        staff = get_session().scalar(select(User).where(User.email == STAFF_EMAIL))
        assert staff is not None
    with browser.session_transaction() as session:
        session["_user_id"] = staff.get_id()
        session["_fresh"] = True
    print(f"\n{'page':46} {'rows':>5} {'p50 ms':>8} {'p99 ms':>8}")
    for name, url in urls.items():
        samples = []
        for attempt in range(repeat + 3):
            started = time.perf_counter()
            response = browser.get(url)
            elapsed = (time.perf_counter() - started) * 1000
            if response.status_code != 200:
                raise RuntimeError(f"{name}: HTTP {response.status_code}")
            if attempt >= 3:  # the first ones warm caches and compile templates
                samples.append(elapsed)
        samples.sort()
        p99 = samples[min(len(samples) - 1, int(len(samples) * 0.99))]
        shown = response.get_data(as_text=True).count('class="registration-row"')
        print(f"{name:46} {shown:5} {statistics.median(samples):8.1f} {p99:8.1f}")


def deep_cursor(app: Any, page: int) -> str:
    """The public id at the bottom of page `page` (newest first), to time a page deep in the list."""
    with app.app_context():
        query = select(Registration.public_id).order_by(
            Registration.created_at.desc(), Registration.id.desc()
        )
        return get_session().scalar(query.offset(page * 50 - 1).limit(1)) or ""


def main() -> None:
    logging.getLogger("portal").setLevel(logging.WARNING)
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--console-rows", type=int, default=100_000, help="registrations to seed")
    parser.add_argument("--database", default="", help="a PostgreSQL URL (default: a temporary SQLite file)")
    parser.add_argument("--repeat", type=int, default=200, help="requests timed per page")
    parser.add_argument("--seed", type=int, default=9)
    options = parser.parse_args()

    with tempfile.TemporaryDirectory() as folder:
        database = options.database or f"sqlite:///{Path(folder) / 'console.db'}"
        app = build_app(database)
        seed(app, options.console_rows, random.Random(options.seed))  # noqa: S311 - test data, not secrets
        month_ago = (datetime.now(UTC) - timedelta(days=30)).date()
        listing = "/admin/registrations/"
        urls = {
            "first page": listing,
            "page 200 (keyset)": f"{listing}?after={deep_cursor(app, 200)}",
            "state + family": f"{listing}?state=completed&family=canvas",
            "state + family + search (address)": f"{listing}?state=completed&family=canvas&q=springfield",
            "search, rare (customer email)": f"{listing}?q=admin17%40",
            "outcome unknown, last 30 days": f"{listing}?state=outcome-unknown&since={month_ago}",
            "overview (counts and chart)": "/admin/",
        }
        measure(app, urls, options.repeat)
        app.extensions["db_engine"].dispose()


if __name__ == "__main__":
    main()
