"""The registrations list's filters (a GET form: no CSRF, nothing changes), and the three steps of
settling an unknown outcome, each behind a required confirmation box."""

from __future__ import annotations

from wtforms import BooleanField, DateField, RadioField, SelectChoice, SelectField, StringField
from wtforms.validators import DataRequired, Length, Optional, ValidationError

from portal.admin.registration_list import POLICY_LABELS, STANDINGS, Filters
from portal.auth.forms import EMAIL_SHAPE
from portal.forms import PortalForm, search_field, stripped
from portal.ltiaas import InvalidIdentifier, validate_identifier
from portal.models import OTHER_FAMILY
from portal.registration import labels


def _options(any_label: str, choices: list[tuple[str, str]]) -> list[SelectChoice]:
    return [SelectChoice("", any_label), *(SelectChoice(value, label) for value, label in choices)]


class FilterForm(PortalForm):
    """Read from the query string, so that every link of the list can carry it."""

    class Meta:
        csrf = False

    q = search_field()
    state = SelectField(
        "Where it stands",
        choices=_options("Anywhere", [(slug, standing.label) for slug, standing in STANDINGS.items()]),
        default="",
    )
    family = SelectField(
        "LMS",
        choices=_options("Any LMS", [*labels.known_families(), (OTHER_FAMILY, "Other LMS")]),
        default="",
    )
    policy = SelectField(
        "Policy in force", choices=_options("Any policy", list(POLICY_LABELS.items())), default=""
    )
    customer = StringField(
        "Customer's email",
        validators=[Optional(), Length(max=320), EMAIL_SHAPE],
        filters=[stripped],
    )
    since = DateField("Received from", validators=[Optional()])
    until = DateField("Received until", validators=[Optional()])

    def validate_until(self, field: DateField) -> None:
        if field.data and self.since.data and field.data < self.since.data:
            raise ValidationError("The end of the range must not be before its start.")

    def to_filters(self) -> Filters:
        return Filters(
            state=self.state.data or "",
            family=self.family.data or "",
            policy=self.policy.data or "",
            customer=(self.customer.data or "").lower(),
            since=self.since.data,
            until=self.until.data,
            q=self.q.data or "",
        )


class LookupForm(PortalForm):
    confirm_lookup = BooleanField(
        "Yes, ask LTIAAS which platforms it holds for this LMS address",
        validators=[DataRequired("Tick this box to confirm.")],
    )


def _platform_id(_form: PortalForm, field: RadioField) -> None:
    try:
        validate_identifier(field.data)
    except InvalidIdentifier as error:
        raise ValidationError("Choose one of the platforms LTIAAS listed.") from error


class SettleRegisteredForm(PortalForm):
    # The choices are whatever the lookup listed; LTIAAS confirms the one chosen before it is recorded.
    platform_id = RadioField(
        "The platform LTIAAS created for this registration",
        validators=[DataRequired("Choose the platform LTIAAS created for this registration."), _platform_id],
        validate_choice=False,
    )
    confirm_registered = BooleanField(
        "Yes, record this registration as registered with the platform chosen",
        validators=[DataRequired("Tick this box to confirm.")],
    )


class SettleNotRegisteredForm(PortalForm):
    confirm_not_registered = BooleanField(
        "Yes, record that the tool was not registered (a paid registration is then due a refund)",
        validators=[DataRequired("Tick this box to confirm.")],
    )
