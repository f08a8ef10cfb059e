"""What a press on a live card's button does: the `adaptiveCard/action` invoke, dispatched
by its Action.Execute verb through verbs.VERBS, and the verbs of the incident cards.

Each verb calls the same service function the web's form does, as the person pressing
(matched by Entra object id and tenant, commands.person_of), so the rules are the web's:
who may see a security incident, who may accept a hand-over, what a closed incident
allows, that resolving needs a note. The answer is the Universal Actions response body
(https://learn.microsoft.com/adaptive-cards/authoring-cards/universal-action-model#response-format):
on success the card as this person should now see it
(`application/vnd.microsoft.card.adaptive`); a rule the press broke, as a message Teams
shows them (`application/vnd.microsoft.activity.message`); a malformed invoke, an
`application/vnd.microsoft.error`. After a change, the posted message (the invoke's
replyToId) is brought up to date for everyone by the outbox (card_updates.py, debounced),
so nobody acts on a stale card and no press waits for the Bot Connector.

Teams gives an invoke five seconds, so each verb is one short transaction and the answer
needs nothing but the database (bench/bench_card_actions.py).
"""

from __future__ import annotations

import logging

from flask import current_app
from microsoft_agents.hosting.core import TurnContext
from sqlalchemy.orm.exc import StaleDataError

from app import db
from app.auth.models import User
from app.bot import card_updates, live_cards, update_form
from app.bot.commands import person_of
from app.bot.verbs import VERBS, verb
from app.incidents import scribe
from app.incidents import service as incidents
from app.incidents.models import Incident
from app.incidents.rules import STATUS_BY_KEY, RuleError
from app.people import service as people
from app.people.models import RoleHandover
from app.reminders import service as reminders
from app.reminders.schedule import KINDS as REMINDER_KINDS

CARD = "application/vnd.microsoft.card.adaptive"
MESSAGE = "application/vnd.microsoft.activity.message"
ERROR = "application/vnd.microsoft.error"
MAX_VERB = 60
AT_THE_SAME_MOMENT = ("Someone else changed this incident at the same moment. Refresh the "
                      "card and try again.")
log = logging.getLogger(__name__)


def card_response(card: dict) -> dict:
    return {"statusCode": 200, "type": CARD, "value": card}


def message_response(text: str) -> dict:
    return {"statusCode": 200, "type": MESSAGE, "value": text[:500]}


def error_response(status: int, code: str, text: str) -> dict:
    return {"statusCode": status, "type": ERROR, "value": {"code": code, "message": text}}


async def answer(turn_context: TurnContext) -> dict:
    """The body of the invoke response to an `adaptiveCard/action`."""
    value = turn_context.activity.value
    action = value.get("action") if isinstance(value, dict) else None
    if not isinstance(action, dict) or action.get("type") != "Action.Execute":
        return error_response(400, "BadRequest", "The invoke has no Action.Execute.")
    name, data = action.get("verb"), action.get("data")
    if not isinstance(name, str) or len(name) > MAX_VERB or not isinstance(data or {}, dict):
        return error_response(400, "BadRequest", "The action's verb or data is malformed.")
    handler = VERBS.get(name)
    if handler is None:
        return error_response(400, "NotSupported", "This button is not known to Incident "
                              "Desk any more: refresh the card.")
    person = person_of(turn_context.activity)
    if person is None:
        return card_response(_for_a_stranger(name, dict(data or {})))
    try:
        result = await handler(turn_context, person, dict(data or {}))
    except RuleError as refusal:
        db.Session.rollback()
        return message_response(refusal.message)
    except StaleDataError:
        db.Session.rollback()
        return message_response(AT_THE_SAME_MOMENT)
    except Exception:  # answered as the 500 Microsoft documents, and logged in full
        db.Session.rollback()
        log.exception("bot: the card action %r failed", name)
        return error_response(500, "InternalError", "Incident Desk could not do that. "
                              "Please try again, or use the incident page.")
    return _as_response(result)


def _for_a_stranger(name: str, data: dict) -> dict:
    """Someone Incident Desk doesn't know: ask them to sign in once. A refresh of an
    ordinary incident's card keeps showing it (they are in the channel it was posted
    in); a security incident's facts are never shown to someone unknown."""
    installation = _ext("installation")
    url = installation.app_base_url.rstrip("/") + "/sign-in"
    prompt = live_cards.sign_in_card(url)
    incident_id = live_cards._int(data.get("incident_id"))
    incident = db.Session.get(Incident, incident_id) if incident_id else None
    if name != live_cards.REFRESH or incident is None or incident.is_security:
        return prompt
    card = live_cards.refreshed_for_everyone(db.Session, _ext("org"), installation,
                                             incident, _card_data(data), {})
    card["body"] = prompt["body"] + card["body"]
    card["actions"] = [a for a in card.get("actions", [])
                       if a.get("verb") != live_cards.REFRESH] + prompt["actions"]
    return card


