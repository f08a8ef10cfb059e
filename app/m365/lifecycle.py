"""An incident channel's life after the incident: archived some days after the incident
is closed, unarchived before anything posts in it again.

Every incident gets its own channel, so a long-lived incidents team fills up with them.
Archiving makes a finished incident's channel read-only (its messages, files and members
stay; https://learn.microsoft.com/graph/api/channel-archive), so the channels people can
still post in are the live incidents'. It does not free a place: Teams allows 1,000
channels per team and counts every channel, deleted ones too for 30 days
(https://learn.microsoft.com/microsoftteams/limits-specifications-teams).

The work goes through the outbox like everything else (app/m365/handlers.py does it, as
the app itself: ChannelSettings.ReadWrite.All is granted as an application permission,
so no one's sign-in is needed). This module only decides what to plan:
- `sweep` (every minute, app.jobs.archive_channels): one archive per closing, once the
  incident has been closed M365_ARCHIVE_CHANNELS_AFTER days, at most ARCHIVE_BATCH a tick;
- `on_reopened`: a closed incident opened again gets its channel back before it is
  posted to;
- `posting_prerequisite`: what a new post must wait for (the channel's creation, or its
  unarchiving); with the channel archived, notices about the closed incident (an
  overdue follow-up action) go by email only.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete, exists, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.core import clock
from app.incidents import delivery_keys
from app.incidents.models import Incident
from app.incidents.rules import CLOSED
from app.m365 import plans
from app.m365.models import TeamsChannel
from app.outbox import service as outbox
from app.outbox.models import CANCELLED, DELIVERED, FAILED, PENDING, SENDING, Delivery

# Teams allows about 4 requests a second per app per team: a backlog (say every incident
# closed before this existed) is worked through a batch a minute.
ARCHIVE_BATCH = 20
LIFECYCLE = (plans.ARCHIVE_CHANNEL, plans.UNARCHIVE_CHANNEL)
REMOVE_CHANNEL_MEMBER = plans.REMOVE_CHANNEL_MEMBER  # (`take_back_channel`)


def archive_after(settings) -> timedelta | None:
    """How long after closing a channel is archived; None: never (the setting is 0)."""
    days = settings.archive_channels_after_days
    return timedelta(days=days) if days else None


def sweep(session: Session, after: timedelta | None, now: datetime | None = None,
          limit: int = ARCHIVE_BATCH) -> int:
    """Plan archiving the channel of each incident closed `after` ago or longer whose
    channel exists and has not been planned for archiving since that closing; returns
    how many (the oldest closings first, at most `limit`: the rest wait for a later
    tick). Safe to run twice at once: each closing's archive has one key."""
    if after is None:
        return 0
    now = now or clock.now()
    try:
        cutoff = now - after
    except OverflowError:  # more days than the calendar has: nothing is ever due
        return 0
    planned = exists().where(Delivery.incident_id == Incident.id,
                             Delivery.kind == plans.ARCHIVE_CHANNEL,
                             # planned for this closing (always days after it)
                             Delivery.created_at > Incident.closed_at)
    due = session.execute(
        select(Incident, TeamsChannel)
        .join(TeamsChannel, TeamsChannel.incident_id == Incident.id)
        .where(Incident.status == CLOSED, Incident.closed_at <= cutoff, ~planned)
        .order_by(Incident.closed_at, Incident.id).limit(limit)).all()
    for incident, channel in due:
        closing = incident.closed_at.strftime("%Y%m%dT%H%M%S")
        outbox.add(session, key=delivery_keys.archive_channel(incident.reference, closing),
                   kind=plans.ARCHIVE_CHANNEL, incident=incident, actor=None,
                   payload={**_where(channel), "label": "Archive the Teams channel"})
    try:
        session.commit()
    except IntegrityError:  # another sweep planned the same closings a moment ago
        session.rollback()
        return 0
    return len(due)


def on_reopened(session: Session, incident: Incident, actor) -> Delivery | None:
    """A closed incident is open again: keep its channel open. An archive not sent yet is
    cancelled; one sent (or being sent) is followed by an unarchive, which posts planned
    from now on wait for. Returns the unarchive, if one was planned. The caller commits."""
    latest = _latest(session, incident.id)
    if latest is None or latest.kind != plans.ARCHIVE_CHANNEL \
            or latest.status in (FAILED, CANCELLED):
        return None
    cancelled = session.execute(
        update(Delivery).where(Delivery.id == latest.id, Delivery.status == PENDING)
        .values(status=CANCELLED, updated_at=clock.now(),
                last_error="Not needed: the incident was reopened.")
        .execution_options(synchronize_session="fetch")).rowcount
    if cancelled:
        return None
    channel = session.get(TeamsChannel, incident.id)
    if channel is None:
        return None
    return outbox.add(session, key=delivery_keys.unarchive_channel(incident.reference, latest.id),
                      kind=plans.UNARCHIVE_CHANNEL, incident=incident, actor=actor,
                      depends_on=latest,
                      payload={**_where(channel), "label": "Unarchive the Teams channel"})


