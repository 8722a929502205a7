"""The staff's decisions: approve (with the choices they may change), reject (with a reason), finish,
and record a refund.

Each carries a required confirmation box, so that no single click (or a
clickjacked one) decides anything.
"""

from __future__ import annotations

from typing import cast

from wtforms import BooleanField, TextAreaField
from wtforms.validators import DataRequired, Length

from portal.forms import OneTimeForm, PortalForm
from portal.models import ApprovalRequest
from portal.registration.approvals import REASON_MAX
from portal.registration.choices import default_placements_by_type
from portal.registration.forms import ConfigureForm, build_configure_form


class ApproveForm(ConfigureForm):
    confirm_approve = BooleanField(
        "Yes, register the tool with this LMS with the settings above",
        validators=[DataRequired("Tick this box to confirm the approval.")],
    )


class RejectForm(PortalForm):
    reason = TextAreaField(
        "Reason, shown to the customer",
        validators=[
            DataRequired("Tell the customer why."),
            Length(max=REASON_MAX, message=f"Use at most {REASON_MAX} characters."),
        ],
    )
    confirm_reject = BooleanField(
        "Yes, decline this request", validators=[DataRequired("Tick this box to confirm.")]
    )


class FinishForm(PortalForm):
    confirm_finish = BooleanField(
        "Yes, try again to register the tool with the approved settings",
        validators=[DataRequired("Tick this box to confirm.")],
    )


class RefundForm(PortalForm):
    confirm_refund = BooleanField(
        "Yes, I refunded this payment in Stripe's dashboard",
        validators=[DataRequired("Tick this box to confirm.")],
    )


def build_approve_form(approval: ApprovalRequest, *, from_request: bool = True) -> ApproveForm:
    """An approval form for the request's LMS: only what it supports, prefilled with what was asked
    (and, `from_request`, filled with what the staff member sent)."""
    registration = approval.registration
    form = build_configure_form(
        registration.supported_messages,
        approval.requested_choices,
        default_placements_by_type(registration),
        allow_auto_activate_choice=True,
        form_class=ApproveForm,
        from_request=from_request,
    )
    return cast(ApproveForm, form)


class TestNotificationForm(OneTimeForm):
    """ "Send a test notification": one test per showing of the page (`fresh`)."""