def _as_response(result) -> dict:
    """A handler's answer as a response body: a whole body, a card, or a message."""
    if isinstance(result, dict) and "statusCode" in result and "type" in result:
        return result
    if isinstance(result, dict) and result.get("type") == "AdaptiveCard":
        return card_response(result)
    if isinstance(result, str):
        return message_response(result)
    return error_response(500, "InternalError", "Incident Desk could not answer that.")


# ---- shared steps -----------------------------------------------------------------------


def _ext(name: str):
    return current_app.extensions[name]


def _incident(person: User, data: dict) -> Incident:
    """The card's incident if this person may see it; a security incident they may not
    see is refused exactly like a missing one."""
    incident_id = live_cards._int(data.get("incident_id"))
    incident = db.Session.get(Incident, incident_id) if incident_id else None
    if incident is None or not incidents.can_view(person, incident):
        raise RuleError(live_cards.NOT_AVAILABLE)
    return incident


def _card_data(data: dict) -> dict:
    """The card's own data (which card it is), without the inputs pressed with it."""
    kind = data.get("kind") if data.get("kind") in live_cards.LIVE_KINDS else live_cards.KICKOFF
    return live_cards.refresh_data(kind, live_cards._int(data.get("incident_id")) or 0,
                                   str(data.get("delivery_key") or "")[:live_cards.MAX_KEY],
                                   {k: data[k] for k in ("update_id", "handover_id",
                                                         "notice_key") if k in data})


def _text(data: dict, name: str, limit: int) -> str:
    """An input's text, refused when longer than the form allows."""
    value = data.get(name)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise RuleError("That field's value is malformed.", name)
    if len(value) > limit:
        raise RuleError(f"Keep it to {limit:,} characters.", name)
    return value


async def _after_change(turn: TurnContext, person: User, incident: Incident, data: dict,
                        notice: str, *, posted_is_live: bool = True) -> dict:
    """The person's refreshed card at once; the posted message is brought up to date
    for everyone by the outbox, once per burst of presses (card_updates.py), unless it
    is not a live card (`posted_is_live`: a command's reply stays as it was)."""
    card_data = _card_data(data)
    session, org, installation = db.Session, _ext("org"), _ext("installation")
    session.refresh(incident)
    mris = live_cards.refresh_users(session, incident)
    activity = turn.activity
    if posted_is_live and activity.reply_to_id and activity.conversation \
            and activity.service_url:
        card_updates.request_update(session, incident, conversation_id=activity.conversation.id,
                                    activity_id=activity.reply_to_id,
                                    service_url=activity.service_url, card_data=card_data)
    return card_response(live_cards.live_view(session, org, installation, person, card_data,
                                              mris=mris, notice=notice))


# ---- the verbs ------------------------------------------------------------------------------


@verb(live_cards.REFRESH)
async def refresh(turn: TurnContext, person: User, data: dict) -> dict:
    """The card as this person should see it now (a refresh, or "Show what I can do")."""
    if data.get("kind") == live_cards.STATIC:
        return message_response(live_cards.STATIC_REFRESH)
    incident_id = live_cards._int(data.get("incident_id"))
    incident = db.Session.get(Incident, incident_id) if incident_id else None
    if incident is None or not incidents.can_view(person, incident):
        return card_response(live_cards.not_available_card())
    mris = live_cards.refresh_users(db.Session, incident)
    return card_response(live_cards.live_view(db.Session, _ext("org"), _ext("installation"),
                                              person, _card_data(data), mris=mris))


@verb("take_role")
async def take_role(turn: TurnContext, person: User, data: dict) -> dict:
    """data: the card's, and `role` (a role key from the org's roles)."""
    incident = _incident(person, data)
    org = _ext("org")
    role = org.role(_text(data, "role", 40))
    if role is None:
        raise RuleError("Choose a role from the list.", "role")
    people.assign_or_offer(db.Session, org, _ext("effects"), person, incident, role.key,
                           person)
    return await _after_change(turn, person, incident, data,
                               f"You are now {role.label.lower()}.")


