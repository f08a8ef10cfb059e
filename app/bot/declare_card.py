"""`declare <title>` from Teams: a card with the web declare form's fields (title,
what is happening, severity, impacted services, security or data breach) whose Declare
button (Action.Execute, verb "declare") declares through app.incidents.service.declare
with the app's effects, so the channel, kickoff card, broadcast and reports follow exactly
as from the web. The web form's limits and wording hold here too (the bot may not import
app.web; tests/bot/test_commands.py compares the numbers)."""

from __future__ import annotations

import asyncio
import logging
import re
import uuid

from flask import current_app
from microsoft_agents.activity import Activity, ActivityTypes
from microsoft_agents.hosting.core import CardFactory
from sqlalchemy import func, select
from sqlalchemy.orm.exc import StaleDataError

from app import db
from app.bot import replies
from app.bot.verbs import verb
from app.catalogue.service import NEW_SERVICES_PER_REQUEST, SERVICES_PER_INCIDENT
from app.core.org import OrgSettings
from app.incidents import service
from app.incidents.models import Service
from app.incidents.rules import AlreadyDeclared, RuleError
from app.m365.cards import card, rich, run

VERB = "declare"
TITLE_MAX = 200  # app/web/incidents/forms.py TITLE_MAX
DESCRIPTION_MAX = 20_000  # the form's TEXT_MAX
NEW_SERVICES_MAX = 1000  # characters of "other impacted services"
SERVICE_CHOICES_MAX = 100  # listed in the card; more are typed (the card stays < 28 KB)
SIGN_IN_FIRST = "I don't know you yet: sign in to Incident Desk once, then ask me again."
CARD = "application/vnd.microsoft.card.adaptive"
UPDATE_TIMEOUT = 2.0  # seconds the shared card's update may take within the invoke
log = logging.getLogger(__name__)
FIELDS = ("title", "severity", "description", "services", "new_services")
KEY = "declare_key"  # the card's one-use key (service.declare): the same card declares once
_KEY_SHAPE = re.compile(r"^[0-9a-f]{32}$")


def declare_card(org: OrgSettings, title: str = "", *, values: dict | None = None,
                 errors: dict[str, str] | None = None, lead: str | None = None) -> dict:
    """The declare form as a card: `values` the inputs typed so far, `errors` what is wrong
    with them by field (shown above the field, as the web form does)."""
    values, errors = values or {"title": title}, errors or {}
    services = db.Session.scalars(select(Service).order_by(func.lower(Service.name))
                                  .limit(SERVICE_CHOICES_MAX + 1)).all()

    def said(field: str) -> list[dict]:
        return ([rich(run(errors[field], weight="Bolder", color="attention"), spacing="Small")]
                if field in errors else [])

    body = [rich(run("Declare an incident", weight="Bolder", size="Medium")),
            rich(run("If you are unsure, it is an incident. ", weight="Bolder"),
                 run("Declaring early is never a sign of failure."), spacing="Small")]
    if lead:
        body.append(rich(run(lead, weight="Bolder", color="attention")))
    if "form" in errors:
        body += said("form")
    body += [*said("title"),
             {"type": "Input.Text", "id": "title", "label": "Title", "isRequired": True,
              "errorMessage": "Enter a title.", "maxLength": TITLE_MAX,
              "placeholder": "For example: example.com returning errors",
              "value": _text(values.get("title"))[:TITLE_MAX]},
             *said("severity"),
             {"type": "Input.ChoiceSet", "id": "severity", "label": "Severity",
              "isRequired": True, "errorMessage": "Choose a severity.", "style": "expanded",
              "wrap": True, "value": _text(values.get("severity"))[:40],
              "choices": [{"title": f"{s.label}: {s.description}", "value": s.key}
                          for s in org.severities]},
             rich(run("If you are torn between two severities, choose the higher one. You "
                      "can lower it later.", isSubtle=True), spacing="Small"),
             *said("description"),
             {"type": "Input.Text", "id": "description", "label": "What is happening?",
              "isMultiline": True, "maxLength": DESCRIPTION_MAX,
              "placeholder": "What people are seeing, since when, and what you have checked",
              "value": _text(values.get("description"))[:DESCRIPTION_MAX]},
             *said("services")]
    if services:
        # Choice titles are plain text to the renderer (no markdown), like a TextRun.
        body.append({"type": "Input.ChoiceSet", "id": "services", "isMultiSelect": True,
                     "label": f"Impacted services (up to {SERVICES_PER_INCIDENT})",
                     "style": "compact", "value": _text(values.get("services"))[:1000],
                     "choices": [{"title": s.name[:120], "value": str(s.id)}
                                 for s in services[:SERVICE_CHOICES_MAX]]})
        if len(services) > SERVICE_CHOICES_MAX:
            body.append(rich(run(f"The first {SERVICE_CHOICES_MAX} services are listed: type "
                                 "any other below.", isSubtle=True), spacing="Small"))
    body += [*said("new_services"),
             {"type": "Input.Text", "id": "new_services", "maxLength": NEW_SERVICES_MAX,
              "label": "Other impacted services" if services else "Impacted services",
              "placeholder": f"Names, separated by commas: up to {NEW_SERVICES_PER_REQUEST}",
              "value": _text(values.get("new_services"))[:NEW_SERVICES_MAX]},
             {"type": "Input.Toggle", "id": "is_security",
              "title": "This is a security incident or a data breach",
              "valueOn": "true", "valueOff": "false",
              "value": "true" if _yes(values.get("is_security")) else "false"},
             rich(run("Only the people working on it and administrators will be able to "
                      "see it.", isSubtle=True), spacing="Small")]
    return card(body, [{"type": "Action.Execute", "verb": VERB, "title": "Declare incident",
                        "style": "positive",
                        "data": {"card": VERB, KEY: key_of(values) or uuid.uuid4().hex}}])


