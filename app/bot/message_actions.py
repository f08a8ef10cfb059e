"""Message actions: the app's two action commands on any Teams message's More actions
menu (the manifest's `composeExtensions`, app/teams_app/manifest.py), each a dialog.

- "Add to incident timeline" (`ADD_TO_TIMELINE`): the incident (the channel's own by
  default), the scribe's entry kinds and the message's text to edit, added through
  app.incidents.scribe.add_entry, the web log form's service, as the person choosing it,
  so the rules are the web's (who may see the incident, the kinds, the length, a closed
  incident refuses). The entry keeps the message's author, time and link in its
  `data["teams_message"]` (the import page's fields, app/m365/teams_import.py, plus the
  sender), which the incident page and the Word reports show beside it.
- "Declare incident from message" (`DECLARE`): the declare form (app/bot/declare_card.py's
  fields and rules) prefilled, the title from the message's first line and the
  description from its text, declared through app.incidents.service.declare as
  `declare <title>` and the web do.

Teams sends `composeExtension/fetchTask` when the command is chosen, with the message as
`value.messagePayload` (its body as HTML, `from.user`, `createdDateTime`,
`linkToMessage`), and `composeExtension/submitAction` when the dialog's Action.Submit is
pressed, with the inputs in `value.data` and the message again. Both are answered in the
HTTP response, within Teams' five seconds: `{"task": {"type": "continue", "value":
{"title", "card": <attachment>}}}` for a dialog (the form, the form again with what to
fix, or the result), `{"task": {"type": "message", "value": "..."}}` for a line of text.
https://learn.microsoft.com/microsoftteams/platform/messaging-extensions/how-to/action-commands/create-task-module
https://learn.microsoft.com/microsoftteams/platform/messaging-extensions/how-to/action-commands/respond-to-task-module-submit
https://learn.microsoft.com/microsoftteams/platform/task-modules-and-cards/task-modules/task-modules-bots

The Agents SDK's TeamsActivityHandler (microsoft_agents.hosting.teams) has
on_teams_messaging_extension_fetch_task / _submit_action, but hands them the raw `value`
dict while its submit dispatch reads it as a model (`action.bot_message_preview_action`),
and the bot is an ActivityHandler: app/bot/turns.py sends these two invokes here.

Everything a message says is user text: read as plain text (teams_import.plain, bounded),
put only in input values and TextRuns in the cards, escaped by Jinja on the page and
written as text in Word.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from flask import current_app
from microsoft_agents.hosting.core import TurnContext
from sqlalchemy import or_, select, update
from sqlalchemy.orm.exc import StaleDataError

from app import db
from app.auth.models import User
from app.bot import declare_card, live_cards, replies
from app.bot.commands import incident_here, person_of
from app.core import clock
from app.incidents import scribe
from app.incidents import service as incidents
from app.incidents.models import Incident, TimelineEntry
from app.incidents.rules import CLOSED, AlreadyDeclared, RuleError
from app.m365 import teams_import
from app.m365.cards import card, open_url, rich, run
from app.m365.models import ChannelMessageCopy
from app.teams_app import manifest

FETCH, SUBMIT = "composeExtension/fetchTask", "composeExtension/submitAction"
INVOKES = (FETCH, SUBMIT)
ADD_TO_TIMELINE = manifest.ADD_TO_TIMELINE.id  # the manifest's command ids
DECLARE = manifest.DECLARE_FROM_MESSAGE.id
CARD = "application/vnd.microsoft.card.adaptive"
SOURCE_KEY = "teams_message"  # TimelineEntry.data key of where the entry came from
HTML_MAX = 100_000  # characters of a message's HTML read (Teams caps a message at ~28 KB)
ID_MAX = 100  # ChannelMessageCopy.message_id's length
SENDER_MAX = 200
URL_MAX = 1000
CHOICES_MAX = 25  # incidents offered in the chooser (most recent first)
SCAN_MAX = 100  # open incidents looked at to find them (security ones may be hidden)
CHOICE_TITLE_MAX = 120
SKEW = timedelta(minutes=2)
TIMELINE_TITLE = manifest.ADD_TO_TIMELINE.title
DECLARE_TITLE = "Declare an incident"
NO_MESSAGE = ("Teams did not say which message this is. Close this and choose the action "
              "from the message's More actions menu again.")
UNKNOWN_COMMAND = ("Incident Desk does not know this action. Ask your Teams administrator "
                   "to update the Incident Desk app, or use Incident Desk's website.")
AT_THE_SAME_MOMENT = ("Someone else changed this incident at the same moment. Press the "
                      "button again.")
CLOSED_HINT = " Choose an incident that is still open."
CUT_SHORT = (f"The message is longer than {teams_import.TEXT_MAX:,} characters: only its "
             "start is here, as on the import page. Edit it down, or add the rest on the "
             "incident page.")
log = logging.getLogger(__name__)


# ---- the message ------------------------------------------------------------------------


@dataclass(frozen=True)
class Message:
    """The message a command was chosen on, as far as Teams said, bounded: never more
    than the fields below leave this module."""

    message_id: str
    reply_to_id: str | None
    sender: str
    sender_id: str
    sent_at: datetime | None
    web_url: str
    text: str  # plain text, at most teams_import.TEXT_MAX characters
    cut: bool  # the text was longer and is cut short

    def source(self) -> dict:
        """What the timeline entry keeps of it (JSON)."""
        return {"message_id": self.message_id, "reply_to_id": self.reply_to_id,
                "sender": self.sender, "sender_id": self.sender_id,
                "sent_at": self.sent_at.isoformat() if self.sent_at else None,
                "web_url": self.web_url}


def _short(value, limit: int) -> str:
    """A string field Teams sent, with no control characters, or "" if it is too long
    or not a string (an id cut short would name another message)."""
    if not isinstance(value, str) or len(value) > limit:
        return ""
    return value if value.isprintable() else ""


def _link(value) -> str:
    """linkToMessage, kept only as an https address: it becomes a link on the page and in
    Word (the Playground sends "")."""
    url = _short(value, URL_MAX).strip()
    parts = urlsplit(url) if url else None
    if not parts or parts.scheme != "https" or not parts.netloc or " " in url:
        return ""
    return url


def _when(value) -> datetime | None:
    """createdDateTime (UTC, ISO 8601), never later than now."""
    if not isinstance(value, str) or len(value) > 40:
        return None
    try:
        when = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    if when.tzinfo is None:
        return None
    now = clock.now()
    return now if when > now + SKEW else when.astimezone(now.tzinfo)


def _plain(body) -> tuple[str, bool]:
    """The body as plain text (Teams sends HTML) and whether it was cut short."""
    if not isinstance(body, dict) or not isinstance(body.get("content"), str):
        return "", False
    content = body["content"][:HTML_MAX]
    if str(body.get("contentType", "html")).lower() == "text":
        lines = [" ".join(line.split()) for line in content.splitlines()]
        text = "\n".join(line for line in lines if line).strip()
    else:
        text = teams_import.plain(content)  # cut at TEXT_MAX
    cut = len(body["content"]) > HTML_MAX or len(text) >= teams_import.TEXT_MAX
    return text[:teams_import.TEXT_MAX], cut


def message_of(payload) -> Message | None:
    """messagePayload as Teams sends it with a command chosen on a message; None if it
    does not name one."""
    if not isinstance(payload, dict):
        return None
    message_id = _short(payload.get("id"), ID_MAX)
    if not message_id:
        return None
    sender = payload.get("from") if isinstance(payload.get("from"), dict) else {}
    who = sender.get("user") or sender.get("application") or {}
    who = who if isinstance(who, dict) else {}
    text, cut = _plain(payload.get("body"))
    return Message(message_id=message_id,
                   reply_to_id=_short(payload.get("replyToId"), ID_MAX) or None,
                   sender=" ".join(_short(who.get("displayName"), 1000).split())[:SENDER_MAX]
                   or "Someone",
                   sender_id=_short(who.get("id"), ID_MAX),
                   sent_at=_when(payload.get("createdDateTime")),
                   web_url=_link(payload.get("linkToMessage")), text=text, cut=cut)


# ---- answers ----------------------------------------------------------------------------


def dialog(title: str, content: dict) -> dict:
    """A task/continue response: a dialog showing `content`."""
    return {"task": {"type": "continue", "value": {
        "title": title, "width": "medium", "height": "large",
        "card": {"contentType": CARD, "content": content}}}}


def text_answer(text: str) -> dict:
    """A task/message response: Teams shows the line in the dialog."""
    return {"task": {"type": "message", "value": text[:500]}}


def _ext(name: str):
    return current_app.extensions[name]


def _local(when: datetime) -> str:
    local = when.astimezone(_ext("installation").timezone)
    return f"{local.strftime('%-d %b %Y %H:%M')} {local.tzname()}"


def _from_line(message: Message) -> dict:
    said = f"From {message.sender}'s message in Teams"  # one run: a run is trimmed
    if message.sent_at:
        said += f", {_local(message.sent_at)}"
    return rich(run(said, isSubtle=True), spacing="Small")


def _sign_in() -> dict:
    return dialog("Sign in to Incident Desk", replies.notice(
        declare_card.SIGN_IN_FIRST, url=declare_card.sign_in_url(_ext("installation")),
        link_text="Sign in to Incident Desk"))


async def answer(turn_context: TurnContext) -> tuple[int, dict]:
    """The invoke response (status, body) to a fetchTask or submitAction."""
    activity = turn_context.activity
    value = activity.value
    if not isinstance(value, dict):
        return 400, text_answer("The request from Teams is malformed.")
    command = value.get("commandId")
    if command not in (ADD_TO_TIMELINE, DECLARE):
        return 200, text_answer(UNKNOWN_COMMAND)
    message = message_of(value.get("messagePayload"))
    if message is None:
        return 200, text_answer(NO_MESSAGE)
    person = person_of(activity)
    if person is None:
        return 200, _sign_in()
    data = value.get("data") if isinstance(value.get("data"), dict) else {}
    try:
        if activity.name == FETCH:
            if command == ADD_TO_TIMELINE:
                return 200, dialog(TIMELINE_TITLE, timeline_form(activity, person, message))
            return 200, dialog(DECLARE_TITLE, declare_form(message))
        if command == ADD_TO_TIMELINE:
            return 200, add_to_timeline(activity, person, message, data)
        return 200, declare(person, message, data)
    except Exception:  # the dialog says so; logged in full
        db.Session.rollback()
        log.exception("bot: the message action %r failed", command)
        return 200, text_answer("Incident Desk could not do that. Please try again, or use "
                                "Incident Desk's website.")


# ---- add to the timeline ----------------------------------------------------------------


def _offered(activity, person: User) -> tuple[list[Incident], Incident | None]:
    """Incidents this person may add to (not closed, visible to them), the channel's own
    first, then the newest; and the channel's own incident, whatever its status."""
    here = incident_here(activity, person)
    rows = db.Session.scalars(select(Incident).where(Incident.status != CLOSED).order_by(
        Incident.declared_at.desc(), Incident.id.desc()).limit(SCAN_MAX)).all()
    offered = [i for i in rows if incidents.can_view(person, i)]
    if here is not None and not here.is_closed:
        offered = [here] + [i for i in offered if i.id != here.id]
    return offered[:CHOICES_MAX], here


