"""The console's front page: how registrations stand (today, this week, all time), and how many
arrive each week from each LMS family.

A period's counts are over the registrations *received* in it (UTC), by where each
stands now (`registration_list.STANDINGS`, the same definitions the list filters
with), so each count links to exactly the list it counts:

- received: every registration received in the period;
- waiting for approval: a pending approval request, within the registration's lifetime;
- paid, not registered: a paid payment, not refunded, whose registration is not completed;
- completed, failed: the registration's state;
- expired: expired, or still open past its lifetime.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import ColumnElement, and_, case, func, select
from sqlalchemy.orm import Session

from portal.admin.registration_list import STANDINGS, start_of_day
from portal.models import Registration, utcnow
from portal.registration import labels

COUNTED = (
    "waiting",
    "outcome-unknown",
    "paid-not-registered",
    "completed",
    "awaiting-activation",
    "failed",
    "expired",
)
CHART_WEEKS = 12


@dataclass(frozen=True)
class Period:
    key: str  # today, week, all
    label: str
    since: date | None  # the first UTC day counted; None for all time


@dataclass(frozen=True)
class Counts:
    period: Period
    received: int
    by_standing: dict[str, int]  # STANDINGS slug -> count, for COUNTED


def periods(now: datetime) -> list[Period]:
    today = now.date()
    monday = today - timedelta(days=today.weekday())
    return [
        Period("today", "Today", today),
        Period("week", "This week", monday),
        Period("all", "All time", None),
    ]


def counts(db: Session, now: datetime | None = None) -> list[Counts]:
    """The overview's counts for today, this week and all time: one pass over the registrations."""
    now = now or utcnow()
    spans = periods(now)
    columns = []
    for period in spans:
        in_period = _received_since(period.since)
        columns.append(_count_where(in_period))
        columns.extend(_count_where(in_period, STANDINGS[slug].clause(now)) for slug in COUNTED)
    values = list(db.execute(select(*columns).select_from(Registration)).one())
    found = []
    width = 1 + len(COUNTED)
    for index, period in enumerate(spans):
        received, *by_standing = (int(value or 0) for value in values[index * width : (index + 1) * width])
        found.append(Counts(period, received, dict(zip(COUNTED, by_standing, strict=True))))
    return found


def _received_since(since: date | None) -> ColumnElement[bool] | None:
    return Registration.created_at >= start_of_day(since) if since is not None else None


def _count_where(*conditions: ColumnElement[bool] | None) -> ColumnElement[int]:
    kept = [condition for condition in conditions if condition is not None]
    if not kept:
        return func.count()
    return func.sum(case((and_(*kept), 1), else_=0))


# The chart


@dataclass(frozen=True)
class Segment:
    family: str  # slug, for the CSS class
    count: int
    y: float
    height: float


@dataclass(frozen=True)
class Bar:
    week: date  # its Monday
    total: int
    x: float
    segments: tuple[Segment, ...]


@dataclass(frozen=True)
class WeeklyChart:
    """Registrations received per week (Monday to Sunday, UTC) by LMS family, laid out for an SVG."""

    weeks: tuple[date, ...]
    families: tuple[tuple[str, str], ...]  # (slug, name) of the families that appear, legend order
    table: dict[date, dict[str, int]]  # week -> family slug -> count
    bars: tuple[Bar, ...]
    top: int  # the value of the chart's top line
    width: int = 640
    height: int = 240
    plot_top: int = 16
    plot_bottom: int = 208
    plot_left: int = 36
    bar_width: float = 0.0

    def total(self, week: date) -> int:
        return sum(self.table[week].values())

    def family_total(self, slug: str) -> int:
        return sum(row.get(slug, 0) for row in self.table.values())

    @property
    def grand_total(self) -> int:
        return sum(self.total(week) for week in self.weeks)


def weekly_chart(db: Session, now: datetime | None = None, weeks: int = CHART_WEEKS) -> WeeklyChart:
    """The last `weeks` weeks (this one included): one grouped query."""
    today = (now or utcnow()).date()
    this_monday = today - timedelta(days=today.weekday())
    mondays = tuple(this_monday - timedelta(weeks=back) for back in range(weeks - 1, -1, -1))
    bucket = case(
        *(
            (Registration.created_at >= start_of_day(monday), index)
            for index, monday in reversed(list(enumerate(mondays)))
        ),
        else_=-1,
    )
    found = db.execute(
        select(bucket, Registration.family, func.count())
        .where(Registration.created_at >= start_of_day(mondays[0]))
        .group_by(bucket, Registration.family)
    ).all()
    table: dict[date, dict[str, int]] = {monday: {} for monday in mondays}
    for index, family, count in found:
        if index >= 0:
            table[mondays[index]][family] = table[mondays[index]].get(family, 0) + count
    return _laid_out(mondays, table)


def _families_in(table: dict[date, dict[str, int]]) -> tuple[tuple[str, str], ...]:
    present = {family for row in table.values() for family, count in row.items() if count}
    ordered = [*labels.known_families(), (labels.OTHER_FAMILY, "Other LMS")]
    known = {slug for slug, _ in ordered}
    extra = sorted(present - known)  # a slug this version does not know: shown as itself
    return tuple((slug, name) for slug, name in ordered if slug in present) + tuple((s, s) for s in extra)


def _nice_top(largest: int) -> int:
    """A round value at or above `largest` for the chart's top line (at least 4)."""
    top = 4
    while top < largest:
        for factor in (2, 2.5, 2):
            top = int(top * factor)
            if top >= largest:
                break
    return top


def _laid_out(mondays: tuple[date, ...], table: dict[date, dict[str, int]]) -> WeeklyChart:
    families = _families_in(table)
    top = _nice_top(max((sum(row.values()) for row in table.values()), default=0))
    chart = WeeklyChart(weeks=mondays, families=families, table=table, bars=(), top=top)
    slot = (chart.width - chart.plot_left) / len(mondays)
    bar_width = slot * 0.7
    scale = (chart.plot_bottom - chart.plot_top) / top
    bars = []
    for index, monday in enumerate(mondays):
        y = float(chart.plot_bottom)
        segments = []
        for slug, _ in families:
            count = table[monday].get(slug, 0)
            if count:
                height = count * scale
                y -= height
                segments.append(Segment(slug, count, round(y, 2), round(height, 2)))
        x = chart.plot_left + index * slot + (slot - bar_width) / 2
        bars.append(Bar(monday, sum(table[monday].values()), round(x, 2), tuple(segments)))
    return WeeklyChart(
        weeks=mondays,
        families=families,
        table=table,
        bars=tuple(bars),
        top=top,
        bar_width=round(bar_width, 2),
    )
