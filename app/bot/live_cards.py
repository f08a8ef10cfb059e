"""Cards the bot posts are live: Action.Execute buttons and a `refresh` that asks the
bot for the incident as it is now, per person (Universal Actions,
https://learn.microsoft.com/microsoftteams/platform/task-modules-and-cards/cards/universal-actions-for-adaptive-cards/overview).
The delegated Graph path posts the same card without these: Teams sends a card's
Action.Execute to the bot that posted it, so only the bot's cards can have them.

The card everyone sees (`actionable`) has no buttons that change anything; a person's
refresh (`live_view`) rebuilds it from the database on the app/m365/cards.py builders and
adds only the actions that person may take, by the web's rules (card_actions.py carries
them out through the same service functions, so a stale button is refused there too).

`refresh.userIds` are Teams user ids (`29:…` MRIs), at most 60: the incident's people
whose id the bot has learnt from something they sent it (app/bot/teams_people.py). They
get automatic refreshes with their own actions wherever a channel is too big for
everyone to; everyone else reads the shared card, which is brought up to date after
every change (app/bot/card_updates.py) and has a "Show what I can do" button.
"""

from __future__ import annotations

import re

from sqlalchemy import select, union
from sqlalchemy.orm import Session

from app.auth.models import User
from app.bot import update_form
from app.core.org import OrgSettings
from app.incidents.models import Incident, Participant, StatusUpdate, TimelineEntry
from app.incidents.rules import STATUS_BY_KEY, next_statuses
from app.incidents.scribe import ENTRY_TYPES, TEXT_MAX
from app.incidents.service import can_view
from app.m365 import cards, plans
from app.people.models import ACCEPTED, CANCELLED, DECLINED, PENDING, RoleHandover
from app.reminders.digest import LINKS
from app.reminders.models import SentReminder
from app.reminders.service import SNOOZE_CHOICES, TITLES
from app.updates.phrasing import PHASE_LABELS

REFRESH = "refresh"
MAX_REFRESH_USERS = 60  # Teams' limit on refresh.userIds
MAX_MRI = 200
MAX_KEY = 300
NOTE_MAX = 2000  # a status note or a decline reason, as the web's forms allow
WHEN_MAX = 20
KICKOFF, UPDATE, ANNOUNCEMENT, HANDOVER, REMINDERS = (
    "kickoff", "update", "announcement", "handover", "reminders")
LIVE_KINDS = (KICKOFF, UPDATE, ANNOUNCEMENT, HANDOVER, REMINDERS)
STATIC = "notice"  # a card with no live view: what it says stays as it was posted
# The kinds whose refresh offers the incident's actions (an announcement is read by the
# whole organisation in the broadcast channel: it stays a notice).
WORKING_KINDS = (KICKOFF, UPDATE, HANDOVER, REMINDERS)
_UPDATE_KEY = re.compile(r"/update/(\d+)(?:/|$)")
_HANDOVER_KEY = re.compile(r"/handover/(\d+)(?:/teams)?$")
_REMINDERS_KEY = re.compile(r"^(.+/reminders/\d+)(?:/teams)?$")
SIGN_IN_FIRST = ("Incident Desk doesn't know you yet: sign in to Incident Desk once, then "
                 "come back to this card.")
NOT_AVAILABLE = "This incident isn't available to you in Incident Desk."
STATIC_REFRESH = "This notice doesn't change. Open the incident for how things stand now."


# ---- the card everyone sees --------------------------------------------------------------


def refresh_data(kind: str, incident_id: int, key: str, context: dict | None = None) -> dict:
    """What a card's refresh and buttons carry back: which card this is, bounded."""
    data = {"incident_id": int(incident_id), "kind": kind, "delivery_key": str(key)[:MAX_KEY]}
    context = dict(context or {})
    if isinstance(context.get("card_context"), dict):  # a notice's payload, as queued
        context = {**context.pop("card_context"), **context}
    data["kind"] = context.pop("card_kind", kind)
    if data["kind"] in ("notice", HANDOVER, REMINDERS):  # its delivery key says which
        found_kind, found = _notice_kind(data["delivery_key"])
        context = {**found, **context}
        if data["kind"] == "notice":
            data["kind"] = found_kind
    if data["kind"] == UPDATE and "update_id" not in context:
        match = _UPDATE_KEY.search(data["delivery_key"])
        if match:
            context["update_id"] = int(match[1])
    for name in ("update_id", "handover_id"):
        if _int(context.get(name)) is not None:
            data[name] = _int(context[name])
    if isinstance(context.get("notice_key"), str):
        data["notice_key"] = context["notice_key"][:MAX_KEY]
    return data


