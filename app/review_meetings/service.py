"""Booking the review meeting when an incident is resolved, and running it.

The meeting is put in the outbox with the resolution itself, so it is booked exactly
once (Graph's transactionId makes a retried create return the same event). It is set for
14:00 on the second working day after resolving: inside the playbooks' "within a week",
with time for people to write up the timeline first.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.auth.models import User
from app.contacts.models import Contact
from app.core import clock
from app.incidents import delivery_keys
from app.incidents.events import Effects, Notice, ReviewBooked
from app.incidents.models import Incident, Participant
from app.reminders.schedule import WorkingHours
from app.review_meetings.models import ReviewMeeting

MEETING_AT = time(14)
LENGTH = timedelta(hours=1)
# Playbook 003's default attendees beyond the people who worked on it, from the contacts list.
INVITED_ROLES = ("delivery manager", "programme delivery manager", "product manager",
                 "technical architect")


def meeting_time(resolved_at: datetime, hours: WorkingHours) -> datetime:
    """14:00 local on the second working day after `resolved_at` (UTC)."""
    from zoneinfo import ZoneInfo

    zone = ZoneInfo(hours.timezone)
    day = resolved_at.astimezone(zone).date()
    found = 0
    while found < 2:
        day += timedelta(days=1)
        if day.weekday() in hours.days:
            found += 1
    return datetime.combine(day, MEETING_AT, zone).astimezone(resolved_at.tzinfo)


def involved(session: Session, incident: Incident) -> set[int]:
    """Ids of everyone who worked on the incident: declarer, role holders, participants."""
    ids = {a.user_id for a in incident.roles}
    ids.update(session.scalars(select(Participant.user_id).where(
        Participant.incident_id == incident.id)))
    if incident.declared_by_id:
        ids.add(incident.declared_by_id)
    return ids


def invitees(session: Session, incident: Incident) -> list[dict]:
    people: dict[str, dict] = {}
    current = incident.current_roles()
    for role_key, assignment in current.items():
        user = assignment.user
        people.setdefault(user.email.lower(), {"email": user.email, "name": user.name,
                                               "why": role_key.replace("_", " ")})
    for user in session.scalars(select(User).where(User.id.in_(involved(session, incident)))):
        if not user.entra_oid.startswith("system-"):
            people.setdefault(user.email.lower(), {"email": user.email, "name": user.name,
                                                   "why": "responder"})
    services = {s.name.lower() for s in incident.services}
    for contact in session.scalars(select(Contact).where(
            func.lower(Contact.role).in_(INVITED_ROLES))):
        if not contact.service or contact.service.lower() in services:
            people.setdefault(contact.email.lower(), {"email": contact.email,
                                                      "name": contact.name,
                                                      "why": contact.role.lower()})
    return list(people.values())


def book(session: Session, effects: Effects, hours: WorkingHours, incident: Incident,
         actor) -> ReviewMeeting | None:
    """In the resolving transaction: plan the meeting (its invitation follows the event).
    Once per incident (a reopened and re-resolved incident keeps its meeting)."""
    if session.get(ReviewMeeting, incident.id) is not None:
        return None
    starts = meeting_time(incident.resolved_at or clock.now(), hours)
    invited = invitees(session, incident)
    meeting = ReviewMeeting(incident_id=incident.id, starts_at=starts,
                            ends_at=starts + LENGTH, invited=invited, attended=[],
                            booked_by=actor, created_at=clock.now())
    session.add(meeting)
    effects.publish(session, ReviewBooked(
        incident=incident, actor=actor, starts_at=starts, ends_at=starts + LENGTH,
        attendees=invited,
        subject=f"Post-incident review: {incident.reference} "
                f"{'' if incident.is_security else incident.title}"))
    return meeting


def set_roles(session: Session, effects: Effects, actor, incident: Incident,
              meeting: ReviewMeeting, facilitator: User | None, note_taker: User | None,
              attended: list[str]) -> list[str]:
    """Record who facilitates and takes notes and who came; returns warnings to show.
    A facilitator or note-taker not yet invited gets an email with the time."""
    warnings = []
    if facilitator is not None and facilitator.id in involved(session, incident):
        warnings.append(f"{facilitator.name} worked on this incident. The facilitator "
                        "should be someone who was not involved, so the review stays "
                        "neutral.")
    invited = {p["email"].lower() for p in meeting.invited}
    for person, role in ((facilitator, "facilitate"), (note_taker, "take notes at")):
        if person is not None and person.email.lower() not in invited:
            meeting.invited = [*meeting.invited, {"email": person.email, "name": person.name,
                                                  "why": role}]
            when = meeting.starts_at.astimezone(effects.installation.timezone)
            effects.publish(session, Notice(
                incident=incident, actor=actor,
                key=delivery_keys.review_invite(incident.reference, role, person.id),
                to=[person.email], subject=f"Please {role} the post-incident review",
                message=(f"{actor.name} asks you to {role} the post-incident review of "
                         f"{incident.reference} on {when:%A %-d %B at %H:%M}. The Teams "
                         "link to join is on the review page."),
                link_text="Open the review",
                url=effects.installation.incident_url(incident.reference)
                + "/review", teams=False, label="Review invitation",
                show_title=not incident.is_security))
    meeting.facilitator, meeting.note_taker = facilitator, note_taker
    known = {p["email"].lower() for p in meeting.invited}
    meeting.attended = sorted({e.lower() for e in attended if e.lower() in known})
    session.commit()
    return warnings

