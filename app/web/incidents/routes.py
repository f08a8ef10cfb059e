"""Incident pages: list, declare, view, and the forms that move an incident along."""

from __future__ import annotations

import uuid

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from sqlalchemy.orm.exc import StaleDataError

from app.actions import service as actions
from app.actions.models import STATUSES
from app.auth.models import User
from app.catalogue import service as catalogue
from app.core import clock
from app.db import Session
from app.documents.kinds import KINDS
from app.incidents import scribe, service
from app.incidents.rules import STATUS_BY_KEY, AlreadyDeclared, RuleError, next_statuses
from app.people import service as people
from app.reminders import service as reminder_service
from app.web import paging
from app.web.documents import panel as reports_panel
from app.web.documents.forms import WriteAgainForm
from app.web.incidents.forms import (
    DeclareForm,
    EditForm,
    FilterForm,
    NoteForm,
    RoleForm,
    StatusForm,
)
from app.web.m365.forms import RetryForm
from app.web.m365.panel import panel
from app.web.pages import incident_or_404
from app.web.people.forms import AcceptForm, BringInForm
from app.web.reminders.forms import SnoozeForm

bp = Blueprint("incidents", __name__, url_prefix="/incidents")


@bp.before_request
@login_required
def _signed_in():
    """Every incident page needs a signed-in person."""


def _effects():
    return current_app.extensions["effects"]


def _org():
    return current_app.extensions["org"]


@bp.get("")
def list_incidents():
    services = service.all_services(Session)
    form = FilterForm(request.args)
    form.set_choices(_org(), services)
    if not form.validate():
        form = FilterForm(formdata=None)
        form.set_choices(_org(), services)
    filters = service.Filters(
        state=form.state.data or "open",
        severity=form.severity.data or None,
        service_id=int(form.service.data) if form.service.data else None,
    )
    page = service.list_for(Session, current_user, filters, paging.lenient(request.args))
    if page.number > page.pages:  # past the end (an old link, a typed number): the last
        page = service.list_for(Session, current_user, filters, page.pages)
    return render_template("incidents/list.html", form=form, page=page, filters=filters)


@bp.route("/new", methods=["GET", "POST"])
def declare():
    form = DeclareForm()
    form.set_choices(_org(), service.all_services(Session))
    if not form.declare_key.data:
        form.declare_key.data = uuid.uuid4().hex
    if form.validate_on_submit():
        try:
            incident = service.declare(
                Session, _org(), current_user,
                title=form.title.data, description=form.description.data or "",
                severity=form.severity.data, service_ids=form.services.data or [],
                new_services=form.new_service_names(), is_security=form.is_security.data,
                effects=_effects(), declare_key=form.declare_key.data,
            )
        except AlreadyDeclared as done:
            if service.can_view(current_user, done.incident):
                flash(f"This form declared {done.incident.reference} already: here it is.",
                      "success")
                return redirect(url_for("incidents.show", reference=done.incident.reference))
            form.form_errors.append("This form declared an incident already.")
        except RuleError as error:
            error.attach_to(form)
        else:
            flash(f"{incident.reference} declared. You are the incident lead until you hand "
                  "over.", "success")
            return redirect(url_for("incidents.show", reference=incident.reference))
    status = 400 if request.method == "POST" else 200
    return render_template("incidents/declare.html", form=form), status


def _page_forms(incident):
    status_form = StatusForm(prefix="status")
    status_form.set_choices(next_statuses(incident.status))
    role_form = RoleForm(prefix="role")
    role_form.set_choices(_org(), service.assignable_users(Session))
    note_form = NoteForm(prefix="note")
    return status_form, role_form, note_form


TIMELINE_SHOWN = 100  # newest entries on the incident page; the rest behind one link
TIMELINE_MOST = 2000  # what "show all" renders at most; beyond it, the report and the API


