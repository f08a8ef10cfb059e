"""Microsoft 365 pages: retrying a failed delivery, and the sandbox's record of
everything sent while no tenant is configured."""

from __future__ import annotations

from io import BytesIO

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    send_file,
    url_for,
)
from flask_login import current_user, login_required

from app.db import Session
from app.incidents import service as incidents
from app.incidents.rules import RuleError
from app.m365 import teams_import
from app.m365.models import TeamsChannel
from app.outbox import service as outbox
from app.outbox.models import FAILED, Delivery
from app.web.m365.forms import (
    AddAppForMeForm,
    FetchMessagesForm,
    ImportMessagesForm,
    RetryForm,
)
from app.web.m365.panel import label
from app.web.m365.sandbox_page import sandbox_record, unseen_here
from app.web.pages import incident_or_404

bp = Blueprint("m365", __name__)


@bp.before_request
@login_required
def _signed_in():
    """Every page here needs a signed-in person."""


@bp.post("/incidents/<reference>/deliveries/<int:delivery_id>/retry")
def retry(reference: str, delivery_id: int):
    incident = incidents.get_for(Session, current_user, reference)
    delivery = Session.get(Delivery, delivery_id)
    if incident is None or delivery is None or delivery.incident_id != incident.id:
        abort(404)
    if not RetryForm().validate_on_submit():
        abort(400)
    if delivery.status == FAILED:
        outbox.retry(Session, delivery)
        flash(f"Trying again: {label(delivery).lower()}.", "success")
    else:
        flash(f"{label(delivery)} is not failed, so there is nothing to retry.", "success")
    return redirect(url_for("incidents.show", reference=reference, _anchor="microsoft-365"))


def _sandbox_record():
    """(state, source) of the sandbox this app talks to: the built-in one's, or a
    standalone one's state file (what it reported at start-up, else GRAPH_SANDBOX_DB).
    State None: a standalone sandbox whose file this machine cannot read. 404 with a
    real tenant or any other Graph: there is nothing local to show."""
    record = sandbox_record(current_app)
    if record is None:
        abort(404)
    return record


@bp.get("/sandbox")
def sandbox():
    """What would have gone to Teams, Outlook and SharePoint (sandbox mode only)."""
    from app.m365.sandbox_host import sandbox_view

    state, source = _sandbox_record()
    return render_template("m365/sandbox.html", source=source,
                           view=sandbox_view(state, unseen_here()) if state is not None
                           else None, add_app_form=AddAppForMeForm())


@bp.post("/sandbox/teams-app-for-me")
def sandbox_add_app_for_me():
    """The signed-in person adds the Teams app for themselves, as they would in Teams, so
    their notices reach their activity feed (app/m365/activity_feed.py) in the sandbox."""
    from app.m365.activity_feed import install_in_sandbox
    from app.teams_app.identity import NotReady

    _sandbox_record()
    if not AddAppForMeForm().validate_on_submit():
        abort(400)
    try:
        install_in_sandbox(current_app._get_current_object(), current_user.email)
    except (NotReady, ValueError, OSError):  # OSError: requests' errors, to a standalone one
        current_app.logger.exception("sandbox: could not add the Teams app for a person")
        flash("The sandbox could not add the app for you. Check that the Teams app is set "
              "up (the administrator's Teams app page) and try again.", "error")
    else:
        flash("The Incident Desk app is in your Teams now: hand-overs, roles, overdue actions "
              "and updates due reach your activity feed (listed on this page) instead of "
              "your email.", "success")
    return redirect(url_for("m365.sandbox", _anchor="activity-feed"))


@bp.get("/sandbox/file")
def sandbox_file():
    """A file the sandbox's SharePoint holds, so a report can be opened in Word
    (in a tenant, the report's link goes to SharePoint instead)."""
    state, _source = _sandbox_record()
    drive, path = request.args.get("drive", ""), request.args.get("path", "")
    allowed = drive and state is not None and not unseen_here().hides_file(path)
    content = state.file_bytes(drive, path) if allowed else None
    if content is None:
        abort(404)
    response = send_file(BytesIO(content), as_attachment=True,
                         download_name=path.rsplit("/", 1)[-1] or "file")
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.route("/incidents/<reference>/teams-messages", methods=["GET", "POST"])
def teams_messages(reference: str):
    """Choose channel messages to put on the timeline."""
    incident = incident_or_404(reference)
    copies = teams_import.copies(Session, incident)
    form = ImportMessagesForm()
    form.messages.choices = {c.id: c.text[:80] for c in copies if c.timeline_entry_id is None}
    status = 200
    if request.method == "POST":
        status = 400
        if form.validate_on_submit():
            try:
                count = teams_import.import_messages(Session, current_app.extensions["effects"],
                                                     current_user, incident,
                                                     form.messages.data or [])
            except RuleError as error:
                form.messages.errors = [*form.messages.errors, error.message]
            else:
                flash(f"{count} message{'s' if count != 1 else ''} added to the timeline.",
                      "success")
                return redirect(url_for("incidents.show", reference=reference,
                                        _anchor="timeline"))
    reads = [d for d in outbox.for_incident(Session, incident.id)
             if d.kind == "teams.read_channel"]
    return render_template("m365/teams_messages.html", incident=incident, copies=copies,
                           form=form, fetch_form=FetchMessagesForm(prefix="fetch"),
                           channel=Session.get(TeamsChannel, incident.id),
                           last_read=reads[-1] if reads else None), status


@bp.post("/incidents/<reference>/teams-messages/fetch")
def fetch_teams_messages(reference: str):
    incident = incident_or_404(reference)
    if not FetchMessagesForm(prefix="fetch").validate_on_submit():
        abort(400)
    try:
        teams_import.request_read(Session, incident, current_user)
    except RuleError as error:
        flash(error.message, "error")
    else:
        flash("Reading the channel. Refresh this page in a few seconds to see its messages.",
              "success")
    return redirect(url_for("m365.teams_messages", reference=reference))
