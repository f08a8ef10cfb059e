"""Pulling the incident channel's messages into the timeline.

Reading is outbox work like any other (it needs the person's Teams token and may be
throttled): a "read channel" delivery fetches the messages into `channel_messages`; a
person then picks which belong on the timeline. Replies, where most of a channel's
conversation happens, are read with their posts and offered under them. Each message is
imported at most once, at the time it was posted, as a scribe-log event naming who wrote
it.
"""

from __future__ import annotations

import html
import re
import uuid
from collections.abc import Iterable
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.core import clock
from app.db import insert_for, transaction
from app.incidents import delivery_keys, timeline
from app.incidents.events import Changed, Effects
from app.incidents.models import Incident
from app.incidents.rules import RuleError
from app.m365 import plans
from app.m365.models import ChannelMessageCopy, TeamsChannel
from app.outbox import service as outbox
from app.outbox.models import Delivery
from graph.port import ChannelMessage

MAX_MESSAGES = 1000  # posts and replies per read: more than an incident channel holds in a day
TEXT_MAX = 5000
LOOK_BACK = timedelta(minutes=30)  # talk that started before the incident was declared
_TAG = re.compile(r"<[^>]+>")
_HIDDEN = re.compile(r"<(script|style)\b[^>]*>.*?</\1\s*>", re.IGNORECASE | re.DOTALL)
_BLOCK = re.compile(r"</?(p|div|br|li)[^>]*>", re.IGNORECASE)


def plain(message_html: str) -> str:
    """Teams HTML as plain text: the timeline shows text, never someone's markup."""
    text = _BLOCK.sub("\n", _HIDDEN.sub("", message_html or ""))
    text = html.unescape(_TAG.sub("", text))
    lines = [" ".join(line.split()) for line in text.splitlines()]
    return "\n".join(line for line in lines if line).strip()[:TEXT_MAX]


def request_read(session: Session, incident: Incident, actor) -> Delivery:
    """Queue a read of the channel, as the person asking (their Teams token)."""
    channel = session.get(TeamsChannel, incident.id)
    if channel is None:
        raise RuleError("This incident has no Teams channel yet.")
    delivery = outbox.add(
        session, key=delivery_keys.channel_read(incident.reference, uuid.uuid4().hex),
        kind=plans.READ_CHANNEL, incident=incident, actor=actor,
        payload={"team_id": channel.team_id, "channel_id": channel.channel_id,
                 "since": (incident.declared_at - LOOK_BACK).isoformat(),
                 "label": "Read the channel's messages"})
    session.commit()
    return delivery


def store(session: Session, incident_id: int, messages: Iterable[ChannelMessage]) -> int:
    """Keep messages not seen before; returns how many were new."""
    insert = insert_for(session)
    rows = [{"incident_id": incident_id, "message_id": m.id[:100],
             "reply_to_id": m.reply_to_id[:100] if m.reply_to_id else None,
             "sender": (m.sender_name or "Someone")[:200], "text": plain(m.html),
             "web_url": (m.web_url or "")[:1000], "sent_at": m.created_at or clock.now(),
             "fetched_at": clock.now()}
            for m in messages]
    rows = [r for r in rows if r["text"]]
    if not rows:
        return 0
    inserted = session.execute(insert(ChannelMessageCopy).values(rows)
                               .on_conflict_do_nothing(index_elements=["incident_id",
                                                                       "message_id"])
                               .returning(ChannelMessageCopy.id))
    return len(inserted.all())  # (rowcount is not reliable for this on every driver)


def copies(session: Session, incident: Incident) -> list[ChannelMessageCopy]:
    """Posts in the order they were posted, each followed by its replies (as Teams shows
    a thread); a reply whose post was not read stands at its own time."""
    rows = list(session.scalars(select(ChannelMessageCopy).where(
        ChannelMessageCopy.incident_id == incident.id).order_by(ChannelMessageCopy.sent_at,
                                                                ChannelMessageCopy.id)))
    posts = {row.message_id for row in rows if row.reply_to_id is None}
    replies: dict[str, list[ChannelMessageCopy]] = {}
    for row in rows:
        if row.reply_to_id in posts:
            replies.setdefault(row.reply_to_id, []).append(row)
    threaded = []
    for row in rows:
        if row.reply_to_id not in posts:
            threaded += [row, *replies.get(row.message_id, [])]
    return threaded


def import_messages(session: Session, effects: Effects, actor, incident: Incident,
                    ids: Iterable[int]) -> int:
    """Put the chosen messages on the timeline (once each); returns how many."""
    incident.refuse_if_closed("have its timeline changed")
    chosen = list(session.scalars(select(ChannelMessageCopy).where(
        ChannelMessageCopy.incident_id == incident.id, ChannelMessageCopy.id.in_(list(ids)),
        ChannelMessageCopy.timeline_entry_id.is_(None))))
    if not chosen:
        raise RuleError("Choose at least one message that is not on the timeline yet.",
                        "messages")
    now = clock.now()
    with transaction(session):
        for copy in chosen:
            said = "replied in Teams" if copy.reply_to_id else "in Teams"
            entry = timeline.record(
                incident, "teams_message", f"{copy.sender} {said}: {copy.text}",
                entry_type="event", author=actor, occurred_at=copy.sent_at, session=session,
                data={"message_id": copy.message_id, "reply_to_id": copy.reply_to_id,
                      "web_url": copy.web_url, "imported_by": actor.name})
            session.flush()
            copy.timeline_entry_id = entry.id
        timeline.touch(session, incident, now)
        effects.publish(session, Changed(incident=incident, actor=actor))
    return len(chosen)
