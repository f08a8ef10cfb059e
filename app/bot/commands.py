"""What the bot answers in a message: the playbooks' commands, in an incident's channel
(mentioning the app) and in a personal chat. `declare <title>`, `status`, `update`,
`lead me` / `<role> me`, `note <text>`, `help`; every reply is a card (app/bot/replies.py),
and an error says what to do instead. The rules are the web's, from the same service
functions. The Teams user is matched to an Incident Desk user by Entra object id and
tenant, never by name or email."""

from __future__ import annotations

import html
import re
from dataclasses import dataclass

from flask import current_app
from microsoft_agents.activity import Activity, ActivityTypes
from microsoft_agents.hosting.core import CardFactory, MessageFactory, TurnContext
from sqlalchemy import or_, select
from sqlalchemy.orm.exc import StaleDataError

from app import db
from app.auth.models import User
from app.bot import live_cards, replies, update_form
from app.bot.declare_card import SIGN_IN_FIRST, TITLE_MAX, declare_card, sign_in_url
from app.core.org import OrgSettings, Role
from app.incidents import scribe
from app.incidents.models import Incident, RoleAssignment
from app.incidents.rules import FINISHED, RuleError
from app.incidents.service import can_view
from app.m365.cards import card, open_url, rich, run
from app.m365.models import TeamsChannel
from app.people import service as people

MAX_LISTED = 10
QUOTED_MAX = 40  # characters of an unknown command or role echoed back
MENTION = re.compile(r"<at[^>]*>(.*?)</at>", re.IGNORECASE | re.DOTALL)
NOT_HERE = ("This channel is not the channel of an incident you can see. Use the "
            "command in the incident's own channel, or open the incident in Incident Desk.")


@dataclass(frozen=True)
class Said:
    """A message as a command: its first word (lower case) and the text after it, and
    whether it mentioned the bot."""

    command: str
    rest: str
    words: tuple[str, ...]
    mentioned: bool = False


def _bot_mentions(activity: Activity) -> tuple[set[str], bool]:
    """The `<at>…</at>` texts that may mention this bot (its mention entities', and its
    display name for a client that sends none), and whether an entity names it."""
    recipient = activity.recipient
    found = {f"<at>{recipient.name}</at>"} if recipient and recipient.name else set()
    by_entity = False
    for entity in activity.entities or []:
        fields = entity.model_dump(by_alias=True, exclude_none=True)
        mentioned = fields.get("mentioned") or {}
        if (str(fields.get("type", "")).lower() == "mention" and recipient
                and mentioned.get("id") == recipient.id):
            by_entity = True
            if fields.get("text"):
                found.add(str(fields["text"]))
    return found, by_entity


def said(activity: Activity) -> Said:
    """The command in a message: the bot's @mention removed wherever it is, other people's
    mentions kept as @Name, entities decoded, case and extra whitespace ignored."""
    text = activity.text or ""
    mentions, mentioned = _bot_mentions(activity)
    for mention in mentions:
        text, count = re.subn(re.escape(mention), " ", text, flags=re.IGNORECASE)
        mentioned = mentioned or count > 0
    text = html.unescape(MENTION.sub(lambda m: f"@{m.group(1)}", text)).replace("\xa0", " ")
    words = tuple(text.split())
    if not words:
        return Said("", "", (), mentioned)
    parts = text.strip().split(maxsplit=1)
    return Said(words[0].lower(), parts[1].strip() if len(parts) > 1 else "", words,
                mentioned)


def addressed(activity: Activity, message: Said) -> bool:
    """Whether the message is for the bot. With the ChannelMessage.Read.Group consent the
    manifest asks for, Teams sends the bot every channel message; only those mentioning
    it are commands (Microsoft: "Receive all conversation messages", filtering at
    mention messages). A personal chat is always with the bot."""
    kind = activity.conversation.conversation_type if activity.conversation else None
    return message.mentioned or (kind in (None, "personal") and not _channel_id(activity))


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


