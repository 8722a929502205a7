"""The audit trail as staff read it: every `AuditEvent`, newest first, filtered by actor, action,
registration and date, a page at a time (keyset on the id), or all of it as CSV (`spreadsheet`:
quoted, formulas made inert).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Select, or_, select
from sqlalchemy.orm import Session

from portal.admin.spreadsheet import csv_line, heading
from portal.models import AuditEvent, Registration

PAGE_SIZE = 50
EXPORT_BATCH = 500
CSV_COLUMNS = ("time (UTC)", "actor", "action", "registration", "from state", "to state", "details")


# Every account's every visit: the events that bury the others in a busy trail.
SIGN_IN_ACTIONS = ("user:signed-in", "user:signed-out")


@dataclass(frozen=True)
class TrailFilters:
    """What the staff narrowed the trail to; empty fields match everything.

    `action` matches that action exactly, or every action of that family: "user"
    (or "user:") matches "user:disabled", "user:signed-in", ...
    """

    actor: str = ""
    action: str = ""
    registration: str = ""
    since: date | None = None
    until: date | None = None
    without_sign_ins: bool = False

    def conditions(self) -> list[ColumnElement[bool]]:
        found: list[ColumnElement[bool]] = []
        if self.actor:
            found.append(AuditEvent.actor == self.actor.strip().lower())
        if self.action:
            family = self.action.strip().rstrip(":")
            found.append(
                or_(AuditEvent.action == family, AuditEvent.action.startswith(f"{family}:", autoescape=True))
            )
        if self.registration:
            found.append(Registration.public_id == self.registration.strip())
        if self.since:
            found.append(AuditEvent.created_at >= _start_of(self.since))
        if self.until:
            found.append(AuditEvent.created_at < _start_of(self.until + timedelta(days=1)))
        if self.without_sign_ins:
            found.append(AuditEvent.action.not_in(SIGN_IN_ACTIONS))
        return found

    def as_args(self) -> dict[str, str]:
        """The filters as query arguments, for links that keep them (pages, the CSV export)."""
        args = {
            "actor": self.actor,
            "action": self.action,
            "registration": self.registration,
            "since": self.since.isoformat() if self.since else "",
            "until": self.until.isoformat() if self.until else "",
            "without_sign_ins": "y" if self.without_sign_ins else "",
        }
        return {name: value for name, value in args.items() if value}


def _start_of(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


@dataclass(frozen=True)
class TrailEntry:
    event: AuditEvent
    registration: str | None  # the registration's public id


@dataclass(frozen=True)
class TrailPage:
    entries: list[TrailEntry]
    older: int | None  # `before` for the next (older) page, if there is one
    newer: int | None  # `after` for the previous (newer) page, if there is one


def _selection(filters: TrailFilters) -> Select[AuditEvent, str]:
    return (
        select(AuditEvent, Registration.public_id)
        .outerjoin(Registration, AuditEvent.registration_id == Registration.id)
        .where(*filters.conditions())
    )


def trail_page(
    db: Session,
    filters: TrailFilters,
    before: int | None = None,
    after: int | None = None,
    page_size: int = PAGE_SIZE,
) -> TrailPage:
    """One page of the filtered trail, newest first: the newest page, or the one just older than
    event `before`, or just newer than event `after`."""
    query = _selection(filters)
    if after is not None:
        rows = db.execute(
            query.where(AuditEvent.id > after).order_by(AuditEvent.id.asc()).limit(page_size + 1)
        ).all()
        if len(rows) <= page_size:  # back at the top: the newest page, full
            return trail_page(db, filters, page_size=page_size)
        rows = list(reversed(rows[:page_size]))
        more_newer = more_older = True
    else:
        if before is not None:
            query = query.where(AuditEvent.id < before)
        rows = list(db.execute(query.order_by(AuditEvent.id.desc()).limit(page_size + 1)).all())
        more_older = len(rows) > page_size
        rows = rows[:page_size]
        more_newer = before is not None and bool(rows)
    entries = [TrailEntry(event, public_id) for event, public_id in rows]
    return TrailPage(
        entries=entries,
        older=entries[-1].event.id if more_older and entries else None,
        newer=entries[0].event.id if more_newer and entries else None,
    )


def csv_row(entry: TrailEntry) -> list[str]:
    event = entry.event
    return [
        event.created_at.strftime("%Y-%m-%d %H:%M:%S"),
        event.actor,
        event.action,
        entry.registration or "",
        event.from_state or "",
        event.to_state or "",
        json.dumps(event.details or {}, sort_keys=True, ensure_ascii=False) if event.details else "",
    ]


def csv_lines(db: Session, filters: TrailFilters) -> Iterator[str]:
    """The filtered trail as CSV, newest first, a line at a time (read in batches, so it streams)."""
    yield heading(CSV_COLUMNS)
    before: int | None = None
    while True:
        query = _selection(filters).order_by(AuditEvent.id.desc()).limit(EXPORT_BATCH)
        if before is not None:
            query = query.where(AuditEvent.id < before)
        rows = db.execute(query).all()
        for event, public_id in rows:
            yield csv_line(csv_row(TrailEntry(event, public_id)))
        if len(rows) < EXPORT_BATCH:
            return
        before = rows[-1][0].id
        db.expunge_all()  # a long export must not keep every event it wrote in memory


def details_summary(details: dict[str, Any] | None, limit: int = 160) -> list[tuple[str, str]]:
    """An event's details as short (key, value) pairs for the page (the CSV has them whole)."""
    pairs = []
    for key, value in sorted((details or {}).items()):
        text = value if isinstance(value, str) else json.dumps(value, sort_keys=True, ensure_ascii=False)
        pairs.append((key, text if len(text) <= limit else f"{text[: limit - 1]}…"))
    return pairs
