"""The Microsoft 365 set-up check page (administrators only). The probes run on a POST
(with its CSRF token) and the page shows what they found; a GET only shows the form, so
nothing reaches Microsoft by following a link."""

from __future__ import annotations

from flask import Blueprint, abort, current_app, render_template, request
from flask_login import current_user, login_required

from app.web.m365.forms import RunSetUpCheckForm

bp = Blueprint("setup_check", __name__)

# The page waits for the probes: keep well within a web worker's timeout (gunicorn: 30 s).
REQUEST_TIMEOUT = 5.0
BUDGET = 20.0


@bp.route("/microsoft-365/check", methods=["GET", "POST"])
@login_required
def page():
    if not current_user.is_admin:
        abort(403)
    form = RunSetUpCheckForm()
    report = None
    if request.method == "POST":
        if not form.validate_on_submit():
            abort(400)
        from app.m365.setup_check import run_check

        report = run_check(current_app, you=current_user.email, timeout=REQUEST_TIMEOUT,
                           budget=BUDGET)
    return render_template("m365/setup_check.html", form=form, report=report, budget=BUDGET)
