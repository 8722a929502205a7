"""The pending approval requests, one request's page, and the staff's three actions on it; the
payments that did not end in a registration, and recording their refund."""

from __future__ import annotations

from flask import flash, redirect, render_template, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user
from sqlalchemy.orm import Session
from werkzeug.wrappers import Response

from portal.admin import bp
from portal.admin.access import staff_required
from portal.admin.approval_words import already_completing, already_decided
from portal.admin.forms import ApproveForm, FinishForm, RefundForm, RejectForm, build_approve_form
from portal.admin.not_found import APPROVAL, PAYMENT, not_found
from portal.admin.registration_list import standing_label
from portal.billing import attention
from portal.billing.flow import paid_payment
from portal.db import get_session
from portal.ltiaas import get_ltiaas
from portal.models import ApprovalRequest, other_requests_for_lms
from portal.registration import approvals
from portal.registration.approvals import Outcome
from portal.registration.display import describe

MESSAGES: dict[Outcome, tuple[str, str]] = {
    Outcome.COMPLETED: (
        "success",
        "Approved: the tool is registered with this LMS. If the customer's window is still open, it "
        "closes by itself.",
    ),
    Outcome.NOT_COMPLETED: (
        "error",
        "Approved, but the tool is not registered yet (see below). You can try again.",
    ),
    Outcome.NOT_REGISTERED: (
        "error",
        "Approved, but it could not be registered (see below): nothing was registered, and the "
        "registration is closed. The customer's window and account page say why; a payment for it is "
        "due for a refund.",
    ),
    Outcome.ANSWER_LOST: (
        "warning",
        "Approved, but LTIAAS's answer was lost: whether the tool is registered is not known yet "
        "(see below). Trying again is safe: it finds the platform if LTIAAS made one.",
    ),
    Outcome.OUTCOME_UNKNOWN: (
        "warning",
        "Approved, but whether LTIAAS registered the tool is not known: check LTIAAS and settle it on "
        "the registration's page.",
    ),
    Outcome.REJECTED: ("success", "Declined. The customer's window shows your reason."),
    # These two are worded from the stored state (`_words`): who decided, or how the registration stands.
    Outcome.ALREADY_DECIDED: ("warning", "This request was decided already; nothing was changed."),
    Outcome.ALREADY_COMPLETING: ("warning", "Another attempt registers this already; nothing was sent."),
    Outcome.EXPIRED: ("warning", "This request expired with its registration; nothing was registered."),
    Outcome.WITHDRAWN: ("warning", "The customer withdrew this request; nothing was registered."),
}


def _approval_or_404(public_id: str) -> ApprovalRequest:
    approval = approvals.find_by_public_id(get_session(), public_id)
    if approval is None:
        not_found(APPROVAL, public_id)
    return approval


def _words(approval: ApprovalRequest, outcome: Outcome) -> str:
    if outcome is Outcome.ALREADY_DECIDED:
        return already_decided(approval, current_user.email)
    if outcome is Outcome.ALREADY_COMPLETING:
        return already_completing(approval.registration)
    return MESSAGES[outcome][1]


def _to_request(approval: ApprovalRequest, outcome: Outcome) -> Response:
    flash(_words(approval, outcome), MESSAGES[outcome][0])
    return redirect(url_for("admin.approval", public_id=approval.public_id), code=303)


def _request_page(
    approval: ApprovalRequest,
    approve_form: ApproveForm | None = None,
    reject_form: RejectForm | None = None,
    status: int = 200,
) -> tuple[str, int]:
    db = get_session()
    payment = paid_payment(db, approval.registration)
    others = _other_requests(db, approval)
    page = render_template(
        "admin/approval.html",
        approval=approval,
        paid=attention.standing_of(db, payment) if payment is not None else None,
        refund_form=RefundForm(),
        registration=approval.registration,
        # Where the registration stands in the words of its own page and the overview (a completion
        # left stuck past COMPLETION_STALE_AFTER is an outcome to settle, not "completing").
        standing=standing_label(approval.registration, approval.state),
        lms=describe(approval.registration),
        # Beside a refused POST, the other form is shown as first shown, not read from that POST.
        approve_form=approve_form or build_approve_form(approval, from_request=False),
        reject_form=reject_form or RejectForm(formdata=None),
        finish_form=FinishForm(),
        can_finish=approvals.can_finish(approval),
        next_request=None if approval.is_pending else approvals.next_pending(db, approval),
        others=others,
        standing_label=standing_label,
        twice=_registers_twice(others),
    )
    return page, status


