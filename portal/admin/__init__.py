"""The staff console (top level, never framed): the overview and every registration
(`registration_views`), approval requests and payments to check (`views`), the platforms at
LTIAAS (`platform_views`), People, the audit trail and the notifications.

Every view is behind `access.staff_required`; every action is a CSRF-checked POST
with an explicit confirmation, and is audited with the staff member's email.
"""

from flask import Blueprint

from portal.sessions import carry_session_token

bp = Blueprint("admin", __name__, url_prefix="/admin")
# Staff pages normally have their own first-party cookie; the token is the fallback.
carry_session_token(bp)

import portal.admin.platform_views  # noqa: E402 - the platforms at LTIAAS
import portal.admin.registration_views  # noqa: E402, F401 - the overview and every registration
from portal.admin import (  # noqa: E402, F401 - registers the routes
    audit,
    not_found,
    notifications,
    people,
    people_erasure,
    views,
)
