"""Every registration the portal saw, for the staff: where each stands, filters, search, and keyset pages.

Newest first, ordered by (created_at, id) and paged by keyset (`after`/`before` a
registration's public id), so every page costs the same however deep it is; the
indexes on (created_at, id), (state, created_at, id) and (family, created_at, id)
serve the sort and the common filters. The overview counts with the same `STANDINGS`,
so a count and the list it links to always agree.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, TypeVarTuple

from sqlalchemy import ColumnElement, Select, and_, exists, func, or_, select
from sqlalchemy.orm import Session

from portal.admin.settling import answer_lost_clause, needs_settling, needs_settling_clause
from portal.config import ApprovalPolicy
from portal.models import (
    OPEN_STATES,
    ApprovalRequest,
    ApprovalState,
    Payment,
    PaymentStatus,
    Problem,
    Registration,
    RegistrationState,
    User,
    utcnow,
)

PAGE_SIZE = 50
# Up to this many accounts matching a search go into the list's query by id; more, by subquery.
MAX_LISTED_CUSTOMERS = 500
# A search looks among this many of the newest registrations first (see `_search_page`).
SEARCH_WINDOW = 2000
UNRECORDED_POLICY = "unrecorded"

Clause = Callable[[datetime], ColumnElement[bool]]
_Columns = TypeVarTuple("_Columns")


def _open_until_now(now: datetime) -> ColumnElement[bool]:
    return Registration.expires_at > now


def _waiting(now: datetime) -> ColumnElement[bool]:
    pending = select(ApprovalRequest.registration_id).where(
        ApprovalRequest.state == ApprovalState.PENDING.value
    )
    return and_(Registration.id.in_(pending), Registration.expires_at > now)


def _paid_not_registered(now: datetime) -> ColumnElement[bool]:
    paid = select(Payment.registration_id).where(
        Payment.status == PaymentStatus.PAID.value, Payment.refunded_at.is_(None)
    )
    return and_(Registration.id.in_(paid), Registration.state != RegistrationState.COMPLETED.value)


def _expired(now: datetime) -> ColumnElement[bool]:
    """Expired, or still open past its lifetime (a page that looks at it next marks it expired),
    unless LTIAAS's answer to its last attempt was lost: that one needs settling instead."""
    return or_(
        Registration.state == RegistrationState.EXPIRED.value,
        and_(
            Registration.state.in_([state.value for state in OPEN_STATES]),
            Registration.expires_at <= now,
            _no_answer_lost(),
        ),
    )


def _no_answer_lost() -> ColumnElement[bool]:
    return or_(Registration.problem.is_(None), Registration.problem != Problem.UNCONFIRMED.value)


def _with_approval(*states: ApprovalState) -> Select[int]:
    return select(ApprovalRequest.registration_id).where(
        ApprovalRequest.state.in_([state.value for state in states])
    )


def _choices_saved(now: datetime) -> ColumnElement[bool]:
    """Open with its choices saved, and nothing more to say of it: not waiting for the staff nor
    declined by them, and no answer from LTIAAS lost."""
    return and_(
        Registration.state == RegistrationState.REVIEWED.value,
        _open_until_now(now),
        Registration.id.not_in(_with_approval(ApprovalState.PENDING, ApprovalState.REJECTED)),
        _no_answer_lost(),
    )


def _declined(now: datetime) -> ColumnElement[bool]:
    return and_(
        Registration.state == RegistrationState.REVIEWED.value,
        _open_until_now(now),
        Registration.id.in_(_with_approval(ApprovalState.REJECTED)),
    )


def _in_state(state: RegistrationState, only_open_ones: bool = False) -> Clause:
    def clause(now: datetime) -> ColumnElement[bool]:
        if only_open_ones:
            return and_(Registration.state == state.value, _open_until_now(now))
        return Registration.state == state.value

    return clause


def _awaiting_activation(now: datetime) -> ColumnElement[bool]:
    """Registered, but its platform inactive (as the portal last knew it), never active yet, and not
    deleted: the LMS cannot launch the tool until a staff member activates it."""
    return and_(_registered_inactive(), Registration.platform_active_since.is_(None))


