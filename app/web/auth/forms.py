"""Sign-in, sign-out and API token forms (all CSRF-protected)."""

from govuk_frontend_wtf.wtforms_widgets import (
    GovCheckboxInput,
    GovRadioInput,
    GovSubmitInput,
    GovTextInput,
)
from wtforms import BooleanField, RadioField, StringField, SubmitField
from wtforms.validators import AnyOf, DataRequired, Email, Length

from app.auth.service import DEFAULT_TOKEN_DAYS, TOKEN_DAYS
from app.web.forms import LimitedForm


class EntraSignInForm(LimitedForm):
    submit = SubmitField("Sign in with Microsoft", widget=GovSubmitInput())


class DevSignInForm(LimitedForm):
    name = StringField(
        "Your name",
        widget=GovTextInput(),
        validators=[DataRequired("Enter your name."), Length(max=200)],
    )
    email = StringField(
        "Email address",
        widget=GovTextInput(),
        validators=[
            DataRequired("Enter your email address."),
            Email("Enter an email address in the correct format, like name@example.com."),
            Length(max=320),
        ],
    )
    admin = BooleanField("Sign in as an administrator", widget=GovCheckboxInput())
    security = BooleanField("Sign in as a member of the security team",
                            widget=GovCheckboxInput())
    submit = SubmitField("Sign in (development)", widget=GovSubmitInput())


class SignOutForm(LimitedForm):
    submit = SubmitField("Sign out")


CHOOSE_DAYS = "Choose how long the token lasts: " + ", ".join(
    f"{d}" for d in TOKEN_DAYS) + " days."


class NewTokenForm(LimitedForm):
    name = StringField(
        "Token name",
        description="Say what will use it, for example “Grafana alerts”.",
        widget=GovTextInput(),
        validators=[DataRequired("Enter a name for the token."),
                    Length(max=100, message="Token names must be 100 characters or fewer.")],
    )
    # Every token expires; the choices are the only lifetimes (others are a form error).
    days = RadioField(
        "Expires after",
        choices={str(d): f"{d} days" for d in TOKEN_DAYS},
        default=str(DEFAULT_TOKEN_DAYS),
        widget=GovRadioInput(),
        validate_choice=False,  # AnyOf below says it in words; not sent: the default
        validators=[AnyOf([str(d) for d in TOKEN_DAYS], message=CHOOSE_DAYS)],
    )
    submit = SubmitField("Create token", widget=GovSubmitInput())


class RevokeTokenForm(LimitedForm):
    submit = SubmitField("Revoke")
