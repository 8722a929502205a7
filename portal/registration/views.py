"""The pages of the registration flow, inside the LMS's iframe (or Brightspace's new tab).

intermediate target -> review -> (sign in or up) -> configure -> [pay] -> confirm -> (POST complete) -> done,
or under live approval: confirm -> (POST request) -> waiting -> done once a staff member approved.
[pay] is billing's checkout page, for a customer when a price is set: confirm, complete and request
send the browser there until Stripe confirmed the payment (`policy.next_step` says "pay").
Views only route; `policy.next_step` decides who may go on, and the work is in the modules beside
this one. Every page is frameable.
"""

from __future__ import annotations

from typing import Any

from flask import Response, flash, jsonify, make_response, redirect, render_template, request, url_for
from werkzeug.wrappers import Response as BaseResponse

from portal.auth.pauses import why_session_ended
from portal.auth.service import AccountErased
from portal.auth.users import actor_of, signed_in_user
from portal.db import get_session
from portal.ltiaas import get_ltiaas
from portal.models import Registration, RegistrationState, approval_of
from portal.notifications import customer_emails
from portal.registration import approvals, bp, labels
from portal.registration.access import (
    find_registration,
    keep_to_its_account,
    load_registration,
    may_act_on,
    remember_in_session,
    sign_in_to_continue,
)
from portal.registration.choices import (
    current_choices,
    default_placements_by_type,
    remembered_choices,
    save_choices,
)
from portal.registration.completion import complete as complete_registration
from portal.registration.display import describe, earlier_platforms, inline_scripts, is_active
from portal.registration.forms import build_configure_form, checkbox_option
from portal.registration.lifecycle import raise_if_closed
from portal.registration.pages import page_for, page_to_redirect_to
from portal.registration.payments import PaidSummary, payments
from portal.registration.policy import (
    Step,
    approval_policy,
    choices_for,
    earlier_request_for_lms,
    fixed_auto_activate,
    must_ask_approval,
    next_step,
)
from portal.registration.problems import RegistrationProblem
from portal.registration.receiving import receive_registration
from portal.security import allow_inline_script
from portal.sessions import force_session_token, why_this_session_ended

Page = str | BaseResponse | tuple[str, int]

bp.add_app_template_filter(labels.message_type_label, "message_type_label")
bp.add_app_template_filter(labels.placement_label, "placement_label")
bp.add_app_template_global(checkbox_option, "checkbox_option")


class GoElsewhere(Exception):
    """Stops a view: the browser belongs on another page (its registration's state, a step first)."""

    def __init__(self, response: BaseResponse) -> None:
        super().__init__(response.location)
        self.response = response


@bp.errorhandler(GoElsewhere)
def go_elsewhere(stop: GoElsewhere) -> BaseResponse:
    return stop.response


def _go(page: str, registration: Registration) -> BaseResponse:
    return redirect(url_for(f"registration.{page}", public_id=registration.public_id), code=303)


def _load(public_id: str, page: str) -> Registration:
    """The registration for `page`. :raise GoElsewhere: its state calls for another page."""
    registration = load_registration(get_session(), public_id)
    other_page = page_to_redirect_to(registration, page)
    if other_page:
        raise GoElsewhere(_go(other_page, registration))
    return registration


def _sign_in_first(registration: Registration, page: str) -> BaseResponse:
    """To the sign-in page (in the same frame), coming back to `page` afterwards."""
    flash("Sign in, or create an account, to continue registering the tool.", "info")
    # No token in `next`: sign-in rotates the session and adds the new one itself.
    back = url_for(f"registration.{page}", public_id=registration.public_id, _st=None)
    return redirect(url_for("auth.sign_in", next=back), code=303)


def _pay_first(registration: Registration) -> BaseResponse:
    """To the payment step (in the same frame), back to confirm once paid.

    The registration's one payment is reused, so reloads, double clicks and a second tab all
    land on the same payment (and its one open Checkout Session).
    """
    user = signed_in_user()
    carried = payments().carry_over(get_session(), registration, user)
    if carried is not None:  # they paid for this LMS before, and it was never registered
        flash(
            f"You already paid {carried.amount} for an earlier registration of this LMS that was not "
            "finished: that payment counts for this one, so you don't pay again.",
            "success",
        )
        return _go("confirm", registration)
    # No token in `next`: the checkout page adds the current one when it sends the browser on.
    back = url_for("registration.confirm", public_id=registration.public_id, _st=None)
    return redirect(payments().checkout_url(registration, user, back), code=303)


