"""The one way to put something on an incident's timeline, so every entry is stamped
(when it happened, when it was recorded, by whom) and carries a note the same way."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import update
from sqlalchemy.orm import Session, object_session
from sqlalchemy.orm.attributes import set_committed_value

from app.core import clock
from app.incidents.models import Incident, TimelineEntry


def record(incident: Incident | int, kind: str, text: str, *, author=None,
           author_id: int | None = None, data: dict | None = None, note: str = "",
           entry_type: str | None = None, occurred_at: datetime | None = None,
           session: Session | None = None) -> TimelineEntry:
    """Add an entry (returned, not yet flushed). `incident` is the incident, whose
    timeline takes it (a new incident's too), or its id with the `session` to add it
    to (work that has no incident loaded, such as a delivery's outcome)."""
    now = clock.now()
    data = dict(data or {})
    if note.strip():
        data["note"] = note.strip()
    entry = TimelineEntry(kind=kind, text=text, data=data, entry_type=entry_type,
                          occurred_at=occurred_at or now, created_at=now)
    if author is not None:
        entry.author = author
    else:
        entry.author_id = author_id
    if isinstance(incident, Incident) and incident.id is None:
        incident.timeline.append(entry)  # a new incident: its entries go in with it
        return entry
    if isinstance(incident, Incident):
        # By id, not through `incident.timeline`: appending to it would load every entry.
        session = session or object_session(incident)
        if "timeline" in incident.__dict__:  # already loaded: keep it up to date
            incident.timeline.append(entry)
            return entry
        incident = incident.id
    if session is None:
        raise ValueError("an incident id needs the session to add its entry to")
    entry.incident_id = incident
    session.add(entry)
    return entry


def touch(session: Session, incident: Incident, when: datetime) -> None:
    """The incident's last activity moves on to `when`, without a new version: adding
    to its log conflicts with nothing, so fifty people adding entries at once (from
    Teams cards, the page, the API) are all kept, and a status change made meanwhile
    is not refused as "changed at the same moment" because of a note."""
    session.execute(update(Incident).where(Incident.id == incident.id,
                                           Incident.updated_at < when)
                    .values(updated_at=when).execution_options(synchronize_session=False))
    if incident.updated_at is None or incident.updated_at < when:
        set_committed_value(incident, "updated_at", when)
