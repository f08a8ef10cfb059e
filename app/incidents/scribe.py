"""The scribe log: typed, timestamped entries that can be corrected without losing what
they said before (playbooks 002 and 003: events, discussion, decisions, actions, results).
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from app.core import clock
from app.db import commit
from app.incidents import timeline
from app.incidents.events import Changed, Effects
from app.incidents.models import Incident, TimelineEdit, TimelineEntry
from app.incidents.rules import RuleError

ENTRY_TYPES = {"event": "Event", "discussion": "Discussion", "decision": "Decision",
               "action": "Action", "result": "Result"}
EDITABLE_KINDS = ("note",)
CORRECTING_ROLES = ("incident_lead", "scribe")  # who keeps the log, besides its authors
TEXT_MAX = 20_000
SKEW = timedelta(minutes=2)  # a clock a little ahead is not "the future"
OLDEST = timedelta(days=30)  # earlier than this is a typo, not an incident's history
_TIME = re.compile(r"^(\d{1,2})[:.](\d{2})$")
_DATE_TIME = re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})[ T](\d{1,2})[:.](\d{2})$")


def parse_when(text: str | None, timezone: ZoneInfo, now: datetime | None = None
               ) -> datetime | None:
    """'14:05' (today, local time) or '2026-11-29 23:40' into UTC; empty means now (None).
    Raises RuleError with what to type instead."""
    text = (text or "").strip()
    if not text:
        return None
    now = now or clock.now()
    local_now = now.astimezone(timezone)
    try:
        if match := _TIME.match(text):
            hour, minute = int(match[1]), int(match[2])
            when = local_now.replace(hour=hour, minute=minute, second=0, microsecond=0)
        elif match := _DATE_TIME.match(text):
            year, month, day, hour, minute = (int(g) for g in match.groups())
            when = datetime(year, month, day, hour, minute, tzinfo=timezone)
        else:
            raise ValueError
    except ValueError:
        raise RuleError("Enter the time like 14:05, or a date and time like "
                        "2026-11-29 23:40.", "when") from None
    when = when.astimezone(now.tzinfo)
    if when > now + SKEW:
        raise RuleError("That time is in the future. Leave the time empty for now.", "when")
    if when < now - OLDEST:
        raise RuleError("That time is more than 30 days ago: check the date.", "when")
    return when


def add_entry(session: Session, actor, incident: Incident, *, text: str, entry_type: str,
              effects: Effects, occurred_at: datetime | None = None,
              data: dict | None = None) -> TimelineEntry:
    """`data`: where the entry came from, kept beside it (a Teams message added from its
    More actions menu: app/bot/message_actions.py)."""
    text = (text or "").strip()
    _check(incident, text, entry_type)
    entry = timeline.record(incident, "note", text, author=actor, entry_type=entry_type,
                            occurred_at=occurred_at, session=session, data=data)
    timeline.touch(session, incident, entry.created_at)
    effects.publish(session, Changed(incident=incident, actor=actor))
    commit(session)
    return entry


class NotYours(Exception):
    """The entry is someone else's and this person does not keep the log; the message
    says who may correct it."""


def may_correct(user, incident: Incident, entry: TimelineEntry) -> bool:
    """An entry is in its author's name: only they, the incident lead, the scribe (who
    keep the log) or an administrator may change its words."""
    if user is None or not getattr(user, "is_authenticated", False):
        return False
    if user.is_admin or (entry.author_id is not None and entry.author_id == user.id):
        return True
    holders = incident.current_roles()
    return any(holders[role].user_id == user.id for role in CORRECTING_ROLES if role in holders)


def refusal(entry: TimelineEntry) -> str:
    by = f" ({entry.author.name} wrote this one)" if entry.author else ""
    return ("Only the person who wrote an entry, the incident lead, the scribe or an "
            f"administrator can correct it{by}. Ask one of them, or add a new entry "
            "that says what has changed.")


def edit_entry(session: Session, actor, incident: Incident, entry: TimelineEntry, *,
               text: str, entry_type: str, occurred_at: datetime | None) -> bool:
    """Correct an entry, keeping what it said and who corrected it when; returns False
    if nothing changed. Raises NotYours unless `may_correct`."""
    if entry.kind not in EDITABLE_KINDS:
        raise RuleError("Only scribe-log entries can be edited; the rest of the timeline is "
                        "recorded by Incident Desk.")
    if not may_correct(actor, incident, entry):
        raise NotYours(refusal(entry))
    text = (text or "").strip()
    _check(incident, text, entry_type)
    occurred_at = occurred_at or entry.occurred_at
    if (text, entry_type, occurred_at) == (entry.text, entry.entry_type, entry.occurred_at):
        return False
    now = clock.now()
    entry.edits.append(TimelineEdit(text=entry.text, entry_type=entry.entry_type,
                                    occurred_at=entry.occurred_at, edited_by=actor,
                                    edited_at=now))
    entry.text, entry.entry_type, entry.occurred_at = text, entry_type, occurred_at
    entry.edited_at, entry.edited_by = now, actor
    incident.updated_at = now
    commit(session)
    return True


def _check(incident: Incident, text: str, entry_type: str) -> None:
    incident.refuse_if_closed("have its log changed")
    if entry_type not in ENTRY_TYPES:
        raise RuleError("Choose what kind of entry this is.", "entry_type")
    if not text:
        raise RuleError("Enter what happened.", "text")
    if len(text) > TEXT_MAX:
        raise RuleError(f"Entries must be {TEXT_MAX:,} characters or fewer.", "text")
