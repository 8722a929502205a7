"""The base of every form in the portal: no text field takes a control character.

A form inherits `PortalForm` instead of Flask-WTF's `FlaskForm` and gets the rule for each of
its text fields (`StringField` and its kinds: password, hidden, text area...), whatever
validators the field declares itself: a NUL typed or pasted into a form is answered with the
form and a message beside the field, never by the database (PostgreSQL refuses it). A
`TextAreaField` may also hold tabs and line breaks. A hidden field, which nobody types and whose
error nobody would see, answers a forged value with the 400 page (`UnacceptableInput`).
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Self

from flask_wtf import FlaskForm
from wtforms import Field, HiddenField, SearchField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional, Regexp, ValidationError

from portal.request_checks import refuse_unacceptable_text
from portal.text import MULTILINE, NAME_RULE, describe_characters, is_one_line_name, unacceptable_characters

Validator = Callable[[Any, Field], object]


SEARCH_MAX = 200


def stripped(value: Any) -> Any:
    """A field filter: the text without the spaces around it."""
    return value.strip() if isinstance(value, str) else value


def search_field(label: str = "Search") -> SearchField:
    """A console list's search box (optional, stripped, at most SEARCH_MAX characters)."""
    too_long = f"Use at most {SEARCH_MAX} characters."
    return SearchField(
        label, validators=[Optional(), Length(max=SEARCH_MAX, message=too_long)], filters=[stripped]
    )


def _submitted_text(field: Field) -> list[str]:
    """What was sent for `field` (before its filters), or its data when nothing was sent."""
    values = field.raw_data if field.raw_data is not None else [field.data]
    return [value for value in values if isinstance(value, str)]


def refuse_control_characters(_form: Any, field: Field) -> None:
    """:raise ValidationError: the field holds a control character or a lone surrogate (a text area
    may hold tabs and line breaks). :raise UnacceptableInput: a hidden field does."""
    if isinstance(field, HiddenField):
        refuse_unacceptable_text(_submitted_text(field))
        return
    allowed = MULTILINE if isinstance(field, TextAreaField) else frozenset()
    found = [char for value in _submitted_text(field) for char in unacceptable_characters(value, allowed)]
    if found:
        raise ValidationError(
            f"This contains an invisible control character ({describe_characters(found)}) that "
            "cannot be accepted. Remove it (retype the text rather than pasting it) and try again."
        )


def one_line_name(_form: Any, field: Field) -> None:
    """A name on one line: no line break, tab or text-direction control (`portal.text`)."""
    if isinstance(field.data, str) and not is_one_line_name(field.data):
        raise ValidationError(NAME_RULE)


class PortalForm(FlaskForm):
    """Flask-WTF's form, with `refuse_control_characters` run on every text field."""

    def validate(self, extra_validators: Mapping[str, Sequence[Validator]] | None = None) -> bool:
        extra: dict[str, list[Validator]] = {
            name: list(validators) for name, validators in (extra_validators or {}).items()
        }
        for name, field in self._fields.items():
            if isinstance(field, StringField):
                extra.setdefault(name, []).append(refuse_control_characters)
        return bool(super().validate(extra_validators=extra))


STALE_FORM = "This form is out of date: reload the page and try again."


class OneTimeForm(PortalForm):
    """A form whose action is taken once per showing: it carries a one-time `action_token`, made
    fresh each time it is shown (`fresh`), which the action claims in the database before acting
    (`portal.admin.platforms` for the platform actions, `portal.models.form_submissions` for the
    others), so a double submit does nothing twice."""

    action_token = HiddenField(
        validators=[
            DataRequired(STALE_FORM),
            Length(min=16, max=64, message=STALE_FORM),
            Regexp(r"^[A-Za-z0-9_-]+$", message=STALE_FORM),
        ]
    )

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
