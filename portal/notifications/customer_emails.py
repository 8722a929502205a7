"""What customers are told by e-mail.

- What the vendor's staff decided on their request (live approval): registered, or declined with
  the reason; whether or not the LMS's window is still open. Or that it expired before anyone
  decided (the waiting page promised an e-mail).
- That the LMS they registered can now launch the tool, once its platform is first active (the
  done page told them the vendor would activate it, and that they would hear): when a staff
  member activates it from the console, or when the console next reads it as active from LTIAAS
  (activated on LTIAAS's own dashboard).

Only where the portal can send e-mail (`outbox.email_configured`); queued through the outbox in
the caller's transaction, like every other e-mail, once per event (its key): a decision once per
request, activation once per registration (activating it again after a deactivation tells
nobody). Each text names the LMS and the platform and carries no secret; the only link is to the
customer's account page.
"""

from __future__ import annotations

from flask import current_app
from sqlalchemy.orm import Session

from portal.branding import brand
from portal.models import ApprovalRequest, Registration
from portal.notifications import outbox
from portal.notifications.alerts import lms_in_words
from portal.registration.payments import payments
from portal.urls import portal_url

TOOL_ACTIVE = "tool-active"
REQUEST_DECIDED = "request-decided"


def address_told_on_activation(registration: Registration) -> str | None:
    """Where `tool_active` will write when the registration's platform is activated, or None (also
    when its customer erased their account)."""
    customer = registration.customer
    if customer is None or customer.is_erased or not outbox.email_configured(current_app.config):
        return None
    return customer.email


def told_when_activated(db: Session, registration: Registration) -> str | None:
    """Whom activating the registration's platform now would e-mail (`tool_active`): its customer,
    where the portal can e-mail, while the platform is known to be inactive and nobody was told of
    its activation before (a re-activation after a deactivation tells nobody); else None."""
    address = address_told_on_activation(registration)
    if address is None or registration.platform_active is not False:
        return None
    return None if outbox.already_queued(db, [_tool_active_key(registration)]) else address


def _tool_active_key(registration: Registration) -> str:
    return f"{TOOL_ACTIVE}:{registration.public_id}"


def tool_active(db: Session, registration: Registration) -> bool:
    """Tell the customer who registered `registration` that their LMS can launch the tool now; True
    if queued (not when the portal cannot e-mail, nobody signed the registration, or they were told)."""
    address = address_told_on_activation(registration)
    if address is None:
        return False
    vendor, support = brand().name, _questions()
    tool = f"{vendor}'s tool" if vendor else "The tool"
    text = (
        f"{tool} is now active in {lms_in_words(registration)}{_named(registration)}, which you "
        f"registered on {registration.created_at:%Y-%m-%d}: your LMS can launch it.\n\n"
        "You don't need to do anything more." + (f" {support}" if support else "")
    )
    subject = brand().subject("The tool is active in your LMS")
    return outbox.enqueue_email_to(db, _tool_active_key(registration), TOOL_ACTIVE, address, subject, text)


def address_told_of_decision(approval: ApprovalRequest) -> str | None:
    """Where the staff's decision on `approval` will be e-mailed, or None: the requester's address
    now (they may have changed it since they asked), else the one they asked with; nowhere once
    they erased their account."""
    if not outbox.email_configured(current_app.config):
        return None
    requester = approval.requested_by
    if requester is not None and requester.is_erased:
        return None
    return requester.email if requester is not None else approval.requested_by_email


def request_registered(db: Session, approval: ApprovalRequest) -> bool:
    """Tell the customer who asked that their request was approved and the tool is registered."""
    registration = approval.registration
    then = _activation_sentence(registration)
    text = (
        f"{_vendor_or('The vendor')} approved your request to register the tool with "
        f"{lms_in_words(registration)}{_named(registration)}, and it is registered.{then}\n\n"
        "If the registration window in your LMS is still open, it closes by itself."
    )
    return _tell_requester(db, approval, "Your request was approved: the tool is registered", text)