def posting_prerequisite(session: Session, incident: Incident, *,
                         unless_archived: bool = False) -> Delivery | None:
    """What a new post in the incident's channel must wait for: the channel's creation,
    or, once the channel is being unarchived, the unarchive (whose result names the
    channel as the creation's does). None if there is no channel, or with
    `unless_archived` if the channel is archived (or about to be)."""
    latest = session.scalar(select(Delivery).where(
        Delivery.incident_id == incident.id,
        Delivery.kind.in_((plans.CREATE_CHANNEL, *LIFECYCLE))
    ).order_by(Delivery.id.desc()).limit(1))
    if latest is None or (latest.kind in (plans.CREATE_CHANNEL, plans.UNARCHIVE_CHANNEL)
                          and latest.status != CANCELLED):
        return latest
    if latest.kind == plans.ARCHIVE_CHANNEL and latest.status not in (FAILED, CANCELLED):
        return None if unless_archived else _created(session, incident)
    return _created(session, incident)  # an archive that did not happen


def _created(session: Session, incident: Incident) -> Delivery | None:
    return session.scalar(select(Delivery).where(
        Delivery.key == delivery_keys.channel(incident.reference)))


def _latest(session: Session, incident_id: int) -> Delivery | None:
    return session.scalar(select(Delivery).where(Delivery.incident_id == incident_id,
                                                 Delivery.kind.in_(LIFECYCLE))
                          .order_by(Delivery.id.desc()).limit(1))


def _where(channel: TeamsChannel) -> dict:
    # as_app: the handler acts with the app's own token (app/m365/connect.py).
    return {"team_id": channel.team_id, "channel_id": channel.channel_id,
            "name": channel.name, "web_url": channel.web_url, "as_app": True}


def drop_member_work(session: Session, incident: Incident, user) -> list[int]:
    """Someone who is no longer a participant is not added to the incident's team or
    private channel: that work, not yet sent, is removed (not cancelled, so bringing them
    in later plans it afresh under the same keys). Returns the deliveries removed."""
    keys = [delivery_keys.team_member(incident.reference, user.id),
            delivery_keys.channel_member(incident.reference, user.id)]
    return list(session.scalars(
        delete(Delivery).where(Delivery.key.in_(keys), Delivery.status.in_((PENDING, FAILED)))
        .returning(Delivery.id).execution_options(synchronize_session=False)))


def take_back_channel(session: Session, incident: Incident, user, *,
                      as_service_account: bool) -> Delivery | None:
    """Someone no longer a participant leaves the private channel an add already put
    them in (or is putting them in): one removal, after that add, which the removal
    finds the membership id in. Not the team: they may be in it for other reasons. The
    add is kept under another key, so that bringing them in again adds them afresh.
    Only a channel owner may remove: the service account (which co-owns every private
    channel it makes) acts, as for the add; without one, whoever the add acted for.
    Returns the removal, if one was planned. Call after `drop_member_work`."""
    added = session.scalar(select(Delivery).where(
        Delivery.key == delivery_keys.channel_member(incident.reference, user.id)))
    if added is None or added.status not in (DELIVERED, SENDING):
        return None
    added.key = delivery_keys.channel_member_taken_back(incident.reference, user.id, added.id)
    p = added.payload
    return outbox.add(
        session, key=delivery_keys.channel_member_removal(incident.reference, user.id, added.id),
        kind=REMOVE_CHANNEL_MEMBER, incident=incident,
        actor=None if as_service_account else added.actor, depends_on=added,
        payload={"team_id": p["team_id"], "channel_id": p["channel_id"],
                 "user_id": p["user_id"], "person_id": user.id, "name": user.name,
                 "label": f"Remove {user.name} from the private channel"})


def keep_in_channel(session: Session, incident: Incident, user) -> Delivery | None:
    """Brought in again: a removal never tried is withdrawn and the add it would have
    undone is theirs again (they never left). Returns a removal that is being sent, or
    was tried and may have got through, which a new add must wait for."""
    latest = session.scalar(select(Delivery).where(
        Delivery.incident_id == incident.id, Delivery.kind == REMOVE_CHANNEL_MEMBER,
        Delivery.key.startswith(
            f"{delivery_keys.channel_member(incident.reference, user.id)}/", autoescape=True))
        .order_by(Delivery.id.desc()).limit(1))
    if latest is None or latest.status not in (PENDING, SENDING):
        return None
    if latest.status == SENDING or latest.attempts:
        return latest
    added = latest.depends_on
    session.delete(latest)
    if added is not None:
        added.key = delivery_keys.channel_member(incident.reference, user.id)
    return None


def wait_for_removal(session: Session, incident: Incident, user, removal: Delivery) -> None:
    """The add just planned for someone brought in again goes after a removal that may
    be under way (`keep_in_channel`), so that it is not undone by it."""
    added = session.scalar(select(Delivery).where(
        Delivery.key == delivery_keys.channel_member(incident.reference, user.id),
        Delivery.status == PENDING))
    if added is not None:
        added.depends_on = removal
