"""Forms for managing alert sources (administrators); CSRF on each."""

from __future__ import annotations

from flask_wtf import FlaskForm
from govuk_frontend_wtf.wtforms_widgets import (
    GovRadioInput,
    GovSelect,
    GovSubmitInput,
    GovTextInput,
)
from wtforms import RadioField, SelectField, StringField, SubmitField
from wtforms.validators import DataRequired, InputRequired, Length

KIND_LABELS = {"azure-monitor": "Azure Monitor (action group, common alert schema)",
               "grafana": "Grafana (webhook contact point)",
               "alertmanager": "Prometheus Alertmanager (webhook receiver)",
               "generic": "Anything else (our JSON shape)"}


class SourceForm(FlaskForm):
    name = StringField("Name", description="So people know where an incident came from, "
                                           "e.g. Grafana production.",
                       widget=GovTextInput(),
                       validators=[DataRequired("Enter a name for this source."),
                                   Length(max=80, message="Keep the name to 80 characters.")])
    kind = RadioField("What sends the alerts?", choices=KIND_LABELS, widget=GovRadioInput(),
                      validators=[InputRequired("Choose what sends the alerts.")])
    severity = SelectField("Severity of the incidents it opens", widget=GovSelect(),
                           default="")
    submit = SubmitField("Create the source", widget=GovSubmitInput())

    def set_choices(self, org) -> None:
        self.severity.choices = {"": "From the alert (critical, high, medium, low)",
                                 **{s.key: s.label for s in org.severities}}


class RevokeForm(FlaskForm):
    submit = SubmitField("Revoke", widget=GovSubmitInput())