def actionable(session: Session, card: dict, *, kind: str, incident_id: int, key: str,
               context: dict | None = None) -> dict:
    """`card` as the bot posts it: with a refresh that fetches the live view, and a button
    for anyone Teams did not refresh automatically. `kind` names the card (kickoff,
    update, announcement, handover, reminders; "notice" is told apart by its delivery
    `key`), `key` is its delivery's key, which also lets a repeated send be recognised in
    the channel (app/bot/outbound.py finds it at refresh.action.data.key); `context` adds
    what the card is about (update_id, handover_id, notice_key). A notice with no live
    view keeps its words: its refresh names no one (`userIds: []`, so Teams never
    refreshes it by itself) and a manual refresh is answered with a message."""
    data = refresh_data(kind, incident_id, key, context)
    if data["kind"] not in LIVE_KINDS:
        live = dict(card)
        live["refresh"] = {"action": {"type": "Action.Execute", "verb": REFRESH,
                                      "title": "Refresh", "data": {**data, "kind": STATIC}},
                           "userIds": []}
        return live
    incident = session.get(Incident, incident_id)
    return _with_refresh(dict(card), data,
                         mris=refresh_users(session, incident) if incident else {})


def _with_refresh(card: dict, data: dict, mris: dict[str, str], *, button: bool = True
                  ) -> dict:
    refresh_action = {"type": "Action.Execute", "verb": REFRESH, "title": "Refresh",
                      "data": dict(data)}
    refresh = {"action": refresh_action}
    if mris:
        refresh["userIds"] = list(mris.values())[:MAX_REFRESH_USERS]
    card["refresh"] = refresh
    if button and data["kind"] in WORKING_KINDS:
        card["actions"] = [*card.get("actions", []), {
            "type": "Action.Execute", "verb": REFRESH, "title": "Show what I can do",
            "data": dict(refresh_action["data"])}]
    return card


def refresh_users(session: Session, incident: Incident) -> dict[str, str]:
    """{user id: Teams user id} of the incident's people whose Teams id is known, at
    most 60 (Teams' limit), the people holding roles first. One query: every card press
    asks (bench/bench_card_actions.py)."""
    holders = {a.user_id for a in incident.roles if a.released_at is None}
    people = people_query(incident, holders)
    rows = session.execute(select(User.id, User.teams_user_id).where(
        User.id.in_(people), User.teams_user_id.is_not(None))).all()
    rows.sort(key=lambda row: (row[0] not in holders, row[0]))
    return {str(uid): mri for uid, mri in rows[:MAX_REFRESH_USERS]}


def people_query(incident: Incident, holders: set[int]):
    """Who the incident's cards refresh for, as a subquery of user ids: its declarer,
    role holders (`holders`, loaded with the incident), participants and the people
    offered a role."""
    known = [*holders, *([incident.declared_by_id] if incident.declared_by_id else [])]
    return union(
        select(Participant.user_id).where(Participant.incident_id == incident.id),
        select(RoleHandover.to_user_id).where(RoleHandover.incident_id == incident.id,
                                              RoleHandover.status == PENDING),
        select(User.id).where(User.id.in_(known or [-1])),
    )


# ---- a person's view -----------------------------------------------------------------------


def sign_in_card(url: str) -> dict:
    return cards.card([cards.rich(cards.run(SIGN_IN_FIRST, weight="Bolder"))],
                      [cards.open_url("Sign in to Incident Desk", url)])


def not_available_card() -> dict:
    return cards.card([cards.rich(cards.run(NOT_AVAILABLE))])


def live_view(session: Session, org: OrgSettings, installation, person: User, data: dict,
              *, mris: dict[str, str] | None = None, notice: str | None = None) -> dict:
    """The card as `person` should see it now: the incident's current facts and the
    actions they may take. `notice` is a line at the top saying what just happened."""
    incident = session.get(Incident, _int(data.get("incident_id")) or 0)
    if incident is None or not can_view(person, incident):
        return not_available_card()
    card = view_for_everyone(session, org, installation, incident, data)
    if notice:
        card["body"].insert(0, cards.rich(cards.run(notice, weight="Bolder", color="good")))
    if data.get("kind") in WORKING_KINDS:
        card["body"] += _actions_for(session, org, person, incident, data)
    return _with_refresh(card, data, mris or {}, button=False)


def view_for_everyone(session: Session, org: OrgSettings, installation, incident: Incident,
                      data: dict) -> dict:
    """The card with the incident as it is now and no one's actions: what the posted
    message is updated to after a change, so it is right for whoever reads it."""
    facts = plans.card_facts(org, incident)
    url = installation.incident_url(incident.reference)
    kind = data.get("kind")
    if kind == UPDATE:
        card = _update_card(session, incident, facts, url, data)
    elif kind == ANNOUNCEMENT:
        card = cards.announcement(facts, url)
    elif kind == HANDOVER:
        card = _handover_card(session, org, incident, url, data)
    elif kind == REMINDERS:
        card = _reminders_card(session, incident, url, data)
    else:
        card = cards.kickoff(facts, url)
    if kind != KICKOFF:
        card["body"].append(cards.fact("Now", facts["status_label"]))
    return card


