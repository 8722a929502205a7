"""The shape of the account forms: sign in, sign up, forgotten password, new password, new e-mail
address, deleting the account (no database lookups here)."""

from __future__ import annotations

from wtforms import BooleanField, HiddenField, PasswordField, StringField
from wtforms.validators import DataRequired, EqualTo, Length, Regexp

from portal.auth.service import MAX_PASSWORD_LENGTH, MIN_PASSWORD_LENGTH
from portal.forms import PortalForm, one_line_name

# No white space and no invisible character (soft hyphen, zero-width, direction controls, BOM): an
# address shown to staff must read as what it is.
_ADDRESS_PART = "[^@\\s\u00ad\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff]+"
EMAIL_SHAPE = Regexp(
    rf"^\s*{_ADDRESS_PART}@{_ADDRESS_PART}\.{_ADDRESS_PART}\s*$",
    message="Enter an email address like name@example.edu.",
)


def new_password_field(label: str) -> PasswordField:
    """A password being chosen: the account rules' length, said before and after typing."""
    return PasswordField(
        label,
        validators=[
            DataRequired("Choose a password."),
            Length(
                min=MIN_PASSWORD_LENGTH,
                max=MAX_PASSWORD_LENGTH,
                message=f"Choose a password of at least {MIN_PASSWORD_LENGTH} characters.",
            ),
        ],
        description=f"At least {MIN_PASSWORD_LENGTH} characters.",
    )


def repeated_password_field() -> PasswordField:
    """The same password again, beside a `password` field."""
    return PasswordField(
        "Repeat the password",
        validators=[DataRequired("Repeat the password."), EqualTo("password", "The passwords differ.")],
    )


class SignInForm(PortalForm):
    email = StringField("Email", validators=[DataRequired("Enter your email address."), Length(max=320)])
    password = PasswordField(
        "Password", validators=[DataRequired("Enter your password."), Length(max=MAX_PASSWORD_LENGTH)]
    )
    next = HiddenField()


class ForgotPasswordForm(PortalForm):
    email = StringField(
        "Email", validators=[DataRequired("Enter your email address."), Length(max=320), EMAIL_SHAPE]
    )
    next = HiddenField()


def new_email_field(label: str) -> StringField:
    """A new e-mail address an account is to sign in with (its owner's, or a staff member's for
    them); confirmed by a link sent to it."""
    return StringField(
        label,
        validators=[
            DataRequired("Enter the new email address."),
            Length(max=320, message="Use at most 320 characters."),
            EMAIL_SHAPE,
        ],
    )


def organisation_field(label: str = "Organisation", *, theirs: bool = False) -> StringField:
    """An institution's name, one line: the customer's own (sign-up, their account page), or, with
    `theirs`, the one a staff member types for a customer."""
    whose, who = ("their", "they") if theirs else ("your", "you")
    return StringField(
        label,
        validators=[
            DataRequired(f"Enter {whose} institution's name."),
            Length(max=255, message="Use at most 255 characters."),
            one_line_name,
        ],
        description=f"The school, college or university {who} administer the LMS for.",
    )


class SignUpForm(PortalForm):
    email = StringField(
        "Work email", validators=[DataRequired("Enter your email address."), Length(max=320), EMAIL_SHAPE]
    )
    organisation = organisation_field()
    password = new_password_field("Password")
    confirm = repeated_password_field()
    next = HiddenField()


class WithdrawForm(PortalForm):
    """A customer takes back their pending request for approval (a box to tick: nothing by one click)."""

    confirm = BooleanField(
        "Yes, withdraw my request (nothing will be registered)",
        validators=[DataRequired("Tick the box to confirm.")],
    )


class OrganisationForm(PortalForm):
    """A customer corrects or changes their organisation's name."""

    organisation = organisation_field()


class ChangePasswordForm(PortalForm):
    """A signed-in person's new password, after their current one."""

    current = PasswordField(
        "Current password",
        validators=[DataRequired("Enter your current password."), Length(max=MAX_PASSWORD_LENGTH)],
    )
    password = new_password_field("New password")
    confirm = repeated_password_field()


class SetPasswordForm(PortalForm):
    """A new password, typed twice: a one-time link's page, and the staff's People pages."""

    password = new_password_field("New password")
    confirm = repeated_password_field()


class ChangeEmailForm(PortalForm):
    """A signed-in person's new e-mail address, with their current password (re-authentication)."""

    email = new_email_field("New email address")
    current = PasswordField(
        "Current password",
        validators=[DataRequired("Enter your current password."), Length(max=MAX_PASSWORD_LENGTH)],
    )


class ConfirmEmailChangeForm(PortalForm):
    """The button that confirms a new e-mail address: opening the link only shows it, because mail
    scanners open the links in e-mails too."""


class DeleteAccountForm(PortalForm):
    """A customer erases their own account: their current password is the confirmation."""

    current = PasswordField(
        "Current password",
        validators=[DataRequired("Enter your current password."), Length(max=MAX_PASSWORD_LENGTH)],
    )