def key_of(data: dict) -> str | None:
    """The card's one-use key as it came back, None if it is not one we made."""
    value = data.get(KEY)
    return value if isinstance(value, str) and _KEY_SHAPE.match(value) else None


def sign_in_url(installation) -> str:
    return installation.app_base_url.rstrip("/") + "/sign-in"


def _text(value) -> str:
    """An input's value as text: Teams sends strings; anything else is not typed input."""
    return value if isinstance(value, str) else ""


def _yes(value) -> bool:
    return value is True or _text(value).strip().lower() == "true"


def _split(value: str) -> list[str]:
    return [part.strip() for part in value.split(",") if part.strip()]


def check(org: OrgSettings, data: dict) -> tuple[dict, dict[str, str]]:
    """The inputs as service.declare takes them, and the web form's errors by field."""
    title, description = _text(data.get("title")).strip(), _text(data.get("description"))
    severity, new_services = _text(data.get("severity")).strip(), _text(data.get("new_services"))
    errors: dict[str, str] = {}
    if not title:
        errors["title"] = "Enter a title."
    elif len(title) > TITLE_MAX:
        errors["title"] = f"Titles must be {TITLE_MAX} characters or fewer."
    if len(description) > DESCRIPTION_MAX:
        errors["description"] = ("The description must be 20,000 characters or fewer.")
    if not severity:
        errors["severity"] = "Choose a severity."
    elif org.severity(severity) is None:
        errors["severity"] = "Choose a severity from the list."
    raw_ids = _split(_text(data.get("services"))[:4000])
    ids = [int(i) for i in raw_ids if i.isdigit() and len(i) < 12]
    if len(ids) != len(raw_ids):
        errors["services"] = "Choose the services from the list."
    elif len(set(ids)) > SERVICES_PER_INCIDENT:
        errors["services"] = f"Choose at most {SERVICES_PER_INCIDENT} services."
    names: list[str] = []
    if len(new_services) > NEW_SERVICES_MAX:
        errors["new_services"] = (f"Other impacted services must be {NEW_SERVICES_MAX:,} "
                                  "characters or fewer.")
    else:
        names = _split(new_services)
        distinct = {" ".join(n.split()).lower() for n in names}
        if len(distinct) > NEW_SERVICES_PER_REQUEST:
            errors["new_services"] = (f"Name at most {NEW_SERVICES_PER_REQUEST} new services "
                                      "at once; add the rest in the catalogue or by editing "
                                      "later.")
        elif "services" not in errors and len(distinct) + len(set(ids)) > SERVICES_PER_INCIDENT:
            errors["new_services"] = f"Name at most {SERVICES_PER_INCIDENT} services in all."
    fields = dict(title=title, description=description, severity=severity,
                  service_ids=sorted(set(ids)), new_services=names,
                  is_security=_yes(data.get("is_security")))
    return fields, errors


