"""A customer withdraws their pending request for approval: from the waiting page in the LMS's
iframe, or from their account page.

A CSRF-checked POST with a confirmation box, allowed only to the customer who asked.
It goes back to the page it came from (`next`, a local path; else the account page):
the waiting page then shows that the request was withdrawn and how to start over.
"""

from __future__ import annotations

from typing import cast

from flask import abort, flash, redirect, request, url_for
from werkzeug.wrappers import Response

from portal.auth import bp
from portal.auth.forms import WithdrawForm
from portal.auth.navigation import safe_next, with_session_token
from portal.auth.users import signed_in_user
from portal.db import get_session
from portal.extensions import login_manager
from portal.registration import approvals
from portal.registration.approvals import Outcome

MESSAGES: dict[Outcome, tuple[str, str]] = {
    Outcome.WITHDRAWN: ("success", "You withdrew your request. Nothing was registered."),
    Outcome.ALREADY_DECIDED: (
        "warning",
        "The tool's vendor had already decided on your request, so it could not be withdrawn.",
    ),
    Outcome.EXPIRED: ("warning", "This request had already expired; nothing was registered."),
}


@bp.post("/requests/<public_id>/withdraw")
def withdraw(public_id: str) -> Response:
    """Withdraw the signed-in customer's pending request `public_id`, then back to `next`.

    :raise 404: no such request, or another person's. Anyone not signed in signs in first.
    """
    user = signed_in_user()
    if user is None:
        return cast(Response, login_manager.unauthorized())
    db = get_session()
    approval = approvals.find_by_public_id(db, public_id)
    if approval is None or not approvals.requested_by(approval, user):
        abort(404)
    came_from = safe_next(request.form.get("next"))
    back = came_from or url_for("auth.account", _st=None)
    if not WithdrawForm().validate_on_submit():
        flash("Tick the box to confirm that you want to withdraw your request; nothing was changed.", "error")
        return redirect(with_session_token(back), code=303)
    outcome = approvals.withdraw(db, approval, user)
    category, message = MESSAGES[outcome]
    # A page that sends `next` (the waiting page) shows a withdrawal in its own words.
    if outcome is not Outcome.WITHDRAWN or came_from is None:
        flash(message, category)
    return redirect(with_session_token(back), code=303)
