"""Sign-in, sign-out and API token forms (all CSRF-protected)."""

from flask_wtf import FlaskForm
from govuk_frontend_wtf.wtforms_widgets import GovCheckboxInput, GovSubmitInput, GovTextInput
from wtforms import BooleanField, StringField, SubmitField
from wtforms.validators import DataRequired, Email, Length


class EntraSignInForm(FlaskForm):
    submit = SubmitField("Sign in with Microsoft", widget=GovSubmitInput())


class DevSignInForm(FlaskForm):
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


class SignOutForm(FlaskForm):
    submit = SubmitField("Sign out")


class NewTokenForm(FlaskForm):
    name = StringField(
        "Token name",
        description="Say what will use it, for example “Grafana alerts”.",
        widget=GovTextInput(),
        validators=[DataRequired("Enter a name for the token."),
                    Length(max=100, message="Token names must be 100 characters or fewer.")],
    )
    submit = SubmitField("Create token", widget=GovSubmitInput())


class RevokeTokenForm(FlaskForm):
    submit = SubmitField("Revoke")
