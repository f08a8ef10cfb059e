"""Sending the reminders that are due, once each (run every minute by `python -m app.cron`, or by
a timer in-process).

The schedule rules are pure (`schedule.py`); this reads each open incident's facts and
groups what is due by recipient (`digest.py`: due now, plus standing-state reminders due
within minutes). For each group it inserts every reminder's key, then queues one notice
(an email and a Teams post) listing those it inserted, keyed by the first inserted row,
and records that key on each row, all in one transaction. So a reminder is sent exactly
once and in exactly one notice even if two sweeps overlap (the loser's inserts conflict
and it lists only what it won), and a retried delivery reuses its key, so it never sends
a group twice.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload

from app.core import clock
from app.core.org import OrgSettings
from app.db import insert_for
from app.incidents import delivery_keys
from app.incidents.events import UPDATE_DUE, Effects, Feed, NoticeList
from app.incidents.models import Incident, RoleAssignment, StatusUpdate
from app.incidents.rules import OPEN_STATUSES
from app.reminders import digest
from app.reminders.models import ReminderSnooze, SentReminder
from app.reminders.schedule import KINDS, IncidentFacts, Policy, Reminder, WorkingHours, due

SNOOZE_CHOICES = (30, 60, 120)
TITLES = digest.TITLES


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


def send_due(session: Session, org: OrgSettings, effects: Effects, policy: Policy,
             now: datetime | None = None) -> int:
    """Send every reminder due now that has not been sent, grouped into one notice per
    recipient; returns how many reminders were sent (not notices)."""
    now = now or clock.now()
    open_incidents = session.scalars(
        select(Incident).where(Incident.status.in_(OPEN_STATUSES)).options(
            selectinload(Incident.roles).selectinload(RoleAssignment.user),
            selectinload(Incident.declared_by))).all()
    sent = 0
    for incident in open_incidents:
        facts = facts_for(session, org, incident)
        due_now = due(facts, now, policy)
        if due_now:
            soon = digest.riding_along(due_now, due(facts, now + digest.RIDE_ALONG, policy),
                                       now, facts.snoozed_until)
            for people, now_part, early_part in _by_recipient(incident, due_now, soon):
                sent += _send_group(session, effects, incident, people, now_part,
                                    early_part, now)
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


def _by_recipient(incident: Incident, due_now: list[Reminder], soon: list[Reminder]):
    """(people, due now, riding along) per recipient; early ones only join a group that
    is going out anyway."""
    groups: dict[tuple, tuple[list, list[Reminder], list[Reminder]]] = {}
    for reminder in due_now:
        people = _audience(incident, reminder)
        groups.setdefault(tuple(p.id for p in people), (people, [], []))[1].append(reminder)
    for reminder in soon:
        group = groups.get(tuple(p.id for p in _audience(incident, reminder)))
        if group is not None:
            group[2].append(reminder)
    return list(groups.values())


def _send_group(session: Session, effects: Effects, incident: Incident, people: list,
                due_now: list[Reminder], early: list[Reminder], now: datetime) -> int:
    """Claim this group's reminders and queue one notice listing those claimed."""
    claimed = [(r, row) for r in due_now if (row := _claim(session, incident, r, now))]
    if not claimed:  # a peer sent them all: nothing is due from us, so nothing rides along
        return 0
    claimed += [(r, row) for r in early if (row := _claim(session, incident, r, now))]
    claimed.sort(key=lambda pair: (pair[0].due_at, pair[0].key))
    key = delivery_keys.reminders(incident.reference, min(row.id for _, row in claimed))
    to = ", ".join(p.name for p in people) or "the incident channel"
    for _, row in claimed:
        row.to, row.notice_key = to, key
    url = effects.installation.incident_url(incident.reference)
    items = digest.items([r for r, _ in claimed], url)
    heading = (items[0].title if len(items) == 1 else
               f"{len(items)} reminders about {incident.reference}")
    effects.publish(session, NoticeList(
        incident=incident, actor=None, key=key, to=[p.email for p in people],
        subject=digest.subject(items), heading=heading, items=items, url=url,
        label="Reminders" if len(items) > 1 else
        f"Reminder ({TITLES.get(claimed[0][0].kind, 'reminder').lower()})",
        for_name=", ".join(p.name for p in people) or None,
        show_title=not incident.is_security, feed=_update_due(people, claimed)))
    return len(claimed)


def _update_due(people: list, claimed: list) -> Feed | None:
    """An update due from one person goes to their Teams activity feed (where they have
    the app), with what else is due said in its preview."""
    texts = [r.text for r, _ in claimed if r.kind == "update"]
    if len(people) != 1 or not texts:
        return None
    others = [TITLES.get(r.kind, "A reminder") for r, _ in claimed if r.kind != "update"]
    also = f" Also: {'; '.join(dict.fromkeys(others))}." if others else ""
    return Feed(about=UPDATE_DUE, to_user_id=people[0].id, preview=texts[-1] + also)


def _claim(session: Session, incident: Incident, reminder: Reminder,
           now: datetime) -> SentReminder | None:
    """Insert the key; None if this due time was already sent (by us or a peer)."""
    insert = insert_for(session)
    result = session.execute(
        insert(SentReminder).values(incident_id=incident.id, key=reminder.key[:300],
                                    kind=reminder.kind, due_at=reminder.due_at, sent_at=now,
                                    text=reminder.text, to="")
        .on_conflict_do_nothing(index_elements=["incident_id", "key"])
        .returning(SentReminder.id))
    row = result.first()
    return session.get(SentReminder, row.id) if row is not None else None


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
