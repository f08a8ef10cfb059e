"""Saved update templates: the starting wordings administrators keep, filled in for one
incident. The web form (app/web/updates) and the Teams card's form (app/bot/update_form.py)
both offer `offered(...)` and fill the message with `starting(...)`, so both follow the
same rules.

Placeholders are replaced by a plain substitution of the known names only: str.format on
text an administrator wrote would let `{services.__class__}` or `{0}` reach into Python
objects or raise. Unknown placeholders are refused when a template is saved, and
rendering never raises: anything it does not know stays as written.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.core import clock
from app.core.installation import Installation
from app.core.org import OrgSettings
from app.db import transaction
from app.incidents.models import Incident
from app.incidents.rules import RuleError
from app.updates.models import UpdateTemplate
from app.updates.phrasing import PHASE_LABELS, PHASES, TEMPLATES
from app.updates.service import MAX_MESSAGE

MAX_NAME = 80
MAX_TEXT = 2000
MAX_POSITION = 999
MAX_TEMPLATES = 100  # active or retired; a settings list, not a library

PLACEHOLDERS = {
    "services": "the affected services, e.g. “Payments and Checkout” (“the service” when "
                "none is chosen)",
    "problem": "what is wrong, for you to reword: “is not working as expected” (“are not…” "
               "for two services or more)",
    "impact": "who is affected, from the severity: “All users are affected.” for a major "
              "severity (such as P1), otherwise “Some users may be affected.”",
    "next_update": "when the next update is due, from the severity's update cadence: "
                   "“by 14:30 GMT” (“by 00:30 GMT tomorrow” across midnight), or “when we "
                   "know more” for a severity with no cadence",
}
ALLOWED = ", ".join(f"{{{name}}}" for name in PLACEHOLDERS)
_TOKEN = re.compile(r"\{([^{}]*)\}")
_KNOWN = re.compile(r"\{(" + "|".join(PLACEHOLDERS) + r")\}")
_BY_BY = re.compile(r"\bby\s+\{next_update\}", re.IGNORECASE)
_CHOICE = re.compile(r"(\d{1,9})(-internal)?")

DEFAULT_PROBLEM = "is not working as expected"
PLURAL_PROBLEM = "are not working as expected"  # for two services or more
ALL_USERS = "All users are affected."
SOME_USERS = "Some users may be affected."
NO_CADENCE = "when we know more"
UNKNOWN_CADENCE_MINUTES = 60  # a severity the settings no longer have


# ---- rendering --------------------------------------------------------------------------


def render(text: str, values: dict[str, str]) -> str:
    """`text` with each known placeholder replaced by its value; nothing else changes."""
    return _KNOWN.sub(lambda match: values.get(match.group(1), match.group(0)), text or "")


def next_update_at(due: datetime | None, now: datetime, zone) -> str:
    """When the next update is due as people read a clock where the organisation is:
    "by 14:30 GMT", "by 00:30 GMT tomorrow", "by 09:00 GMT on Tuesday 24 November"."""
    if due is None:
        return NO_CADENCE
    local, today = due.astimezone(zone), now.astimezone(zone).date()
    label = local.strftime("%Z")
    if not label or label[0] in "+-":  # a zone without an abbreviation
        offset = local.strftime("%z")
        label = f"UTC{offset[:3]}:{offset[3:]}" if offset else "UTC"
    said = f"by {local:%H:%M} {label}"
    days = (local.date() - today).days
    if days == 1:
        return f"{said} tomorrow"
    if days > 1:
        return f"{said} on {local:%A} {local.day} {local:%B}"
    return said


def _list(names: list[str]) -> str:
    if len(names) <= 1:
        return names[0] if names else "the service"
    return ", ".join(names[:-1]) + " and " + names[-1]


def values_for(org: OrgSettings, installation: Installation, incident: Incident,
               now: datetime | None = None) -> dict[str, str]:
    """What each placeholder says for `incident` now."""
    now = now or clock.now()
    severity = org.severity(incident.severity)
    minutes = severity.update_every_minutes if severity else UNKNOWN_CADENCE_MINUTES
    due = now.replace(second=0, microsecond=0) + timedelta(minutes=minutes) if minutes else None
    names = [s.name for s in incident.services]
    return {"services": _list(names),
            "problem": DEFAULT_PROBLEM if len(names) <= 1 else PLURAL_PROBLEM,
            "impact": ALL_USERS if severity and severity.major else SOME_USERS,
            "next_update": next_update_at(due, now, installation.timezone)}


# ---- what the forms offer ---------------------------------------------------------------


@dataclass(frozen=True)
class Offer:
    """One wording a form offers: `key` is what the form sends back to choose it."""

    key: str
    label: str
    phase: str
    text: str  # as written, placeholders unfilled


def active(session: Session) -> list[UpdateTemplate]:
    return list(session.scalars(select(UpdateTemplate).where(UpdateTemplate.active)
                                .order_by(UpdateTemplate.position, UpdateTemplate.id)))


def offered(session: Session) -> list[Offer]:
    """Every active template in order; one with an internal wording is offered twice."""
    offers = []
    for template in active(session):
        offers.append(Offer(str(template.id), template.name, template.phase,
                            template.public_text))
        if template.internal_text:
            offers.append(Offer(f"{template.id}-internal",
                                f"{template.name} (internal: not for the status page)",
                                template.phase, template.internal_text))
    return offers


@dataclass(frozen=True)
class Start:
    phase: str
    message: str
    key: str | None  # the offer used; None: the code's own wording for the phase


def starting(session: Session, org: OrgSettings, installation: Installation,
             incident: Incident, *, choice: object = None, phase: object = None) -> Start:
    """The form's starting message: the offer `choice` names if it is active; else the
    first active template of `phase` (or of the incident's status); else the built-in
    wording for that phase. Filled in for `incident`, at most MAX_MESSAGE characters."""
    offers = offered(session)
    offer = next((o for o in offers if isinstance(choice, str) and o.key == choice
                  and _CHOICE.fullmatch(choice)), None)
    if offer is None:
        if phase not in PHASES:
            phase = incident.status if incident.status in PHASES else "investigating"
        offer = next((o for o in offers if o.phase == phase and not o.key.endswith(
            "-internal")), None)
    if offer is None:
        text, phase, key = TEMPLATES[phase], phase, None
    else:
        text, phase, key = offer.text, offer.phase, offer.key
    message = render(text, values_for(org, installation, incident))
    return Start(phase, message[:MAX_MESSAGE], key)


# ---- administrators ---------------------------------------------------------------------


def check_wording(text: str, field: str) -> str:
    """The wording, trimmed, or a RuleError saying what is wrong with it."""
    text = (text or "").strip()
    if len(text) > MAX_TEXT:
        raise RuleError(f"The wording must be {MAX_TEXT:,} characters or fewer.", field)
    unknown = [f"{{{name}}}" for name in _TOKEN.findall(text) if name not in PLACEHOLDERS]
    if unknown:
        shown = list(dict.fromkeys(unknown))
        verb = "is not a placeholder" if len(shown) == 1 else "are not placeholders"
        raise RuleError(f"{', '.join(shown[:5])} {verb}. Use only {ALLOWED}.", field)
    if "{" in _TOKEN.sub("", text) or "}" in _TOKEN.sub("", text):
        raise RuleError("Curly brackets are only for placeholders, each closed: "
                        f"{ALLOWED}.", field)
    if _BY_BY.search(text):
        raise RuleError("Write {next_update} without “by” before it: it says “by 14:30 GMT” "
                        "itself.", field)
    return text


def save(session: Session, actor, template: UpdateTemplate | None, *, name: str, phase: str,
         public_text: str, internal_text: str = "", position: int = 0) -> UpdateTemplate:
    """Add (`template` None) or change a template, with the rules the admin form shows."""
    name = " ".join((name or "").split())
    if not name:
        raise RuleError("Enter a name for this template.", "name")
    if len(name) > MAX_NAME:
        raise RuleError(f"The name must be {MAX_NAME} characters or fewer.", "name")
    if phase not in PHASES:
        raise RuleError("Choose the stage this wording is for.", "phase")
    public_text = check_wording(public_text, "public_text")
    if not public_text:
        raise RuleError("Enter the wording.", "public_text")
    internal_text = check_wording(internal_text, "internal_text")
    if not isinstance(position, int) or not 0 <= position <= MAX_POSITION:
        raise RuleError(f"Enter a position from 0 to {MAX_POSITION}.", "position")
    taken = session.scalar(select(UpdateTemplate.id).where(
        func.lower(UpdateTemplate.name) == name.lower()))
    if taken is not None and (template is None or taken != template.id):
        raise RuleError("Another template has this name: choose another.", "name")
    if template is None and (session.scalar(select(func.count()).select_from(UpdateTemplate))
                             or 0) >= MAX_TEMPLATES:
        raise RuleError(f"Keep at most {MAX_TEMPLATES} templates: change or reuse a "
                        "retired one.")
    with transaction(session):
        if template is None:
            template = UpdateTemplate(active=True)
            session.add(template)
        template.name, template.phase, template.position = name, phase, position
        template.public_text, template.internal_text = public_text, internal_text
        _stamp(template, actor)
    return template


def set_active(session: Session, actor, template: UpdateTemplate, active_: bool) -> None:
    """Retire a template (the forms stop offering it) or bring it back."""
    with transaction(session):
        template.active = active_
        _stamp(template, actor)


def all_templates(session: Session) -> list[UpdateTemplate]:
    return list(session.scalars(select(UpdateTemplate).order_by(
        UpdateTemplate.active.desc(), UpdateTemplate.position, UpdateTemplate.id)))


def _stamp(template: UpdateTemplate, actor) -> None:
    template.updated_by = (getattr(actor, "name", "") or "")[:200]
    template.updated_at = clock.now()


PHASE_CHOICES = {p: PHASE_LABELS[p] for p in PHASES}
