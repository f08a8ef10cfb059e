"""Snoozing reminders from the incident page."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, url_for
from flask_login import current_user, login_required

from app.db import Session
from app.incidents import service as incidents
from app.reminders import service
from app.reminders.schedule import KINDS
from app.web.reminders.forms import SnoozeForm

bp = Blueprint("reminders", __name__, url_prefix="/incidents")


@bp.post("/<reference>/reminders/<kind>/snooze")
@login_required
def snooze(reference: str, kind: str):
    incident = incidents.get_for(Session, current_user, reference)
    if incident is None or kind not in KINDS:
        abort(404)
    form = SnoozeForm(prefix=f"snooze-{kind}")
    if not form.validate_on_submit():
        abort(400)
    until = service.snooze(Session, current_user, incident, kind, form.minutes.data)
    flash(f"“{service.TITLES[kind]}” reminders are snoozed until "
          f"{until.astimezone(incidents_zone()).strftime('%H:%M')}.", "success")
    return redirect(url_for("incidents.show", reference=reference, _anchor="reminders"))


def incidents_zone():
    from flask import current_app

    return current_app.extensions["installation"].timezone