def refreshed_for_everyone(session: Session, org: OrgSettings, installation,
                           incident: Incident, data: dict, mris: dict[str, str]) -> dict:
    card = view_for_everyone(session, org, installation, incident, data)
    return _with_refresh(card, data, mris)


def _update_card(session, incident, facts, url, data) -> dict:
    update = session.get(StatusUpdate, _int(data.get("update_id")) or 0)
    if update is None or update.incident_id != incident.id:
        return cards.kickoff(facts, url)
    entry_id = next((e.id for e in session.scalars(
        select(TimelineEntry).where(TimelineEntry.incident_id == incident.id,
                                    TimelineEntry.kind == "status_update")
        .order_by(TimelineEntry.id.desc()).limit(200))
        if (e.data or {}).get("update_id") == update.id), None)
    full = f"{url}?timeline=all#entry-{entry_id}" if entry_id else url
    author = update.author.name if update.author else "Incident Desk"
    return cards.update(facts, PHASE_LABELS.get(update.phase, update.phase), update.message,
                        author, url, full_url=full)


_SETTLED = {ACCEPTED: "{to} took over as {label}",
            DECLINED: "{to} declined to take over as {label}",
            CANCELLED: "The hand-over of {label} to {to} was withdrawn"}


def _handover_card(session, org, incident, url, data) -> dict:
    handover = session.get(RoleHandover, _int(data.get("handover_id")) or 0)
    if handover is None or handover.incident_id != incident.id:
        return cards.kickoff(plans.card_facts(org, incident), url)
    role = org.role(handover.role)
    label = role.label.lower() if role else handover.role
    holder = handover.from_user.name if handover.from_user else "The current holder"
    to = handover.to_user.name
    if handover.status == PENDING:
        heading = f"{to}: please take over as {label}"
        state = f"{holder} keeps the role until {to} accepts."
    else:  # settled: what came of it, and who holds the role now (it may have moved on)
        heading = _SETTLED.get(handover.status, "The hand-over of {label} to {to} was {status}"
                               ).format(label=label, to=to, status=handover.status)
        now = incident.current_roles().get(handover.role)
        state = f"{now.user.name} is {label} now." if now else f"Nobody is {label} now."
    body = [cards.rich(cards.run(heading, weight="Bolder")),
            cards.rich(cards.run(f"{incident.reference}: {incident.title}"), spacing="Small"),
            cards.rich(cards.run(state), spacing="Small")]
    return cards.card(body, [cards.open_url("Open in Incident Desk", url)])


def _reminders_card(session, incident, url, data) -> dict:
    rows = _reminder_rows(session, incident, data)
    heading = (TITLES.get(rows[0].kind, "Reminder") if len(rows) == 1
               else f"{len(rows)} reminders about {incident.reference}")
    body = [cards.rich(cards.run(heading, weight="Bolder"))]
    if rows and rows[0].to:
        body.append(cards.rich(cards.run(f"For {rows[0].to}", isSubtle=True), spacing="None"))
    for row in rows:
        if len(rows) > 1:
            body.append(cards.rich(cards.run(TITLES.get(row.kind, row.kind), weight="Bolder"),
                                   spacing="Medium", separator=True))
        body.append(cards.rich(cards.run(row.text), spacing="Small"))
        if row.kind in LINKS:  # where on the incident it is acted on, as the notice had
            text, path = LINKS[row.kind]
            body.append({"type": "ActionSet", "spacing": "Small",
                         "actions": [cards.open_url(text, url + path)]})
    return cards.card(body, [cards.open_url("Open the incident", url)])


def _reminder_rows(session, incident, data) -> list[SentReminder]:
    key = data.get("notice_key") or ""
    return list(session.scalars(select(SentReminder).where(
        SentReminder.incident_id == incident.id, SentReminder.notice_key == key)
        .order_by(SentReminder.due_at, SentReminder.id).limit(20)))


# ---- what this person may do ------------------------------------------------------------------


def _actions_for(session, org, person, incident, data) -> list[dict]:
    """Elements with the actions `person` may take on this incident now."""
    base = {k: data[k] for k in ("incident_id", "kind", "delivery_key", "update_id", "handover_id",
                                 "notice_key") if k in data}
    found: list[dict] = []
    if data.get("kind") == HANDOVER:
        found += _handover_actions(session, person, incident, data, base)
    if incident.is_closed:
        return [*found, cards.rich(cards.run("This incident is closed: nothing more can be "
                                             "changed here.", isSubtle=True))]
    if data.get("kind") == REMINDERS:
        found += _snooze_actions(session, incident, data, base)
    actions = [_take_role(org, person, incident, base), _change_status(incident, base),
               update_form.open_button(base), _add_entry(base)]
    found.append({"type": "ActionSet", "separator": True, "spacing": "Medium",
                  "actions": [a for a in actions if a]})
    return found


