"""/tab/...: the incident as a Teams channel tab.

The configuration page (the manifest's configurationUrl) picks the incident, the
channel's own by default; the content page shows it and takes notes. Both sign the
person in with Teams single sign-on: teams-js getAuthToken() in the page, then POST
/tab/sign-in, where the token is checked and exchanged on-behalf-of (graph/tab_sso.py)
and the same server-side sign-in as the website's begins (app/auth/sign_ins.py), in the
tab's own cookie (cookies.py). Only these routes may be framed, and only by Teams' hosts.
"""

from __future__ import annotations

from urllib.parse import urlencode

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    g,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_login import current_user, login_required
from sqlalchemy import select

from app.auth import service as accounts
from app.db import Session
from app.incidents import scribe
from app.incidents.models import Incident
from app.incidents.rules import STATUS_BY_KEY, RuleError
from app.incidents.service import latest_timeline, visible_to
from app.m365.models import TeamsChannel
from app.teams_app.manifest import TAB_CONFIG_PATH
from app.web.auth.routes import OTHER_TENANT, _begin_sign_in
from app.web.incidents.forms import NoteForm
from app.web.pages import incident_or_404
from app.web.tab.cookies import TabSessionInterface
from app.web.tab.hosts import frame_ancestors, sandbox_origin, tab_app
from graph import tab_sso

bp = Blueprint("tab", __name__)
bp.record_once(lambda state: setattr(state.app, "session_interface", TabSessionInterface()))

CONFIG_CHOICES = 50  # incidents offered on the configuration page, newest first
TIMELINE_SHOWN = 20
MAX_ID = 200  # a channel or team id from Teams
MAX_REFERENCE = 40
CONSENT_MESSAGE = ("Incident Desk needs your permission (or an administrator's) to act for "
                   "you in Microsoft 365 before it can sign you in here.")


@bp.before_app_request
def _allow_teams_to_frame_the_tab():
    """http_headers.py puts this into frame-ancestors (and drops X-Frame-Options)."""
    if request.blueprint == "tab" and request.endpoint != "tab.sandbox_host":
        g.frame_ancestors = frame_ancestors()


def _page_settings(mode: str, **extra) -> dict:
    """What static/tab.js needs: where to post the token, the hosts teams-js may talk to."""
    origin = sandbox_origin()
    return {"mode": mode, "signedIn": current_user.is_authenticated,
            "signInUrl": url_for("tab.sign_in"), "consentUrl": url_for("tab.consent"),
            "hosts": [origin] if origin else [], **extra}


def _signing_in(mode: str, **extra):
    return render_template("tab/signing_in.html", title="Signing in",
                           tab=_page_settings(mode, **extra))


@bp.get(TAB_CONFIG_PATH)
def config():
    channel = request.args.get("channel", "")[:MAX_ID]
    if not current_user.is_authenticated:
        return _signing_in("config", channel=channel)
    incidents = Session.scalars(
        select(Incident).where(visible_to(current_user))
        .order_by(Incident.declared_at.desc()).limit(CONFIG_CHOICES)).all()
    own = Session.scalar(select(TeamsChannel.incident_id).where(
        TeamsChannel.channel_id == channel)) if channel else None
    chosen = own if any(i.id == own for i in incidents) else (incidents[0].id if incidents
                                                              else None)
    return render_template("tab/config.html", title="Choose the incident",
                           incidents=incidents, chosen=chosen, own=own,
                           tab=_page_settings("config", channel=channel))


def _reference() -> str:
    """The incident, from the query string: the tab's own sign-in realm has no place in
    the site's /incidents/<reference> pages (their signed-out answer is a redirect to a
    sign-in page that may not be framed)."""
    return request.args.get("reference", "")[:MAX_REFERENCE]


@bp.get("/tab/incident")
def incident():
    if not current_user.is_authenticated:
        return _signing_in("content")
    found = incident_or_404(_reference(), timeline=False)
    return _render_incident(found, NoteForm(prefix="note"))


def _render_incident(found, note_form, status: int = 200):
    return render_template(
        "tab/incident.html", title=found.title, incident=found, note_form=note_form,
        timeline=latest_timeline(Session, found, TIMELINE_SHOWN), statuses=STATUS_BY_KEY,
        tab=_page_settings("content")), status


@bp.post("/tab/incident/notes")
def add_note():
    if not current_user.is_authenticated:
        abort(401)
    found = incident_or_404(_reference())
    form = NoteForm(prefix="note")
    if form.validate_on_submit():
        try:
            when = scribe.parse_when(form.when.data,
                                     current_app.extensions["installation"].timezone)
            scribe.add_entry(Session, current_user, found,
                             effects=current_app.extensions["effects"], text=form.text.data,
                             entry_type=form.entry_type.data or "event", occurred_at=when)
        except RuleError as error:
            error.attach_to(form)
        else:
            flash("Added to the log.", "success")
            return redirect(url_for("tab.incident", reference=found.reference))
    return _render_incident(found, form, 400)


