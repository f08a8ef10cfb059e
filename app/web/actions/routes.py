"""Follow-up actions: on an incident (from the review page) and across incidents."""

from __future__ import annotations

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_login import current_user, login_required

from app.actions import service
from app.actions.models import STATUSES, FollowUpAction
from app.core import clock
from app.db import Session
from app.incidents import service as incidents
from app.incidents.rules import RuleError
from app.web.actions.forms import ActionForm
from app.web.pages import incident_or_404

bp = Blueprint("actions", __name__)


@bp.before_request
@login_required
def _signed_in():
    """Every page here needs a signed-in person."""


def _today():
    return clock.today(current_app.extensions["installation"].timezone)


@bp.get("/actions")
def all_actions():
    state = request.args.get("state", "open")
    if state not in ("open", "overdue", "mine", "all"):
        state = "open"
    return render_template("actions/list.html", state=state, today=_today(),
                           statuses=STATUSES,
                           actions=service.all_actions(Session, current_user, state, _today()))


@bp.route("/incidents/<reference>/actions/new", methods=["GET", "POST"])
@bp.route("/incidents/<reference>/actions/<int:action_id>/edit", methods=["GET", "POST"])
def edit(reference: str, action_id: int | None = None):
    incident = incident_or_404(reference)
    action = None
    if action_id is not None:
        action = Session.get(FollowUpAction, action_id)
        if action is None or action.incident_id != incident.id:
            abort(404)
    data = None
    if request.method == "GET" and action is not None:
        data = {"description": action.description, "owner": action.owner_id or 0,
                "due": action.due, "link": action.link or "", "status": action.status,
                "public": action.public}
    form = ActionForm(data=data)
    form.set_choices(incidents.assignable_users(Session))
    if form.validate_on_submit():
        try:
            service.save(Session, current_user, incident, action, service.ActionFields(
                description=form.description.data, owner_id=form.owner.data or None,
                due=form.due.data, link=form.link.data, status=form.status.data,
                public=bool(form.public.data)), effects=current_app.extensions["effects"])
        except RuleError as error:
            error.attach_to(form)
        else:
            flash("Action saved.", "success")
            return redirect(url_for("documents.review", reference=reference,
                                    _anchor="actions")
                            if not incident.is_open
                            else url_for("incidents.show", reference=reference,
                                         _anchor="actions"))
    status = 400 if request.method == "POST" else 200
    return render_template("actions/form.html", form=form, incident=incident,
                           action=action), status
