"""The pages of the registration flow, inside the LMS's iframe (or Brightspace's new tab).

intermediate target -> review -> configure -> confirm -> (POST complete) -> done.
Views only route; the work is in `service`. Every page is frameable.
"""

from __future__ import annotations

from flask import Response, jsonify, redirect, render_template, request, url_for
from werkzeug.wrappers import Response as BaseResponse

from portal.db import get_session
from portal.ltiaas import get_ltiaas
from portal.models import Registration, RegistrationState
from portal.registration import bp, labels, service
from portal.registration.forms import build_configure_form
from portal.registration.problems import RegistrationProblem
from portal.security import allow_inline_script
from portal.sessions import force_session_token

Page = str | BaseResponse | tuple[str, int]

bp.add_app_template_filter(labels.message_type_label, "message_type_label")
bp.add_app_template_filter(labels.placement_label, "placement_label")


def _go(page: str, registration: Registration) -> BaseResponse:
    return redirect(url_for(f"registration.{page}", public_id=registration.public_id), code=303)


def _load(public_id: str, page: str) -> Registration | BaseResponse:
    """The registration for `page`, or a redirect to the page its state calls for."""
    registration = service.load_registration(get_session(), public_id)
    other_page = service.page_to_redirect_to(registration, page)
    return _go(other_page, registration) if other_page else registration


@bp.errorhandler(RegistrationProblem)
def registration_problem(problem: RegistrationProblem) -> tuple[str | Response, int]:
    text = problem.text
    if request.endpoint == "registration.status" or request.accept_mimetypes.best == "application/json":
        return jsonify(state=None, problem=problem.kind), text.status
    page = render_template("registration/problem.html", problem=problem, text=text)
    return page, text.status


@bp.get("/intermediate-target")
def intermediate_target() -> Page:
    registration = service.receive_registration(
        get_session(), get_ltiaas(), request.args.get("registrationId")
    )
    if registration.current_state is RegistrationState.COMPLETED:
        return render_template("registration/already.html", lms=service.describe(registration))
    service.remember_in_session(registration.public_id)
    # The first redirect carries the session token, for browsers that drop our cookie.
    force_session_token()
    return _go(service.page_to_redirect_to(registration, "review") or "review", registration)


@bp.get("/registration/<public_id>/")
def review(public_id: str) -> Page:
    registration = _load(public_id, "review")
    if not isinstance(registration, Registration):
        return registration
    earlier = service.earlier_platforms(get_ltiaas(), registration)
    return render_template(
        "registration/review.html",
        registration=registration,
        lms=service.describe(registration),
        earlier=earlier,
    )


@bp.route("/registration/<public_id>/configure", methods=["GET", "POST"])
def configure(public_id: str) -> Page:
    registration = _load(public_id, "configure")
    if not isinstance(registration, Registration):
        return registration
    fixed = service.fixed_auto_activate()
    form = build_configure_form(
        registration.supported_messages,
        service.current_choices(registration),
        {
            m["type"]: service.default_placements(registration, m["type"])
            for m in registration.supported_messages
        },
        allow_auto_activate_choice=fixed is None,
    )
    if form.validate_on_submit():
        service.save_choices(get_session(), registration, form.to_overrides(fixed))
        return _go("confirm", registration)
    status = 400 if form.is_submitted() else 200
    page = render_template(
        "registration/configure.html",
        registration=registration,
        lms=service.describe(registration),
        form=form,
        fixed_auto_activate=fixed,
    )
    return page, status


@bp.get("/registration/<public_id>/confirm")
def confirm(public_id: str) -> Page:
    registration = _load(public_id, "confirm")
    if not isinstance(registration, Registration):
        return registration
    return render_template(
        "registration/confirm.html",
        registration=registration,
        lms=service.describe(registration),
        choices=service.current_choices(registration),
    )


@bp.get("/registration/<public_id>/complete")
def complete_by_get(public_id: str) -> BaseResponse:
    """A reload or a bookmark of the completion URL: never completes, shows the current page."""
    return redirect(url_for("registration.confirm", public_id=public_id), code=303)


@bp.post("/registration/<public_id>/complete")
def complete(public_id: str) -> Page:
    registration = _load(public_id, "confirm")
    if not isinstance(registration, Registration):
        return registration
    service.complete(get_session(), get_ltiaas(), registration)
    service.raise_if_closed(get_session(), registration)
    return _go(service.page_to_redirect_to(registration, "done") or "done", registration)


@bp.get("/registration/<public_id>/done")
def done(public_id: str) -> Page:
    registration = _load(public_id, "done")
    if not isinstance(registration, Registration):
        return registration
    completion_html = ""
    if registration.current_state is RegistrationState.COMPLETED:
        completion_html = registration.completion_html or ""
    for script in service.inline_scripts(completion_html):
        allow_inline_script(script)
    return render_template(
        "registration/done.html",
        registration=registration,
        lms=service.describe(registration),
        choices=service.current_choices(registration),
        active=service.is_active(registration),
        completion_html=completion_html,
    )


@bp.get("/registration/<public_id>/status")
def status(public_id: str) -> Response:
    registration = service.load_registration(get_session(), public_id)
    response = jsonify(state=registration.state)
    response.headers["Cache-Control"] = "no-store"
    return response
