"""Send an update from Teams, in the card itself: the web form's fields, starting wordings
and recipients (app/web/updates), sent through the same app.updates.service.post_update.

A sequential workflow of Universal Actions, as Microsoft documents it for Teams and Outlook
(https://learn.microsoft.com/microsoftteams/platform/task-modules-and-cards/cards/
universal-actions-for-adaptive-cards/sequential-workflows): "Send an update" is an
Action.Execute (`OPEN`) answered with this form in place of the card; a starting wording is
`OPEN` again with `template`; "Send update" is `SEND` (card_actions.py), answered with the
refreshed card, or the form again with the reason and what was typed. Each answer replaces
the card for the person pressing only, so the form is theirs alone.

No dialog (task module): its Action.Submit with `msteams.type` task/fetch is Teams-only,
Outlook's actionable messages do not display an Action.Submit at all
(https://learn.microsoft.com/outlook/actionable-messages/adaptive-card#actionsubmit), and
Microsoft 365 Agents Playground cannot open one (docs/teams-playground.md).
"""

from __future__ import annotations

import re

from app.auth.models import User
from app.contacts.service import recipients_for
from app.incidents.models import Incident
from app.incidents.rules import RuleError
from app.m365 import cards
from app.updates import phrasing
from app.updates import templates as saved
from app.updates.service import MAX_MESSAGE, post_update

OPEN, SEND, BACK = "update_form", "send_update", "refresh"
TITLE_MAX = 200
# The card stays within Teams' 28 KB for a message even with every input full: a longer
# list of addresses, or more contacts, is sent from the web form.
EXTRA_MAX = 4_000  # characters of "also email" addresses (about a hundred)
MAX_CONTACT_CHOICES = 40
CHOICE_TITLE_MAX = 120
MAX_REQUIRED_NAMES = 30
MAX_TEMPLATE_BUTTONS = 12  # saved templates offered as buttons; the web form offers all
LAUNCHER = "launcher"  # data flag: opened from the `update` command's reply, not a live card
SENT = "Update sent. You can follow its delivery on the incident page, under Microsoft 365."
CLOSED = "A closed incident cannot take new updates."


def open_button(card_data: dict, title: str = "Send an update") -> dict:
    """The Action.Execute that shows the form in place of the card it is on."""
    return {"type": "Action.Execute", "title": title, "verb": OPEN, "data": dict(card_data),
            "associatedInputs": "none"}


def launcher_card(incident: Incident, card_data: dict) -> dict:
    """A small card whose button shows the form, e.g. the reply to `update`."""
    return cards.card([cards.rich(cards.run(f"Send an update about {incident.reference}",
                                            weight="Bolder")),
                       cards.rich(cards.run(incident.title), spacing="Small")],
                      [open_button({**card_data, LAUNCHER: True})])


def opened(session, org, installation, incident: Incident, data: dict) -> dict:
    """The form as the web's starts: the incident's phase and its wording, the suggested
    contacts ticked, the channel ticked when Teams is set up; with `template` (a saved
    template's key, or a phase as on cards from before saved templates), the inputs sent
    with it kept and that wording in place of the message (app.updates.templates.starting,
    as the web form)."""
    if incident.is_closed:
        raise RuleError(CLOSED)
    recipients = recipients_for(session, org, incident)
    template = data.get("template")
    if isinstance(template, str) and template:
        start = saved.starting(session, org, installation, incident,
                               choice=template[:40], phase=template[:40])
        values = _values(data, recipients)
        values.update(phase=start.phase, message=start.message)
    else:
        start = saved.starting(session, org, installation, incident)
        values = {"phase": start.phase, "message": start.message,
                  "to_channel": installation.teams_enabled,
                  "public_title": incident.public_title or incident.title,
                  "contacts": [c.id for c in recipients.suggested], "publish": False,
                  "extra_recipients": ""}
    return form(incident, recipients, installation, values, data, offers=saved.offered(session))