def timeline_form(activity, person: User, message: Message, *, values: dict | None = None,
                  error: str | None = None) -> dict:
    """The dialog's card: which incident, what kind of entry, the words (the message's,
    to edit); `values` what was sent before, `error` why it was not added."""
    offered, here = _offered(activity, person)
    values = values or {}
    body = [rich(run("Add to the incident timeline", weight="Bolder", size="Medium"))]
    if error:
        body.append(rich(run(error, weight="Bolder", color="attention")))
    body.append(_from_line(message))
    if here is not None and here.is_closed:
        body.append(rich(run(f"This channel's incident, {here.reference}, is closed: its "
                             "timeline can no longer change.", isSubtle=True)))
    if not offered:
        body.append(rich(run("There are no open incidents you can add to. Declare one, or "
                             "open Incident Desk.")))
        return card(body, [open_url("Open Incident Desk",
                                    _ext("installation").app_base_url)])
    chosen = _short(values.get("incident_id"), 12)
    if chosen not in {str(i.id) for i in offered}:
        chosen = str(offered[0].id)
    kind = values.get("entry_type") if values.get("entry_type") in scribe.ENTRY_TYPES \
        else "event"
    text = values["text"] if isinstance(values.get("text"), str) else message.text
    body += [
        {"type": "Input.ChoiceSet", "id": "incident_id", "label": "Incident",
         "isRequired": True, "errorMessage": "Choose an incident.", "style": "compact",
         "value": chosen, "choices": [
             {"title": f"{i.reference}: {i.title}"[:CHOICE_TITLE_MAX], "value": str(i.id)}
             for i in offered]},
        {"type": "Input.ChoiceSet", "id": "entry_type", "label": "What kind of entry?",
         "isRequired": True, "errorMessage": "Choose what kind of entry this is.",
         "style": "expanded", "value": kind,
         "choices": [{"title": label, "value": key}
                     for key, label in scribe.ENTRY_TYPES.items()]},
        {"type": "Input.Text", "id": "text", "label": "Add to the log", "isMultiline": True,
         "isRequired": True, "errorMessage": "Enter what happened.",
         "maxLength": scribe.TEXT_MAX, "value": text[:scribe.TEXT_MAX]},
    ]
    if message.cut and "text" not in values:
        body.append(rich(run(CUT_SHORT, isSubtle=True), spacing="Small"))
    body.append(rich(run("It goes on the timeline at the time the message was posted, with "
                         "who wrote it and a link back to it.", isSubtle=True),
                     spacing="Small"))
    return card(body, [{"type": "Action.Submit", "title": "Add to the timeline",
                        "style": "positive", "data": {"form": ADD_TO_TIMELINE}}])