@verb("change_status")
async def change_status(turn: TurnContext, person: User, data: dict) -> dict:
    """data: the card's, `status` (a status key) and `note` (needed to resolve or reopen)."""
    incident = _incident(person, data)
    status = _text(data, "status", 20)
    note = _text(data, "note", live_cards.NOTE_MAX)
    incidents.change_status(db.Session, _ext("org"), _ext("effects"), person, incident,
                            status, note)
    return await _after_change(turn, person, incident, data,
                               f"Status is now {STATUS_BY_KEY[status].label.lower()}.")


@verb("add_entry")
async def add_entry(turn: TurnContext, person: User, data: dict) -> dict:
    """data: the card's, `entry_type` (event, discussion, decision, action, result),
    `text` and optional `when` (14:05, or 2026-11-29 23:40)."""
    incident = _incident(person, data)
    text = _text(data, "text", scribe.TEXT_MAX)
    entry_type = _text(data, "entry_type", 20) or "event"
    when = scribe.parse_when(_text(data, "when", live_cards.WHEN_MAX),
                             _ext("installation").timezone)
    scribe.add_entry(db.Session, person, incident, effects=_ext("effects"), text=text,
                     entry_type=entry_type, occurred_at=when)
    return await _after_change(turn, person, incident, data, "Added to the log.")


@verb("snooze")
async def snooze(turn: TurnContext, person: User, data: dict) -> dict:
    """data: the card's, `reminder` (a reminder kind) and `minutes_<kind>` (30, 60, 120)."""
    incident = _incident(person, data)
    kind = _text(data, "reminder", 20)
    minutes = live_cards._int(data.get(f"minutes_{kind}"))
    if kind not in REMINDER_KINDS or minutes not in reminders.SNOOZE_CHOICES:
        raise RuleError("Choose how long to snooze for.")
    until = reminders.snooze(db.Session, person, incident, kind, minutes)
    local = until.astimezone(_ext("installation").timezone).strftime("%H:%M")
    return await _after_change(turn, person, incident, data,
                               f"“{reminders.TITLES[kind]}” reminders are snoozed until "
                               f"{local}.")


def _handover(person: User, data: dict) -> tuple[Incident, RoleHandover]:
    incident = _incident(person, data)
    handover_id = live_cards._int(data.get("handover_id"))
    handover = db.Session.get(RoleHandover, handover_id) if handover_id else None
    if handover is None or handover.incident_id != incident.id:
        raise RuleError("This hand-over is not on this incident.")
    return incident, handover


@verb("accept_handover")
async def accept_handover(turn: TurnContext, person: User, data: dict) -> dict:
    """data: the card's, with `handover_id`. Only the person offered may accept."""
    incident, handover = _handover(person, data)
    org = _ext("org")
    people.accept(db.Session, org, _ext("effects"), person, handover)
    role = org.role(handover.role)
    return await _after_change(turn, person, incident, data,
                               f"You are now {role.label.lower() if role else handover.role}.")


@verb("decline_handover")
async def decline_handover(turn: TurnContext, person: User, data: dict) -> dict:
    """data: the card's, `handover_id` and optional `reason`."""
    incident, handover = _handover(person, data)
    reason = _text(data, "reason", live_cards.NOTE_MAX)
    people.decline(db.Session, _ext("org"), _ext("effects"), person, handover, reason)
    return await _after_change(turn, person, incident, data,
                               "You declined the hand-over; the person who asked has been "
                               "told.")


@verb(update_form.OPEN)
async def open_update_form(turn: TurnContext, person: User, data: dict) -> dict:
    """The update form in place of the card (update_form.py); with `template`, that
    phase's starting wording and the inputs sent with it."""
    incident = _incident(person, data)
    return card_response(update_form.opened(db.Session, _ext("org"), _ext("installation"),
                                            incident, data))


@verb(update_form.SEND)
async def send_update(turn: TurnContext, person: User, data: dict) -> dict:
    """data: the card's and the form's inputs. Posted as the web form posts it; a refusal
    shows the form again with the reason and what was typed."""
    incident = _incident(person, data)
    refused = update_form.send(db.Session, _ext("org"), _ext("effects"), _ext("installation"),
                               person, incident, data)
    if refused is not None:
        return card_response(refused)
    return await _after_change(turn, person, incident, data, update_form.SENT,
                               posted_is_live=not data.get(update_form.LAUNCHER))
