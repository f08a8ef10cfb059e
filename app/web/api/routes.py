"""/api/v1: declare, read and update incidents with a bearer token.

Each action calls the service function its web form calls (roles are offered through
app.people, notes go to the scribe log), and input is validated by the very WTForms
classes the pages use, with the same choices (CSRF off, since a bearer token is not sent
automatically by browsers): a rule holds in both places or neither, and
tests/test_api_web_parity.py compares what each pair causes.
"""

from __future__ import annotations

from functools import wraps

from flask import Blueprint, current_app, g, jsonify, render_template, request, url_for
from flask_login import login_required
from sqlalchemy import select
from sqlalchemy.orm.exc import StaleDataError
from werkzeug.datastructures import MultiDict

from app.auth.models import User
from app.auth.service import user_for_api_token
from app.db import Session
from app.extensions import csrf
from app.incidents import scribe, service
from app.incidents.models import Incident
from app.incidents.rules import RuleError, next_statuses
from app.people import service as people
from app.people.models import RoleHandover
from app.web.incidents.forms import (
    DeclareForm,
    EditForm,
    FilterForm,
    NoteForm,
    RoleForm,
    StatusForm,
)

bp = Blueprint("api", __name__)
csrf.exempt(bp)


def _org():
    return current_app.extensions["org"]


def _targets():
    return current_app.extensions["installation"]


def _effects():
    return current_app.extensions["effects"]


def _error(status: int, message: str, fields: dict | None = None):
    body = {"error": message}
    if fields:
        body["fields"] = fields
    return jsonify(body), status


def token_required(view):
    @wraps(view)
    def wrapper(*args, **kwargs):
        header = request.headers.get("Authorization", "")
        scheme, _, secret = header.partition(" ")
        user = user_for_api_token(Session, secret.strip()) if scheme.lower() == "bearer" else None
        if user is None:
            response, status = _error(401, "Send a valid API token: Authorization: Bearer <token>.")
            response.headers["WWW-Authenticate"] = 'Bearer realm="incident-desk"'
            return response, status
        g.api_user = user
        return view(*args, **kwargs)

    return wrapper


LIST_FIELDS = {"services"}


class BadShape(Exception):
    """A JSON value of the wrong type (a list where text belongs, an object anywhere)."""

    def __init__(self, fields: dict[str, list[str]]):
        self.fields = fields


@bp.errorhandler(BadShape)
def _bad_shape(error: BadShape):
    return _error(422, "Some fields have the wrong type: fix the fields listed.", error.fields)


@bp.errorhandler(StaleDataError)
def _changed_meanwhile(_exc: StaleDataError):
    """Another request saved the same incident between this one's read and its write
    (its version moved on): nothing of this one was saved, as on the web's forms."""
    Session.rollback()
    return _error(409, "Someone else changed this incident at the same moment: nothing was "
                       "saved. Fetch it again and retry.")


def _json_body() -> MultiDict | None:
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        return None
    pairs, wrong = [], {}
    for key, value in data.items():
        if isinstance(value, list) and key in LIST_FIELDS:
            if any(isinstance(v, (list, dict)) for v in value):
                wrong[key] = ["Give a list of names."]
            pairs.extend((key, _text(v)) for v in value if v is not None)
        elif isinstance(value, (list, dict)):
            wrong[key] = ["Give a single value, not a list or object."]
        elif isinstance(value, bool):
            if value:
                pairs.append((key, "y"))
        elif value is not None:
            pairs.append((key, _text(value)))
    if wrong:
        raise BadShape(wrong)
    return MultiDict(pairs)


def _text(value) -> str:
    return value if isinstance(value, str) else str(value)


def _form(form_class, body: MultiDict, **kwargs):
    return form_class(formdata=body, meta={"csrf": False}, **kwargs)


def _field_errors(form) -> dict:
    errors = {name: messages for name, messages in form.errors.items() if name != "csrf_token"}
    if form.form_errors:
        errors["_form"] = list(form.form_errors)
    return errors


def _rule_error(error: RuleError):
    return _error(422, error.message, {error.field or "_form": [error.message]})


def _bad_body():
    return _error(400, "Send a JSON object with Content-Type: application/json.")