def _input(data: dict, name: str, limit: int) -> str:
    """An input's text cut one past its limit (so the rule that refuses it still can)."""
    value = data.get(name)
    return value[:limit + 1] if isinstance(value, str) else ""


def already_added(incident: Incident, message_id: str) -> bool:
    """Whether this message is on the incident's timeline, from here or the import page."""
    return db.Session.scalar(select(TimelineEntry.id).where(
        TimelineEntry.incident_id == incident.id,
        or_(TimelineEntry.data[(SOURCE_KEY, "message_id")].as_string() == message_id,
            (TimelineEntry.kind == "teams_message")
            & (TimelineEntry.data["message_id"].as_string() == message_id))).limit(1)) \
        is not None


def add_to_timeline(activity, person: User, message: Message, data: dict) -> dict:
    """The entry added as this person, at the message's time, keeping where it came from;
    or the form again with what to do."""
    values = {"incident_id": data.get("incident_id"),
              "entry_type": _input(data, "entry_type", 20),
              "text": _input(data, "text", scribe.TEXT_MAX)}

    def again(error: str) -> dict:
        db.Session.rollback()
        return dialog(TIMELINE_TITLE, timeline_form(activity, person, message, values=values,
                                                    error=error))

    incident_id = live_cards._int(data.get("incident_id"))
    incident = db.Session.get(Incident, incident_id) if incident_id else None
    if incident is None or not incidents.can_view(person, incident):
        return again(live_cards.NOT_AVAILABLE + " Choose another incident.")
    if already_added(incident, message.message_id):
        return again(f"This message is on {incident.reference}'s timeline already.")
    try:
        entry = scribe.add_entry(db.Session, person, incident, effects=_ext("effects"),
                                 text=values["text"], entry_type=values["entry_type"],
                                 occurred_at=message.sent_at,
                                 data={SOURCE_KEY: message.source()})
    except RuleError as refusal:
        return again(refusal.message + (CLOSED_HINT if incident.is_closed else ""))
    except StaleDataError:
        return again(AT_THE_SAME_MOMENT)
    # The import page offers a message it read until it is on the timeline.
    db.Session.execute(update(ChannelMessageCopy).where(
        ChannelMessageCopy.incident_id == incident.id,
        ChannelMessageCopy.message_id == message.message_id,
        ChannelMessageCopy.timeline_entry_id.is_(None)).values(timeline_entry_id=entry.id)
        .execution_options(synchronize_session=False))
    db.Session.commit()
    url = _ext("installation").incident_url(incident.reference)
    kind = scribe.ENTRY_TYPES[entry.entry_type].lower()
    return dialog(TIMELINE_TITLE, card(
        [rich(run(f"Added to the {incident.reference} timeline as {kind}.", weight="Bolder",
                  color="good")),
         rich(run(entry.text), spacing="Small"), _from_line(message)],
        [open_url("Open the timeline", f"{url}#entry-{entry.id}")]))


