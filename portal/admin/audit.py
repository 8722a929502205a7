"""The audit trail (staff only): every event, newest first, filtered and paged; and its CSV export
with the same filters, streamed. Exporting is itself recorded in the trail."""

from __future__ import annotations

from collections.abc import Iterator

from flask import Response, render_template, request

from portal.admin import bp
from portal.admin.access import staff_required
from portal.admin.audit_forms import TrailFilterForm
from portal.admin.spreadsheet import download
from portal.admin.trail import TrailFilters, csv_lines, details_summary, trail_page
from portal.auth.users import actor_of, signed_in_user
from portal.db import get_session
from portal.models import MAX_ROW_ID, record_event


def _cursor(name: str) -> int | None:
    """An event id from the URL, held within the ids a row can have (beyond them: every event)."""
    value = request.args.get(name, type=int)
    return None if value is None else max(-MAX_ROW_ID, min(value, MAX_ROW_ID))


@bp.get("/audit/", endpoint="audit")
@staff_required
def audit_page() -> tuple[str, int]:
    """`?actor=&action=&registration=&since=&until=` filter; `?before=` / `?after=` page (event ids)."""
    form = TrailFilterForm(request.args)
    if not form.validate():
        return render_template("admin/audit/trail.html", form=form, page=None, filters=None), 400
    filters = form.to_filters()
    page = trail_page(get_session(), filters, before=_cursor("before"), after=_cursor("after"))
    return render_template(
        "admin/audit/trail.html", form=form, page=page, filters=filters, details_summary=details_summary
    ), 200


def _streamed(filters: TrailFilters) -> Iterator[str]:
    # Flask tears the request down (closing its session) when the view returns, then pushes it
    # again while streaming: so the rows come from a session opened here, closed at the end.
    yield from csv_lines(get_session(), filters)


@bp.get("/audit/export.csv", endpoint="audit_export")
@staff_required
def audit_export() -> Response | tuple[str, int]:
    """The filtered trail as a CSV download, streamed as it is read."""
    form = TrailFilterForm(request.args)
    if not form.validate():
        return render_template("admin/audit/trail.html", form=form, page=None, filters=None), 400
    filters = form.to_filters()
    db = get_session()
    actor = actor_of(signed_in_user())
    record_event(db, "audit:exported", actor=actor, details={"filters": filters.as_args()})
    db.commit()
    return download(_streamed(filters), "audit-trail")
