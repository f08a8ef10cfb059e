"""What every incident-scoped page starts with, whichever area of the web it is in."""

from __future__ import annotations

from flask import abort
from flask_login import current_user

from app.db import Session
from app.incidents import service
from app.incidents.models import Incident


def incident_or_404(reference: str, *, timeline: bool = True) -> Incident:
    """The incident if the signed-in person may see it; otherwise 404, also for a
    restricted one, so nobody learns that it exists. `timeline` as in service.get_for."""
    incident = service.get_for(Session, current_user, reference, timeline=timeline)
    if incident is None:
        abort(404)
    return incident
