"""A cheap value that changes whenever the public status page or feed would.

The page and feed are rendered once per value of `public_version` (app/web/status/cache.py)
instead of once per request. It reads only the columns `service.view` and
`service.feed_entries` show or filter by, for exactly the rows they show, so it changes
with every published update, every change of an incident's public title, status,
severity, resolution, services or security flag, every public service added, renamed or
taken off, and with time itself: an incident drops out of the 90 days' history when its
rows leave the same window. A published update's phase, words and time are never changed
once posted (nothing edits a StatusUpdate), so its id stands for them.

Another part of the page (a partial it includes) adds one entry to `parts` for what it
shows. Nothing here is ever shown: only compared.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from app.core import clock
from app.incidents.models import Incident, Service, StatusUpdate, incident_services
from app.incidents.rules import OPEN_STATUSES
from app.status.service import HISTORY_DAYS


def public_version(session: Session, zone=None) -> tuple:
    """What the public page and feed are built from, as comparable rows. `zone`: the
    organisation's time zone, so a page showing anything by day is rebuilt each day."""
    since = clock.now() - timedelta(days=HISTORY_DAYS)
    published = select(StatusUpdate.incident_id).where(StatusUpdate.public.is_(True))
    shown = (select(Incident.id).where(
        Incident.id.in_(published), Incident.is_security.is_(False),
        Incident.status.in_(OPEN_STATUSES) | (Incident.resolved_at >= since)))
    parts = [
        ("day", clock.today(zone) if zone is not None else None),
        ("services", tuple(session.execute(
            select(Service.id, Service.name).where(Service.public.is_(True))
            .order_by(Service.id)))),
        ("incidents", tuple(session.execute(
            select(Incident.id, Incident.public_title, Incident.status, Incident.severity,
                   Incident.resolved_at).where(Incident.id.in_(shown))
            .order_by(Incident.id)))),
        ("services of incidents", tuple(session.execute(
            select(incident_services.c.incident_id, incident_services.c.service_id)
            .where(incident_services.c.incident_id.in_(shown))
            .order_by(incident_services.c.incident_id, incident_services.c.service_id)))),
        ("published updates", tuple(session.scalars(
            select(StatusUpdate.id).where(StatusUpdate.public.is_(True),
                                          StatusUpdate.incident_id.in_(shown))
            .order_by(StatusUpdate.id)))),
        # templates/status/_uptime.html (app.uptime, a layer above this one: by table name):
        # the newest result, any check changed, and the hour its bars are drawn to.
        ("uptime", tuple(session.execute(text(
            "SELECT (SELECT max(id) FROM uptime_results), "
            "(SELECT max(updated_at) FROM uptime_checks)")).one()),
         clock.now().replace(minute=0, second=0, microsecond=0)),
    ]
    return tuple(parts)
