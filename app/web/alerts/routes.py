"""The alert webhook (authenticated by each source's own secret, not a session) and the
administrators' page for alert sources."""

from __future__ import annotations

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_login import current_user, login_required

from app.alerts import service
from app.alerts.models import AlertSource
from app.alerts.parse import MAX_ALERTS, AlertPayloadError, TooManyAlerts, parse
from app.db import Session
from app.extensions import csrf
from app.incidents.rules import RuleError
from app.web.alerts.forms import KIND_LABELS, RevokeForm, SourceForm

bp = Blueprint("alerts", __name__)


def _problem(status: int, message: str):
    return jsonify({"error": message}), status


HOW_TO_AUTHENTICATE = ("Send this source's secret in the header Authorization: Bearer "
                       "<secret>, or as HTTP Basic credentials (any user name, the secret "
                       "as the password).")


@bp.post("/alerts/<int:source_id>")
@csrf.exempt
def intake(source_id: int):
    """The secret comes in the Authorization header only: `Bearer <secret>`, or HTTP
    Basic with the secret as the password (what senders without header settings, such as
    Azure action groups, send for https://alerts:<secret>@host/...). Never in the
    address: addresses are written to access logs."""
    if "token" in request.args:
        return _unauthorised(
            "The secret is not accepted in the address (?token=): addresses are written "
            "to access logs. Remove it from the address. " + HOW_TO_AUTHENTICATE + " A secret that "
            "was sent in an address should be treated as exposed: revoke the source and "
            "create a new one.")
    source = service.authenticate(Session, source_id, _sent_secret())
    if source is None:
        return _unauthorised(HOW_TO_AUTHENTICATE)
    payload = request.get_json(silent=True)
    if payload is None:
        return _problem(400, "Send the alert as JSON (Content-Type: application/json).")
    try:
        alerts = parse(source.kind, payload)
    except TooManyAlerts as error:
        return _problem(413, str(error))
    except AlertPayloadError as error:
        return _problem(400, str(error))
    outcomes = service.ingest(
        Session, current_app.extensions["org"], current_app.extensions["effects"], source,
        alerts, incidents_per_hour=current_app.extensions["settings"].alert_incidents_per_hour)
    return jsonify({"received": len(alerts),
                    "incidents": [o.as_json() for o in outcomes]}), 202


def _sent_secret() -> str | None:
    """The secret from `Authorization: Bearer <secret>` or from Basic credentials' password
    (the user name is not checked: the secret alone identifies the source)."""
    credentials = request.authorization  # None when missing or malformed
    if credentials is None:
        return None
    if credentials.type == "bearer":
        return (credentials.token or "").strip() or None
    if credentials.type == "basic":
        return credentials.password or None
    return None


def _unauthorised(message: str):
    response, status = _problem(401, message)
    response.headers["WWW-Authenticate"] = 'Bearer realm="incident-desk-alerts"'
    return response, status


@bp.route("/alerts/sources", methods=["GET", "POST"])
@login_required
def sources():
    if not current_user.is_admin:
        abort(403)
    org = current_app.extensions["org"]
    form = SourceForm()
    form.set_choices(org)
    created = None
    status = 200
    if request.method == "POST":
        status = 400
        if form.validate_on_submit():
            try:
                source, secret = service.create_source(
                    Session, current_user, name=form.name.data, kind=form.kind.data,
                    severity=form.severity.data or None,
                    incidents_per_hour=form.incidents_per_hour.data)
            except RuleError as error:
                error.attach_to(form)
            else:
                created, status = (source, secret), 201
                form = SourceForm(formdata=None)
                form.set_choices(org)
    return render_template("alerts/sources.html", form=form, sources=service.sources(Session),
                           created=created, kinds=KIND_LABELS, revoke_form=RevokeForm(),
                           max_alerts=MAX_ALERTS,
                           default_limit=current_app.extensions["settings"]
                           .alert_incidents_per_hour,
                           base=current_app.extensions["installation"].app_base_url.rstrip("/")
                           ), status


@bp.post("/alerts/sources/<int:source_id>/revoke")
@login_required
def revoke(source_id: int):
    if not current_user.is_admin:
        abort(403)
    source = Session.get(AlertSource, source_id)
    if source is None:
        abort(404)
    if not RevokeForm().validate_on_submit():
        abort(400)
    service.revoke(Session, source)
    flash(f"{source.name} can no longer open incidents.", "success")
    return redirect(url_for("alerts.sources"))