def _deactivated(now: datetime) -> ColumnElement[bool]:
    """Registered, and its platform was active once but is inactive now (deactivated since)."""
    return and_(_registered_inactive(), Registration.platform_active_since.is_not(None))


def _registered_inactive() -> ColumnElement[bool]:
    return and_(
        Registration.state == RegistrationState.COMPLETED.value,
        Registration.platform_active.is_(False),
        Registration.platform_deleted_at.is_(None),
    )


@dataclass(frozen=True)
class Standing:
    """A way a registration can stand now, as a filter of the list and a count of the overview."""

    label: str
    clause: Clause


# slug -> standing. Some overlap (a paid, expired registration is both; a registered one awaiting
# activation is registered); a row's label (`standing_label`) is the most telling that applies.
STANDINGS: dict[str, Standing] = {
    "received": Standing("Opened, nothing chosen yet", _in_state(RegistrationState.RECEIVED, True)),
    "reviewed": Standing("Choices saved, not registered yet", _choices_saved),
    "waiting": Standing("Waiting for approval", _waiting),
    "declined": Standing("Declined by the staff", _declined),
    "completing": Standing("Being registered (or stuck)", _in_state(RegistrationState.COMPLETING)),
    "answer-lost": Standing(
        "LTIAAS's answer lost: may be registered, can be tried again", answer_lost_clause
    ),
    "outcome-unknown": Standing("Outcome unknown: to settle", needs_settling_clause),
    "paid-not-registered": Standing("Paid, not registered", _paid_not_registered),
    "completed": Standing("Registered", _in_state(RegistrationState.COMPLETED)),
    "awaiting-activation": Standing("Registered, awaiting activation", _awaiting_activation),
    "deactivated": Standing("Registered, deactivated since", _deactivated),
    "failed": Standing("Not registered (failed)", _in_state(RegistrationState.FAILED)),
    "expired": Standing("Expired", _expired),
}

POLICY_LABELS: dict[str, str] = {
    ApprovalPolicy.SELF_SERVICE.value: "Self-service",
    ApprovalPolicy.REVIEW_LATER.value: "Review later",
    ApprovalPolicy.LIVE_APPROVAL.value: "Live approval",
    UNRECORDED_POLICY: "Not recorded",
}


@dataclass(frozen=True)
class Filters:
    """What the staff asked for; empty means "any". Dates are UTC days, both included."""

    state: str = ""  # a STANDINGS slug
    family: str = ""  # a family slug (labels), "other" for the rest
    policy: str = ""  # a POLICY_LABELS key
    customer: str = ""  # the customer account's email
    since: date | None = None
    until: date | None = None
    q: str = ""  # words in the LMS address, the customer's email or the platform name, or an id

    def to_args(self) -> dict[str, str]:
        """The query-string arguments that give these filters back (empty ones left out)."""
        args = {}
        for field in fields(self):
            value = getattr(self, field.name)
            if value:
                args[field.name] = value.isoformat() if isinstance(value, date) else str(value)
        return args

    @property
    def any(self) -> bool:
        return bool(self.to_args())


@dataclass(frozen=True)
class Row:
    """One line of the list: a registration with who worked on it, its payment and approval."""

    registration: Registration
    customer_email: str | None
    payment_status: str | None
    refunded: bool
    approval_state: str | None


@dataclass(frozen=True)
class ListPage:
    rows: list[Row]
    # Cursors for the neighbouring pages (None: there is none).
    newer: str | None = None
    older: str | None = None
    # The cursor given names no registration: this is the first page instead.
    stale_cursor: bool = False


