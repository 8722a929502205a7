"""The pages of the registration flow, inside the LMS's iframe (or Brightspace's new tab).

intermediate target -> review -> (sign in or up) -> configure -> [pay] -> confirm -> (POST complete) -> done,
or under live approval: confirm -> (POST request) -> waiting -> done once a staff member approved.
[pay] is billing's checkout page, for a customer when a price is set: confirm, complete and request
send the browser there until Stripe confirmed the payment (`service.next_step` says "pay").
Views only route; the work is in `service` (`service.next_step` decides who may go on) and
`approvals`. Every page is frameable.
"""

from __future__ import annotations

from typing import Any

from flask import Response, flash, jsonify, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import select
from werkzeug.wrappers import Response as BaseResponse

from portal.billing.fulfilment import get_or_create_payment, payment_required
from portal.billing.models import Payment
from portal.db import get_session
from portal.ltiaas import get_ltiaas
from portal.models import Registration, RegistrationState
from portal.registration import approvals, bp, labels, service
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


def _user() -> Any:
    return current_user._get_current_object()


def _sign_in_first(registration: Registration, page: str) -> BaseResponse:
    """To the sign-in page (in the same frame), coming back to `page` afterwards."""
    flash("Sign in, or create an account, to continue registering the tool.", "info")
    # No token in `next`: sign-in rotates the session and adds the new one itself.
    back = url_for(f"registration.{page}", public_id=registration.public_id, _st=None)
    return redirect(url_for("auth.sign_in", next=back), code=303)


def _pay_first(registration: Registration) -> BaseResponse:
    """To the payment step (billing's checkout page, in the same frame), back to confirm once paid.

    The registration's one payment is reused, so reloads, double clicks and a second tab all
    land on the same payment (and its one open Checkout Session).
    """
    payment = get_or_create_payment(registration, _user())
    # No token in `next`: the checkout page adds the current one when it sends the browser on.
    back = url_for("registration.confirm", public_id=registration.public_id, _st=None)
    return redirect(url_for("billing.checkout", public_id=payment.public_id, next=back), code=303)


def _step_page(step: service.Step, registration: Registration, page: str) -> BaseResponse | None:
    """Where the browser must go instead of `page` before `step` is done, or None to stay."""
    if step == "sign_in":
        return _sign_in_first(registration, page)
    if step == "wait":
        return _go("waiting", registration)
    if step == "pay":
        return _pay_first(registration)
    return None


@bp.app_context_processor
def _flow_context() -> dict[str, Any]:
    # Lazy: only pages with the step bar ask whether the person at the keyboard pays.
    return {"shows_pay_step": lambda: payment_required(_user())}


def _paid_payment_of_page() -> Payment | None:
    """The paid payment of the registration this request is about, if this browser may see it."""
    public_id = (request.view_args or {}).get("public_id")
    if not public_id or not service.may_act_on(public_id):
        return None
    db = get_session()
    registration = db.scalar(select(Registration).where(Registration.public_id == public_id))
    return service.paid_payment(db, registration) if registration is not None else None


@bp.errorhandler(RegistrationProblem)
def registration_problem(problem: RegistrationProblem) -> tuple[str | Response, int]:
    text = problem.text
    if request.endpoint == "registration.status" or request.accept_mimetypes.best == "application/json":
        return jsonify(state=None, problem=problem.kind), text.status
    page = render_template(
        "registration/problem.html", problem=problem, text=text, payment=_paid_payment_of_page()
    )
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
    step = service.next_step(get_session(), registration, _user())
    if step == "sign_in":
        return _sign_in_first(registration, "configure")
    if step == "wait":
        return _go("waiting", registration)
    fixed = service.fixed_auto_activate(_user())
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
        service.save_choices(get_session(), registration, form.to_overrides(fixed), service.actor_of(_user()))
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
    step = service.next_step(get_session(), registration, _user())
    elsewhere = _step_page(step, registration, "confirm")
    if elsewhere is not None:
        return elsewhere
    return render_template(
        "registration/confirm.html",
        registration=registration,
        lms=service.describe(registration),
        choices=service.choices_for(registration, _user()),
        asks_approval=step == "request",
        payment=service.paid_payment(get_session(), registration),
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
    user = _user()
    step = service.next_step(get_session(), registration, user)
    if step != "confirm":
        return _step_page(step, registration, "confirm") or _go("confirm", registration)
    choices = service.choices_for(registration, user)
    service.complete(get_session(), get_ltiaas(), registration, service.actor_of(user), choices)
    service.raise_if_closed(get_session(), registration)
    return _go(service.page_to_redirect_to(registration, "done") or "done", registration)


@bp.post("/registration/<public_id>/request")
def request_approval(public_id: str) -> Page:
    """Live approval: the customer's confirmation sends their choices to the vendor's staff."""
    registration = _load(public_id, "confirm")
    if not isinstance(registration, Registration):
        return registration
    user = _user()
    step = service.next_step(get_session(), registration, user)
    if step != "request":
        return _step_page(step, registration, "confirm") or _go("confirm", registration)
    approvals.request_approval(get_session(), registration, user, service.choices_for(registration, user))
    return _go("waiting", registration)


@bp.get("/registration/<public_id>/waiting")
def waiting(public_id: str) -> Page:
    """The customer's request as the staff see it; updates by itself until there is an outcome."""
    registration = _load(public_id, "waiting")
    if not isinstance(registration, Registration):
        return registration
    approval = service.find_approval(get_session(), registration)
    if approval is None:
        return _go("confirm", registration)
    if not service.is_signed_in(_user()):
        return _sign_in_first(registration, "waiting")
    return render_template(
        "registration/waiting.html",
        registration=registration,
        approval=approval,
        lms=service.describe(registration),
        choices=approval.approved_choices or approval.requested_choices,
        payment=service.paid_payment(get_session(), registration),
    )


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
        review_later=service.approval_policy() == service.REVIEW_LATER,
        completion_html=completion_html,
        payment=service.paid_payment(get_session(), registration),
    )


@bp.get("/registration/<public_id>/status")
def status(public_id: str) -> Response:
    """What the finishing and waiting pages poll: the registration's state, and its request's if any."""
    registration = service.load_registration(get_session(), public_id)
    approval = service.find_approval(get_session(), registration)
    body = {"state": registration.state}
    if approval is not None:
        body["approval"] = approval.state
    response = jsonify(body)
    response.headers["Cache-Control"] = "no-store"
    return response
