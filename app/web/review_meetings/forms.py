"""Who facilitates and takes notes at the review, and who came (CSRF-protected)."""

from __future__ import annotations

from govuk_frontend_wtf.wtforms_widgets import GovCheckboxesInput, GovSelect, GovSubmitInput
from wtforms import SelectField, SelectMultipleField, SubmitField

from app.web.forms import LimitedForm


class MeetingForm(LimitedForm):
    facilitator = SelectField("Facilitator", coerce=int, widget=GovSelect(), default=0,
                              description="Someone who was not involved in the incident.")
    note_taker = SelectField("Note-taker", coerce=int, widget=GovSelect(), default=0)
    attended = SelectMultipleField("Who came", widget=GovCheckboxesInput(), choices={})
    submit = SubmitField("Save the meeting details", widget=GovSubmitInput())

    def set_choices(self, users, invited) -> None:
        people = {0: "Not chosen yet", **{u.id: u.name for u in users}}
        self.facilitator.choices = people
        self.note_taker.choices = people
        self.attended.choices = {p["email"].lower(): f"{p['name']} ({p['why']})"
                                 for p in invited}
