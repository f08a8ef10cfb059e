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
from werkzeug.exceptions import RequestEntityTooLarge

from app.auth.models import User
from app.auth.service import NOT_A_TOKEN, TokenCheck, check_api_token
from app.catalogue.service import (
    NEW_SERVICES_PER_REQUEST,
    SERVICES_PER_INCIDENT,
    split_by_catalogue,
)
from app.db import Session
from app.extensions import csrf
from app.incidents import scribe, service
from app.incidents.models import Incident
from app.incidents.rules import RuleError, next_statuses
from app.people import service as people
from app.people.models import RoleHandover
from app.web import json_bounds, paging
from app.web.api import timeline
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

# What one request may send (docs/api.md, "Limits"): checked before any work starts.
BODY_MAX_BYTES = 256 * 1024  # a 20,000-character description escaped as \uXXXX fits
DEPTH_MAX = 4  # an object of values and lists of names is 2 deep
FIELDS_MAX = 30
EMAIL_MAX = 320


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
        check = (check_api_token(Session, secret.strip(), current_app.extensions["settings"])
                 if scheme.lower() == "bearer" else TokenCheck(None, NOT_A_TOKEN))
        user = check.user
        if user is None:
            response, status = _error(401, check.refusal or NOT_A_TOKEN)
            response.headers["WWW-Authenticate"] = 'Bearer realm="incident-desk"'
            return response, status
        g.api_user = user
        return view(*args, **kwargs)

    return wrapper


LIST_FIELDS = {"services": SERVICES_PER_INCIDENT}  # the only lists, and how long each may be


class BadShape(Exception):
    """A JSON value of the wrong type (a list where text belongs, an object anywhere)."""

    def __init__(self, fields: dict[str, list[str]],
                 message: str = "Some fields have the wrong type: fix the fields listed."):
        self.fields, self.message = fields, message


@bp.errorhandler(BadShape)
def _bad_shape(error: BadShape):
    return _error(422, error.message, error.fields)


@bp.errorhandler(StaleDataError)
def _changed_meanwhile(_exc: StaleDataError):
    """Another request saved the same incident between this one's read and its write
    (its version moved on): nothing of this one was saved, as on the web's forms."""
    Session.rollback()
    return _error(409, "Someone else changed this incident at the same moment: nothing was "
                       "saved. Fetch it again and retry.")


@bp.before_request
def _bound_the_body():
    """Refused (413) while reading, before it is all in memory, as MAX_CONTENT_LENGTH is."""
    request.max_content_length = BODY_MAX_BYTES


@bp.errorhandler(RequestEntityTooLarge)
def _too_large(_exc):
    return _error(413, f"The body is too large: send at most {BODY_MAX_BYTES // 1024} KB of "
                       "JSON.")


class BadBody(Exception):
    def __init__(self, message: str):
        self.message = message


@bp.errorhandler(BadBody)
def _bad_json(error: BadBody):
    return _error(400, error.message)


class Body(MultiDict):
    """The JSON object's values as form data; `given` is the keys it had (an empty list
    leaves no value but was still sent)."""

    given: frozenset[str] = frozenset()


def _json_body() -> Body | None:
    """The one place the API reads a JSON body: its size (BODY_MAX_BYTES), nesting
    (DEPTH_MAX), number of fields and list lengths are bounded before any query."""
    if not request.is_json:
        return None
    raw = request.get_data(cache=True)
    try:
        data = json_bounds.loads(raw, DEPTH_MAX)
    except json_bounds.TooDeeplyNested as error:
        raise BadBody(str(error)) from None
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    if len(data) > FIELDS_MAX:
        raise BadShape({"_form": [f"Send at most {FIELDS_MAX} fields."]},
                       f"The body has {len(data)} fields: send at most {FIELDS_MAX}.")
    pairs, wrong, too_long = [], {}, {}
    for key, value in data.items():
        if isinstance(value, list) and key in LIST_FIELDS:
            if any(isinstance(v, (list, dict)) for v in value):
                wrong[key] = ["Give a list of names."]
            elif len(value) > LIST_FIELDS[key]:
                too_long[key] = [f"Name at most {LIST_FIELDS[key]} {key}."]
            pairs.extend((key, _text(v)) for v in value if v is not None)
        elif isinstance(value, (list, dict)):
            wrong[key] = ["Give a single value, not a list or object."]
        elif isinstance(value, bool):
            if value:
                pairs.append((key, "y"))
        elif value is not None:
            pairs.append((key, _text(value)))
    if wrong:
        raise BadShape({**wrong, **too_long})
    if too_long:
        raise BadShape(too_long, "Some lists are longer than allowed: fix the fields listed.")
    body = Body(pairs)
    body.given = frozenset(data)
    return body


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


