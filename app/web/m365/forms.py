"""Forms for Microsoft 365 actions; CSRF on every one."""

from govuk_frontend_wtf.wtforms_widgets import GovCheckboxesInput, GovSubmitInput
from wtforms import SelectMultipleField, SubmitField

from app.web.forms import LimitedForm


class RetryForm(LimitedForm):
    submit = SubmitField("Try again", widget=GovSubmitInput())


class SyncForm(LimitedForm):
    submit = SubmitField("Sync now", widget=GovSubmitInput())


class FetchMessagesForm(LimitedForm):
    submit = SubmitField("Read the latest messages", widget=GovSubmitInput())


class ImportMessagesForm(LimitedForm):
    messages = SelectMultipleField("Messages to add to the timeline", coerce=int,
                                   widget=GovCheckboxesInput(), choices={})
    submit = SubmitField("Add the chosen messages to the timeline", widget=GovSubmitInput())


class AddAppForMeForm(LimitedForm):
    submit = SubmitField("Add the Incident Desk app for me in Teams", widget=GovSubmitInput())


class RunSetUpCheckForm(LimitedForm):
    submit = SubmitField("Run the check", widget=GovSubmitInput())
