"""Forms for the review and the report template; every one carries a CSRF token."""

from __future__ import annotations

from flask_wtf.file import FileAllowed, FileField, FileRequired
from govuk_frontend_wtf.wtforms_widgets import (
    GovCharacterCount,
    GovCheckboxInput,
    GovFileInput,
    GovSubmitInput,
    GovTextArea,
    GovTextInput,
)
from wtforms import BooleanField, IntegerField, SubmitField, TextAreaField
from wtforms.validators import Length, NumberRange, Optional

from app.web.forms import LimitedForm
from reports.review import PROMPTS

LONG = 20_000


class CountField(IntegerField):
    """A whole number as people type it ("2,400" too), with a message that says how."""

    def process_formdata(self, valuelist):
        if valuelist and isinstance(valuelist[0], str):
            valuelist = [valuelist[0].replace(",", "").strip()]
        try:
            super().process_formdata(valuelist)
        except ValueError as error:
            raise ValueError("Enter a number of users, like 2400.") from error


def _text(label: str, description: str = "", limit: int = LONG) -> TextAreaField:
    return TextAreaField(label, description=description, widget=GovTextArea(),
                         validators=[Optional(), Length(max=limit, message=(
                             f"{label} must be {limit:,} characters or fewer."))])


class ReviewForm(LimitedForm):
    summary = TextAreaField(
        "What happened, in plain English",
        description="For people who were not there: what broke, who it affected, how it "
                    "was fixed. It opens the review and the major-incident report.",
        widget=GovCharacterCount(),
        validators=[Optional(), Length(max=LONG, message="The summary must be 20,000 "
                                                         "characters or fewer.")])
    impact_summary = _text("Impact", "Who and what was affected, and how badly.")
    users_affected = CountField(
        "How many users were affected (optional)", widget=GovTextInput(),
        validators=[Optional(), NumberRange(min=0, max=10**9,
                                            message="Enter a number of users, like 2400.")])
    contributing_factors = _text("Contributing factors", "One per line.")
    what_went_well = _text("What went well", "One per line.")
    lessons_learnt = _text("Lessons learnt", "One per line.")
    public_summary = _text(
        "Public summary (optional)",
        "What the public version says happened. Leave empty to use the plain-English "
        "summary. Write it to be published: no names, no internal detail.")
    name_people_in_draft = BooleanField(
        "Name people in the draft's timeline", widget=GovCheckboxInput(),
        description="Off by default: the draft names roles, not people, so the review "
                    "stays blameless.")
    save = SubmitField("Save", widget=GovSubmitInput())
    write_draft = SubmitField("Save and write the draft report", widget=GovSubmitInput())
    write_final = SubmitField("Save and write the final report", widget=GovSubmitInput())

    def answers(self) -> dict[str, str]:
        return {question: (getattr(self, f"answer_{i}").data or "").strip()
                for i, question in enumerate(PROMPTS)}


for _i, _question in enumerate(PROMPTS):
    setattr(ReviewForm, f"answer_{_i}", _text(_question))


class TemplateForm(LimitedForm):
    template = FileField(
        "Word template (.docx)", widget=GovFileInput(),
        validators=[FileRequired("Choose a .docx file to upload."),
                    FileAllowed(["docx"], "The template must be a Word .docx file.")])
    submit = SubmitField("Upload template", widget=GovSubmitInput())


class RemoveTemplateForm(LimitedForm):
    submit = SubmitField("Go back to the built-in look", widget=GovSubmitInput())


class WriteAgainForm(LimitedForm):
    submit = SubmitField("Write it again now", widget=GovSubmitInput())
