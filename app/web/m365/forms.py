"""Forms for Microsoft 365 actions; CSRF on every one."""

from flask_wtf import FlaskForm
from govuk_frontend_wtf.wtforms_widgets import GovCheckboxesInput, GovSubmitInput
from wtforms import SelectMultipleField, SubmitField


class RetryForm(FlaskForm):
    submit = SubmitField("Try again", widget=GovSubmitInput())


class SyncForm(FlaskForm):
    submit = SubmitField("Sync now", widget=GovSubmitInput())


class FetchMessagesForm(FlaskForm):
    submit = SubmitField("Read the latest messages", widget=GovSubmitInput())


class ImportMessagesForm(FlaskForm):
    messages = SelectMultipleField("Messages to add to the timeline", coerce=int,
                                   widget=GovCheckboxesInput(), choices={})
    submit = SubmitField("Add the chosen messages to the timeline", widget=GovSubmitInput())


class RunSetUpCheckForm(FlaskForm):
    submit = SubmitField("Run the check", widget=GovSubmitInput())
