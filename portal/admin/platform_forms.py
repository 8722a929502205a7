"""The staff's forms for a platform at LTIAAS: activate, deactivate, rename, delete.

Each carries a required confirmation box and a one-time `action_token`, made fresh
each time the form is shown (`fresh`): the action is taken once per token
(`portal.admin.platforms`), so a double submit changes nothing twice. Each form has
its own prefix, so several can share a page.
"""

from __future__ import annotations

from typing import Any

from wtforms import BooleanField, StringField
from wtforms.validators import DataRequired, Length

from portal.admin.platforms import NAME_MAX
from portal.forms import OneTimeForm, one_line_name


class PlatformActionForm(OneTimeForm):
    prefix_name = ""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("prefix", self.prefix_name)
        super().__init__(*args, **kwargs)


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
