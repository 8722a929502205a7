"""The one gate in front of every staff page."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar, cast

from flask import abort, redirect, request, url_for
from flask_login import current_user

from portal.security import forbid_framing

View = TypeVar("View", bound=Callable[..., Any])


def staff_required(view: View) -> View:
    """Only signed-in, active staff pass; staff pages are never framed.

    :raise 403: a signed-in customer.
    Anyone not signed in is sent to sign in, and back to this page afterwards
    (to the pending requests after a POST, which cannot be replayed by a redirect).
    """

    @wraps(view)
    def gated(*args: Any, **kwargs: Any) -> Any:
        forbid_framing()
        if not current_user.is_authenticated:
            back = request.full_path.rstrip("?") if request.method == "GET" else url_for("admin.approvals")
            return redirect(url_for("auth.sign_in", next=back))
        if not current_user.is_staff:
            abort(403)
        return view(*args, **kwargs)

    return cast(View, gated)
