"""Forms for the administrators' update templates page; CSRF on each."""

from __future__ import annotations

from govuk_frontend_wtf.wtforms_widgets import (
    GovCharacterCount,
    GovRadioInput,
    GovSubmitInput,
    GovTextInput,
)
from wtforms import IntegerField, RadioField, StringField, SubmitField, TextAreaField
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional

from app.updates import templates as saved
from app.web.forms import LimitedForm

POSITION_MESSAGE = f"Enter a position from 0 to {saved.MAX_POSITION}, as a whole number."


class PositionField(IntegerField):
    """A whole number, with a message that says what to enter when it is not one."""

    def process_formdata(self, valuelist):
        try:
            super().process_formdata([v.strip()[:12] if isinstance(v, str) else v
                                      for v in valuelist])
        except ValueError as error:
            raise ValueError(POSITION_MESSAGE) from error


class TemplateForm(LimitedForm):
    name = StringField(
        "Name", description="What people choose it by, e.g. Possible issue being investigated.",
        widget=GovTextInput(),
        validators=[DataRequired("Enter a name for this template."),
                    Length(max=saved.MAX_NAME,
                           message=f"The name must be {saved.MAX_NAME} characters or fewer.")])
    phase = RadioField("Which stage is it for?", choices=saved.PHASE_CHOICES,
                       widget=GovRadioInput(),
                       validators=[InputRequired("Choose the stage this wording is for.")])
    public_text = TextAreaField(
        "Wording", description="What people outside the team read, by email and on the "
                               "status page.",
        widget=GovCharacterCount(),
        validators=[DataRequired("Enter the wording."),
                    Length(max=saved.MAX_TEXT, message=f"The wording must be "
                                                       f"{saved.MAX_TEXT:,} characters or fewer.")])
    internal_text = TextAreaField(
        "Internal wording (optional)",
        description="For the team only (the channel and stakeholders); offered beside the "
                    "wording above, never published for you.",
        widget=GovCharacterCount(),
        validators=[Optional(),
                    Length(max=saved.MAX_TEXT, message=f"The wording must be "
                                                       f"{saved.MAX_TEXT:,} characters or fewer.")])
    position = PositionField(
        "Position", description="Lower numbers are offered first; the first for a stage "
                                "is the one the form starts with.",
        widget=GovTextInput(), default=0,
        validators=[InputRequired(POSITION_MESSAGE),
                    NumberRange(min=0, max=saved.MAX_POSITION, message=POSITION_MESSAGE)])
    submit = SubmitField("Save template", widget=GovSubmitInput())


class RetireForm(LimitedForm):
    submit = SubmitField("Retire", widget=GovSubmitInput())


class RestoreForm(LimitedForm):
    submit = SubmitField("Bring back", widget=GovSubmitInput())
