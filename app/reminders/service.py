"""Sending the reminders that are due, once each (run every minute by `rq cron`, or by
a timer in-process).

The schedule rules are pure (`schedule.py`); this reads each open incident's facts,
and for every due reminder not sent before inserts its key and queues the notice in the
same transaction, so a reminder is sent exactly once even if two sweeps overlap.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload

from app.core import clock
from app.core.org import OrgSettings
from app.db import insert_for
from app.incidents.models import Incident, RoleAssignment
from app.incidents.rules import OPEN_STATUSES
from app.m365 import notices
from app.m365.targets import Targets
from app.reminders.models import ReminderSnooze, SentReminder
from app.reminders.schedule import KINDS, IncidentFacts, Policy, Reminder, WorkingHours, due
from app.updates.models import StatusUpdate

SNOOZE_CHOICES = (30, 60, 120)
TITLES = {"update": "An update is due", "summary": "Time for a summary",
          "role_unfilled": "A required role is not filled", "escalate": "Consider escalating",
          "rotate": "Time to hand over?", "out_of_hours": "Stop for the night or hand over?"}


def policy_from(settings) -> Policy:
    """WORKING_HOURS like "10:00-18:00", in the organisation's time zone, Monday to Friday."""
    start, _, end = (settings.working_hours or "10:00-18:00").partition("-")
    return Policy(hours=WorkingHours(start=time.fromisoformat(start.strip()),
                                     end=time.fromisoformat(end.strip()),
                                     timezone=settings.timezone))


def facts_for(session: Session, org: OrgSettings, incident: Incident) -> IncidentFacts:
    severity = org.severity(incident.severity)
    last_update = session.scalar(select(func.max(StatusUpdate.created_at))
                                 .where(StatusUpdate.incident_id == incident.id))
    current = incident.current_roles()
    unfilled = {}
    for role in org.roles:
        if role.required and role.key not in current:
            released = [a.released_at for a in incident.roles
                        if a.role == role.key and a.released_at]
            unfilled[role.label] = max([incident.declared_at, *released])
    spells = [(org.role(k).label if org.role(k) else k, a.user.name, a.assigned_at)
              for k, a in current.items()]
    snoozes = {s.kind: s.until for s in session.scalars(
        select(ReminderSnooze).where(ReminderSnooze.incident_id == incident.id))}
    return IncidentFacts(
        reference=incident.reference, declared_at=incident.declared_at, status=incident.status,
        cadence_minutes=severity.update_every_minutes if severity else None,
        major=bool(severity and severity.major), last_update_at=last_update,
        unfilled_roles=unfilled, role_spells=spells, snoozed_until=snoozes)


def send_due(session: Session, org: OrgSettings, targets: Targets, policy: Policy,
             now: datetime | None = None) -> int:
    """Send every reminder due now that has not been sent; returns how many were sent."""
    now = now or clock.now()
    open_incidents = session.scalars(
        select(Incident).where(Incident.status.in_(OPEN_STATUSES)).options(
            selectinload(Incident.roles).selectinload(RoleAssignment.user),
            selectinload(Incident.declared_by))).all()
    sent = 0
    for incident in open_incidents:
        for reminder in due(facts_for(session, org, incident), now, policy):
            if _claim(session, incident, reminder, now):
                _send(session, targets, incident, reminder)
                sent += 1
        session.commit()
    return sent


def snooze(session: Session, actor, incident: Incident, kind: str, minutes: int) -> datetime:
    if kind not in KINDS or minutes not in SNOOZE_CHOICES:
        raise ValueError("unknown reminder or snooze length")
    until = clock.now() + timedelta(minutes=minutes)
    row = session.get(ReminderSnooze, (incident.id, kind)) or ReminderSnooze(
        incident_id=incident.id, kind=kind)
    row.until, row.by, row.at = until, actor, clock.now()
    session.add(row)
    session.commit()
    return until


def recent(session: Session, incident: Incident, limit: int = 5) -> list[SentReminder]:
    return list(session.scalars(select(SentReminder).where(
        SentReminder.incident_id == incident.id).order_by(SentReminder.sent_at.desc(),
                                                          SentReminder.id.desc())
        .limit(limit)))


def _claim(session: Session, incident: Incident, reminder: Reminder, now) -> bool:
    """Insert the key; False if this due time was already sent (by us or a peer)."""
    insert = insert_for(session)
    result = session.execute(
        insert(SentReminder).values(incident_id=incident.id, key=reminder.key[:300],
                                    kind=reminder.kind, due_at=reminder.due_at, sent_at=now,
                                    text=reminder.text, to="")
        .on_conflict_do_nothing(index_elements=["incident_id", "key"])
        .returning(SentReminder.id))
    row = result.first()
    if row is not None:
        session.info.setdefault("reminder_rows", {})[reminder.key] = row.id
    return row is not None


def _send(session: Session, targets: Targets, incident: Incident, reminder: Reminder) -> None:
    people = _audience(incident, reminder)
    row = session.get(SentReminder, session.info["reminder_rows"].pop(reminder.key))
    row.to = ", ".join(p.name for p in people) or "the incident channel"
    url = targets.incident_url(incident.reference)
    notices.notify(
        session, targets, incident, None, key=f"{incident.reference}/reminder/{row.id}",
        to=[p.email for p in people], subject=TITLES.get(reminder.kind, "Reminder"),
        message=reminder.text, link_text="Open the incident", url=url,
        label=f"Reminder ({TITLES.get(reminder.kind, reminder.kind).lower()})",
        show_title=not incident.is_security)


def _audience(incident: Incident, reminder: Reminder) -> list:
    current = incident.current_roles()

    def holder(role_key: str):
        assignment = current.get(role_key)
        return assignment.user if assignment else None

    if reminder.audience == "role_holder" and reminder.person:
        people = [a.user for a in current.values() if a.user.name == reminder.person]
        return people[:1]
    if reminder.audience == "comms_lead":
        chosen = holder("comms_lead") or holder("incident_lead")
    else:
        chosen = holder("incident_lead")
    chosen = chosen or incident.declared_by
    return [chosen] if chosen is not None and not chosen.entra_oid.startswith("system-") \
        else []
