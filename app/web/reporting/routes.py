"""The reporting page (with charts drawn as SVG on the server, and a table for each) and
the monthly summary as a Word document."""

from __future__ import annotations

from datetime import timedelta
from io import BytesIO

from flask import Blueprint, current_app, render_template, request, send_file
from flask_login import current_user, login_required

from app.core import clock
from app.db import Session
from app.documents import templates as report_templates
from app.errors import Refused
from app.reporting import service
from reports.monthly import build_monthly

bp = Blueprint("reporting", __name__, url_prefix="/reporting")
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"


@bp.before_request
@login_required
def _signed_in():
    """Every page here needs a signed-in person."""


def _figures():
    settings = current_app.extensions["settings"]
    zone = current_app.extensions["installation"].timezone
    try:
        month = service.parse_month(request.args.get("month"), clock.today(zone))
    except service.MonthOutOfRange as error:
        raise Refused("There is no report for that month", str(error)) from None
    return month, service.figures(Session, current_app.extensions["org"], current_user, month,
                                  settings.timezone, settings.organisation_name)


@bp.get("")
def page():
    month, figures = _figures()
    previous = (month - timedelta(days=1)).replace(day=1)
    following = (month.replace(day=28) + timedelta(days=4)).replace(day=1)
    return render_template("reporting/page.html", figures=figures, month=month,
                           previous=previous, following=following)


@bp.get("/monthly.docx")
def monthly():
    month, figures = _figures()
    content = build_monthly(figures, report_templates.for_download(Session))
    response = send_file(BytesIO(content), mimetype=DOCX, as_attachment=True,
                         download_name=f"Incident summary {month:%Y-%m}.docx")
    response.headers["Cache-Control"] = "no-store"
    return response
