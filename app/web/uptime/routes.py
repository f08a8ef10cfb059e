"""Uptime checks on a service's catalogue page: anyone signed in sees them and their last
results; administrators add, change, disable and enable them. The public status page's
response-time charts come from `uptime_charts()`, a template global (templates/status/
_uptime.html), so the status view needs nothing of this package."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from app.db import Session
from app.incidents.models import Service
from app.incidents.rules import RuleError
from app.uptime import service as uptime
from app.uptime.models import UptimeCheck
from app.web.uptime.forms import CheckForm

bp = Blueprint("uptime", __name__)
RESULTS_SHOWN = 10


@bp.app_template_global("uptime_charts")
def uptime_charts() -> list[uptime.ServiceUptime]:
    """The public services' last 24 hours, for the status page (no sign-in needed: it
    names only public services, never an address or an error)."""
    return uptime.public_uptime(Session)


@bp.app_template_global("uptime_checks_of")
def uptime_checks_of(service_id: int) -> list[tuple[UptimeCheck, list]]:
    """A service's checks with their newest results, for its catalogue page."""
    return [(check, uptime.latest_results(Session, check.id, RESULTS_SHOWN))
            for check in uptime.checks_of(Session, service_id)]


def _admin() -> None:
    if not current_user.is_admin:
        abort(403)


def _back(service_id: int):
    return redirect(url_for("catalogue.show_service", service_id=service_id,
                            _anchor="uptime-checks"))


@bp.route("/services/<int:service_id>/uptime-checks/new", methods=["GET", "POST"])
@bp.route("/uptime-checks/<int:check_id>/edit", methods=["GET", "POST"])
@login_required
def edit_check(service_id: int | None = None, check_id: int | None = None):
    _admin()
    check = None
    if check_id is not None:
        check = Session.get(UptimeCheck, check_id) or abort(404)
        service = check.service
    else:
        service = Session.get(Service, service_id) or abort(404)
    form = CheckForm(obj=check if request.method == "GET" else None)
    if form.validate_on_submit():
        try:
            saved = uptime.save_check(Session, service, check, current_user, uptime.CheckFields(
                url=form.url.data, expected_status=form.expected_status.data,
                timeout_seconds=form.timeout_seconds.data,
                interval_seconds=form.interval_seconds.data,
                failures_before_open=form.failures_before_open.data,
                enabled=bool(form.enabled.data)))
        except RuleError as error:
            Session.rollback()
            error.attach_to(form)
        else:
            flash(f"Uptime check of {saved.url} saved.", "success")
            return _back(service.id)
    status = 400 if request.method == "POST" else 200
    return render_template("uptime/check_form.html", form=form, check=check,
                           service=service), status


@bp.post("/uptime-checks/<int:check_id>/<any(enable, disable):action>")
@login_required
def switch(check_id: int, action: str):
    """A button on the service page (CSRFProtect checks its token, as every POST's)."""
    _admin()
    check = Session.get(UptimeCheck, check_id) or abort(404)
    uptime.set_enabled(Session, check, action == "enable")
    flash(f"Uptime check of {check.url} {'enabled' if action == 'enable' else 'disabled'}.",
          "success")
    return _back(check.service_id)
