"""The audit trail's filter form: read from the query string (a GET that changes nothing, so no CSRF)."""

from __future__ import annotations

from wtforms import BooleanField, DateField, Form, StringField
from wtforms.validators import Length, Optional, ValidationError

from portal.admin.trail import TrailFilters


class TrailFilterForm(Form):
    actor = StringField(
        "Who", validators=[Length(max=320)], description="An email, or cli, portal, lms-admin, sandbox."
    )
    action = StringField(
        "What",
        validators=[Length(max=64)],
        description="An action (user:disabled) or a family of them (user, state, approval, payment).",
    )
    registration = StringField("Registration", validators=[Length(max=32)], description="Its public id.")
    since = DateField("From", validators=[Optional()], format="%Y-%m-%d")
    until = DateField("To", validators=[Optional()], format="%Y-%m-%d")
    without_sign_ins = BooleanField("Hide sign-ins and sign-outs")

    def validate_until(self, field: DateField) -> None:
        if field.data and self.since.data and field.data < self.since.data:
            raise ValidationError("Choose a day on or after the first one.")

    def to_filters(self) -> TrailFilters:
        """The filters of a validated form."""
        return TrailFilters(
            actor=(self.actor.data or "").strip(),
            action=(self.action.data or "").strip(),
            registration=(self.registration.data or "").strip(),
            since=self.since.data,
            until=self.until.data,
            without_sign_ins=bool(self.without_sign_ins.data),
        )