def render_show(incident, status_code=200, **forms):
    """The incident page; `forms` replaces a form that came back with errors."""
    status_form, role_form, note_form = _page_forms(incident)
    whole_timeline = request.args.get("timeline") == "all"
    people_form = forms.get("people_form")
    if people_form is None:
        people_form = BringInForm(prefix="people")
        people_form.set_choices(service.assignable_users(Session))
    return render_template(
        "incidents/show.html",
        incident=incident,
        timeline=service.latest_timeline(Session, incident,
                                         TIMELINE_MOST if whole_timeline else TIMELINE_SHOWN),
        whole_timeline=whole_timeline,
        handovers=people.pending_handovers(Session, incident),
        neighbourhood=catalogue.neighbourhood(Session, incident),
        actions=actions.for_incident(Session, incident),
        action_statuses=STATUSES,
        today=clock.today(current_app.extensions["installation"].timezone),
        reminders=reminder_service.recent(Session, incident),
        reminder_titles=reminder_service.TITLES,
        snooze_form=SnoozeForm,
        participants=people.participants(Session, incident),
        people_form=people_form,
        accept_form=AcceptForm(prefix="accept"),
        entry_types=scribe.ENTRY_TYPES,
        m365=panel(Session, incident),
        retry_form=RetryForm(),
        reports=reports_panel.panel(Session, _org(), current_app.extensions["installation"],
                                    incident),
        report_kinds=KINDS,
        write_again_form=WriteAgainForm(),
        status_form=forms.get("status_form", status_form),
        role_form=forms.get("role_form", role_form),
        note_form=forms.get("note_form", note_form),
        statuses=STATUS_BY_KEY,
    ), status_code


@bp.get("/<reference>")
def show(reference: str):
    return render_show(incident_or_404(reference, timeline=False))


@bp.post("/<reference>/status")
def change_status(reference: str):
    incident = incident_or_404(reference)
    form = StatusForm(prefix="status")
    form.set_choices(next_statuses(incident.status))
    if form.validate_on_submit():
        try:
            service.change_status(Session, _org(), _effects(), current_user, incident,
                                  form.status.data, form.note.data or "")
        except RuleError as error:
            error.attach_to(form)
        except StaleDataError:
            Session.rollback()
            form.form_errors.append("Someone else changed this incident at the same moment. "
                                    "Check its status below and try again.")
            incident = incident_or_404(reference)
        else:
            flash(f"Status is now {STATUS_BY_KEY[incident.status].label.lower()}.", "success")
            return redirect(url_for("incidents.show", reference=incident.reference))
    return render_show(incident, 400, status_form=form)


@bp.post("/<reference>/roles")
def assign_role(reference: str):
    incident = incident_or_404(reference)
    form = RoleForm(prefix="role")
    form.set_choices(_org(), service.assignable_users(Session))
    if form.validate_on_submit():
        user = Session.get(User, form.user.data)
        try:
            offer = people.assign_or_offer(Session, _org(), current_app.extensions["effects"],
                                           current_user, incident, form.role.data, user)
        except RuleError as error:
            error.attach_to(form)
        else:
            label = _org().role(form.role.data).label.lower()
            if offer is None:
                flash(f"{user.name} is now {label}.", "success")
            else:
                flash(f"{user.name} has been asked to take over as {label}. "
                      f"{offer.from_user.name} keeps the role until they accept.", "success")
            return redirect(url_for("incidents.show", reference=incident.reference,
                                    _anchor="roles"))
    return render_show(incident, 400, role_form=form)


@bp.post("/<reference>/notes")
def add_note(reference: str):
    incident = incident_or_404(reference)
    form = NoteForm(prefix="note")
    if form.validate_on_submit():
        try:
            when = scribe.parse_when(form.when.data,
                                     current_app.extensions["installation"].timezone)
            scribe.add_entry(Session, current_user, incident, effects=_effects(),
                             text=form.text.data, entry_type=form.entry_type.data or "event",
                             occurred_at=when)
        except RuleError as error:
            error.attach_to(form)
        else:
            flash("Added to the log.", "success")
            return redirect(url_for("incidents.show", reference=incident.reference,
                                    _anchor="timeline"))
    return render_show(incident, 400, note_form=form)


