"""The console's front page (overview), every registration (list and detail), and settling an
unknown outcome: look LTIAAS up, then record it as registered or not registered.

GETs read the database only; the LTIAAS lookup and both decisions are CSRF-checked POSTs
with a confirmation box, audited with the staff member's email.
"""

from __future__ import annotations

from collections.abc import Iterator

from flask import flash, redirect, render_template, request, url_for
from flask_login import current_user
from werkzeug.wrappers import Response
from wtforms import SelectChoice

from portal.admin import bp, registration_export
from portal.admin.access import staff_required
from portal.admin.not_found import REGISTRATION, not_found
from portal.admin.overview import counts, weekly_chart
from portal.admin.registration_detail import detail_of, find, readable
from portal.admin.registration_forms import (
    FilterForm,
    LookupForm,
    SettleNotRegisteredForm,
    SettleRegisteredForm,
)
from portal.admin.registration_list import (
    POLICY_LABELS,
    STANDINGS,
    Filters,
    list_registrations,
    standing_label,
)
from portal.admin.settling import (
    Decision,
    Settled,
    look_up,
    needs_settling,
    settle_not_registered,
    settle_registered,
)
from portal.admin.spreadsheet import download
from portal.db import get_session
from portal.ltiaas import get_ltiaas
from portal.models import Registration, record_event
from portal.registration.display import describe

bp.add_app_template_filter(readable, "readable")

DECISION_MESSAGES: dict[Settled, tuple[str, str]] = {
    Settled.REGISTERED: ("success", "Recorded as registered with the platform LTIAAS holds."),
    Settled.NOT_REGISTERED: (
        "success",
        "Recorded as not registered. If it was paid, the payment is now listed as due a refund.",
    ),
    Settled.NOTHING_TO_SETTLE: (
        "warning",
        "This registration's outcome is already settled (or was never unknown); nothing changed.",
    ),
    Settled.PLATFORM_NOT_FOUND: (
        "error",
        "LTIAAS has no platform with that id (any more); nothing changed. Look LTIAAS up again.",
    ),
    Settled.PLATFORM_ELSEWHERE: (
        "error",
        "That platform belongs to another LMS address, not this registration's; nothing changed.",
    ),
    Settled.PLATFORM_TAKEN: (
        "error",
        "Another registration of this portal already has that platform; nothing changed.",
    ),
}


def _registration_or_404(public_id: str) -> Registration:
    registration = find(get_session(), public_id)
    if registration is None:
        not_found(REGISTRATION, public_id)
    return registration


def _detail_page(
    registration: Registration,
    lookup_form: LookupForm | None = None,
    registered_form: SettleRegisteredForm | None = None,
    not_registered_form: SettleNotRegisteredForm | None = None,
    status: int = 200,
) -> tuple[str, int]:
    detail = detail_of(get_session(), registration)
    fresh = registered_form is None
    registered_form = registered_form or SettleRegisteredForm()
    if detail.lookup is not None:
        candidates = detail.lookup.candidates
        registered_form.platform_id.choices = [SelectChoice(found.id, found.name) for found in candidates]
        created = [found.id for found in candidates if found.created]
        if fresh and created:  # offered, not decided: the confirmation box stays unticked
            registered_form.platform_id.data = created[0]
    page = render_template(
        "admin/registration.html",
        detail=detail,
        registration=registration,
        lms=detail.lms,
        lookup_form=lookup_form or LookupForm(),
        registered_form=registered_form,
        not_registered_form=not_registered_form or SettleNotRegisteredForm(),
    )
    return page, status


def _back_to(registration: Registration, decision: Decision) -> Response:
    if decision.outcome is Settled.LTIAAS_FAILED:
        flash(decision.detail or "LTIAAS failed; nothing changed.", "error")
    else:
        category, message = DECISION_MESSAGES[decision.outcome]
        flash(message, category)
    return redirect(url_for("admin.registration", public_id=registration.public_id), code=303)


