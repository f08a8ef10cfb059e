"""Forms for bringing people in and settling hand-overs (CSRF on every one)."""

from __future__ import annotations

from govuk_frontend_wtf.wtforms_widgets import GovSelect, GovSubmitInput, GovTextInput
from wtforms import SelectField, StringField, SubmitField
from wtforms.validators import InputRequired, Length, Optional

from app.web.forms import LimitedForm


class BringInForm(LimitedForm):
    user = SelectField("Person", coerce=int, widget=GovSelect(),
                       validators=[InputRequired("Choose who to bring in.")])
    submit = SubmitField("Bring them in", widget=GovSubmitInput())

    def set_choices(self, users) -> None:
        self.user.choices = {u.id: f"{u.name} ({u.email})" for u in users}


class AcceptForm(LimitedForm):
    submit = SubmitField("Accept the role", widget=GovSubmitInput())


class DeclineForm(LimitedForm):
    reason = StringField("Why not? (optional)", widget=GovTextInput(),
                         validators=[Optional(), Length(max=500, message=(
                             "Keep the reason to 500 characters or fewer."))])
    submit = SubmitField("Decline", widget=GovSubmitInput())


class WithdrawForm(LimitedForm):
    submit = SubmitField("Withdraw the request", widget=GovSubmitInput())