# ---- declare ----------------------------------------------------------------------------


def prefilled(message: Message) -> tuple[dict, str | None]:
    """The declare form's values from the message (title its first line, description its
    text), and what to say if the title had to be cut short."""
    lines = message.text.splitlines()
    first = " ".join(lines[0].split()) if lines else ""
    title = first[:declare_card.TITLE_MAX].rstrip()
    lead = None
    if len(first) > declare_card.TITLE_MAX:
        lead = (f"The title is the message's first line, cut to {declare_card.TITLE_MAX} "
                "characters: shorten it if you can.")
    return {"title": title, "description": message.text[:declare_card.DESCRIPTION_MAX]}, lead


def _as_dialog_form(content: dict) -> dict:
    """declare_card's form with its button an Action.Submit, the dialog's submit (its
    Action.Execute is for a card in a conversation)."""
    key = content["actions"][0]["data"][declare_card.KEY]  # the same form declares once
    return {**content, "actions": [{"type": "Action.Submit", "title": "Declare incident",
                                    "style": "positive",
                                    "data": {"form": DECLARE, declare_card.KEY: key}}]}


def declare_form(message: Message, *, values: dict | None = None,
                 errors: dict[str, str] | None = None) -> dict:
    lead = None
    if values is None:
        values, lead = prefilled(message)
    return _as_dialog_form(declare_card.declare_card(_ext("org"), values=values,
                                                     errors=errors, lead=lead))


