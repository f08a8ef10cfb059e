"""Forms for declaring and running an incident. Choices come from config and the database."""

from __future__ import annotations

from govuk_frontend_wtf.wtforms_widgets import (
    GovCharacterCount,
    GovCheckboxesInput,
    GovCheckboxInput,
    GovRadioInput,
    GovSelect,
    GovSubmitInput,
    GovTextArea,
    GovTextInput,
)
from wtforms import (
    BooleanField,
    IntegerField,
    RadioField,
    SelectField,
    SelectMultipleField,
    StringField,
    SubmitField,
    TextAreaField,
)
from wtforms.validators import (
    DataRequired,
    InputRequired,
    Length,
    Optional,
    Regexp,
    ValidationError,
)
from wtforms.widgets import HiddenInput

from app.catalogue.service import NEW_SERVICES_PER_REQUEST, SERVICES_PER_INCIDENT
from app.core.org import OrgSettings
from app.incidents.rules import STATUS_BY_KEY
from app.incidents.scribe import ENTRY_TYPES
from app.web.forms import LimitedForm

TITLE_MAX = 200
TEXT_MAX = 20_000


def _split_names(value: str | None) -> list[str]:
    return [part.strip() for part in (value or "").split(",") if part.strip()]


class _IncidentFields(LimitedForm):
    title = StringField(
        "Title",
        description="Short and clear, for example “example.com returning errors”.",
        widget=GovTextInput(),
        validators=[DataRequired("Enter a title."),
                    Length(max=TITLE_MAX, message="Titles must be 200 characters or fewer.")],
    )
    description = TextAreaField(
        "What is happening?",
        description="What people are seeing, since when, and what you have checked so far.",
        widget=GovCharacterCount(),
        validators=[Optional(), Length(max=TEXT_MAX,
                                       message="The description must be 20,000 characters "
                                               "or fewer.")],
    )
    severity = RadioField(
        "Severity",
        description="If you are torn between two severities, choose the higher one. "
                    "You can lower it later.",
        widget=GovRadioInput(),
        validators=[InputRequired("Choose a severity.")],
        validate_choice=True,
    )
    services = SelectMultipleField(
        "Impacted services", coerce=int, widget=GovCheckboxesInput(), validate_choice=True,
        description=f"Choose up to {SERVICES_PER_INCIDENT}.",
    )
    new_services = StringField(
        "Other impacted services",
        description="Not in the list? Type their names, separated by commas: up to "
                    f"{NEW_SERVICES_PER_REQUEST} at once.",
        widget=GovTextInput(),
        validators=[Optional(), Length(max=1000)],
    )

    def validate_services(self, field) -> None:
        if len(field.data or []) > SERVICES_PER_INCIDENT:
            raise ValidationError(f"Choose at most {SERVICES_PER_INCIDENT} services.")

    def validate_new_services(self, _field) -> None:
        """The same caps as the API's (app.catalogue.service): each new name is a row
        written while the request holds the write lock."""
        names = {" ".join(n.split()).lower() for n in self.new_service_names()}
        if len(names) > NEW_SERVICES_PER_REQUEST:
            raise ValidationError(f"Name at most {NEW_SERVICES_PER_REQUEST} new services at "
                                  "once; add the rest in the catalogue or by editing later.")
        if len(names) + len(self.services.data or []) > SERVICES_PER_INCIDENT:
            raise ValidationError(f"Name at most {SERVICES_PER_INCIDENT} services in all.")

    def set_choices(self, org: OrgSettings, services) -> None:
        self.severity.choices = {s.key: s.label for s in org.severities}
        self.services.choices = {s.id: s.name for s in services}
        self._severity_hints = [s.description for s in org.severities]

    def severity_params(self) -> dict:
        return {"items": [{"hint": {"text": h}} for h in self._severity_hints]}

    def new_service_names(self) -> list[str]:
        return _split_names(self.new_services.data)


