"""The follow-up action form (CSRF-protected)."""

from __future__ import annotations

from govuk_frontend_wtf.wtforms_widgets import (
    GovCheckboxInput,
    GovDateInput,
    GovSelect,
    GovSubmitInput,
    GovTextArea,
    GovTextInput,
)
from wtforms import BooleanField, DateField, SelectField, StringField, SubmitField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional

from app.actions.models import STATUSES
from app.web.forms import LimitedForm


class DueDateField(DateField):
    """Day, month and year in three boxes, with a message that says how to fix it."""

    def process_formdata(self, valuelist):
        if len(valuelist) != 3:  # not from our form's three boxes: treat as empty
            self.raw_data = valuelist = ["", "", ""]
        try:
            super().process_formdata(valuelist)
        except ValueError as error:
            raise ValueError("Enter the due date as a real date, like 27 3 2027.") from error


class ActionForm(LimitedForm):
    description = TextAreaField("What will be done", widget=GovTextArea(),
                                validators=[DataRequired("Describe the action."),
                                            Length(max=2000)])
    owner = SelectField("Owner", coerce=int, widget=GovSelect(), default=0)
    due = DueDateField("Due", format="%d %m %Y", widget=GovDateInput(),
                       description="For example, 27 3 2027", validators=[Optional()])
    link = StringField("Link (optional)", widget=GovTextInput(),
                       description="A ticket or document, e.g. https://jira.example.org/INC-1",
                       validators=[Optional(), Length(max=1000)])
    status = SelectField("Status", widget=GovSelect(), choices=STATUSES, default="open")
    public = BooleanField("Can be mentioned in the public version", widget=GovCheckboxInput())
    submit = SubmitField("Save action", widget=GovSubmitInput())

    def set_choices(self, users) -> None:
        self.owner.choices = {0: "Nobody yet", **{u.id: u.name for u in users}}