def _service_ids_by_name(names: list[str]) -> tuple[list[int], list[str]]:
    """The API names services; known names map to ids, new names are created."""
    ids, new = [], []
    for name in names:
        match = next((s for s in service.all_services(Session)
                      if s.name.lower() == " ".join(name.split()).lower()), None)
        if match:
            ids.append(match.id)
        else:
            new.append(name)
    return ids, new


def incident_json(incident: Incident) -> dict:
    org = _org()
    return {
        "reference": incident.reference,
        "url": url_for("incidents.show", reference=incident.reference, _external=True),
        "title": incident.title,
        "description": incident.description,
        "severity": incident.severity,
        "severity_label": org.severity(incident.severity).label
        if org.severity(incident.severity) else incident.severity,
        "status": incident.status,
        "next_statuses": list(next_statuses(incident.status)),
        "is_security": incident.is_security,
        "services": [s.name for s in incident.services],
        "declared_at": incident.declared_at.isoformat(),
        "declared_by": incident.declared_by.email if incident.declared_by else None,
        "resolved_at": incident.resolved_at.isoformat() if incident.resolved_at else None,
        "resolution": incident.resolution,
        "closed_at": incident.closed_at.isoformat() if incident.closed_at else None,
        "version": incident.version,
        "roles": {
            key: {"name": a.user.name, "email": a.user.email,
                  "since": a.assigned_at.isoformat()}
            for key, a in incident.current_roles().items()
        },
    }


def timeline_json(incident: Incident) -> list[dict]:
    return [
        {"at": e.occurred_at.isoformat(), "kind": e.kind, "text": e.text,
         "note": e.data.get("note"), "by": e.author.email if e.author else None}
        for e in incident.timeline
    ]


def _incident(reference: str):
    return service.get_for(Session, g.api_user, reference)


def _not_found():
    return _error(404, "No incident with that reference.")


@bp.get("/")
@login_required
def docs():
    return render_template("api/docs.html", org=_org())


@bp.get("/incidents")
@token_required
def list_incidents():
    services = service.all_services(Session)
    form = _form(FilterForm, MultiDict(request.args))
    form.set_choices(_org(), services)
    if not form.validate():
        return _error(422, "Some filters are not valid.", _field_errors(form))
    page = service.list_for(
        Session, g.api_user,
        service.Filters(state=form.state.data or "open", severity=form.severity.data or None,
                        service_id=int(form.service.data) if form.service.data else None),
        request.args.get("page", 1, type=int) or 1,
    )
    return jsonify({
        "incidents": [incident_json(i) for i in page.items],
        "page": page.number, "pages": page.pages, "total": page.total,
    })


@bp.post("/incidents")
@token_required
def declare():
    body = _json_body()
    if body is None:
        return _bad_body()
    ids, new = _service_ids_by_name(body.getlist("services"))
    body.setlist("services", [str(i) for i in ids])
    form = _form(DeclareForm, body)
    form.set_choices(_org(), service.all_services(Session))
    if not form.validate():
        return _error(422, "The incident was not declared: fix the fields listed.",
                      _field_errors(form))
    try:
        incident = service.declare(
            Session, _org(), g.api_user, title=form.title.data,
            description=form.description.data or "", severity=form.severity.data,
            service_ids=form.services.data or [], new_services=new,
            is_security=form.is_security.data, effects=_effects(),
        )
    except RuleError as error:
        return _rule_error(error)
    response = jsonify(incident_json(incident))
    response.status_code = 201
    response.headers["Location"] = url_for("api.get_incident", reference=incident.reference)
    return response


@bp.get("/incidents/<reference>")
@token_required
def get_incident(reference: str):
    incident = _incident(reference)
    if incident is None:
        return _not_found()
    return jsonify({**incident_json(incident), "timeline": timeline_json(incident)})


