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
from app.alerts.parse import AlertPayloadError, parse
from app.db import Session
from app.extensions import csrf
from app.incidents.rules import RuleError
from app.web.alerts.forms import KIND_LABELS, RevokeForm, SourceForm

bp = Blueprint("alerts", __name__)


def _problem(status: int, message: str):
    return jsonify({"error": message}), status


@bp.post("/alerts/<int:source_id>")
@csrf.exempt
def intake(source_id: int):
    """`Authorization: Bearer <secret>` or `?token=<secret>` (for senders that cannot set
    headers, such as Azure action groups)."""
    header = request.headers.get("Authorization", "")
    scheme, _, secret = header.partition(" ")
    secret = secret.strip() if scheme.lower() == "bearer" else request.args.get("token")
    source = service.authenticate(Session, source_id, secret)
    if source is None:
        response = _problem(401, "Send this source's secret: Authorization: Bearer <secret>, "
                                 "or ?token=<secret> in the address.")
        response[0].headers["WWW-Authenticate"] = 'Bearer realm="incident-desk-alerts"'
        return response
    payload = request.get_json(silent=True)
    if payload is None:
        return _problem(400, "Send the alert as JSON (Content-Type: application/json).")
    try:
        alerts = parse(source.kind, payload)
    except AlertPayloadError as error:
        return _problem(400, str(error))
    outcomes = service.ingest(Session, current_app.extensions["org"],
                              current_app.extensions["effects"], source, alerts)
    return jsonify({"received": len(alerts),
                    "incidents": [o.as_json() for o in outcomes]}), 202


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
                    severity=form.severity.data or None)
            except RuleError as error:
                error.attach_to(form)
            else:
                created, status = (source, secret), 201
                form = SourceForm(formdata=None)
                form.set_choices(org)
    return render_template("alerts/sources.html", form=form, sources=service.sources(Session),
                           created=created, kinds=KIND_LABELS, revoke_form=RevokeForm(),
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