@bp.route("/<reference>/edit", methods=["GET", "POST"])
def edit(reference: str):
    incident = incident_or_404(reference)
    if incident.is_closed:
        flash("A closed incident cannot be changed.", "error")
        return redirect(url_for("incidents.show", reference=incident.reference))
    current = {
        "title": incident.title, "description": incident.description,
        "severity": incident.severity, "services": [s.id for s in incident.services],
        "version": incident.version,
    }
    form = EditForm(data=None if request.method == "POST" else current)
    form.set_choices(_org(), service.all_services(Session))
    if form.validate_on_submit():
        try:
            changed = service.change_details(
                Session, _org(), current_user, incident,
                expected_version=form.version.data, title=form.title.data,
                description=form.description.data or "", severity=form.severity.data,
                service_ids=form.services.data or [], new_services=form.new_service_names(),
                reason=form.reason.data or "", effects=_effects(),
            )
        except service.ConflictError as error:
            form.form_errors.append(error.message)
            incident = incident_or_404(reference)
            form.version.raw_data = None
            form.version.data = incident.version
        except StaleDataError:
            Session.rollback()
            incident = incident_or_404(reference)
            form.form_errors.append(
                "Someone else changed this incident at the same moment. Your text is still "
                "in the form: check it and save again.")
            form.version.data = incident.version
        except RuleError as error:
            error.attach_to(form)
        else:
            flash("Changes saved." if changed else "Nothing was changed.", "success")
            return redirect(url_for("incidents.show", reference=incident.reference))
    status = 400 if request.method == "POST" else 200
    return render_template("incidents/edit.html", form=form, incident=incident), status


@bp.app_template_global("may_correct_entry")
def may_correct_entry(incident, entry) -> bool:
    """For the timeline: whether to offer this person the entry's Edit link."""
    return scribe.may_correct(current_user, incident, entry)


@bp.route("/<reference>/timeline/<int:entry_id>/edit", methods=["GET", "POST"])
def edit_entry(reference: str, entry_id: int):
    """Correct a scribe-log entry (its author, the lead, the scribe or an admin: 403 for
    anyone else); what it said before, and who corrected it when, are kept and shown."""
    incident = incident_or_404(reference)
    entry = next((e for e in incident.timeline if e.id == entry_id), None)
    if entry is None or entry.kind not in scribe.EDITABLE_KINDS:
        abort(404)
    if not scribe.may_correct(current_user, incident, entry):
        return _cannot_correct(entry)
    zone = current_app.extensions["installation"].timezone
    form = NoteForm(prefix="note", data=None if request.method == "POST" else {
        "entry_type": entry.entry_type or "event", "text": entry.text,
        "when": entry.occurred_at.astimezone(zone).strftime("%Y-%m-%d %H:%M")})
    if form.validate_on_submit():
        try:
            when = scribe.parse_when(form.when.data, zone)
            if when is not None and abs((when - entry.occurred_at).total_seconds()) < 60:
                when = entry.occurred_at  # the minute shown, unchanged: keep the seconds
            changed = scribe.edit_entry(Session, current_user, incident, entry,
                                        text=form.text.data,
                                        entry_type=form.entry_type.data or "event",
                                        occurred_at=when)
        except scribe.NotYours:
            return _cannot_correct(entry)
        except RuleError as error:
            error.attach_to(form)
        else:
            flash("Log entry corrected." if changed else "Nothing was changed.", "success")
            return redirect(url_for("incidents.show", reference=incident.reference,
                                    _anchor=f"entry-{entry.id}"))
    status = 400 if request.method == "POST" else 200
    return render_template("incidents/edit_entry.html", form=form, incident=incident,
                           entry=entry, entry_types=scribe.ENTRY_TYPES), status


def _cannot_correct(entry):
    """The 403 page saying who may correct it, with anything typed shown to copy."""
    kept = [(key, value) for key, value in request.form.items(multi=True)
            if key != "csrf_token" and value.strip()]
    return render_template("errors/error.html", status=403,
                           title="You cannot correct this entry",
                           body=scribe.refusal(entry), kept=kept), 403


@bp.post("/<reference>/people")
def bring_in(reference: str):
    """The incident lead commandeers someone; errors show on the incident page."""
    incident = incident_or_404(reference)
    form = BringInForm(prefix="people")
    form.set_choices(service.assignable_users(Session))
    if form.validate_on_submit():
        user = Session.get(User, form.user.data)
        try:
            people.bring_in(Session, _effects(), current_user, incident, user)
        except RuleError as error:
            form.user.errors = [*form.user.errors, error.message]
        else:
            flash(f"{user.name} is now working on this incident.", "success")
            return redirect(url_for("incidents.show", reference=reference, _anchor="people"))
    return render_show(incident, 400, people_form=form)