def send(session, org, effects, installation, person: User, incident: Incident,
         data: dict) -> dict | None:
    """The update posted as `person` (None), or the form again with why it was not."""
    if incident.is_closed:
        raise RuleError(CLOSED)
    recipients = recipients_for(session, org, incident)
    values = _values(data, recipients)
    try:
        if len(values["extra_recipients"]) > EXTRA_MAX:
            raise RuleError(f"List at most {EXTRA_MAX:,} characters of addresses here; "
                            "send to more from the web form in Incident Desk.",
                            "extra_recipients")
        if len(values["public_title"]) > TITLE_MAX:
            raise RuleError("Keep the title to 200 characters.", "public_title")
        chosen = {c.id: c.email for c in recipients.suggested}
        emails = [c.email for c in recipients.required]
        emails += [chosen[i] for i in values["contacts"] if i in chosen]
        extra = [a.strip() for a in re.split(r"[\r\n,;]+", values["extra_recipients"])
                 if a.strip()]
        post_update(session, org, effects, person, incident, phase=values["phase"],
                    message=values["message"], to_channel=values["to_channel"],
                    recipients=emails + extra,
                    publish=values["publish"] and not incident.is_security,
                    public_title=values["public_title"] or None)
    except RuleError as error:
        session.rollback()
        return form(incident, recipients, installation, values, data, error.message,
                    offers=saved.offered(session))
    return None


def _text(data: dict, name: str, limit: int) -> str:
    value = data.get(name)
    return value[: limit + 1] if isinstance(value, str) else ""


def _flag(data: dict, name: str) -> bool:
    value = data.get(name)
    return value is True or (isinstance(value, str) and value.lower() == "true")


def _values(data: dict, recipients) -> dict:
    """The inputs sent, bounded: each string cut one past its limit (so the rule that
    refuses it still can), contacts only among those offered."""
    offered = {c.id for c in recipients.suggested}
    raw = data.get("contacts")
    ids = []
    for part in (raw.split(",")[:MAX_CONTACT_CHOICES * 2] if isinstance(raw, str) else []):
        if part.strip().isdigit() and len(part.strip()) < 12 and int(part) in offered:
            ids.append(int(part))
    phase = data.get("phase")
    return {"phase": phase if isinstance(phase, str) and phase in phrasing.PHASES else "",
            "message": _text(data, "message", MAX_MESSAGE),
            "to_channel": _flag(data, "to_channel"), "publish": _flag(data, "publish"),
            "public_title": _text(data, "public_title", TITLE_MAX).strip(),
            "contacts": ids, "extra_recipients": _text(data, "extra_recipients", EXTRA_MAX)}


def _card_part(data: dict) -> dict:
    """What the form's buttons carry back: which card it replaced, without the inputs."""
    keep = ("incident_id", "kind", "delivery_key", "update_id", "handover_id", "notice_key",
            LAUNCHER)
    return {k: data[k] for k in keep if k in data}


def _subtle(text: str, **options) -> dict:
    return cards.rich(cards.run(text, isSubtle=True, size="Small"),
                      **{"spacing": "None", **options})


def _heading(text: str) -> dict:
    return cards.rich(cards.run(text, weight="Bolder"), spacing="Medium", separator=True)


def _template_buttons(back: dict, offers: list | None) -> dict:
    """A button per saved template (the phases' own wordings when there are none); more
    than MAX_TEMPLATE_BUTTONS are chosen on the web form."""
    if offers:
        actions = [{"type": "Action.Execute", "title": o.label[:CHOICE_TITLE_MAX],
                    "verb": OPEN, "data": {**back, "template": o.key}}
                   for o in offers[:MAX_TEMPLATE_BUTTONS]]
    else:
        actions = [{"type": "Action.Execute", "title": label, "verb": OPEN,
                    "data": {**back, "template": phase}}
                   for phase, label in phrasing.PHASE_LABELS.items()]
    return {"type": "ActionSet", "spacing": "Small", "actions": actions}