def incident_here(activity: Activity, person: User) -> Incident | None:
    """The incident whose Teams channel this is, if this person may see it (a security
    incident only for its people, as on the web; otherwise the same answer as none)."""
    channel_id = _channel_id(activity)
    if not channel_id:
        return None
    incident = db.Session.scalar(select(Incident).join(
        TeamsChannel, TeamsChannel.incident_id == Incident.id).where(
        TeamsChannel.channel_id == channel_id))
    return incident if incident is not None and can_view(person, incident) else None


def role_named(org: OrgSettings, phrase: str) -> Role | list[Role] | None:
    """The role `phrase` names: "lead" is the incident lead (the playbooks' `lead me`),
    then a label or key ("tech lead", "comms_lead"), then one word of a label that only
    one role starts or ends with ("scribe", "comms", "commander"). Several: the list."""
    phrase = " ".join(phrase.lower().replace("_", " ").replace("-", " ").split())
    if phrase == "lead" and org.role("incident_lead"):
        return org.role("incident_lead")
    for role in org.roles:
        if phrase in (role.label.lower(), role.key.replace("_", " ")):
            return role
    matches = [r for r in org.roles if phrase in (r.label.lower().split()[:1]
                                                  + r.label.lower().split()[-1:])]
    if len(matches) == 1:
        return matches[0]
    return matches or None


@dataclass
class Turn:
    """What a command needs: the activity, who sent it, the app's parts."""

    activity: Activity
    person: User | None
    said: Said

    @property
    def org(self) -> OrgSettings:
        return current_app.extensions["org"]

    @property
    def installation(self):
        return current_app.extensions["installation"]

    @property
    def in_channel(self) -> bool:
        return bool(_channel_id(self.activity))

    def url(self, reference: str) -> str:
        return self.installation.incident_url(reference)


def _sign_in(turn: Turn) -> dict:
    return replies.notice(SIGN_IN_FIRST, url=sign_in_url(turn.installation),
                          link_text="Sign in to Incident Desk")


def _say_where(what: str, example: str) -> dict:
    return replies.notice(f"{what} in the incident's Teams channel: mention me there, for "
                          f"example @Incident Desk {example}. Or open the incident in "
                          "Incident Desk.", heading="Say that in the incident's channel")


def _status(turn: Turn) -> dict:
    if turn.in_channel:
        incident = incident_here(turn.activity, turn.person)
        if incident is None:
            return replies.notice(NOT_HERE)
        return replies.incident_card(turn.org, incident, turn.url(incident.reference))
    holds_role = select(RoleAssignment.incident_id).where(
        RoleAssignment.user_id == turn.person.id, RoleAssignment.released_at.is_(None))
    mine = db.Session.scalars(select(Incident).where(
        Incident.status.not_in(FINISHED),
        or_(Incident.declared_by_id == turn.person.id, Incident.id.in_(holds_role))).order_by(
        Incident.declared_at.desc()).limit(MAX_LISTED + 1)).all()
    if not mine:
        return replies.notice("You have no open incidents. Say declare followed by a title "
                              "to open one.", attention=False)
    return replies.incident_list("Your open incidents", mine[:MAX_LISTED], turn.url,
                                 more=len(mine) > MAX_LISTED)


def _declare(turn: Turn) -> dict:
    title = " ".join(turn.said.rest.split())
    lead = None
    if len(title) > TITLE_MAX:
        lead = (f"Titles must be {TITLE_MAX} characters or fewer, and yours has "
                f"{len(title):,}: it is cut short below. Shorten it, then declare.")
    return declare_card(turn.org, title[:TITLE_MAX], lead=lead)


def _update(turn: Turn) -> dict:
    if not turn.in_channel:
        return _say_where("Send an update", "update")
    incident = incident_here(turn.activity, turn.person)
    if incident is None:
        return replies.notice(NOT_HERE)
    if incident.is_closed:
        return replies.notice("A closed incident cannot take new updates.",
                              url=turn.url(incident.reference), link_text="Open the incident")
    launcher = update_form.launcher_card(  # its button shows the form in the card
        incident, live_cards.refresh_data(live_cards.KICKOFF, incident.id, ""))
    launcher["actions"] = [*launcher.get("actions", []), open_url(
        "Write it in Incident Desk", turn.url(incident.reference) + "/updates/new")]
    return launcher


