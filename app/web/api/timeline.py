"""An incident's timeline for the API, a page at a time, oldest first: a long major
incident has thousands of entries, and one answer carrying them all was megabytes."""

from __future__ import annotations

import math
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload

from app.incidents.models import Incident, TimelineEntry

TIMELINE_PAGE_SIZE = 100


@dataclass(frozen=True)
class TimelinePage:
    entries: list[TimelineEntry]
    number: int
    total: int

    @property
    def pages(self) -> int:
        return max(1, math.ceil(self.total / TIMELINE_PAGE_SIZE))


def page_of(session: Session, incident: Incident, number: int) -> TimelinePage:
    total = session.scalar(select(func.count()).select_from(TimelineEntry)
                           .where(TimelineEntry.incident_id == incident.id)) or 0
    entries = session.scalars(
        select(TimelineEntry).where(TimelineEntry.incident_id == incident.id)
        .order_by(TimelineEntry.occurred_at, TimelineEntry.id)
        .options(selectinload(TimelineEntry.author))
        .limit(TIMELINE_PAGE_SIZE).offset((number - 1) * TIMELINE_PAGE_SIZE)).all()
    return TimelinePage(list(entries), number, total)


def entry_json(entry: TimelineEntry) -> dict:
    return {"at": entry.occurred_at.isoformat(), "kind": entry.kind, "text": entry.text,
            "note": (entry.data or {}).get("note"),
            "by": entry.author.email if entry.author else None}