class DeclareForm(_IncidentFields):
    is_security = BooleanField(
        "This is a security incident or a data breach",
        widget=GovCheckboxInput(),
    )
    # The page's one-use key (incidents.service.declare): the form sent twice (a double
    # click, the browser's resend) shows the incident it declared, not a second one.
    declare_key = StringField(widget=HiddenInput(), validators=[
        Optional(), Regexp(r"^[0-9a-f]{32}$", message="Reload the page and declare again.")])
    submit = SubmitField("Declare incident", widget=GovSubmitInput())


class EditForm(_IncidentFields):
    reason = TextAreaField(
        "Why are you making this change? (optional)",
        description="This goes on the timeline with the change.",
        widget=GovTextArea(),
        validators=[Optional(), Length(max=2000)],
    )
    version = IntegerField(widget=HiddenInput(), validators=[InputRequired()])
    submit = SubmitField("Save changes", widget=GovSubmitInput())


class StatusForm(LimitedForm):
    status = RadioField("New status", widget=GovRadioInput(),
                        validators=[InputRequired("Choose the new status.")])
    note = TextAreaField(
        "Note",
        description="What changed? Needed when you resolve or reopen.",
        widget=GovTextArea(),
        validators=[Optional(), Length(max=TEXT_MAX)],
    )
    submit = SubmitField("Change status", widget=GovSubmitInput())

    def set_choices(self, options: tuple[str, ...]) -> None:
        self.status.choices = {key: STATUS_BY_KEY[key].label for key in options}

    def status_params(self) -> dict:
        return {"items": [{"hint": {"text": STATUS_BY_KEY[key].hint}}
                          for key in self.status.choices]}


class RoleForm(LimitedForm):
    role = SelectField("Role", widget=GovSelect(),
                       validators=[InputRequired("Choose a role.")])
    user = SelectField("Person", coerce=int, widget=GovSelect(),
                       validators=[InputRequired("Choose who will hold the role.")])
    submit = SubmitField("Assign role", widget=GovSubmitInput())

    def set_choices(self, org: OrgSettings, users) -> None:
        self.role.choices = {r.key: r.label + (" (required)" if r.required else "")
                             for r in org.roles}
        self.user.choices = {u.id: f"{u.name} ({u.email})" for u in users}


class NoteForm(LimitedForm):
    """The scribe log: a typed entry, now or at a time typed in."""

    entry_type = RadioField(
        "What kind of entry?", widget=GovRadioInput(), default="event",
        choices=dict(ENTRY_TYPES), validate_choice=False,  # checked by the service
        validators=[Optional()])
    text = TextAreaField(
        "Add to the log",
        description="What happened, what was discussed or decided, what someone will do, "
                    "what came of it.",
        widget=GovTextArea(),
        validators=[DataRequired("Enter what happened."),
                    Length(max=TEXT_MAX, message="Entries must be 20,000 characters or fewer.")],
    )
    when = StringField(
        "When (optional)",
        description="Leave empty for now. For earlier, type a time like 14:05 (today) or a "
                    "date and time like 2026-11-29 23:40.",
        widget=GovTextInput(), validators=[Optional(), Length(max=40)])
    submit = SubmitField("Add to the log", widget=GovSubmitInput())


class FilterForm(LimitedForm):
    """GET filters on the incident list; no CSRF (they change nothing)."""

    class Meta:
        csrf = False

    state = SelectField("Status", widget=GovSelect(), default="open",
                        choices={"open": "Open", "resolved": "Resolved", "closed": "Closed",
                                 "all": "All"})
    severity = SelectField("Severity", widget=GovSelect(), default="")
    service = SelectField("Service", widget=GovSelect(), default="")
    submit = SubmitField("Apply filters", widget=GovSubmitInput())

    def set_choices(self, org: OrgSettings, services) -> None:
        self.severity.choices = {"": "Any", **{s.key: s.label for s in org.severities}}
        self.service.choices = {"": "Any", **{str(s.id): s.name for s in services}}
