"""Staff pages for the platforms at LTIAAS: the list, one platform, and its four actions.

The list and a platform's page read LTIAAS (one call each, within the client's read
budget); when it is down, slow or refuses, they say so instead of failing. Every
action is a CSRF-checked POST with a confirmation box and a one-time token, and
ends in a redirect with a message that says what LTIAAS did, or that it is unknown.
"""

from __future__ import annotations

from flask import flash, redirect, render_template, url_for
from werkzeug.wrappers import Response

from portal.admin import bp
from portal.admin import platforms as service
from portal.admin.access import staff_required
from portal.admin.not_found import PLATFORM, not_found
from portal.admin.platform_forms import (
    ActivateForm,
    DeactivateForm,
    DeleteForm,
    RenameForm,
)
from portal.auth.users import actor_of, signed_in_user
from portal.billing.flow import paid_payment
from portal.db import get_session
from portal.ltiaas import InvalidIdentifier, get_ltiaas, validate_identifier
from portal.models import PlatformActionKind, PlatformActionState
from portal.notifications import customer_emails

Page = tuple[str, int]

DONE_MESSAGES = {
    PlatformActionKind.ACTIVATE: "Activated: LTIAAS now lets this LMS launch the tool.",
    PlatformActionKind.DEACTIVATE: "Deactivated: LTIAAS now refuses this LMS's launches.",
    PlatformActionKind.RENAME: "Renamed at LTIAAS.",
    PlatformActionKind.DELETE: "Deleted at LTIAAS: this LMS can no longer launch the tool.",
}
REPEATED = (
    "This form was sent before, so nothing was done again. The page shows what LTIAAS says now; "
    "to do it again, use the form below."
)


def _checked_id(platform_id: str) -> str:
    """:raise 404: not an id LTIAAS could have given (nothing is sent to LTIAAS)."""
    try:
        return validate_identifier(platform_id)
    except InvalidIdentifier:
        not_found(PLATFORM, platform_id)


def _staff_email() -> str:
    return actor_of(signed_in_user())


def _to_platform(platform_id: str) -> Response:
    return redirect(url_for("admin.platform", platform_id=platform_id), code=303)


def _platform_page(
    platform_id: str,
    *,
    activate_form: ActivateForm | None = None,
    deactivate_form: DeactivateForm | None = None,
    rename_form: RenameForm | None = None,
    status: int = 200,
) -> Page:
    """The page with the refused form as it was sent, and every other form as first shown."""
    detail = service.read_platform(get_session(), get_ltiaas(), platform_id)
    current_name = detail.row.platform.name if detail.row is not None else None
    page = render_template(
        "admin/platform.html",
        detail=detail,
        row=detail.row,
        activate_form=activate_form or ActivateForm.fresh(),
        deactivate_form=deactivate_form or DeactivateForm.fresh(),
        rename_form=rename_form or RenameForm.fresh(name=current_name),
        told_on_activation=_told_on_activation(detail.row),
    )
    return page, 404 if detail.not_found and status == 200 else status


def _told_on_activation(row: service.PlatformRow | None) -> str | None:
    """Whom activating the platform e-mails: the customer who registered it, where the portal can."""
    if row is None or row.registration is None:
        return None
    return customer_emails.told_when_activated(get_session(), row.registration)


def _report(result: service.ActionResult) -> None:
    action = result.action
    if not result.carried_out:
        flash(REPEATED, "warning")
        return
    state = action.current_state
    if state is PlatformActionState.DONE:
        flash(_done_message(action.current_kind, action.details), "success")
    elif state is PlatformActionState.UNKNOWN:
        flash(action.message or "LTIAAS may or may not have done it.", "warning")
    else:
        flash(action.message or "Nothing was done.", "error")


def _done_message(kind: PlatformActionKind, details: dict[str, object]) -> str:
    if kind is PlatformActionKind.RENAME and details.get("unchanged"):
        return "The platform already had this name at LTIAAS; nothing was changed."
    if kind is PlatformActionKind.RENAME:
        return f"Renamed at LTIAAS: “{details.get('old_name')}” is now “{details.get('name')}”."
    if kind is PlatformActionKind.DELETE and details.get("already_gone"):
        return "LTIAAS had no such platform any more: it was already deleted."
    return DONE_MESSAGES[kind]


@bp.get("/platforms/", endpoint="platforms")
@staff_required
def platforms_page() -> str:
    """Every platform LTIAAS holds, grouped by LMS address, with where each came from."""
    listing = service.list_platforms(get_session(), get_ltiaas())
    return render_template("admin/platforms.html", listing=listing)


@bp.get("/platforms/<platform_id>", endpoint="platform")
@staff_required
def platform_page(platform_id: str) -> Page:
    """One platform as LTIAAS has it now, with the staff's forms and their recent actions on it."""
    return _platform_page(_checked_id(platform_id))


@bp.post("/platforms/<platform_id>/activate")
@staff_required
def activate(platform_id: str) -> Response | Page:
    platform_id = _checked_id(platform_id)
    form = ActivateForm()
    if not form.validate_on_submit():
        return _platform_page(platform_id, activate_form=form, status=400)
    _report(service.activate(get_session(), get_ltiaas(), platform_id, _staff_email(), form.token))
    return _to_platform(platform_id)


@bp.post("/platforms/<platform_id>/deactivate")
@staff_required
def deactivate(platform_id: str) -> Response | Page:
    platform_id = _checked_id(platform_id)
    form = DeactivateForm()
    if not form.validate_on_submit():
        return _platform_page(platform_id, deactivate_form=form, status=400)
    _report(service.deactivate(get_session(), get_ltiaas(), platform_id, _staff_email(), form.token))
    return _to_platform(platform_id)


@bp.post("/platforms/<platform_id>/rename")
@staff_required
def rename(platform_id: str) -> Response | Page:
    platform_id = _checked_id(platform_id)
    form = RenameForm()
    if not form.validate_on_submit():
        return _platform_page(platform_id, rename_form=form, status=400)
    result = service.rename(
        get_session(), get_ltiaas(), platform_id, str(form.name.data), _staff_email(), form.token
    )
    _report(result)
    return _to_platform(platform_id)


@bp.get("/platforms/<platform_id>/delete", endpoint="confirm_delete")
@staff_required
def confirm_delete(platform_id: str) -> Page:
    """The confirmation page, naming the platform and its LMS as LTIAAS has them now."""
    return _delete_page(_checked_id(platform_id), DeleteForm.fresh())


def _delete_page(platform_id: str, form: DeleteForm, status: int = 200) -> Page:
    db = get_session()
    detail = service.read_platform(db, get_ltiaas(), platform_id)
    registration = detail.row.registration if detail.row is not None else None
    payment = paid_payment(db, registration) if registration is not None else None
    page = render_template(
        "admin/platform_delete.html", detail=detail, row=detail.row, form=form, payment=payment
    )
    return page, 404 if detail.not_found and status == 200 else status


@bp.post("/platforms/<platform_id>/delete")
@staff_required
def delete(platform_id: str) -> Response | Page:
    platform_id = _checked_id(platform_id)
    form = DeleteForm()
    if not form.validate_on_submit():
        return _delete_page(platform_id, form, status=400)
    result = service.delete(get_session(), get_ltiaas(), platform_id, _staff_email(), form.token)
    _report(result)
    if result.carried_out and result.action.current_state is PlatformActionState.DONE:
        return redirect(url_for("admin.platforms"), code=303)
    return _to_platform(platform_id)
