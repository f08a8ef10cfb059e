"""What Microsoft 365 work each incident event causes, written into the outbox.

These run inside the incident service's transaction, so the work exists exactly when
the change does. They only describe work; handlers.py does it.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.core.installation import Installation
from app.core.org import OrgSettings
from app.incidents import delivery_keys
from app.incidents.models import Incident
from app.incidents.rules import STATUS_BY_KEY
from app.m365 import cards
from app.m365.models import TeamsChannel
from app.outbox import service as outbox
from app.outbox.models import Delivery

CREATE_CHANNEL = "teams.create_channel"
POST = "teams.post"
MEETING = "teams.meeting"
WEBHOOK = "teams.webhook"
ADD_MEMBER = "teams.add_member"
READ_CHANNEL = "teams.read_channel"
ADD_CHANNEL_MEMBER = "teams.add_channel_member"
REMOVE_CHANNEL_MEMBER = "teams.remove_channel_member"  # planned by lifecycle.take_back_channel
ARCHIVE_CHANNEL = "teams.archive_channel"  # planned by app/m365/lifecycle.py
UNARCHIVE_CHANNEL = "teams.unarchive_channel"
EVENT = "outlook.event"
MAIL = "mail.send"  # planned by app/m365/mail_plan.py
COMMAND_ROOM_HOURS = 8


def card_facts(org: OrgSettings, incident: Incident) -> dict:
    """Plain facts about an incident, as cards and emails need them."""
    severity = org.severity(incident.severity)
    leads = []
    for role_key, assignment in incident.current_roles().items():
        role = org.role(role_key)
        if role is not None and role.required:
            leads.append((role.label, assignment.user.name))
    return {
        "reference": incident.reference,
        "title": incident.title,
        "severity": incident.severity,
        "severity_label": severity.label if severity else incident.severity,
        "major": bool(severity and severity.major),
        "status_label": STATUS_BY_KEY[incident.status].label,
        "description": incident.description,
        "services": [s.name for s in incident.services],
        "leads": leads,
        "is_security": incident.is_security,
    }


def on_declared(session: Session, org: OrgSettings, installation: Installation, incident: Incident,
                actor) -> None:
    if not installation.teams_enabled:
        return
    facts = card_facts(org, incident)
    url = installation.incident_url(incident.reference)
    day = incident.declared_at.astimezone(installation.timezone).date()
    payload = {
        "team_id": installation.team_id,
        "day": day.isoformat(),
        "title": incident.title,
        "reference": incident.reference,
        "description": f"{incident.reference}: {incident.title}"[:1024],
    }
    owner_in_team = None
    if incident.is_security and actor is not None:
        # A private channel, owned by whoever declared it (who must be in the team first):
        # only the people working on it see it.
        payload["private_owner"] = actor.entra_oid
        # The service account co-owns it: only a private channel's owners may add people,
        # and it adds everyone brought in later (app/m365/connect.py), whoever asked.
        if installation.service_account and installation.service_account.lower() != \
                (actor.email or "").lower():
            payload["co_owners"] = [installation.service_account]
        owner_in_team = team_member(session, installation, incident, actor, actor)
    channel = outbox.add(
        session, key=delivery_keys.channel(incident.reference), kind=CREATE_CHANNEL,
        incident=incident, actor=actor, depends_on=owner_in_team, payload=payload,
    )
    outbox.add(
        session, key=delivery_keys.kickoff(incident.reference), kind=POST, incident=incident,
        actor=actor, depends_on=channel,
        payload={
            "channel": "incident",
            "html": cards.summary_html(facts),
            "card": cards.kickoff(facts, url),
            "card_kind": "kickoff",
            "label": "Kickoff card",
        },
    )
    start = incident.declared_at
    outbox.add(
        session, key=delivery_keys.meeting(incident.reference), kind=MEETING, incident=incident,
        actor=actor,
        payload={"subject": f"{incident.reference} command room: {incident.title}"[:250],
                 "start": start.isoformat(),
                 "end": (start + timedelta(hours=COMMAND_ROOM_HOURS)).isoformat(),
                 "label": "Command room (Teams meeting)"},
    )
    if facts["major"] and installation.teams_webhook_url and not incident.is_security:
        # Through the Workflows webhook: needs nobody's token and no channel first.
        outbox.add(
            session, key=delivery_keys.broadcast(incident.reference), kind=WEBHOOK,
            incident=incident,
            actor=actor,
            payload={"card": cards.announcement(facts, url),
                     "label": "Broadcast announcement (Workflows)"},
        )
    elif facts["major"] and installation.broadcast_channel_id and not incident.is_security:
        outbox.add(
            session, key=delivery_keys.broadcast(incident.reference), kind=POST, incident=incident,
            actor=actor, depends_on=channel,
            payload={
                "team_id": installation.team_id,
                "channel_id": installation.broadcast_channel_id,
                "html": cards.summary_html(facts),
                "card": cards.announcement(facts, url),
                "card_kind": "announcement",
                "link_incident_channel": True,
                "label": "Broadcast announcement",
            },
        )


def participant(session: Session, installation: Installation, incident: Incident, actor,
                user) -> None:
    """Someone brought in joins the incident's Teams team, and its private channel if it
    has one. Before the incident has Teams work at all there is nothing to join; a private
    channel not made yet adds its participants when it is (handlers.py)."""
    channel_work = session.scalar(select(Delivery).where(
        Delivery.key == delivery_keys.channel(incident.reference)))
    if not installation.teams_enabled or channel_work is None:
        return
    session.flush()
    team_member(session, installation, incident, actor, user)
    channel = session.get(TeamsChannel, incident.id)
    if incident.is_security and channel is not None:
        channel_member(session, installation, incident, actor, user, channel.team_id,
                       channel.channel_id)


def team_member(session: Session, installation: Installation, incident: Incident, actor, user):
    """The delivery adding `user` to the team (made once per incident and person)."""
    key = delivery_keys.team_member(incident.reference, user.id)
    existing = session.scalar(select(Delivery).where(Delivery.key == key))
    if existing is not None:
        return existing
    return outbox.add(session, key=key, kind=ADD_MEMBER, incident=incident, actor=actor,
                      payload={"team_id": installation.team_id, "user_id": user.entra_oid,
                               "label": f"Add {user.name} to the Teams team"})


def channel_member(session: Session, installation: Installation, incident: Incident, actor, user,
                   team_id: str, channel_id: str):
    """Add `user` to the incident's private channel, once they are in the team."""
    key = delivery_keys.channel_member(incident.reference, user.id)
    if session.scalar(select(Delivery.id).where(Delivery.key == key)) is not None:
        return None
    in_team = team_member(session, installation, incident, actor, user)
    return outbox.add(session, key=key, kind=ADD_CHANNEL_MEMBER, incident=incident,
                      actor=actor, depends_on=in_team,
                      payload={"team_id": team_id, "channel_id": channel_id,
                               "user_id": user.entra_oid,
                               "label": f"Add {user.name} to the private channel"})


def review_booking(session: Session, incident: Incident) -> Delivery | None:
    """The review meeting's invitation, as the review page shows its progress."""
    return session.scalar(select(Delivery).where(
        Delivery.key == delivery_keys.review_meeting(incident.reference)))
