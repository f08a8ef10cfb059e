"""Writing a status update once and sending it everywhere it needs to go.

The update and its timeline entry are stored with the `UpdatePosted` event's work
(the channel card and the emails: app/m365/effects.py) in one transaction; the outbox
sends them afterwards.
"""

from __future__ import annotations

from collections.abc import Iterable

from email_validator import EmailNotValidError, validate_email
from sqlalchemy.orm import Session

from app.core import clock
from app.core.org import OrgSettings
from app.db import transaction
from app.incidents import timeline
from app.incidents.events import Effects, UpdatePosted
from app.incidents.models import Incident, StatusUpdate, TimelineEntry
from app.incidents.rules import RuleError
from app.updates import mail
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


def post_update(session: Session, org: OrgSettings, effects: Effects, actor,
                incident: Incident,
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
    to_channel = to_channel and effects.installation.teams_enabled
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
        label = PHASE_LABELS[phase]
        entry = _timeline_entry(session, update, actor, label, message, people, to_channel,
                                publish)
        session.flush()
        effects.publish(session, UpdatePosted(incident=incident, actor=actor, update=update,
                                              entry_id=entry.id))
    return update


def _timeline_entry(session: Session, update: StatusUpdate, actor, label: str, message: str,
                    people: list[str], to_channel: bool, publish: bool) -> TimelineEntry:
    """The update on the timeline, whole: where a Teams card's "full update" link goes."""
    where = (["the Teams channel"] if to_channel else []) + (
        [f"{mail.people(len(people))} by email"] if people else []) + (
        ["the status page"] if publish else [])
    return timeline.record(
        update.incident_id, "status_update",
        f"Update sent ({label.lower()}) to {' and '.join(where)}: {message}",
        data={"update_id": update.id, "phase": update.phase, "recipients": len(people),
              "to_channel": to_channel, "public": publish},
        author=actor, occurred_at=update.created_at, session=session)
