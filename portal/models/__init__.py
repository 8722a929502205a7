"""Every table of the portal, one module per job; import from here: `from portal.models import X`.

- `columns`: UTC timestamps and public ids, shared by every table
- `registrations`: a registration, its state machine and the audit trail
- `users`: who signs in, failed sign-ins, and one-time set-password links
- `approvals`: live-approval requests and staff decisions
- `sessions`: the server-side session store
- `payments`: payments, Stripe events and one-time Checkout links
- `platform_actions`: staff actions on LTIAAS's platforms, each taken once
- `form_submissions`: the other console forms that act once (a password e-mail, a test notification)
- `notifications`: the outbox of notifications to the vendor's staff

The sandbox keeps its stand-ins' tables in `portal.sandbox.models`; `load_all` adds them.
"""

from __future__ import annotations

from sqlalchemy import MetaData

from portal.db import Base
from portal.models.approvals import (
    ApprovalRequest,
    ApprovalState,
    approval_of,
    decide_approval,
    other_requests_for_lms,
)
from portal.models.columns import MAX_ROW_ID, UTCDateTime, new_public_id, utcnow
from portal.models.form_submissions import FormSubmission, FormSubmissionKind, submit_once
from portal.models.notifications import Notification, NotificationChannel, NotificationState
from portal.models.payments import HostedCheckoutToken, Payment, PaymentStatus, StripeEvent
from portal.models.platform_actions import PlatformAction, PlatformActionKind, PlatformActionState
from portal.models.registrations import (
    ALLOWED_TRANSITIONS,
    OPEN_STATES,
    OTHER_FAMILY,
    SETTLEMENTS,
    UNSETTLED_PROBLEMS,
    AuditEvent,
    InvalidTransition,
    Problem,
    Registration,
    RegistrationState,
    claim_for_completion,
    close_as_failed,
    fit_platform_name,
    newest_choices_for_lms,
    record_event,
    registration_lifetime_end,
    settle_outcome,
    transition,
)
from portal.models.sessions import WebSession
from portal.models.users import (
    ERASED_DOMAIN,
    LoginAttempt,
    PasswordLink,
    PasswordLinkPurpose,
    User,
    UserRole,
    erased_address,
)

__all__ = [
    "ALLOWED_TRANSITIONS",
    "ERASED_DOMAIN",
    "MAX_ROW_ID",
    "OPEN_STATES",
    "OTHER_FAMILY",
    "SETTLEMENTS",
    "UNSETTLED_PROBLEMS",
    "ApprovalRequest",
    "ApprovalState",
    "AuditEvent",
    "FormSubmission",
    "FormSubmissionKind",
    "HostedCheckoutToken",
    "InvalidTransition",
    "LoginAttempt",
    "Notification",
    "NotificationChannel",
    "NotificationState",
    "PasswordLink",
    "PasswordLinkPurpose",
    "Payment",
    "PaymentStatus",
    "PlatformAction",
    "PlatformActionKind",
    "PlatformActionState",
    "Problem",
    "Registration",
    "RegistrationState",
    "StripeEvent",
    "UTCDateTime",
    "User",
    "UserRole",
    "WebSession",
    "approval_of",
    "claim_for_completion",
    "close_as_failed",
    "decide_approval",
    "erased_address",
    "fit_platform_name",
    "load_all",
    "new_public_id",
    "newest_choices_for_lms",
    "other_requests_for_lms",
    "record_event",
    "registration_lifetime_end",
    "settle_outcome",
    "submit_once",
    "transition",
    "utcnow",
]


def load_all() -> MetaData:
    """The metadata of every table in the database, the sandbox's included, whatever the settings.

    The app factory, the test schemas and Alembic all build from this, so a table
    never appears or vanishes with the settings (the sandbox's tables exist in every
    deployment; only its views are switched off).
    """
    import portal.sandbox.models  # noqa: F401 - table modules only, never the sandbox's views

    return Base.metadata