@bp.post("/tab/sign-in")
def sign_in():
    """The tab's token in (JSON, with the page's CSRF token in X-CSRFToken), a sign-in out;
    errors as JSON with a message to show, and `consent` when Entra wants consent."""
    app = tab_app()
    if app is None:
        return _refusal("Teams sign-in is not set up on this installation: it needs a "
                        "Microsoft Entra tenant.", "no tab app", 404)
    body = request.get_json(silent=True)
    token = body.get("token") if isinstance(body, dict) else None
    try:
        exchanged = tab_sso.exchange(app, token)
    except tab_sso.TabTokenRefused as refused:
        return _refusal(refused.message, refused.detail, 401)
    except tab_sso.ConsentRequired as needed:
        current_app.logger.info("tab sign-in needs consent: %s", needed)
        return jsonify(error="consent_required", consent=True, message=CONSENT_MESSAGE), 403
    except tab_sso.ExchangeFailed as failed:
        return _refusal(failed.message, failed.detail, 502)
    who = exchanged.user
    try:
        user = accounts.upsert_user(
            Session, object_id=who.object_id, tenant_id=app.tenant_id, name=who.name,
            email=who.username, sign_in_name=who.username,
            admin=accounts.ADMIN_APP_ROLE in who.roles,
            security=accounts.SECURITY_APP_ROLE in who.roles)
    except accounts.AccountOfAnotherTenant:
        return _refusal(OTHER_TENANT, f"object id {who.object_id!r} is another tenant's", 403)
    settings = current_app.extensions["settings"]
    accounts.save_token_cache(Session, user, exchanged.token_cache, settings.secret_key)
    if not settings.entra_configured:  # the sandbox tenant: as dev sign-in enrols people
        from app.m365.sandbox_host import enrol

        enrol(current_app, user.email)
    _begin_sign_in(user)
    return jsonify(ok=True, name=user.name)


def _refusal(message: str, detail: str, status: int):
    current_app.logger.warning("tab sign-in refused: %s", detail)
    return jsonify(error="refused", message=message), status


@bp.get("/tab/consent")
def consent():
    """The consent pop-up (teams-js authentication.authenticate opens it, top level):
    Entra's consent prompt for what Incident Desk asks, answered at /tab/consent/done."""
    app = tab_app()
    if app is None:
        abort(404)
    from graph.permissions import delegated_scopes

    query = {"client_id": app.client_id, "response_type": "code", "response_mode": "query",
             "prompt": "consent", "redirect_uri": url_for("tab.consent_done", _external=True),
             "scope": " ".join((*delegated_scopes(), "openid", "profile", "offline_access"))}
    hint = request.args.get("login_hint", "")[:320].strip()  # from Teams' context
    if hint:
        query["login_hint"] = hint
    # The sandbox's Entra also answers on its plain http address, which a browser opens
    # without a certificate warning (its https one has the sandbox's own certificate).
    authority = f"{sandbox_origin() or app.authority_host.rstrip('/')}/{app.tenant_id}"
    return redirect(f"{authority}/oauth2/v2.0/authorize?{urlencode(query)}")


@bp.get("/tab/consent/done")
def consent_done():
    """Entra is back: tell Teams (authentication.notifySuccess / notifyFailure), which
    closes the pop-up; the tab then asks for its token again."""
    error = request.args.get("error", "")[:100]
    return render_template("tab/consent_done.html", title="Permission",
                           tab=_page_settings("consent-done", error=error))


@bp.get("/teams-app/sandbox-tab")
@login_required
def sandbox_host():
    """With the built-in sandbox: the tab opened in the sandbox's Teams host page, signed
    in to Teams as you, so you can see it sign you in without a second sign-in."""
    origin, app = sandbox_origin(), tab_app()
    if origin is None or app is None:
        abort(404)
    reference = request.args.get("incident", "")[:MAX_REFERENCE]
    found = incident_or_404(reference, timeline=False) if reference else None
    channel = Session.get(TeamsChannel, found.id) if found is not None else None
    base = current_app.extensions["settings"].app_base_url.rstrip("/")
    query = {"tab": f"{base}{TAB_CONFIG_PATH}?channel={channel.channel_id if channel else ''}"
                    f"&team={channel.team_id if channel else ''}",
             "config": "1", "resource": app.resource, "upn": current_user.email,
             "name": current_user.name, "channel": channel.channel_id if channel else "",
             "team": channel.team_id if channel else ""}
    return redirect(f"{origin}/_sandbox/teams-host?{urlencode(query)}")