@bp.patch("/incidents/<reference>")
@token_required
def update_incident(reference: str):
    incident = _incident(reference)
    if incident is None:
        return _not_found()
    body = _json_body()
    if body is None:
        return _bad_body()
    current = incident_json(incident)
    merged = MultiDict({
        "title": current["title"], "description": current["description"],
        "severity": current["severity"], "version": str(current["version"]),
    })
    for key in ("title", "description", "severity", "reason", "version"):
        if key in body:
            merged[key] = body[key]
    names = body.getlist("services") if "services" in (request.get_json() or {}) \
        else current["services"]
    ids, new = _service_ids_by_name(names)
    merged.setlist("services", [str(i) for i in ids])
    form = _form(EditForm, merged)
    form.set_choices(_org(), service.all_services(Session))
    if not form.validate():
        return _error(422, "Nothing was changed: fix the fields listed.", _field_errors(form))
    try:
        service.change_details(
            Session, _org(), g.api_user, incident, expected_version=form.version.data,
            title=form.title.data, description=form.description.data or "",
            severity=form.severity.data, service_ids=form.services.data or [],
            new_services=new, reason=form.reason.data or "", effects=_effects(),
        )
    except service.ConflictError as error:
        return _error(409, error.message)
    except RuleError as error:
        return _rule_error(error)
    return jsonify(incident_json(incident))


@bp.post("/incidents/<reference>/status")
@token_required
def change_status(reference: str):
    incident = _incident(reference)
    if incident is None:
        return _not_found()
    body = _json_body()
    if body is None:
        return _bad_body()
    form = _form(StatusForm, body)
    form.status.choices = None  # any known status; the rules explain a wrong one
    form.status.validate_choice = False
    if not form.validate():
        return _error(422, "The status was not changed: fix the fields listed.",
                      _field_errors(form))
    try:
        service.change_status(Session, _org(), _effects(), g.api_user, incident, form.status.data,
                              form.note.data or "")
    except RuleError as error:
        return _rule_error(error)
    return jsonify(incident_json(incident))


@bp.post("/incidents/<reference>/roles")
@token_required
def assign_role(reference: str):
    """As the page's role form: the role moves at once if nobody holds it or the caller
    takes it; otherwise it is offered and `handover` in the answer says so."""
    incident = _incident(reference)
    if incident is None:
        return _not_found()
    body = _json_body()
    if body is None:
        return _bad_body()
    email = (body.get("email") or "").strip().lower()
    user = Session.scalar(select(User).where(User.email == email)) if email else None
    if user is None:
        return _error(422, "No one with that email address has signed in to Incident Desk.",
                      {"email": ["No one with that email address has signed in yet."]})
    body["user"] = str(user.id)
    form = _form(RoleForm, body)
    form.set_choices(_org(), service.assignable_users(Session))  # the page's choices
    if not form.validate():  # a system account is not among the choices, as on the page
        return _error(422, "The role was not assigned: fix the fields listed.",
                      _field_errors(form))
    try:
        offer = people.assign_or_offer(Session, _org(), _effects(), g.api_user, incident,
                                       form.role.data, user)
    except RuleError as error:
        return _rule_error(error)
    return jsonify({**incident_json(incident), "handover": handover_json(offer)})


def handover_json(offer: RoleHandover | None) -> dict | None:
    if offer is None:
        return None
    return {
        "id": offer.id, "role": offer.role, "status": offer.status,
        "from": offer.from_user.email if offer.from_user else None,
        "to": offer.to_user.email,
        "url": url_for("people.handover", reference=offer.incident.reference,
                       handover_id=offer.id, _external=True),
    }


@bp.post("/incidents/<reference>/notes")
@token_required
def add_note(reference: str):
    """A scribe-log entry, as the page's log form: `entry_type` and `when` optional."""
    incident = _incident(reference)
    if incident is None:
        return _not_found()
    body = _json_body()
    if body is None:
        return _bad_body()
    form = _form(NoteForm, body)
    if not form.validate():
        return _error(422, "The note was not added: fix the fields listed.",
                      _field_errors(form))
    try:
        when = scribe.parse_when(form.when.data, _targets().timezone)
        scribe.add_entry(Session, g.api_user, incident, effects=_effects(), text=form.text.data,
                         entry_type=form.entry_type.data or "event", occurred_at=when)
    except RuleError as error:
        return _rule_error(error)
    return jsonify({**incident_json(incident), "timeline": timeline_json(incident)}), 201
