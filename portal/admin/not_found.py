"""A 404 inside the staff console is a console page: what was not found, in staff words, and the
list to look in instead, under the console's menu.

Only views behind `access.staff_required` look anything up, so only signed-in staff ever get
here; anyone else meets the gate first (sign in, or 403) and learns nothing about what exists. An
address under /admin/ that no view answers is the console's "no such page" for staff, the
portal's own page for anyone else.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NoReturn

from flask import render_template, request
from flask_login import current_user
from werkzeug.exceptions import NotFound

from portal.admin import bp
from portal.errors import handle_http_error, wants_json
from portal.security import forbid_framing


@dataclass(frozen=True)
class Missing:
    """One kind of thing staff look up by id, and where they find the ones that exist."""

    heading: str
    said: str  # followed by the id, when there is one
    next_step: str  # followed by the link to the list
    link_text: str
    endpoint: str


REGISTRATION = Missing(
    "No such registration",
    "No registration in this portal has the id",
    "Look for it in",
    "the registrations list",
    "admin.registrations",
)
APPROVAL = Missing(
    "No such approval request",
    "No approval request in this portal has the id",
    "See",
    "the approval requests",
    "admin.approvals",
)
PAYMENT = Missing(
    "No such payment",
    "No payment in this portal has the id",
    "See",
    "the payments to check",
    "admin.payments",
)
PERSON = Missing(
    "No such person",
    "No account in this portal has the id",
    "Find them on",
    "the People page",
    "admin.people",
)
PLATFORM = Missing(
    "No such platform at LTIAAS",
    "LTIAAS gives no platform an id like",
    "Find it among",
    "the platforms at LTIAAS",
    "admin.platforms",
)
PAGE = Missing(
    "No such console page",
    "The console has no such page",
    "Go to",
    "the overview",
    "admin.index",
)


class NotInConsole(NotFound):
    def __init__(self, missing: Missing, identifier: str) -> None:
        super().__init__()
        self.missing = missing
        self.identifier = identifier


def not_found(missing: Missing, identifier: object) -> NoReturn:
    """:raise 404: answered with the console's page for `missing`."""
    raise NotInConsole(missing, str(identifier))


def _console_page(error: NotFound) -> tuple[str | dict[str, object], int]:
    if wants_json() or not (current_user.is_authenticated and current_user.is_staff):
        # A 404 before the gate (a path the portal refuses outright): the portal's own page.
        return handle_http_error(error)
    forbid_framing()
    if not isinstance(error, NotInConsole):
        error = NotInConsole(PAGE, "")
    page = render_template("admin/not_found.html", missing=error.missing, identifier=error.identifier)
    return page, 404


def _any_not_found(error: NotFound) -> tuple[str | dict[str, object], int]:
    """Every 404: a console address nothing answers (no view, so no blueprint, ran) is a console
    page too; any other address keeps the portal's own page."""
    if request.path == bp.url_prefix or request.path.startswith(f"{bp.url_prefix}/"):
        return _console_page(error)
    return handle_http_error(error)


bp.app_errorhandler(NotFound)(_any_not_found)
