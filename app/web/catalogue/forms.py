"""Catalogue forms (administrators); CSRF on every one."""

from __future__ import annotations

from govuk_frontend_wtf.wtforms_widgets import (
    GovCheckboxesInput,
    GovCheckboxInput,
    GovSubmitInput,
    GovTextArea,
    GovTextInput,
)
from wtforms import BooleanField, SelectMultipleField, StringField, SubmitField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional

from app.web.forms import LimitedForm


def _text(label: str, description: str = "", limit: int = 1000) -> StringField:
    return StringField(label, description=description, widget=GovTextInput(),
                       validators=[Optional(), Length(max=limit, message=(
                           f"{label} must be {limit:,} characters or fewer."))])


def _area(label: str, description: str = "") -> TextAreaField:
    return TextAreaField(label, description=description, widget=GovTextArea(),
                         validators=[Optional(), Length(max=5000, message=(
                             f"{label} must be 5,000 characters or fewer."))])


class ServiceForm(LimitedForm):
    name = StringField("Name", widget=GovTextInput(),
                       validators=[DataRequired("Enter the service's name."), Length(max=120)])
    description = _area("What it does")
    owner = _text("Owner", "The person or team responsible.", 200)
    runbook_url = _text("Runbook", "A web address, e.g. https://wiki.example.org/runbooks/pay")
    dr_url = _text("Disaster-recovery plan", "A web address.")
    public = BooleanField("Show it on the public status page", widget=GovCheckboxInput())
    upstream = SelectMultipleField("It depends on", coerce=int, widget=GovCheckboxesInput(),
                                   choices={})
    suppliers = SelectMultipleField("Suppliers", coerce=int, widget=GovCheckboxesInput(),
                                    choices={})
    submit = SubmitField("Save", widget=GovSubmitInput())

    def set_choices(self, services, suppliers, this=None) -> None:
        self.upstream.choices = {s.id: s.name for s in services if s is not this}
        self.suppliers.choices = {s.id: s.name for s in suppliers}


class SupplierForm(LimitedForm):
    name = StringField("Name", widget=GovTextInput(),
                       validators=[DataRequired("Enter the supplier's name."), Length(max=120)])
    support_route = _area("How to get support", "Phone, email or portal, and any account "
                                                "or contract number to quote.")
    hours = _text("Support hours", "e.g. 24/7, or Monday to Friday 09:00-17:30", 200)
    escalation = _area("Escalation", "When and how to escalate with them.")
    url = _text("Status or support page", "A web address.")
    submit = SubmitField("Save", widget=GovSubmitInput())


class StepForm(LimitedForm):
    name = StringField("Who", widget=GovTextInput(),
                       validators=[DataRequired("Enter who to call."), Length(max=200)])
    role = _text("Role", "", 200)
    phone = _text("Phone", "", 60)
    email = _text("Email", "", 320)
    when = _area("When to call them", "e.g. unresolved after 30 minutes, or any P1 "
                                      "out of hours.")
    submit = SubmitField("Save", widget=GovSubmitInput())


class MoveForm(LimitedForm):
    submit = SubmitField("Move", widget=GovSubmitInput())


class RemoveForm(LimitedForm):
    submit = SubmitField("Remove", widget=GovSubmitInput())