class TooManyServices(Exception):
    def __init__(self, message: str):
        self.message = message


@bp.errorhandler(TooManyServices)
def _too_many_services(error: TooManyServices):
    return _error(422, error.message, {"services": [error.message]})


def _services_by_name(names: list[str]):
    """The API names services: one query finds the known ones (the form's choices), and
    the rest are new, to be added; at most NEW_SERVICES_PER_REQUEST of those."""
    if len(names) > SERVICES_PER_INCIDENT:  # also checked in _json_body, before any query
        raise TooManyServices(f"Name at most {SERVICES_PER_INCIDENT} services.")
    known, new = split_by_catalogue(Session, names)
    if len(new) > NEW_SERVICES_PER_REQUEST:
        raise TooManyServices(
            f"Name at most {NEW_SERVICES_PER_REQUEST} new services at once (not in the "
            f"catalogue yet); {len(new)} were new.")
    return known, new


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


def note_json(incident: Incident, entry) -> dict:
    return {**timeline.entry_json(entry), "id": entry.id, "entry_type": entry.entry_type,
            "url": url_for("incidents.show", reference=incident.reference,
                           _anchor=f"entry-{entry.id}", _external=True),
            "incident": url_for("api.get_incident", reference=incident.reference,
                                _external=True)}


def _incident(reference: str):
    """Without its timeline: no answer but GET's carries it, and GET reads one page."""
    return service.get_for(Session, g.api_user, reference, timeline=False)


def _not_found():
    return _error(404, "No incident with that reference.")


@bp.get("/")
@login_required
def docs():
    return render_template("api/docs.html", org=_org(), limits={
        "body_kb": BODY_MAX_BYTES // 1024, "depth": DEPTH_MAX, "fields": FIELDS_MAX,
        "services": SERVICES_PER_INCIDENT, "new_services": NEW_SERVICES_PER_REQUEST,
        "pages": paging.PAGE_MAX, "timeline_page": timeline.TIMELINE_PAGE_SIZE})


@bp.get("/incidents")
@token_required
def list_incidents():
    number = paging.strict(request.args)
    if number is None:
        return _error(422, "Some filters are not valid.", {"page": [paging.refusal()]})
    services = service.all_services(Session)
    form = _form(FilterForm, MultiDict(request.args))
    form.set_choices(_org(), services)
    if not form.validate():
        return _error(422, "Some filters are not valid.", _field_errors(form))
    page = service.list_for(
        Session, g.api_user,
        service.Filters(state=form.state.data or "open", severity=form.severity.data or None,
                        service_id=int(form.service.data) if form.service.data else None),
        number,
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
    known, new = _services_by_name(body.getlist("services"))
    body.setlist("services", [str(s.id) for s in known])
    form = _form(DeclareForm, body)
    form.set_choices(_org(), known)  # the ones named: the catalogue is not read whole
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
    number = paging.strict(request.args, "timeline_page")
    if number is None:
        return _error(422, "Some parameters are not valid.",
                      {"timeline_page": [paging.refusal("timeline_page")]})
    incident = _incident(reference)
    if incident is None:
        return _not_found()
    page = timeline.page_of(Session, incident, number)
    return jsonify({**incident_json(incident),
                    "timeline": [timeline.entry_json(e) for e in page.entries],
                    "timeline_page": page.number, "timeline_pages": page.pages,
                    "timeline_total": page.total})


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
    names = body.getlist("services") if "services" in body.given else current["services"]
    known, new = _services_by_name(names)
    merged.setlist("services", [str(s.id) for s in known])
    form = _form(EditForm, merged)
    form.set_choices(_org(), known)
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
    email = (body.get("email") or "").strip().lower()[:EMAIL_MAX + 1]
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
        entry = scribe.add_entry(Session, g.api_user, incident, effects=_effects(),
                                 text=form.text.data,
                                 entry_type=form.entry_type.data or "event", occurred_at=when)
    except RuleError as error:
        return _rule_error(error)
    response = jsonify(note_json(incident, entry))
    response.status_code = 201
    response.headers["Location"] = url_for("api.get_incident", reference=incident.reference)
    return response
