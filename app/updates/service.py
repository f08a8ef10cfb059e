"""Writing a status update once and sending it everywhere it needs to go.

The update, its timeline entry and every delivery (channel card, the emails that
app/m365/mail_plan.py plans) are stored in one transaction; the outbox sends them
afterwards.
"""

from __future__ import annotations

from collections.abc import Iterable

from email_validator import EmailNotValidError, validate_email
from sqlalchemy.orm import Session

from app.core import clock
from app.core.org import OrgSettings
from app.db import transaction
from app.incidents import delivery_keys
from app.incidents.models import Incident, TimelineEntry
from app.incidents.rules import RuleError
from app.m365 import cards, mail_plan, plans
from app.m365.lifecycle import posting_prerequisite
from app.m365.targets import Targets
from app.outbox import service as outbox
from app.outbox.models import Delivery
from app.updates import mail
from app.updates.models import StatusUpdate
from app.updates.phrasing import PHASE_LABELS

MAX_MESSAGE = 4000
MAX_RECIPIENTS = 5000


def clean_recipients(addresses: Iterable[str]) -> list[str]:
    """Valid, de-duplicated (case-insensitively) addresses in the order given."""
    seen: dict[str, str] = {}
    bad = []
    for raw in addresses:
        address = raw.strip().strip(",;")
        if not address:
            continue
        try:
            normalised = validate_email(address, check_deliverability=False).normalized
        except EmailNotValidError:
            bad.append(address)
            continue
        seen.setdefault(normalised.lower(), normalised)
    if bad:
        shown = ", ".join(bad[:3]) + (f" and {len(bad) - 3} more" if len(bad) > 3 else "")
        raise RuleError(f"These are not email addresses: {shown}.", "extra_recipients")
    if len(seen) > MAX_RECIPIENTS:
        raise RuleError(f"Send to {MAX_RECIPIENTS:,} people or fewer at a time.",
                        "extra_recipients")
    return list(seen.values())


def post_update(session: Session, org: OrgSettings, targets: Targets, actor, incident: Incident,
                *, phase: str, message: str, to_channel: bool,
                recipients: Iterable[str], publish: bool = False,
                public_title: str | None = None) -> StatusUpdate:
    message = message.strip()
    if phase not in PHASE_LABELS:
        raise RuleError("Choose what stage the incident is at.", "phase")
    if not message:
        raise RuleError("Enter the update.", "message")
    if len(message) > MAX_MESSAGE:
        raise RuleError(f"The update must be {MAX_MESSAGE:,} characters or fewer.", "message")
    incident.refuse_if_closed("take new updates")
    people = clean_recipients(recipients)
    to_channel = to_channel and targets.teams_enabled
    if publish and incident.is_security:
        raise RuleError("Security incidents are never published: agree a statement with the "
                        "people handling it.", "publish")
    if not to_channel and not people and not publish:
        raise RuleError("Choose at least one person to email, or send it to the Teams "
                        "channel.", "recipients")
    if publish:
        title = " ".join((public_title or incident.public_title or "").split())
        if not title:
            raise RuleError("Enter the title the status page shows.", "public_title")
        incident.public_title = title[:200]
    now = clock.now()
    with transaction(session):
        update = StatusUpdate(incident_id=incident.id, phase=phase, message=message,
                              to_channel=to_channel, recipients=people, author=actor,
                              public=publish, created_at=now)
        session.add(update)
        session.flush()
        facts = plans.snapshot(org, incident)
        label = PHASE_LABELS[phase]
        url = targets.incident_url(incident.reference)
        key = delivery_keys.update(incident.reference, update.id)
        entry = _timeline_entry(update, actor, label, message, people, to_channel, publish)
        session.add(entry)
        session.flush()
        if to_channel:  # a card cuts a long update short: it links to the whole of it
            card = cards.update(facts, label, message, actor.name, url,
                                full_url=f"{url}?timeline=all#entry-{entry.id}")
            outbox.add(session, key=delivery_keys.teams_part(key), kind=plans.POST,
                       incident=incident, actor=actor,
                       depends_on=_channel_delivery(session, incident),
                       payload={"channel": "incident", "html": cards.summary_html(facts),
                                "card": card, "label": f"Update ({label.lower()}) to Teams"})
        mail_plan.queue(session, targets, incident, actor, key=key, recipients=people,
                        subject=mail.subject(facts, label),
                        html=mail.body(facts, label, message, actor.name, url),
                        label=lambda b: f"Update email to {_people(b.size)}{b.part}")
    return update


def _timeline_entry(update: StatusUpdate, actor, label: str, message: str,
                    people: list[str], to_channel: bool, publish: bool) -> TimelineEntry:
    """The update on the timeline, whole: where a Teams card's "full update" link goes."""
    where = (["the Teams channel"] if to_channel else []) + (
        [f"{_people(len(people))} by email"] if people else []) + (
        ["the status page"] if publish else [])
    return TimelineEntry(
        incident_id=update.incident_id, kind="status_update",
        text=f"Update sent ({label.lower()}) to {' and '.join(where)}: {message}",
        data={"update_id": update.id, "phase": update.phase, "recipients": len(people),
              "to_channel": to_channel, "public": publish},
        author=actor, occurred_at=update.created_at, created_at=update.created_at)


def _people(count: int) -> str:
    return f"{count:,} {'person' if count == 1 else 'people'}"


def _channel_delivery(session: Session, incident: Incident) -> Delivery | None:
    return posting_prerequisite(session, incident)  # the channel, or its unarchiving