def _step_allowed(registration: Registration, page: str, allowed: frozenset[Step]) -> Step:
    """The user's next step, when `page` may serve it.

    :raise GoElsewhere: the user must first sign in, wait or pay, or belongs on the confirm page.
    """
    step = next_step(get_session(), registration, signed_in_user())
    if step in allowed:
        return step
    if step == "sign_in":
        raise GoElsewhere(_sign_in_first(registration, page))
    if step == "wait":
        raise GoElsewhere(_go("waiting", registration))
    if step == "asked_already":
        raise GoElsewhere(_asked_already(registration))
    if step == "pay":
        raise GoElsewhere(_pay_first(registration))
    raise GoElsewhere(_go("confirm", registration))


def _asked_already(registration: Registration) -> BaseResponse:
    """This customer's earlier request for the same LMS may still be registered: this one stops here."""
    earlier = earlier_request_for_lms(get_session(), registration, signed_in_user())
    if earlier is None:  # decided or withdrawn meanwhile
        return _go("confirm", registration)
    page = render_template(
        "registration/asked_already.html",
        registration=registration,
        lms=describe(registration),
        earlier=earlier,
        earlier_payment=_paid(earlier.registration),
    )
    return make_response(page, 409)


@bp.app_context_processor
def _flow_context() -> dict[str, Any]:
    # Lazy: only pages with the step bar ask whether the person at the keyboard pays.
    return {"shows_pay_step": lambda: payments().charges(signed_in_user())}


def _paid(registration: Registration) -> PaidSummary | None:
    return payments().paid(get_session(), registration)


def _paid_for_problem_page() -> PaidSummary | None:
    """What was paid for the registration this request is about, if this browser may see it."""
    public_id = (request.view_args or {}).get("public_id")
    if not public_id or not may_act_on(public_id):
        return None
    registration = find_registration(get_session(), public_id)
    return _paid(registration) if registration is not None else None


@bp.errorhandler(RegistrationProblem)
def registration_problem(problem: RegistrationProblem) -> tuple[str | Response, int] | BaseResponse:
    text = problem.text
    if request.endpoint == "registration.status" or request.accept_mimetypes.best == "application/json":
        return jsonify(state=None, problem=problem.kind), text.status
    if problem.kind == "sign_in_to_continue":  # its account's registration: to sign in, then back
        return sign_in_to_continue(problem)
    page = render_template(
        "registration/problem.html",
        problem=problem,
        text=text,
        payment=_paid_for_problem_page(),
        **(_session_ended() if problem.kind == "session_ended" else {}),
    )
    return page, text.status


def _session_ended() -> dict[str, str]:
    """Why this window's session ended, and signing in again, then back to this page (a GET) or to
    the registration's first page."""
    public_id = (request.view_args or {}).get("public_id")
    back = request.path
    if request.method != "GET" and public_id:
        back = url_for(".review", public_id=public_id, _st=None)
    return {"why": why_session_ended(why_this_session_ended()), "sign_in": url_for("auth.sign_in", next=back)}


@bp.get("/intermediate-target")
def intermediate_target() -> Page:
    registration = receive_registration(get_session(), get_ltiaas(), request.args.get("registrationId"))
    if registration.current_state is RegistrationState.COMPLETED:
        return render_template("registration/already.html", lms=describe(registration))
    keep_to_its_account(get_session(), registration, signed_in_user())
    remember_in_session(registration.public_id)
    # The first redirect carries the session token, for browsers that drop our cookie.
    force_session_token()
    return _go(page_for(registration, "review"), registration)


@bp.get("/registration/<public_id>/")
def review(public_id: str) -> Page:
    registration = _load(public_id, "review")
    return render_template(
        "registration/review.html",
        registration=registration,
        lms=describe(registration),
        earlier=earlier_platforms(registration),
        asks_approval=must_ask_approval(signed_in_user()),
        charges=payments().charges(signed_in_user()),
    )