def start_of_day(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


def filter_clauses(db: Session, filters: Filters, now: datetime) -> list[ColumnElement[bool]]:
    """WHERE clauses for `filters`, on registrations alone (the search's last, when there is one)."""
    clauses: list[ColumnElement[bool]] = []
    if filters.state:
        clauses.append(STANDINGS[filters.state].clause(now))
    if filters.family:
        clauses.append(Registration.family == filters.family)
    if filters.policy == UNRECORDED_POLICY:
        clauses.append(Registration.policy.is_(None))
    elif filters.policy:
        clauses.append(Registration.policy == filters.policy)
    if filters.customer:
        account = select(User.id).where(User.email == filters.customer.strip().lower()).scalar_subquery()
        clauses.append(Registration.customer_id == account)
    if filters.since:
        clauses.append(Registration.created_at >= start_of_day(filters.since))
    if filters.until:
        clauses.append(Registration.created_at < start_of_day(filters.until + timedelta(days=1)))
    if filters.q.strip():
        clauses.append(_search(db, filters.q.strip()))
    return clauses


def _search(db: Session, words: str) -> ColumnElement[bool]:
    """The LMS address, the customer's email or the platform name contains `words` (any case),
    or `words` is the registration's, LTIAAS's or the platform's id."""
    needle = words.lower()
    return or_(
        func.lower(Registration.platform_url).contains(needle, autoescape=True),
        func.lower(Registration.platform_name).contains(needle, autoescape=True),
        _by_customers_matching(db, needle),
        Registration.public_id == words,
        Registration.ltiaas_registration_id == words,
        Registration.platform_id == words,
    )


def _by_customers_matching(db: Session, needle: str) -> ColumnElement[bool]:
    """Registrations of the accounts whose email contains `needle`: the accounts are looked up
    first, so that the list's query holds their ids (which planners estimate well)."""
    matching = select(User.id).where(User.email.contains(needle, autoescape=True))
    found = db.scalars(matching.limit(MAX_LISTED_CUSTOMERS + 1)).all()
    if len(found) > MAX_LISTED_CUSTOMERS:
        return Registration.customer_id.in_(matching)
    return Registration.customer_id.in_(found)


def older_than(created_at: datetime, row_id: int) -> ColumnElement[bool]:
    # The first term is a range the (…, created_at, id) indexes can seek to; the second breaks ties.
    return and_(
        Registration.created_at <= created_at,
        or_(Registration.created_at < created_at, Registration.id < row_id),
    )


def newer_than(created_at: datetime, row_id: int) -> ColumnElement[bool]:
    return and_(
        Registration.created_at >= created_at,
        or_(Registration.created_at > created_at, Registration.id > row_id),
    )


def _rows_query(
    clauses: list[ColumnElement[bool]],
) -> Select[Registration, str, str, datetime | None, str]:  # the last four may be None: outer joins
    """Registrations matching `clauses`, each with its customer's email, payment and approval."""
    query = select(Registration, User.email, Payment.status, Payment.refunded_at, ApprovalRequest.state)
    return with_who_and_what(query).where(*clauses)


def with_who_and_what(query: Select[*_Columns]) -> Select[*_Columns]:
    """`query` over registrations, joined to each one's customer, payment and approval request (each
    of which it may lack), so that it can select their columns: the list's rows, the CSV's."""
    return (
        query.outerjoin(User, User.id == Registration.customer_id)
        .outerjoin(Payment, Payment.registration_id == Registration.id)
        .outerjoin(ApprovalRequest, ApprovalRequest.registration_id == Registration.id)
    )


def list_registrations(
    db: Session,
    filters: Filters,
    after: str | None = None,
    before: str | None = None,
    now: datetime | None = None,
    page_size: int = PAGE_SIZE,
) -> ListPage:
    """One page of the registrations matching `filters`, newest first.

    `after` (older than that registration) or `before` (newer than it) name the
    registration at the edge of the page the staff came from, by public id.
    """
    clauses = filter_clauses(db, filters, now or utcnow())
    cursor = after or before
    anchor = _anchor(db, cursor) if cursor else None
    going_back = anchor is not None and not after
    edge = [] if anchor is None else [(newer_than if going_back else older_than)(*anchor)]
    if filters.q.strip():
        *kept, search = clauses
        found = _search_page(db, [*kept, *edge], search, going_back, page_size + 1)
    else:
        query = _rows_query([*clauses, *edge]).order_by(*_order(going_back))
        found = list(db.execute(query.limit(page_size + 1)).all())
    rows = [_row(tuple(values)) for values in found[:page_size]]
    more_this_way = len(found) > page_size
    if going_back:
        rows.reverse()
        has_newer, has_older = more_this_way, _any(db, clauses, rows, newer=False)
    else:
        has_older, has_newer = more_this_way, anchor is not None and _any(db, clauses, rows, newer=True)
    return ListPage(
        rows=rows,
        newer=rows[0].registration.public_id if rows and has_newer else None,
        older=rows[-1].registration.public_id if rows and has_older else None,
        stale_cursor=bool(cursor) and anchor is None,
    )


def _order(
    oldest_first: bool, sort_key: ColumnElement[datetime] | None = None
) -> tuple[ColumnElement[Any], ...]:
    created_at = Registration.created_at.expression if sort_key is None else sort_key
    if oldest_first:
        return created_at.asc(), Registration.id.asc()
    return created_at.desc(), Registration.id.desc()


def _search_page(
    db: Session,
    clauses: list[ColumnElement[bool]],
    search: ColumnElement[bool],
    oldest_first: bool,
    limit: int,
) -> list[Any]:
    """Up to `limit` rows matching `clauses` and `search`, in the list's order.

    No index helps a LIKE '%...%', and the cheap plan depends on how rare the words are: common
    words fill a page within the newest rows, found by walking the date index; rare words
    (what people usually search for) are found faster by reading the table in order and sorting
    the few matches, since walking the index reads every row at random. So: the newest
    SEARCH_WINDOW rows the other filters keep first, and everything only if that was not a page.
    """
    boundary = db.scalar(
        select(Registration.created_at)
        .where(*clauses)
        .order_by(*_order(oldest_first))
        .offset(SEARCH_WINDOW)
        .limit(1)
    )
    if boundary is None:  # the other filters keep fewer rows than the window: walk them all
        query = _rows_query([*clauses, search]).order_by(*_order(oldest_first))
        return list(db.execute(query.limit(limit)).all())
    near = Registration.created_at <= boundary if oldest_first else Registration.created_at >= boundary
    query = _rows_query([*clauses, search, near]).order_by(*_order(oldest_first))
    found = list(db.execute(query.limit(limit)).all())
    if len(found) == limit:  # everything outside the window comes after these
        return found
    # A sort key no index has, so that the planner reads the table in order (SQLite would
    # otherwise walk the date index for the whole table).
    unindexed = func.coalesce(Registration.created_at, Registration.created_at)
    query = _rows_query([*clauses, search]).order_by(*_order(oldest_first, unindexed))
    return list(db.execute(query.limit(limit)).all())


def _anchor(db: Session, public_id: str) -> tuple[datetime, int] | None:
    found = db.execute(
        select(Registration.created_at, Registration.id).where(Registration.public_id == public_id)
    ).first()
    return (found[0], found[1]) if found is not None else None


def _any(db: Session, clauses: list[ColumnElement[bool]], rows: list[Row], *, newer: bool) -> bool:
    """Whether a registration matching `clauses` lies beyond the page's newer (or older) edge."""
    if not rows:
        return False
    edge = rows[0].registration if newer else rows[-1].registration
    beyond = (newer_than if newer else older_than)(edge.created_at, edge.id)
    return bool(db.scalar(select(exists().where(*clauses, beyond))))


def _row(values: tuple[Any, ...]) -> Row:
    registration, email, payment_status, refunded_at, approval_state = values
    return Row(registration, email, payment_status, refunded_at is not None, approval_state)


def standing_label(
    registration: Registration, approval_state: str | None, now: datetime | None = None
) -> str:
    """Where one registration stands, in the words of `STANDINGS` (the most telling that applies)."""
    now = now or utcnow()
    state = registration.current_state
    if needs_settling(registration, now):
        return STANDINGS["outcome-unknown"].label
    if state in OPEN_STATES and registration.is_past_lifetime(now):
        return STANDINGS["expired"].label
    if registration.answer_lost:
        return STANDINGS["answer-lost"].label
    if state is RegistrationState.REVIEWED and approval_state == ApprovalState.PENDING.value:
        return STANDINGS["waiting"].label
    if state is RegistrationState.REVIEWED and approval_state == ApprovalState.REJECTED.value:
        return STANDINGS["declined"].label
    if state is RegistrationState.COMPLETED and registration.platform_deleted_at is not None:
        return "Registered; its platform was deleted since"
    if state is RegistrationState.COMPLETED and registration.platform_active is False:
        never_active = registration.platform_active_since is None
        return STANDINGS["awaiting-activation" if never_active else "deactivated"].label
    return STANDINGS[state.value].label
