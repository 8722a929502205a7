"""The staff's forms for a platform at LTIAAS: activate, deactivate, rename, delete.

Each carries a required confirmation box and a one-time `action_token`, made fresh
each time the form is shown (`fresh`): the action is taken once per token
(`portal.admin.platforms`), so a double submit changes nothing twice. Each form has
its own prefix, so several can share a page.
"""

from __future__ import annotations

import secrets
from typing import Any, Self

from wtforms import BooleanField, HiddenField, StringField
from wtforms.validators import DataRequired, Length, Regexp

from portal.admin.platforms import NAME_MAX
from portal.forms import PortalForm, one_line_name

STALE_FORM = "This form is out of date: reload the page and try again."


class PlatformActionForm(PortalForm):
    action_token = HiddenField(
        validators=[
            DataRequired(STALE_FORM),
            Length(min=16, max=64, message=STALE_FORM),
            Regexp(r"^[A-Za-z0-9_-]+$", message=STALE_FORM),
        ]
    )
    prefix_name = ""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("prefix", self.prefix_name)
        super().__init__(*args, **kwargs)

    @classmethod
    def fresh(cls, **data: Any) -> Self:
        """The form as first shown, with `data` and a new one-time token. Never read from the
        request: shown beside another form's refused POST, it must not take that POST's (absent)
        fields for its own and come back blank."""
        form = cls(formdata=None, **data)
        form.action_token.data = secrets.token_urlsafe(24)
        return form

    @property
    def token(self) -> str:
        return str(self.action_token.data)


class ActivateForm(PlatformActionForm):
    prefix_name = "activate"
    confirm = BooleanField(
        "Yes, let this LMS launch the tool", validators=[DataRequired("Tick this box to confirm.")]
    )


class DeactivateForm(PlatformActionForm):
    prefix_name = "deactivate"
    confirm = BooleanField(
        "Yes, refuse this LMS's launches until the platform is activated again",
        validators=[DataRequired("Tick this box to confirm.")],
    )


class RenameForm(PlatformActionForm):
    prefix_name = "rename"
    name = StringField(
        "New name",
        validators=[
            DataRequired("Type the new name."),
            Length(max=NAME_MAX, message=f"Use at most {NAME_MAX} characters."),
            one_line_name,
        ],
        filters=[lambda value: " ".join(value.split()) if isinstance(value, str) else value],
    )
    confirm = BooleanField(
        "Yes, rename the platform at LTIAAS", validators=[DataRequired("Tick this box to confirm.")]
    )


class DeleteForm(PlatformActionForm):
    prefix_name = "delete"
    confirm = BooleanField(
        "Yes, delete this platform for good: this LMS can no longer launch the tool until it is "
        "registered again",
        validators=[DataRequired("Tick this box to confirm.")],
    )