def _registers_twice(others: list[ApprovalRequest]) -> str | None:
    """The warning beside the same customer's other requests for this LMS, only when it is true."""
    if any(approvals.registered_through(other) for other in others):
        return "One of these already registered the tool with this LMS: approving would register it twice."
    if any(approvals.may_still_register(other) for other in others):
        return "Approving both would register the tool twice with this LMS."
    return None


def _other_requests(db: Session, approval: ApprovalRequest) -> list[ApprovalRequest]:
    """The same customer's requests for the same LMS, shown beside this one (a duplicate to spot)."""
    if approval.requested_by_id is None:
        return []
    return other_requests_for_lms(db, approval.registration, approval.requested_by_id)


@bp.get("/approvals/", endpoint="approvals")
@staff_required
def approvals_page() -> str:
    """Requests waiting for a decision (stale ones are marked expired first), and approvals to finish."""
    db = get_session()
    return render_template(
        "admin/approvals.html",
        pending=approvals.pending_requests(db),
        unfinished=approvals.unfinished_approvals(db),
        describe=describe,
    )


@bp.get("/approvals/<public_id>")
@staff_required
def approval(public_id: str) -> tuple[str, int]:
    return _request_page(_approval_or_404(public_id))


@bp.post("/approvals/<public_id>/approve")
@staff_required
def approve(public_id: str) -> ResponseReturnValue:
    """Approve with the (possibly changed) choices, and complete the registration with them."""
    approval = _approval_or_404(public_id)
    if not approval.is_pending:
        return _to_request(approval, approvals.why_not_pending(approval))
    form = build_approve_form(approval)
    if not form.validate_on_submit():
        return _request_page(approval, approve_form=form, status=400)
    staff = current_user._get_current_object()
    outcome = approvals.approve(get_session(), get_ltiaas(), approval, staff, form.to_overrides())
    return _to_request(approval, outcome)


@bp.post("/approvals/<public_id>/reject")
@staff_required
def reject(public_id: str) -> ResponseReturnValue:
    approval = _approval_or_404(public_id)
    if not approval.is_pending:
        return _to_request(approval, approvals.why_not_pending(approval))
    form = RejectForm()
    if not form.validate_on_submit():
        return _request_page(approval, reject_form=form, status=400)
    staff = current_user._get_current_object()
    return _to_request(approval, approvals.reject(get_session(), approval, staff, form.reason.data))


@bp.post("/approvals/<public_id>/finish")
@staff_required
def finish(public_id: str) -> ResponseReturnValue:
    """Try again to complete an approved request (LTIAAS was down, or refused the vendor's key)."""
    approval = _approval_or_404(public_id)
    if not FinishForm().validate_on_submit():
        flash("Tick the box to confirm, then try again.", "error")
        return redirect(url_for("admin.approval", public_id=approval.public_id), code=303)
    staff = current_user._get_current_object()
    return _to_request(approval, approvals.finish(get_session(), get_ltiaas(), approval, staff))


@bp.get("/payments/", endpoint="payments")
@staff_required
def payments_page() -> str:
    """Paid registrations that are not registered: refunds due first, then those that may still be."""
    return render_template(
        "admin/payments.html",
        items=attention.needing_attention(get_session()),
        describe=describe,
        refund_form=RefundForm(),
    )


@bp.post("/payments/<public_id>/refunded")
@staff_required
def record_refund(public_id: str) -> Response:
    """Record that a payment due for a refund was refunded in Stripe (takes it off the list)."""
    db = get_session()
    payment = attention.find_payment(db, public_id)
    if payment is None:
        not_found(PAYMENT, public_id)
    if not RefundForm().validate_on_submit():
        flash("Tick the box to confirm that you refunded the payment in Stripe.", "error")
    elif attention.record_refund(db, payment, current_user.email):
        flash("Recorded as refunded.", "success")
    else:
        flash("No refund is due for this payment (or it is recorded already); nothing changed.", "warning")
    return redirect(url_for("admin.payments"), code=303)