@bp.get("/", endpoint="index")
@staff_required
def overview() -> str:
    """How registrations stand today, this week and all time, and a chart of the last weeks."""
    db = get_session()
    return render_template(
        "admin/overview.html", counts=counts(db), chart=weekly_chart(db), standings=STANDINGS
    )


@bp.get("/registrations/", endpoint="registrations")
@staff_required
def registrations_page() -> tuple[str, int]:
    """Every registration, newest first, 50 a page; the filters and the page cursor in the query string."""
    form = FilterForm(formdata=request.args)
    if not form.validate():
        return _bad_filters(form)
    filters = form.to_filters()
    listed = list_registrations(
        get_session(), filters, after=request.args.get("after"), before=request.args.get("before")
    )
    page = render_template(
        "admin/registrations.html", form=form, filters=filters, page=listed, **_list_helpers()
    )
    return page, 200


@bp.get("/registrations/export.csv", endpoint="registrations_export")
@staff_required
def registrations_export() -> Response | tuple[str, int]:
    """The registrations the list's filters keep, all of them, as a CSV download (streamed).
    Exporting customers' details is itself recorded in the audit trail."""
    form = FilterForm(formdata=request.args)
    if not form.validate():
        return _bad_filters(form)
    filters = form.to_filters()
    db = get_session()
    record_event(
        db, "registrations:exported", actor=current_user.email, details={"filters": filters.to_args()}
    )
    db.commit()
    return download(_exported(filters), "registrations")


def _exported(filters: Filters) -> Iterator[str]:
    # Read when streamed, in the session of the request Flask pushes again for it (see `download`).
    yield from registration_export.csv_lines(get_session(), filters)


def _bad_filters(form: FilterForm) -> tuple[str, int]:
    """The list's page with the filters' errors beside them, and nothing listed."""
    page = render_template(
        "admin/registrations.html", form=form, filters=Filters(), page=None, **_list_helpers()
    )
    return page, 400


def _list_helpers() -> dict[str, object]:
    return {"describe": describe, "standing_label": standing_label, "policy_labels": POLICY_LABELS}


@bp.get("/registrations/<public_id>")
@staff_required
def registration(public_id: str) -> tuple[str, int]:
    return _detail_page(_registration_or_404(public_id))


@bp.post("/registrations/<public_id>/lookup")
@staff_required
def lookup(public_id: str) -> Response | tuple[str, int]:
    """Ask LTIAAS which platforms it holds for the LMS address; what it lists is stored and shown."""
    registration = _registration_or_404(public_id)
    form = LookupForm()
    if not form.validate_on_submit():
        return _detail_page(registration, lookup_form=form, status=400)
    if not needs_settling(registration):
        return _back_to(registration, Decision(Settled.NOTHING_TO_SETTLE))
    problem = look_up(get_session(), get_ltiaas(), registration, current_user.email)
    if problem is not None:
        return _back_to(registration, Decision(Settled.LTIAAS_FAILED, problem))
    flash("LTIAAS's platforms for this LMS address are listed below.", "success")
    return redirect(url_for("admin.registration", public_id=public_id, _anchor="settle"), code=303)


@bp.post("/registrations/<public_id>/settle/registered")
@staff_required
def settle_as_registered(public_id: str) -> Response | tuple[str, int]:
    registration = _registration_or_404(public_id)
    form = SettleRegisteredForm()
    if not form.validate_on_submit():
        return _detail_page(registration, registered_form=form, status=400)
    decision = settle_registered(
        get_session(), get_ltiaas(), registration, form.platform_id.data, current_user.email
    )
    return _back_to(registration, decision)


@bp.post("/registrations/<public_id>/settle/not-registered")
@staff_required
def settle_as_not_registered(public_id: str) -> Response | tuple[str, int]:
    registration = _registration_or_404(public_id)
    form = SettleNotRegisteredForm()
    if not form.validate_on_submit():
        return _detail_page(registration, not_registered_form=form, status=400)
    return _back_to(registration, settle_not_registered(get_session(), registration, current_user.email))
