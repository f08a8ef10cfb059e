"""The uptime check form (administrators); CSRF on every form, every input bounded."""

from __future__ import annotations

from govuk_frontend_wtf.wtforms_widgets import GovCheckboxInput, GovSubmitInput, GovTextInput
from wtforms import BooleanField, IntegerField, StringField, SubmitField
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange

from app.uptime.probe import URL_MAX
from app.uptime.service import LIMITS
from app.web.forms import LimitedForm


class WholeNumber(IntegerField):
    """A whole number whose error says what to enter, not "Not a valid integer value"."""

    def __init__(self, label, limit: str, **kwargs):
        low, high, message = LIMITS[limit]
        self.message = message
        super().__init__(
            label,
            widget=GovTextInput(),
            validators=[InputRequired(message), NumberRange(min=low, max=high, message=message)],
            **kwargs,
        )

    def process_formdata(self, valuelist):
        try:
            super().process_formdata([v.strip() if isinstance(v, str) else v for v in valuelist])
        except ValueError as error:
            raise ValueError(self.message) from error


class CheckForm(LimitedForm):
    url = StringField(
        "Address to check",
        widget=GovTextInput(),
        description="An http:// or https:// address, e.g. https://pay.example.org/health",
        validators=[
            DataRequired("Enter the address to check, e.g. https://example.org/health."),
            Length(max=URL_MAX, message=(f"The address must be {URL_MAX:,} characters or fewer.")),
        ],
    )
    expected_status = WholeNumber(
        "Status code that means it is working", limit="expected_status", default=200
    )
    timeout_seconds = WholeNumber(
        "Timeout, in seconds",
        limit="timeout_seconds",
        default=10,
        description="No complete answer by then counts as a failure. At most 30.",
    )
    interval_seconds = WholeNumber(
        "Check every, in seconds",
        limit="interval_seconds",
        default=60,
        description="From 30 seconds to a day (86,400).",
    )
    failures_before_open = WholeNumber(
        "Failures in a row before an incident opens",
        "failures_before_open",
        default=3,
        description="With a check every 60 seconds, 3 opens "
        "an incident about 3 minutes after the "
        "service stops answering.",
    )
    enabled = BooleanField("Run this check", widget=GovCheckboxInput(), default=True)
    submit = SubmitField("Save the check", widget=GovSubmitInput())
