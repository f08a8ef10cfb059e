"""Which teams the Teams app is installed in, from what Teams tells the bot: an
`installationUpdate` (action add / remove, and their -upgrade forms) or a
`conversationUpdate` with eventType teamMemberAdded / teamMemberRemoved naming the bot
itself (https://learn.microsoft.com/microsoftteams/platform/bots/how-to/conversations/subscribe-to-conversation-events).
A team is named by its Graph id (channelData.team.aadGroupId), as Incident Desk's
settings and channels name it; the Teams thread id is kept beside it. The tenant was
checked on the way in (app/bot/inbound.py)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from app.bot.models import BotInstallation
from app.core import clock

UNINSTALLED, NOT_IN_ROSTER = "uninstalled", "not_in_roster"
MAX_ID = 200


def _field(value, name: str):
    if isinstance(value, dict):
        return value.get(name)
    return getattr(value, name, None)


def team_of(activity) -> tuple[str, str] | None:
    """(Graph team id, Teams thread id) of a team-scoped activity, else None."""
    team = _field(activity.channel_data or {}, "team")
    group = _field(team, "aadGroupId") or _field(team, "aad_group_id") if team else None
    if not isinstance(group, str) or not group or len(group) > MAX_ID:
        return None
    thread = _field(team, "id")
    return group, thread if isinstance(thread, str) and len(thread) <= MAX_ID else ""


def event_type(activity) -> str:
    value = _field(activity.channel_data or {}, "eventType")
    return value if isinstance(value, str) else ""


def names_the_bot(members, activity) -> bool:
    """Whether the bot itself is among the members added or removed."""
    me = activity.recipient.id if activity.recipient else None
    return bool(me) and any(getattr(m, "id", None) == me for m in members or [])


def added(session: Session, activity) -> BotInstallation | None:
    where = team_of(activity)
    if where is None:
        return None  # a personal or group chat: nothing to post in
    team_id, thread_id = where
    tenant = activity.conversation.tenant_id if activity.conversation else None
    row = session.get(BotInstallation, team_id)
    if row is None:
        row = BotInstallation(team_id=team_id)
        session.add(row)
    row.thread_id = thread_id
    row.tenant_id = str(tenant or "")[:100]
    row.service_url = str(activity.service_url or "")[:500]
    row.installed_at, row.removed_at, row.removed_because = clock.now(), None, None
    session.commit()
    return row


def removed(session: Session, activity) -> None:
    """Recorded even for a team not seen before: Teams has said the app is not there."""
    where = team_of(activity)
    if where is None:
        return
    if session.get(BotInstallation, where[0]) is None:
        tenant = activity.conversation.tenant_id if activity.conversation else None
        session.add(BotInstallation(team_id=where[0], thread_id=where[1],
                                    tenant_id=str(tenant or "")[:100],
                                    service_url=str(activity.service_url or "")[:500]))
        session.flush()
    mark_removed(session, where[0], UNINSTALLED)
    session.commit()


def mark_removed(session: Session, team_id: str, because: str) -> None:
    """The app is no longer in the team (the caller commits)."""
    row = session.get(BotInstallation, team_id)
    if row is not None and row.removed_at is None:
        row.removed_at, row.removed_because = clock.now(), because