def card_response(content: dict) -> dict:
    """The invoke response that replaces the pressed card with `content`."""
    return {"statusCode": 200, "type": CARD, "value": content}


@verb(VERB)
async def declare(turn, person, data: dict) -> dict:
    """Declare from the card, as the person who pressed the button (they become the
    incident lead, as on the web); a refusal gives the card back with what to fix."""
    installation = current_app.extensions["installation"]
    if person is None:
        return card_response(replies.notice(SIGN_IN_FIRST, url=sign_in_url(installation),
                                            link_text="Sign in to Incident Desk"))
    org = current_app.extensions["org"]
    fields, errors = check(org, data)
    if not errors:
        try:
            incident = service.declare(db.Session, org, person, effects=current_app.extensions[
                "effects"], declare_key=key_of(data), **fields)
        except AlreadyDeclared as done:
            return card_response(declared_already(org, installation, person, done.incident))
        except RuleError as error:
            errors[error.field if error.field in FIELDS else "form"] = error.message
        except StaleDataError:
            db.Session.rollback()
            errors["form"] = "Incident Desk was busy: press Declare incident again."
        else:
            url = installation.incident_url(incident.reference)
            if turn.activity.reply_to_id:  # everyone else's copy loses its Declare button
                await _replace_for_everyone(turn, turn.activity.reply_to_id,
                                            _declared_for_everyone(org, incident, url, person))
            return card_response(replies.incident_card(
                org, incident, url, heading=f"{incident.reference} declared. You are the "
                                            "incident lead until you hand over."))
    return card_response(declare_card(org, values=data, errors=errors))


def declared_already(org: OrgSettings, installation, person, incident, *,
                     used: str = "card") -> dict:
    """A second press of a card (or dialog form: `used`) that declared: the incident it
    made, to whoever may see it; a security incident they are not on is only said to
    exist."""
    if not service.can_view(person, incident):
        return replies.notice(f"This {used} was used to declare a security incident or data "
                              "breach already: only the people working on it can see it.",
                              heading="Declared already", attention=False)
    by = incident.declared_by.name if incident.declared_by else "someone"
    return replies.incident_card(org, incident, installation.incident_url(incident.reference),
                                 heading=f"{incident.reference} was declared from this "
                                         f"{used} already, by {by}.")


def _declared_for_everyone(org: OrgSettings, incident, url: str, person) -> dict:
    """What everyone who saw the declare card sees now; a security incident only says
    that it was declared (its people see it in Incident Desk and its private channel)."""
    if incident.is_security:
        return replies.notice(f"Declared by {person.name} as a security incident or data "
                              "breach: only the people working on it can see it.",
                              heading="Incident declared", attention=False)
    return replies.incident_card(org, incident, url, heading=f"{incident.reference} declared "
                                                             f"by {person.name}.")


async def _replace_for_everyone(turn, activity_id: str, content: dict) -> None:
    """Update the posted declare card, so nobody else declares the same incident from
    it; bounded, and never failing the press (the incident is declared)."""
    update = Activity(type=ActivityTypes.message, id=activity_id,
                      attachments=[CardFactory.adaptive_card(content)])
    try:
        await asyncio.wait_for(turn.update_activity(update), UPDATE_TIMEOUT)
    except Exception:
        log.warning("bot: could not update the declare card %s", activity_id[:60],
                    exc_info=True)
