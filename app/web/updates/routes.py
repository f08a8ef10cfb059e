"""The status update page: write once, send to Teams and email."""

from __future__ import annotations

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from app.contacts.service import recipients_for
from app.db import Session
from app.incidents.rules import RuleError
from app.updates import phrasing
from app.updates import templates as saved
from app.updates.service import post_update
from app.web.pages import incident_or_404
from app.web.updates import template_admin
from app.web.updates.forms import UpdateForm

bp = Blueprint("updates", __name__)


@bp.before_request
@login_required
def _signed_in():
    """Every page here needs a signed-in person."""


template_admin.register(bp)  # administrators' /admin/update-templates pages


@bp.route("/incidents/<reference>/updates/new", methods=["GET", "POST"])
def new_update(reference: str):
    incident = incident_or_404(reference)
    if incident.is_closed:
        flash("A closed incident cannot take new updates.", "error")
        return redirect(url_for("incidents.show", reference=reference))
    installation = current_app.extensions["installation"]
    org = current_app.extensions["org"]
    recipients = recipients_for(Session, org, incident)
    form = UpdateForm()
    form.set_contacts(recipients.suggested)
    chosen = None
    if request.method == "GET":
        form.contacts.data = [c.id for c in recipients.suggested]
        # ?template= (the "Use this wording" choice) or ?phase=: the same rules as the card's
        start = saved.starting(Session, org, installation, incident,
                               choice=request.args.get("template"),
                               phase=request.args.get("phase"))
        form.phase.data, form.message.data, chosen = start.phase, start.message, start.key
        form.to_channel.data = installation.teams_enabled
        form.public_title.data = incident.public_title or incident.title
    elif form.validate_on_submit():
        try:
            chosen = {c.id: c.email for c in recipients.suggested}
            emails = [c.email for c in recipients.required]
            emails += [chosen[i] for i in form.contacts.data or [] if i in chosen]
            post_update(Session, org, current_app.extensions["effects"], current_user, incident,
                        phase=form.phase.data, message=form.message.data,
                        to_channel=form.to_channel.data, recipients=emails + form.addresses(),
                        publish=bool(form.publish.data) and not incident.is_security,
                        public_title=form.public_title.data)
        except RuleError as error:
            error.attach_to(form)
        else:
            flash("Update sent. You can follow its delivery under Microsoft 365.", "success")
            return redirect(url_for("incidents.show", reference=reference, _anchor="timeline"))
    status = 400 if request.method == "POST" else 200
    return render_template("updates/new.html", form=form, incident=incident,
                           required=recipients.required,
                           phases=phrasing.PHASES, phase_labels=phrasing.PHASE_LABELS,
                           offers=saved.offered(Session), chosen=chosen,
                           teams_enabled=installation.teams_enabled), status
