"""Snoozing a kind of reminder (CSRF-protected)."""

from __future__ import annotations

from govuk_frontend_wtf.wtforms_widgets import GovSelect, GovSubmitInput
from wtforms import SelectField, SubmitField
from wtforms.validators import InputRequired

from app.reminders.service import SNOOZE_CHOICES
from app.web.forms import LimitedForm


class SnoozeForm(LimitedForm):
    minutes = SelectField("Snooze for", coerce=int, widget=GovSelect(),
                          choices={m: f"{m} minutes" if m < 60 else
                                   f"{m // 60} hour{'s' if m > 60 else ''}"
                                   for m in SNOOZE_CHOICES},
                          validators=[InputRequired("Choose how long to snooze for.")])
    submit = SubmitField("Snooze", widget=GovSubmitInput())
