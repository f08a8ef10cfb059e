"""Figures for one calendar month, over the incidents the viewer may see.

Time to acknowledge is from declaration to the first thing a person did on the incident
(zero when a person declared it; for an alert's incident, whoever first picked it up).
Time to resolve is from declaration to "users no longer affected".
"""

from __future__ import annotations

import re
from collections import Counter
from datetime import date, datetime, timedelta
from statistics import median
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from app.actions.models import FINISHED, FollowUpAction
from app.core import clock
from app.core.org import OrgSettings
from app.incidents.models import Incident, TimelineEntry
from app.incidents.service import visible_to
from reports.monthly import IncidentLine, MonthlyFigures


def month_bounds(month: date, zone: ZoneInfo) -> tuple[datetime, datetime]:
    start = datetime(month.year, month.month, 1, tzinfo=zone)
    following = datetime(month.year + month.month // 12, month.month % 12 + 1, 1, tzinfo=zone)
    return start, following


FIRST_YEAR, LAST_YEAR = 2000, 2199  # reports cover these; 9999-12 has no following month
_MONTH = re.compile(r"(\d+)-(\d+)")


class MonthOutOfRange(ValueError):
    """A month written like one (YYYY-MM) that no report can cover."""

    def __init__(self):
        super().__init__(f"Choose a month from {FIRST_YEAR}-01 to {LAST_YEAR}-12, written "
                         "like 2026-11.")


def parse_month(text: str | None, today: date) -> date:
    """"2026-11" → the first of that month; nothing like a month → this month; a month
    out of range (2026-13, 9999-12, 0001-01) → MonthOutOfRange, for the page to explain."""
    match = _MONTH.fullmatch((text or "").strip())
    if match is None:
        return today.replace(day=1)
    year, month = match.groups()
    if len(year) != 4 or len(month) > 2 or not (
            FIRST_YEAR <= int(year) <= LAST_YEAR and 1 <= int(month) <= 12):
        raise MonthOutOfRange
    return date(int(year), int(month), 1)


def _p90(values: list[timedelta]) -> timedelta | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.9 * (len(ordered) - 1)))]


def _acknowledged(incident: Incident) -> timedelta | None:
    for entry in sorted(incident.timeline, key=lambda e: e.occurred_at):
        author = entry.author
        if author is not None and not author.entra_oid.startswith("system-"):
            return max(timedelta(0), entry.occurred_at - incident.declared_at)
    return None


def figures(session: Session, org: OrgSettings, viewer, month: date, timezone: str,
            organisation: str = "") -> MonthlyFigures:
    zone = ZoneInfo(timezone)
    start, end = month_bounds(month, zone)
    incidents = session.scalars(
        select(Incident).where(visible_to(viewer), Incident.declared_at >= start,
                               Incident.declared_at < end)
        .options(selectinload(Incident.services),
                 selectinload(Incident.timeline).selectinload(TimelineEntry.author))
        .order_by(Incident.declared_at)).all()
    listed = [i for i in incidents if not i.is_security]
    severity_counts = Counter(i.severity for i in incidents)
    by_severity = tuple((s.label, severity_counts.get(s.key, 0)) for s in org.severities)
    service_counts = Counter(s.name for i in incidents if not i.is_security
                             for s in i.services)
    resolve_times = []
    for severity in org.severities:
        spans = [i.resolved_at - i.declared_at for i in incidents
                 if i.severity == severity.key and i.resolved_at is not None]
        if spans:
            resolve_times.append((severity.label, median(spans), _p90(spans)))
    acks = [a for a in (_acknowledged(i) for i in incidents) if a is not None]
    ids = [i.id for i in incidents]
    actions = session.scalars(select(FollowUpAction).where(
        FollowUpAction.incident_id.in_(ids))).all() if ids else []
    today = clock.today(zone)
    return MonthlyFigures(
        month=f"{start:%B %Y}",
        generated_at=clock.now(),
        incidents=tuple(IncidentLine(
            reference=i.reference, title=i.title,
            severity=(org.severity(i.severity).label if org.severity(i.severity)
                      else i.severity),
            declared_at=i.declared_at, status=i.status,
            time_to_resolve=(i.resolved_at - i.declared_at) if i.resolved_at else None,
            services=tuple(s.name for s in i.services)) for i in listed),
        by_severity=by_severity,
        by_service=tuple(service_counts.most_common()),
        resolve_times=tuple(resolve_times),
        acknowledge_median=median(acks) if acks else None,
        actions_open=sum(1 for a in actions if a.status not in FINISHED),
        actions_overdue=sum(1 for a in actions if a.overdue(today)),
        actions_done=sum(1 for a in actions if a.status == "done"),
        withheld=len(incidents) - len(listed),
        organisation=organisation,
        timezone=timezone,
    )
