"""What the public may see, gathered in a few queries.

Only these leave the building: services marked public (components), the public title of
incidents that have at least one published update, those updates' phase, words and time.
Never descriptions, names, internal updates or anything of a security incident.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload

from app.core import clock
from app.core.org import OrgSettings
from app.incidents.models import Incident, Service, StatusUpdate
from app.incidents.rules import OPEN_STATUSES

HISTORY_DAYS = 90
FEED_ENTRIES = 50
COMPONENT_STATES = ("Major outage", "Partial outage", "Degraded performance")
OPERATIONAL = "Operational"


@dataclass(frozen=True)
class PublicIncident:
    id: int
    title: str
    open: bool
    severity_rank: int
    started_at: datetime
    resolved_at: datetime | None
    components: list[str]
    updates: list[StatusUpdate]  # newest first

    @property
    def latest(self) -> StatusUpdate:
        return self.updates[0]


@dataclass(frozen=True)
class StatusView:
    components: list[tuple[str, str]]  # (service name, state)
    current: list[PublicIncident]
    history: list[tuple[str, list[PublicIncident]]]  # (day, incidents resolved that day)
    generated_at: datetime

    @property
    def all_operational(self) -> bool:
        return not self.current

    @property
    def latest_update_at(self) -> datetime | None:
        """When the newest published update shown was posted: the page shows this, not
        the time it was rendered, so the same content is the same bytes at any time."""
        shown = [*self.current, *(item for _day, items in self.history for item in items)]
        return max((item.latest.created_at for item in shown), default=None)


def published(session: Session, org: OrgSettings, since: datetime) -> list[PublicIncident]:
    """Non-security incidents with published updates, open or resolved since `since`."""
    ids = select(StatusUpdate.incident_id).where(StatusUpdate.public.is_(True)).distinct()
    incidents = session.scalars(
        select(Incident).where(Incident.id.in_(ids), Incident.is_security.is_(False),
                               (Incident.status.in_(OPEN_STATUSES))
                               | (Incident.resolved_at >= since))
        .options(selectinload(Incident.services))).all()
    if not incidents:
        return []
    updates = defaultdict(list)
    for update in session.scalars(select(StatusUpdate).where(
            StatusUpdate.incident_id.in_([i.id for i in incidents]),
            StatusUpdate.public.is_(True))
            .order_by(StatusUpdate.created_at.desc(), StatusUpdate.id.desc())):
        updates[update.incident_id].append(update)
    return sorted((PublicIncident(
        id=i.id, title=i.public_title or "Service disruption", open=i.status in OPEN_STATUSES,
        severity_rank=org.severity_rank(i.severity),
        started_at=updates[i.id][-1].created_at, resolved_at=i.resolved_at,
        components=[s.name for s in i.services if s.public], updates=updates[i.id])
        for i in incidents), key=lambda p: p.latest.created_at, reverse=True)


def view(session: Session, org: OrgSettings, timezone) -> StatusView:
    now = clock.now()
    shown = published(session, org, now - timedelta(days=HISTORY_DAYS))
    current = [p for p in shown if p.open]
    worst: dict[str, int] = {}
    for item in current:
        for name in item.components:
            worst[name] = min(worst.get(name, 99), item.severity_rank)
    components = [(s.name, COMPONENT_STATES[min(worst[s.name], 2)] if s.name in worst
                   else OPERATIONAL)
                  for s in session.scalars(select(Service).where(Service.public.is_(True))
                                           .order_by(func.lower(Service.name)))]
    by_day: dict[str, list[PublicIncident]] = defaultdict(list)
    for item in shown:
        if not item.open and item.resolved_at is not None:
            by_day[item.resolved_at.astimezone(timezone).strftime("%-d %B %Y")].append(item)
    history = sorted(by_day.items(), key=lambda kv: kv[1][0].resolved_at, reverse=True)
    return StatusView(components, current, history, now)


def feed_entries(session: Session, org: OrgSettings) -> list[tuple[PublicIncident,
                                                                   StatusUpdate]]:
    """The newest published updates, for the Atom feed."""
    shown = published(session, org, clock.now() - timedelta(days=HISTORY_DAYS))
    entries = [(item, update) for item in shown for update in item.updates]
    entries.sort(key=lambda pair: pair[1].created_at, reverse=True)
    return entries[:FEED_ENTRIES]
