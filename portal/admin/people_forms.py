"""The shape of the People pages' forms: a new staff or customer account, a password reset, a new e-mail
address, disabling and re-enabling an account, erasing a customer's (no database lookups here; the
rules live in `portal.auth.service` and `portal.auth.erasure`)."""

from __future__ import annotations

from typing import Any

from wtforms import BooleanField, Field, PasswordField, RadioField, StringField
from wtforms.validators import DataRequired, Length, ValidationError

from portal.auth.forms import EMAIL_SHAPE, new_email_field, organisation_field
from portal.auth.people import PasswordChoice
from portal.auth.service import MAX_PASSWORD_LENGTH, MIN_PASSWORD_LENGTH
from portal.forms import OneTimeForm, PortalForm, search_field


class PeopleSearchForm(PortalForm):
    """The People list's search box (a GET form: no CSRF, nothing changes)."""

    class Meta:
        csrf = False

    q = search_field()


class PasswordChoiceForm(PortalForm):
    """Either a one-time link for the person (passed on by the staff member, or e-mailed where the
    portal can e-mail), or a password the staff member types twice."""

    LINK_LABEL = "They choose it with a one-time link I pass on (shown once, valid {lifetime})"
    EMAIL_LABEL = "They choose it with a one-time link we e-mail them (valid {lifetime})"

    # A POST without a choice (no browser sends one) gets the link shown to its maker.
    choice = RadioField("Password", default=PasswordChoice.LINK.value, validators=[DataRequired()])
    password = PasswordField("Password", description=f"At least {MIN_PASSWORD_LENGTH} characters.")
    confirm = PasswordField("Repeat the password")

    def __init__(
        self, *args: Any, link_lifetime: str = "a few hours", can_email: bool = False, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        emailed = [(PasswordChoice.EMAIL.value, self.EMAIL_LABEL.format(lifetime=link_lifetime))]
        self.choice.choices = [
            *(emailed if can_email else []),
            (PasswordChoice.LINK.value, self.LINK_LABEL.format(lifetime=link_lifetime)),
            (PasswordChoice.TYPED.value, "I type a password for them now (and tell them myself)"),
        ]
        if not self.is_submitted():  # the page opens with the first way chosen
            self.choice.data = self.choice.choices[0][0]

    @property
    def password_choice(self) -> PasswordChoice:
        return PasswordChoice(self.choice.data)

    @property
    def typed(self) -> bool:
        return bool(self.choice.data == PasswordChoice.TYPED.value)

    def validate_password(self, field: Field) -> None:
        if not self.typed:
            return
        value = field.data or ""
        if not MIN_PASSWORD_LENGTH <= len(value) <= MAX_PASSWORD_LENGTH:
            raise ValidationError(f"Choose a password of at least {MIN_PASSWORD_LENGTH} characters.")

    def validate_confirm(self, field: Field) -> None:
        if self.typed and field.data != self.password.data:
            raise ValidationError("The passwords differ.")


class NewStaffForm(PasswordChoiceForm):
    email = StringField(
        "Their work email",
        validators=[DataRequired("Enter their email address."), Length(max=320), EMAIL_SHAPE],
    )


class NewCustomerForm(NewStaffForm):
    organisation = organisation_field("Their organisation", theirs=True)


class ResetPasswordForm(PasswordChoiceForm, OneTimeForm):
    """Shown with a one-time token (`fresh`): an e-mailed link is sent once per showing."""

    LINK_LABEL = (
        "They choose a new one with a one-time link I pass on (shown once, valid {lifetime};"
        " their old password works until then)"
    )
    EMAIL_LABEL = (
        "They choose a new one with a one-time link we e-mail them (valid {lifetime};"
        " their old password works until then)"
    )

    confirm_reset = BooleanField(
        "Yes, replace this person's password", validators=[DataRequired("Tick this box to confirm.")]
    )


class DisableForm(PortalForm):
    confirm_disable = BooleanField(
        "Yes, disable this account: it is signed out and cannot sign in",
        validators=[DataRequired("Tick this box to confirm.")],
    )


class EnableForm(PortalForm):
    """Re-enabling takes nothing away, so the button (with CSRF) is enough."""


class PersonEmailForm(PortalForm):
    """Someone's new e-mail address: a link goes to it, which they open to confirm. A double submit
    sends nothing more (`email_change` sends one link per address and person every few minutes)."""

    new_email = new_email_field("Their new email address")


class EraseForm(PortalForm):
    """Erasing a customer's personal data cannot be undone: the staff member types the account's
    address (the view compares it), so the page's address is read, not one box ticked in passing."""

    email = StringField(
        "Type their email address to confirm",
        validators=[DataRequired("Type their email address to confirm."), Length(max=320)],
    )