@bp.route("/registration/<public_id>/configure", methods=["GET", "POST"])
def configure(public_id: str) -> Page:
    registration = _load(public_id, "configure")
    user = signed_in_user()
    step = next_step(get_session(), registration, user)
    if step == "sign_in":
        return _sign_in_first(registration, "configure")
    if step == "wait":
        return _go("waiting", registration)
    fixed = fixed_auto_activate(user)
    remembered = remembered_choices(get_session(), registration, user)
    form = build_configure_form(
        registration.supported_messages,
        current_choices(registration, remembered.choices if remembered else None),
        default_placements_by_type(registration),
        allow_auto_activate_choice=fixed is None,
    )
    if form.validate_on_submit():
        save_choices(get_session(), registration, form.to_overrides(fixed), actor_of(user))
        return _go("confirm", registration)
    page = render_template(
        "registration/configure.html",
        registration=registration,
        lms=describe(registration),
        form=form,
        fixed_auto_activate=fixed,
        remembered=remembered,
    )
    return page, 400 if form.is_submitted() else 200


@bp.get("/registration/<public_id>/confirm")
def confirm(public_id: str) -> Page:
    registration = _load(public_id, "confirm")
    step = _step_allowed(registration, "confirm", frozenset({"confirm", "request"}))
    return render_template(
        "registration/confirm.html",
        registration=registration,
        lms=describe(registration),
        choices=choices_for(registration, signed_in_user()),
        asks_approval=step == "request",
        payment=_paid(registration),
    )


@bp.get("/registration/<public_id>/complete")
def complete_by_get(public_id: str) -> BaseResponse:
    """A reload or a bookmark of the completion URL: never completes, shows the current page."""
    return redirect(url_for("registration.confirm", public_id=public_id), code=303)


@bp.post("/registration/<public_id>/complete")
def complete(public_id: str) -> Page:
    registration = _load(public_id, "confirm")
    _step_allowed(registration, "confirm", frozenset({"confirm"}))
    user = signed_in_user()
    db = get_session()
    complete_registration(db, get_ltiaas(), registration, actor_of(user), choices_for(registration, user))
    raise_if_closed(db, registration)
    return _go(page_for(registration, "done"), registration)


@bp.post("/registration/<public_id>/request")
def request_approval(public_id: str) -> Page:
    """Live approval: the customer's confirmation sends their choices to the vendor's staff."""
    registration = _load(public_id, "confirm")
    _step_allowed(registration, "confirm", frozenset({"request"}))
    user = signed_in_user()
    if user is None:  # the "request" step is a signed-in customer's; this only satisfies the types
        return _sign_in_first(registration, "confirm")
    try:
        approvals.request_approval(get_session(), registration, user, choices_for(registration, user))
    except AccountErased:  # deleted in another window meanwhile: signing in says so
        return _sign_in_first(registration, "confirm")
    return _go("waiting", registration)


@bp.get("/registration/<public_id>/waiting")
def waiting(public_id: str) -> Page:
    """The customer's request as the staff see it; updates by itself until there is an outcome."""
    registration = _load(public_id, "waiting")
    approval = approval_of(get_session(), registration)
    if approval is None:
        return _go("confirm", registration)
    if signed_in_user() is None:
        return _sign_in_first(registration, "waiting")
    return render_template(
        "registration/waiting.html",
        registration=registration,
        approval=approval,
        lms=describe(registration),
        choices=approval.approved_choices or approval.requested_choices,
        payment=_paid(registration),
        decision_told_at=customer_emails.address_told_of_decision(approval),
    )


@bp.get("/registration/<public_id>/done")
def done(public_id: str) -> Page:
    registration = _load(public_id, "done")
    completion_html = ""
    if registration.current_state is RegistrationState.COMPLETED:
        completion_html = registration.completion_html or ""
    for script in inline_scripts(completion_html):
        allow_inline_script(script)
    return render_template(
        "registration/done.html",
        registration=registration,
        lms=describe(registration),
        choices=current_choices(registration),
        active=is_active(registration),
        review_later=approval_policy().customer_platforms_start_inactive,
        told_at=customer_emails.address_told_on_activation(registration),
        completion_html=completion_html,
        payment=_paid(registration),
    )


@bp.get("/registration/<public_id>/status")
def status(public_id: str) -> Response:
    """What the finishing and waiting pages poll: the registration's state, and its request's if any."""
    db = get_session()
    registration = load_registration(db, public_id)
    approval = approval_of(db, registration)
    body = {"state": registration.state}
    if approval is not None:
        body["approval"] = approval.state
    response = jsonify(body)
    response.headers["Cache-Control"] = "no-store"
    return response
