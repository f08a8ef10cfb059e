"""Forms for bringing people in and settling hand-overs (CSRF on every one)."""

from __future__ import annotations

from flask_wtf import FlaskForm
from govuk_frontend_wtf.wtforms_widgets import GovSelect, GovSubmitInput, GovTextInput
from wtforms import SelectField, StringField, SubmitField
from wtforms.validators import InputRequired, Length, Optional


class BringInForm(FlaskForm):
    user = SelectField("Person", coerce=int, widget=GovSelect(),
                       validators=[InputRequired("Choose who to bring in.")])
    submit = SubmitField("Bring them in", widget=GovSubmitInput())

    def set_choices(self, users) -> None:
        self.user.choices = {u.id: f"{u.name} ({u.email})" for u in users}


class AcceptForm(FlaskForm):
    submit = SubmitField("Accept the role", widget=GovSubmitInput())


class DeclineForm(FlaskForm):
    reason = StringField("Why not? (optional)", widget=GovTextInput(),
                         validators=[Optional(), Length(max=500, message=(
                             "Keep the reason to 500 characters or fewer."))])
    submit = SubmitField("Decline", widget=GovSubmitInput())


class WithdrawForm(FlaskForm):
    submit = SubmitField("Withdraw the request", widget=GovSubmitInput())