def _execute(title: str, verb: str, data: dict, **extra) -> dict:
    return {"type": "Action.Execute", "title": title, "verb": verb, "data": dict(data),
            **extra}


def _show(title: str, body: list[dict]) -> dict:
    return {"type": "Action.ShowCard", "title": title,
            "card": {"type": "AdaptiveCard", "body": body}}


def _choices(pairs) -> list[dict]:
    return [{"title": title, "value": value} for value, title in pairs]


def _take_role(org, person, incident, base) -> dict | None:
    held = {key for key, a in incident.current_roles().items() if a.user_id == person.id}
    roles = [(r.key, r.label) for r in org.roles if r.key not in held]
    if not roles:
        return None
    return _show("Take a role", [
        {"type": "Input.ChoiceSet", "id": "role", "label": "Role", "isRequired": True,
         "errorMessage": "Choose a role.", "choices": _choices(roles), "value": roles[0][0]},
        {"type": "ActionSet", "actions": [_execute("Take this role", "take_role", base)]}])


def _change_status(incident, base) -> dict | None:
    statuses = [(s, STATUS_BY_KEY[s].label) for s in next_statuses(incident.status)]
    if not statuses:
        return None
    return _show("Change status", [
        {"type": "Input.ChoiceSet", "id": "status", "label": "New status", "isRequired": True,
         "errorMessage": "Choose a status.", "choices": _choices(statuses),
         "value": statuses[0][0]},
        {"type": "Input.Text", "id": "note", "label": "Note", "isMultiline": True,
         "maxLength": NOTE_MAX,
         "placeholder": "Resolving needs how it was resolved; reopening, why"},
        {"type": "ActionSet", "actions": [_execute("Change status", "change_status", base)]}])


def _add_entry(base) -> dict:
    return _show("Add to the log", [
        {"type": "Input.ChoiceSet", "id": "entry_type", "label": "Kind of entry",
         "choices": _choices(ENTRY_TYPES.items()), "value": "event"},
        {"type": "Input.Text", "id": "text", "label": "What happened", "isMultiline": True,
         "isRequired": True, "errorMessage": "Enter what happened.", "maxLength": TEXT_MAX},
        {"type": "Input.Text", "id": "when", "label": "When (optional, like 14:05)",
         "maxLength": WHEN_MAX},
        {"type": "ActionSet", "actions": [_execute("Add to the log", "add_entry", base)]}])


def _handover_actions(session, person, incident, data, base) -> list[dict]:
    handover = session.get(RoleHandover, _int(data.get("handover_id")) or 0)
    if handover is None or handover.incident_id != incident.id or handover.status != PENDING \
            or handover.to_user_id != person.id or incident.is_closed:
        return []
    return [{"type": "ActionSet", "spacing": "Medium", "actions": [
        _execute("Accept", "accept_handover", base, style="positive"),
        _show("Decline", [
            {"type": "Input.Text", "id": "reason", "label": "Why not? (optional)",
             "isMultiline": True, "maxLength": NOTE_MAX},
            {"type": "ActionSet", "actions": [_execute("Decline", "decline_handover", base,
                                                       style="destructive")]}])]}]


def _snooze_actions(session, incident, data, base) -> list[dict]:
    kinds = list(dict.fromkeys(row.kind for row in _reminder_rows(session, incident, data)))
    if not kinds:
        return []
    choices = _choices((str(m), f"{m} minutes" if m < 60 else
                        f"{m // 60} hour{'s' if m > 60 else ''}") for m in SNOOZE_CHOICES)
    return [{"type": "ActionSet", "spacing": "Medium", "actions": [
        _show(f"Snooze “{TITLES.get(kind, kind)}”", [
            {"type": "Input.ChoiceSet", "id": f"minutes_{kind}", "label": "Snooze for",
             "choices": choices, "value": str(SNOOZE_CHOICES[0])},
            {"type": "ActionSet", "actions": [
                _execute("Snooze", "snooze", {**base, "reminder": kind})]}])
        for kind in kinds[:5]]}]


def _int(value) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isdigit() and len(value) < 12:
        return int(value)
    return None


def _notice_kind(key: str) -> tuple[str, dict]:
    if match := _HANDOVER_KEY.search(key):
        return HANDOVER, {"handover_id": int(match[1])}
    if match := _REMINDERS_KEY.match(key):
        return REMINDERS, {"notice_key": match[1]}
    return "notice", {}
