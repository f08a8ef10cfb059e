"""The review meeting's details, from the review page."""

from __future__ import annotations

from flask import Blueprint, abort, current_app, flash, redirect, url_for
from flask_login import current_user, login_required

from app.auth.models import User
from app.db import Session
from app.incidents import service as incidents
from app.review_meetings import service
from app.review_meetings.models import ReviewMeeting
from app.web.pages import incident_or_404
from app.web.review_meetings.forms import MeetingForm

bp = Blueprint("reviews", __name__, url_prefix="/incidents")


@bp.post("/<reference>/review/meeting")
@login_required
def meeting(reference: str):
    incident = incident_or_404(reference)
    item = Session.get(ReviewMeeting, incident.id)
    if item is None:
        abort(404)
    form = MeetingForm(prefix="meeting")
    form.set_choices(incidents.assignable_users(Session), item.invited)
    if not form.validate_on_submit():
        flash("Choose people from the lists.", "error")
        return redirect(url_for("documents.review", reference=reference, _anchor="meeting"))
    warnings = service.set_roles(
        Session, current_app.extensions["effects"], current_user, incident, item,
        Session.get(User, form.facilitator.data) if form.facilitator.data else None,
        Session.get(User, form.note_taker.data) if form.note_taker.data else None,
        form.attended.data or [])
    for warning in warnings:
        flash(warning, "error")
    flash("Meeting details saved.", "success")
    return redirect(url_for("documents.review", reference=reference, _anchor="meeting"))
