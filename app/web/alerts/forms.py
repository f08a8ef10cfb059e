"""Forms for managing alert sources (administrators); CSRF on each."""

from __future__ import annotations

from govuk_frontend_wtf.wtforms_widgets import (
    GovRadioInput,
    GovSelect,
    GovSubmitInput,
    GovTextInput,
)
from wtforms import IntegerField, RadioField, SelectField, StringField, SubmitField
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional

from app.alerts.service import LIMIT_MESSAGE, MAX_PER_HOUR
from app.web.forms import LimitedForm

KIND_LABELS = {"azure-monitor": "Azure Monitor (action group, common alert schema)",
               "grafana": "Grafana (webhook contact point)",
               "alertmanager": "Prometheus Alertmanager (webhook receiver)",
               "generic": "Anything else (our JSON shape)"}


class LimitField(IntegerField):
    """A whole number, with a message that says what to enter when it is not one."""

    def process_formdata(self, valuelist):
        try:
            super().process_formdata([v.strip() if isinstance(v, str) else v
                                      for v in valuelist])
        except ValueError as error:
            raise ValueError(LIMIT_MESSAGE) from error


class SourceForm(LimitedForm):
    name = StringField("Name", description="So people know where an incident came from, "
                                           "e.g. Grafana production.",
                       widget=GovTextInput(),
                       validators=[DataRequired("Enter a name for this source."),
                                   Length(max=80, message="Keep the name to 80 characters.")])
    kind = RadioField("What sends the alerts?", choices=KIND_LABELS, widget=GovRadioInput(),
                      validators=[InputRequired("Choose what sends the alerts.")])
    severity = SelectField("Severity of the incidents it opens", widget=GovSelect(),
                           default="")
    incidents_per_hour = LimitField(
        "Incidents it may open in an hour (optional)",
        description="Alerts beyond this are grouped into one incident for the source. "
                    "Leave empty for this installation's limit.",
        widget=GovTextInput(),
        validators=[Optional(), NumberRange(min=0, max=MAX_PER_HOUR, message=LIMIT_MESSAGE)])
    submit = SubmitField("Create the source", widget=GovSubmitInput())

    def set_choices(self, org) -> None:
        self.severity.choices = {"": "From the alert (critical, high, medium, low)",
                                 **{s.key: s.label for s in org.severities}}


class RevokeForm(LimitedForm):
    submit = SubmitField("Revoke", widget=GovSubmitInput())