def _take_role(turn: Turn, phrase: str) -> dict:
    role = role_named(turn.org, phrase)
    if not isinstance(role, Role):
        labels = ", ".join(r.label.lower() for r in turn.org.roles)
        return card([rich(run("I don't know the role '", weight="Bolder"),
                          run(phrase[:QUOTED_MAX]), run("'.", weight="Bolder")),
                     rich(run(f"Say lead me, or a role and me: {labels}.", isSubtle=True))])
    if not turn.in_channel:
        return _say_where(f"Take the {role.label.lower()} role", " ".join(turn.said.words))
    incident = incident_here(turn.activity, turn.person)
    if incident is None:
        return replies.notice(NOT_HERE)
    label = role.label.lower()
    held = incident.current_roles().get(role.key)
    if held is not None and held.user_id == turn.person.id:
        return replies.incident_card(turn.org, incident, turn.url(incident.reference),
                                     heading=f"You are already {label} for "
                                             f"{incident.reference}.")
    try:
        people.assign_or_offer(db.Session, turn.org, current_app.extensions["effects"],
                               turn.person, incident, role.key, turn.person)
    except RuleError as error:
        return replies.notice(error.message, url=turn.url(incident.reference),
                              link_text="Open the incident")
    except StaleDataError:
        db.Session.rollback()
        return replies.notice("Someone else changed this incident at the same moment. "
                              "Say it again.")
    return replies.incident_card(turn.org, incident, turn.url(incident.reference),
                                 heading=f"You are now {label} for {incident.reference}.")


def _note(turn: Turn) -> dict:
    text, entry_type = turn.said.rest, "event"
    kind, _, after = text.partition(":")
    if kind.strip().lower() in scribe.ENTRY_TYPES and after.strip():
        entry_type, text = kind.strip().lower(), after.strip()  # "note decision: roll back"
    if not turn.in_channel:
        return _say_where("Add notes", "note what happened")
    incident = incident_here(turn.activity, turn.person)
    if incident is None:
        return replies.notice(NOT_HERE)
    if not text:
        return replies.notice("Say note followed by what happened, for example: note "
                              "payments are failing over to the second region.")
    if len(text) > scribe.TEXT_MAX:
        return replies.notice(f"Notes must be {scribe.TEXT_MAX:,} characters or fewer, and "
                              f"this one has {len(text):,}. Split it into shorter notes, or "
                              "add it on the incident's page.",
                              url=turn.url(incident.reference), link_text="Open the incident")
    try:
        scribe.add_entry(db.Session, turn.person, incident, text=text, entry_type=entry_type,
                         effects=current_app.extensions["effects"])
    except RuleError as error:
        return replies.notice(error.message, url=turn.url(incident.reference),
                              link_text="Open the incident")
    return card([rich(run(
        f"Added to the {incident.reference} log as {scribe.ENTRY_TYPES[entry_type].lower()}:",
        weight="Bolder", color="good")), rich(run(text), spacing="Small")],
        [open_url("Open the timeline", turn.url(incident.reference) + "#timeline")])


COMMANDS = {"status": _status, "declare": _declare, "update": _update,
            "note": _note}
NEEDS_NOBODY = ("help", "")


def reply_to(activity: Activity) -> dict | None:
    """The card answering this message; None for a channel message not meant for the bot."""
    message = said(activity)
    if not addressed(activity, message):
        return None
    role_phrase = (" ".join(message.words[:-1]) if len(message.words) > 1
                   and message.words[-1].lower() == "me" else None)
    if message.command in NEEDS_NOBODY:
        return replies.help_card()
    if message.command not in COMMANDS and role_phrase is None:
        return replies.help_card("I don't know", message.command[:QUOTED_MAX])
    person = person_of(activity)
    turn = Turn(activity, person, message)
    if person is None:
        return _sign_in(turn)
    if message.command in COMMANDS:
        return COMMANDS[message.command](turn)
    return _take_role(turn, role_phrase)


async def answer(turn_context: TurnContext) -> None:
    """Reply to a message with a card: the command after any @mention."""
    content = reply_to(turn_context.activity)
    if content is None:
        return
    reply = MessageFactory.attachment(CardFactory.adaptive_card(content))
    reply.type = ActivityTypes.message
    await turn_context.send_activity(reply)
