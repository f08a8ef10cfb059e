"""/admin/teams-app: the steps to add Incident Desk to Teams, and the package to upload
(administrators only, 403 for others as every admin page). The privacy and terms pages are
public: Teams shows their links to anyone who looks at the app."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, Response, abort, current_app, render_template
from flask_login import current_user, login_required

from app.m365.graph_setup import BUILT_IN
from app.teams_app.identity import NotReady, identity_from
from app.teams_app.manifest import PRIVACY_PATH, RSC_PERMISSIONS, TERMS_PATH, build
from app.teams_app.package import file_name, package_bytes

bp = Blueprint("teams_app", __name__)


def _admin_only() -> None:
    if not current_user.is_admin:
        abort(403)


def _identity():
    return identity_from(current_app.extensions["settings"],
                         built_in_sandbox=current_app.extensions["graph_setup"].kind == BUILT_IN)


@bp.get("/admin/teams-app")
@login_required
def page():
    _admin_only()
    try:
        identity = _identity()
    except NotReady as problem:
        return render_template("teams_app/page.html", problem=str(problem), manifest=None,
                               permissions=RSC_PERMISSIONS)
    https = urlsplit(identity.base_url).scheme == "https"
    return render_template("teams_app/page.html", problem=None, manifest=build(identity),
                           file_name=file_name(identity), permissions=RSC_PERMISSIONS,
                           https=https, sandbox_tab=current_app.extensions[
                               "graph_setup"].kind == BUILT_IN)


@bp.get("/admin/teams-app/package.zip")
@login_required
def download():
    try:
        identity = _identity()
    except NotReady:
        abort(404)  # nothing to download for anyone; the page says what to set first
    _admin_only()
    return Response(package_bytes(identity), mimetype="application/zip", headers={
        "Content-Disposition": f'attachment; filename="{file_name(identity)}"',
        "Cache-Control": "no-store"})


@bp.get(PRIVACY_PATH)
def privacy():
    return render_template("teams_app/privacy.html")


@bp.get(TERMS_PATH)
def terms():
    return render_template("teams_app/terms.html")