def declare(person: User, message: Message, data: dict) -> dict:
    """Declared as this person (the incident lead, as on the web), or the form again
    with what to fix."""
    org = _ext("org")
    values = {name: data.get(name)
              for name in (*declare_card.FIELDS, "is_security", declare_card.KEY)}
    fields, errors = declare_card.check(org, data)
    if not errors:
        try:
            incident = incidents.declare(db.Session, org, person, effects=_ext("effects"),
                                         declare_key=declare_card.key_of(data), **fields)
        except AlreadyDeclared as done:
            return dialog(DECLARE_TITLE, declare_card.declared_already(
                org, _ext("installation"), person, done.incident, used="form"))
        except RuleError as error:
            db.Session.rollback()
            errors[error.field if error.field in declare_card.FIELDS else "form"] = \
                error.message
        except StaleDataError:
            db.Session.rollback()
            errors["form"] = "Incident Desk was busy: press Declare incident again."
        else:
            _first_entry(person, incident, message)
            url = _ext("installation").incident_url(incident.reference)
            return dialog(DECLARE_TITLE, replies.incident_card(
                org, incident, url, heading=f"{incident.reference} declared. You are the "
                                            "incident lead until you hand over."))
    return dialog(DECLARE_TITLE, declare_form(message, values=values, errors=errors))


def _first_entry(person: User, incident: Incident, message: Message) -> None:
    """The message the incident was declared from starts its timeline, as an event at the
    message's time with its author and link, as "Add to incident timeline" would keep it.
    The incident is declared whatever happens here: a refusal is logged, not shown."""
    if not message.text.strip():
        return
    try:
        scribe.add_entry(db.Session, person, incident, effects=_ext("effects"),
                         text=message.text[:scribe.TEXT_MAX], entry_type="event",
                         occurred_at=message.sent_at, data={SOURCE_KEY: message.source()})
    except (RuleError, StaleDataError):
        db.Session.rollback()
        log.warning("bot: %s declared, but its message could not start the timeline",
                    incident.reference, exc_info=True)