def request_declined(db: Session, approval: ApprovalRequest) -> bool:
    """Tell the customer who asked that their request was declined, and why."""
    text = (
        f"{_vendor_or('The vendor')} declined your request to register the tool with "
        f"{lms_in_words(approval.registration)}{_named(approval.registration)}. Nothing was registered.\n\n"
        f"Their reason: {approval.reason or '(none given)'}\n\n"
        f"{_refund_sentence(db, approval.registration)}"
        "To ask again, start the registration again from your LMS."
    )
    return _tell_requester(db, approval, "Your request was declined", text)


def request_not_registered(db: Session, approval: ApprovalRequest) -> bool:
    """Tell the customer who asked that their approved request could not be registered, and why."""
    registration = approval.registration
    text = (
        f"{_vendor_or('The vendor')} approved your request to register the tool with "
        f"{lms_in_words(registration)}{_named(registration)}, but it could not be registered. "
        "Nothing was registered.\n\n"
        f"What happened: {registration.last_error or '(no reason was given)'}\n\n"
        f"{_refund_sentence(db, registration)}"
        "To try again, start the registration again from your LMS."
    )
    return _tell_requester(
        db, approval, "Your request was approved, but the tool could not be registered", text
    )


def request_expired(db: Session, approval: ApprovalRequest) -> bool:
    """Tell the customer who asked that their request ended without a decision: its registration
    outlived its lifetime, or LTIAAS stopped accepting it, before the staff decided."""
    registration = approval.registration
    text = (
        f"Your request to register the tool with {lms_in_words(registration)}{_named(registration)} "
        f"expired before {_vendor_or('the vendor')} decided on it: a registration started in an LMS "
        "can only be finished for a limited time. Nothing was registered.\n\n"
        f"{_refund_sentence(db, registration)}"
        "To ask again, start the registration again from your LMS."
    )
    return _tell_requester(db, approval, "Your request expired before a decision", text)


def _refund_sentence(db: Session, registration: Registration) -> str:
    """What becomes of a payment for a declined request (its own paragraph), or nothing."""
    paid = payments().paid(db, registration)
    if paid is None:
        return ""
    reference = f" (payment reference {paid.reference})" if paid.reference else ""
    return (
        f"You paid {paid.amount} for this registration{reference}: "
        f"{_vendor_or('the vendor')} refunds it. You don't need to do anything.\n\n"
    )


def _activation_sentence(registration: Registration) -> str:
    """What the portal knows of the platform's activation (nothing, for LTIAAS's own default)."""
    if registration.platform_active is True:
        return " It is active: your LMS can launch it."
    if registration.platform_active is False:
        later = " We will e-mail you when they have." if address_told_on_activation(registration) else ""
        return f" It is not active yet: the vendor's staff activate it before your LMS can launch it.{later}"
    return ""


def _tell_requester(db: Session, approval: ApprovalRequest, title: str, text: str) -> bool:
    address = address_told_of_decision(approval)
    if address is None:
        return False
    support = _questions()
    text += f"\n\nYour account: {portal_url('auth.account')}"
    if support:
        text += f"\n{support}"
    subject = brand().subject(title)
    key = f"{REQUEST_DECIDED}:{approval.public_id}"
    return outbox.enqueue_email_to(db, key, REQUEST_DECIDED, address, subject, text)


def _questions() -> str:
    """Where a customer asks the vendor: the support page, preferred, else the support address."""
    if brand().support_url:
        return f"Questions? See {brand().support_url}"
    if brand().support_email:
        return f"Questions? Write to {brand().support_email}."
    return ""


def _vendor_or(default: str) -> str:
    return brand().name or default


def _named(registration: Registration) -> str:
    name = registration.shown_platform_name
    return f' (as "{name}")' if name else ""
