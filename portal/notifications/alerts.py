"""What staff are told, and when: a live-approval request waits for them; a new LMS registered the tool
but is not active yet; a paid registration needs a refund; a test from the console. Each text says
what happened, at which LMS, and links (absolute, from PORTAL_URL) to the console page to act on;
it carries no secret.

Each function queues through `outbox.enqueue` in the caller's transaction; the
event key makes each event notify once. With a `BRAND_NAME`, the subject starts with the vendor's
name in brackets and the text ends by naming whose portal sent it, so a vendor running portals
for several brands into one inbox or channel can tell them apart.
"""

from __future__ import annotations

import secrets
from typing import TYPE_CHECKING

from sqlalchemy.orm import Session

from portal.branding import brand
from portal.models import ApprovalRequest, ApprovalState, Registration, RegistrationState
from portal.notifications import outbox
from portal.urls import portal_url

if TYPE_CHECKING:
    from portal.billing.attention import PaidRegistration

APPROVAL_REQUESTED = "approval-requested"
ACTIVATION_DUE = "activation-due"
REFUND_DUE = "refund-due"
TEST = "test"


def _queue(db: Session, event_key: str, kind: str, subject: str, text: str) -> int:
    """Queue on every channel, in the vendor's name when it has one."""
    vendor = brand().name
    if vendor:
        text = f"{text}\n— {vendor}'s approval portal"
    return outbox.enqueue(db, event_key, kind, brand().subject(subject), text)


def lms_in_words(registration: Registration) -> str:
    """The registration's LMS in a sentence: "Moodle at moodle.example.edu"."""
    # Imported here, not above: the registration and billing packages import their views, which
    # (through registration.approvals) import this module.
    from portal.registration import labels

    return labels.lms_of(registration.family_code, registration.platform_url)


def _platform_name(registration: Registration, choices: dict[str, object] | None = None) -> str:
    name = (choices or registration.overrides or {}).get("platformName")
    return f'"{name}"' if name else "a platform"


def approval_requested(db: Session, approval: ApprovalRequest) -> int:
    """A customer is waiting in their LMS for a staff member to approve or decline their request."""
    registration = approval.registration
    lms = lms_in_words(registration)
    text = (
        f"{approval.requested_by_email} asks to register the tool with {lms}, as "
        f"{_platform_name(registration, approval.requested_choices)}. They are waiting in their LMS for "
        f"your decision (the registration stays open until {registration.expires_at:%H:%M UTC}).\n"
        f"Approve or decline: {portal_url('admin.approval', public_id=approval.public_id)}"
    )
    return _queue(
        db, f"{APPROVAL_REQUESTED}:{approval.public_id}", APPROVAL_REQUESTED, f"Approval needed: {lms}", text
    )


def activation_due(db: Session, registration: Registration) -> int:
    """An LMS registered the tool without activating it: it cannot launch the tool until a staff member
    activates the platform (the customer was told the vendor would)."""
    lms = lms_in_words(registration)
    who = registration.customer.email if registration.customer is not None else "A customer"
    text = (
        f"{who} registered the tool with {lms}, as {_platform_name(registration)}. It is not active "
        f"yet: the LMS cannot launch the tool until you activate it.\n"
        f"Review and activate it: {portal_url('admin.platform', platform_id=registration.platform_id)}"
    )
    key = f"{ACTIVATION_DUE}:{registration.public_id}"
    return _queue(db, key, ACTIVATION_DUE, f"Activation due: {lms}", text)


def refund_due_key(paid: PaidRegistration) -> str:
    return f"{REFUND_DUE}:{paid.payment.public_id}"


def _why_not_registered(paid: PaidRegistration) -> str:
    approval = paid.approval
    if approval is not None and approval.current_state is ApprovalState.REJECTED:
        return f"the request was declined by {approval.decided_by_email}"
    if approval is not None and approval.current_state is ApprovalState.WITHDRAWN:
        return "the customer withdrew the request"
    if approval is not None and approval.current_state is ApprovalState.EXPIRED:
        return "nobody decided the request before it expired"
    registration = paid.registration
    if registration.current_state is RegistrationState.EXPIRED:
        return "the registration expired unfinished"
    return (
        f"the registration failed: {registration.last_error}"
        if registration.last_error
        else "the registration failed"
    )


def refund_due(db: Session, paid: PaidRegistration) -> int:
    """A customer paid for a registration that can no longer be registered: a staff member refunds it."""
    from portal.billing.money import format_money

    payment, registration = paid.payment, paid.registration
    lms = lms_in_words(registration)
    stripe_payment = payment.stripe_payment_intent or payment.stripe_subscription or payment.stripe_session_id
    amount = format_money(payment.amount_total, payment.currency)
    text = (
        f"{amount} paid by {payment.customer_email or 'a customer'} for {_platform_name(registration)} "
        f"with {lms} did not end in a registration: {_why_not_registered(paid)}.\n"
        f"Refund it in Stripe (payment {stripe_payment})"
        f"{f', cancel its subscription {payment.stripe_subscription}' if payment.stripe_subscription else ''}"
        ", then record the refund: "
        f"{portal_url('admin.payments')}"
    )
    return _queue(db, refund_due_key(paid), REFUND_DUE, f"Refund due: {lms}", text)


def test_message(db: Session, actor: str) -> int:
    """A test from the console's Notifications page, so staff see where notifications arrive."""
    text = (
        f"A test notification, sent by {actor} from the approval portal's console. Staff notifications "
        f"arrive here. Notifications: {portal_url('admin.notifications')}"
    )
    key = f"{TEST}:{secrets.token_hex(8)}"
    return _queue(db, key, TEST, "Test notification from the approval portal", text)
