"""What the bot answers: `help` (a card listing the commands) and `status` (an incident
channel's incident, or in personal chat the person's open incidents). The Teams user is
matched to an Incident Desk user by Entra object id and tenant, never by name or email."""

from __future__ import annotations

import re

from microsoft_agents.activity import Activity, ActivityTypes
from microsoft_agents.hosting.core import CardFactory, MessageFactory, TurnContext
from sqlalchemy import or_, select

from app import db
from app.auth.models import User
from app.incidents.models import Incident, RoleAssignment
from app.incidents.rules import FINISHED
from app.incidents.service import can_view
from app.m365.models import TeamsChannel

COMMANDS = {"help": "What the bot can do", "status": "The incident's status here; in a "
            "personal chat, your open incidents"}
MAX_LISTED = 10
MENTION = re.compile(r"<at>.*?</at>", re.IGNORECASE | re.DOTALL)  # "@Incident Desk"
SIGN_IN_FIRST = ("I don't know you yet: sign in to Incident Desk once, then ask me again.")


def help_card() -> dict:
    return {"type": "AdaptiveCard", "version": "1.5",
            "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
            "body": [{"type": "TextBlock", "text": "Incident Desk", "weight": "Bolder",
                      "size": "Medium"},
                     {"type": "FactSet", "facts": [{"title": name, "value": what}
                                                   for name, what in COMMANDS.items()]}]}


def _command(text: str | None) -> str:
    """The first word after any @mention Teams puts in a channel message."""
    words = MENTION.sub(" ", text or "").split()
    return words[0].lower() if words else ""


def person_of(activity: Activity) -> User | None:
    sender = activity.from_property
    oid = getattr(sender, "aad_object_id", None) if sender else None
    tenant = activity.conversation.tenant_id if activity.conversation else None
    if not oid or not tenant:
        return None
    return db.Session.scalar(select(User).where(User.entra_oid == oid,
                                                User.tenant_id == tenant))


def _channel_id(activity: Activity) -> str | None:
    data = activity.channel_data or {}
    channel = data.get("channel") if isinstance(data, dict) else getattr(data, "channel", None)
    if isinstance(channel, dict):
        return channel.get("id")
    return getattr(channel, "id", None)


def status_text(person: User, activity: Activity) -> str:
    channel_id = _channel_id(activity)
    if channel_id:
        incident = db.Session.scalar(select(Incident).join(
            TeamsChannel, TeamsChannel.incident_id == Incident.id).where(
            TeamsChannel.channel_id == channel_id))
        if incident is None or not can_view(person, incident):
            return "This channel is not an incident's channel."
        return f"{incident.reference} {incident.title}: {incident.status} ({incident.severity})"
    holds_role = select(RoleAssignment.incident_id).where(
        RoleAssignment.user_id == person.id, RoleAssignment.released_at.is_(None))
    mine = db.Session.scalars(select(Incident).where(
        Incident.status.not_in(FINISHED),
        or_(Incident.declared_by_id == person.id, Incident.id.in_(holds_role))).order_by(
        Incident.declared_at.desc()).limit(MAX_LISTED)).all()
    if not mine:
        return "You have no open incidents."
    return "Your open incidents:\n\n" + "\n\n".join(
        f"- {i.reference} {i.title}: {i.status} ({i.severity})" for i in mine)


async def answer(turn_context: TurnContext) -> None:
    """Reply to a message: the command it starts with, after any @mention."""
    command = _command(turn_context.activity.text)
    if command == "help" or not command:
        reply = MessageFactory.attachment(CardFactory.adaptive_card(help_card()))
    elif command == "status":
        person = person_of(turn_context.activity)
        reply = MessageFactory.text(SIGN_IN_FIRST if person is None
                                    else status_text(person, turn_context.activity))
    else:
        reply = MessageFactory.text(f"I don't know '{command[:40]}'. Say help for what "
                                    "I can do.")
    reply.type = ActivityTypes.message
    await turn_context.send_activity(reply)
