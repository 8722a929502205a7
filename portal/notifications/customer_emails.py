"""What customers are told by e-mail: that the LMS they registered can now launch the tool, once its
platform is first active (the done page told them the vendor would activate it, and that they
would hear): when a staff member activates it from the console, or when the console next reads
it as active from LTIAAS (activated on LTIAAS's own dashboard).

Only where the portal can send e-mail (`outbox.email_configured`); queued through the outbox in the
caller's transaction, like every other e-mail, once per registration (its event key): activating
it again after a deactivation tells nobody. The text names the LMS and the platform, and carries
no link and no secret.
"""

from __future__ import annotations

from flask import current_app
from sqlalchemy.orm import Session

from portal.branding import brand
from portal.models import Registration
from portal.notifications import outbox

TOOL_ACTIVE = "tool-active"


def address_told_on_activation(registration: Registration) -> str | None:
    """Where `tool_active` will write when the registration's platform is activated, or None."""
    customer = registration.customer
    if customer is None or not outbox.email_configured(current_app.config):
        return None
    return customer.email


def tool_active(db: Session, registration: Registration) -> bool:
    """Tell the customer who registered `registration` that their LMS can launch the tool now; True
    if queued (not when the portal cannot e-mail, nobody signed the registration, or they were told)."""
    address = address_told_on_activation(registration)
    if address is None:
        return False
    from portal.registration import labels  # imported here: the registration package imports this one

    lms = labels.lms_of(registration.family_code, registration.platform_url)
    vendor, support = brand().name, brand().support_email
    tool = f"{vendor}'s tool" if vendor else "The tool"
    name = registration.platform_name or (registration.overrides or {}).get("platformName")
    named = f' (as "{name}")' if name else ""
    text = (
        f"{tool} is now active in {lms}{named}, which you registered on "
        f"{registration.created_at:%Y-%m-%d}: your LMS can launch it.\n\n"
        "You don't need to do anything more." + (f" Questions? Write to {support}." if support else "")
    )
    subject = f"[{vendor}] The tool is active in your LMS" if vendor else "The tool is active in your LMS"
    key = f"{TOOL_ACTIVE}:{registration.public_id}"
    return outbox.enqueue_email_to(db, key, TOOL_ACTIVE, address, subject, text)
