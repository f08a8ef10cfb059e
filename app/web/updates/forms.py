"""The status update form."""

from __future__ import annotations

import re

from govuk_frontend_wtf.wtforms_widgets import (
    GovCharacterCount,
    GovCheckboxesInput,
    GovCheckboxInput,
    GovRadioInput,
    GovSubmitInput,
    GovTextArea,
    GovTextInput,
)
from wtforms import (
    BooleanField,
    RadioField,
    SelectMultipleField,
    StringField,
    SubmitField,
    TextAreaField,
)
from wtforms.validators import DataRequired, InputRequired, Length, Optional

from app.updates.phrasing import PHASE_LABELS, PHASES
from app.updates.service import MAX_MESSAGE
from app.web.forms import LimitedForm


class UpdateForm(LimitedForm):
    phase = RadioField(
        "What stage is the incident at?",
        choices={p: PHASE_LABELS[p] for p in PHASES},
        widget=GovRadioInput(),
        validators=[InputRequired("Choose what stage the incident is at.")],
    )
    message = TextAreaField(
        "Update",
        description="Say what is happening, who is affected, what you are doing and when "
                    "you will update next. Write for people outside the team.",
        widget=GovCharacterCount(),
        validators=[DataRequired("Enter the update."),
                    Length(max=MAX_MESSAGE,
                           message=f"The update must be {MAX_MESSAGE:,} characters or fewer.")],
    )
    to_channel = BooleanField("Post it in the incident's Teams channel", default=True,
                              widget=GovCheckboxInput())
    publish = BooleanField("Also publish it on the public status page",
                           widget=GovCheckboxInput(),
                           description="Anyone can read the status page: write for the public, "
                                       "with no names or internal detail.")
    public_title = StringField(
        "Title on the status page", widget=GovTextInput(),
        description="What the public sees this incident called, e.g. Card payments failing.",
        validators=[Optional(), Length(max=200, message="Keep the title to 200 characters.")])
    contacts = SelectMultipleField(
        "Contacts for the impacted services",
        coerce=int,
        widget=GovCheckboxesInput(),
        choices={},
    )
    extra_recipients = TextAreaField(
        "Also email",
        description="Email addresses, one per line or separated by commas.",
        widget=GovTextArea(),
        validators=[Optional(), Length(max=200_000)],
    )
    submit = SubmitField("Send update", widget=GovSubmitInput())

    def set_contacts(self, suggested) -> None:
        """One box per person (app.contacts.service.Person), however many rows name them."""
        self.contacts.choices = {p.id: f"{p.name} ({p.summary})" for p in suggested}

    def addresses(self) -> list[str]:
        return [a.strip() for a in re.split(r"[\r\n,;]+", self.extra_recipients.data or "")
                if a.strip()]
