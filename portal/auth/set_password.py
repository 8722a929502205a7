"""The page a one-time set-password link opens (`password_links`): top level, never framed, never cached.

It is not a flow page: the person arrives from an e-mail or chat message, in a
window of their own, with no session. The token is the whole authority; a GET
only shows the form, and only the POST that sets the password uses the link up.
"""

from __future__ import annotations

from flask import make_response, render_template
from werkzeug.wrappers import Response

from portal.auth import bp, password_links
from portal.auth.forms import SetPasswordForm
from portal.auth.service import WeakPassword
from portal.db import get_session
from portal.security import forbid_framing


def link_page(template: str, status: int = 200, **context: object) -> Response:
    """A page a one-time link opens (this one's, or `change_email`'s)."""
    response = make_response(render_template(template, **context), status)
    # The token is in this page's address: no cache keeps it (and the site's Referrer-Policy,
    # same-origin, never sends it to another site; the page loads nothing from elsewhere).
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.route("/set-password/<token>", methods=["GET", "POST"])
def set_password(token: str) -> Response:
    """Choose a password with a link a staff member made.

    :raise 410: (rendered) the link is unknown, expired, used, replaced, or its account disabled.
    """
    forbid_framing()
    db = get_session()
    link = password_links.find_link(db, token)
    if link is None:
        return link_page("auth/set_password_invalid.html", 410)
    form = SetPasswordForm()
    if form.validate_on_submit():
        try:
            user = password_links.set_password_with_link(db, link, form.password.data)
        except WeakPassword as error:
            form.password.errors.append(str(error))
        else:
            if user is None:  # a second submit of the same form: the first one set it
                return link_page("auth/set_password_invalid.html", 410)
            db.commit()
            return link_page("auth/password_set.html", email=user.email, staff=user.is_staff)
    status = 400 if form.errors else 200
    return link_page("auth/set_password.html", status, form=form, link=link, token=token)