def form(incident: Incident, recipients, installation, values: dict, data: dict,
         error: str | None = None, offers: list | None = None) -> dict:
    """The form's card, in the web form's order; user text only in TextRuns, input values
    and button titles (plain text), every input bounded as the web's is. `offers`: the
    saved templates (app.updates.templates.offered), one button each, as many as fit."""
    back = _card_part(data)
    body = [cards.rich(cards.run("Send an update", weight="Bolder", size="Medium")),
            cards.rich(cards.run(f"{incident.reference}: {incident.title}"), spacing="None")]
    if error:
        body.append(cards.rich(cards.run(error, weight="Bolder", color="attention")))
    body += [
        {"type": "Input.ChoiceSet", "id": "phase", "label": "What stage is the incident at?",
         "isRequired": True, "errorMessage": "Choose what stage the incident is at.",
         "style": "expanded", "value": values["phase"] or None,
         "choices": [{"title": phrasing.PHASE_LABELS[p], "value": p}
                     for p in phrasing.PHASES]},
        _subtle("Start from a template (replaces the text below):", spacing="Small"),
        _template_buttons(back, offers),
        {"type": "Input.Text", "id": "message", "label": "Update", "isMultiline": True,
         "maxLength": MAX_MESSAGE, "value": values["message"][:MAX_MESSAGE]},
        _subtle("Say what is happening, who is affected, what you are doing and when you "
                "will update next. Write for people outside the team."),
    ]
    if installation.teams_enabled:
        body.append({"type": "Input.Toggle", "id": "to_channel", "valueOn": "true",
                     "valueOff": "false", "title": "Post it in the incident's Teams channel",
                     "value": "true" if values["to_channel"] else "false"})
    else:
        body.append(_subtle("Microsoft Teams is not set up, so this goes by email only.",
                            spacing="Small"))
    body.append(_heading("Who gets it by email"))
    if recipients.required:
        names = ", ".join(p.name[:80] for p in recipients.required[:MAX_REQUIRED_NAMES])
        more = len(recipients.required) - MAX_REQUIRED_NAMES
        body.append(cards.rich(cards.run("Always emailed (the severity policy): ",
                                         weight="Bolder"),
                               cards.run(names + (f" and {more} more" if more > 0 else ""))))
    suggested = recipients.suggested[:MAX_CONTACT_CHOICES]
    if suggested:
        body.append({"type": "Input.ChoiceSet", "id": "contacts", "isMultiSelect": True,
                     "style": "expanded", "label": "Contacts for the impacted services",
                     "value": ",".join(str(i) for i in values["contacts"]),
                     "choices": [{"title": f"{p.name} ({p.summary})"[:CHOICE_TITLE_MAX],
                                  "value": str(p.id)} for p in suggested]})
        if len(recipients.suggested) > len(suggested):
            more = len(recipients.suggested) - len(suggested)
            body.append(_subtle(f"And {more} more contacts for these services: choose them "
                                "on the web form in Incident Desk.", spacing="Small"))
    elif not recipients.required:
        body.append(_subtle("No contacts on the contacts list are for this incident's "
                            "services.", spacing="Small"))
    body.append({"type": "Input.Text", "id": "extra_recipients", "label": "Also email",
                 "placeholder": "Email addresses, one per line or separated by commas",
                 "isMultiline": True, "maxLength": EXTRA_MAX,
                 "value": values["extra_recipients"][:EXTRA_MAX]})
    if incident.is_security:
        body.append(_subtle("This is a security incident, so nothing about it goes on the "
                            "public status page.", spacing="Medium"))
    else:
        body += [_heading("Status page"),
                 {"type": "Input.Toggle", "id": "publish", "valueOn": "true",
                  "valueOff": "false", "title": "Also publish it on the public status page",
                  "value": "true" if values["publish"] else "false"},
                 _subtle("Anyone can read the status page: write for the public, with no "
                         "names or internal detail."),
                 {"type": "Input.Text", "id": "public_title", "label": "Title on the status "
                  "page", "maxLength": TITLE_MAX, "value": values["public_title"][:TITLE_MAX]}]
    return cards.card(body, [
        {"type": "Action.Execute", "title": "Send update", "verb": SEND, "data": back,
         "style": "positive"},
        {"type": "Action.Execute", "title": "Cancel", "verb": BACK, "data": back,
         "associatedInputs": "none"}])
