"""The Incident Desk Teams app installed in (or removed from) a team, as Teams does it.

Installing an app in a team adds its bot to the team's roster, so the bot may start
conversations in the team's channels through the Bot Connector, and grants the
team-scoped resource-specific consent (RSC) permissions its manifest lists to the Entra
app the manifest names (`webApplicationInfo.id`): with an app-only token that app may
then, in that team only, do what the permission allows (ChannelMessage.Read.Group: read
its channels' messages). Removing the app takes both away.
https://learn.microsoft.com/microsoftteams/platform/graph-api/rsc/resource-specific-consent

Teams tells the bot: an `installationUpdate` activity (`action` add / remove) into the
team's General channel, signed as every Bot Connector activity
(https://learn.microsoft.com/microsoftteams/platform/bots/how-to/conversations/subscribe-to-conversation-events#installation-update-event).
"""

from __future__ import annotations

import time
import uuid

from graph.sandbox.wire import TENANT_ID, iso

KIND = "teams_app_installation"  # one per team: {team_id, bot_id, rsc_app_ids, rsc, ...}
DEFAULT_RSC = ("ChannelMessage.Read.Group", "TeamMember.Read.Group",
               "ChannelMember.ReadWrite.Group")  # app/teams_app/manifest.py's RSC_PERMISSIONS


def install(state, team_id: str, bot_id: str, rsc_app_ids: tuple[str, ...] | list[str],
            permissions: tuple[str, ...] = DEFAULT_RSC) -> dict:
    """The app in the team: its bot on the roster, its RSC granted to `rsc_app_ids`."""
    with state.tx() as tx:
        if tx.get("team", team_id) is None:
            raise ValueError(f"no team {team_id!r}")
        return tx.put(KIND, team_id, {
            "team_id": team_id, "bot_id": bot_id, "rsc_app_ids": list(rsc_app_ids),
            "rsc": list(permissions), "installed": True, "installed_at": iso(),
            "removed_at": None})


def uninstall(state, team_id: str) -> dict | None:
    """The app out of the team: the bot leaves its roster and the RSC grants go."""
    with state.tx() as tx:
        found = tx.get(KIND, team_id)
        if found is None:
            return None
        return tx.put(KIND, team_id, {**found, "installed": False, "removed_at": iso()})


def installation(tx, team_id: str) -> dict | None:
    found = tx.get(KIND, team_id)
    return found if found is not None and found.get("installed") else None


def bot_in_team(tx, team_id: str, bot_id: str) -> bool:
    found = installation(tx, team_id)
    return found is not None and found.get("bot_id") == bot_id


def rsc_granted(tx, team_id: str | None, app_id: str, wanted: tuple[str, ...]) -> str | None:
    """The first of `wanted` granted to `app_id` in `team_id` by an installed app."""
    found = installation(tx, team_id) if team_id else None
    if found is None or app_id not in found.get("rsc_app_ids", []):
        return None
    granted = {p.lower() for p in found.get("rsc", [])}
    return next((p for p in wanted if p.lower() in granted), None)


def team_of_channel(tx, channel_id: str) -> str | None:
    row = tx.conn.execute("SELECT scope FROM docs WHERE kind = 'channel' AND key = ?",
                          (channel_id,)).fetchone()
    return row[0] if row else None


def general_channel(tx, team_id: str) -> str:
    """The team's first channel (General): where Teams addresses team-wide activities."""
    rows = tx.select("channel", scope=team_id, limit=1)
    return rows[0][1]["id"] if rows else team_id


def installation_activity(state, team_id: str, action: str, *, service_url: str,
                          bot_id: str, by_oid: str = "", tenant_id: str = TENANT_ID) -> dict:
    """The `installationUpdate` Teams sends when the app is added to (`add`) or removed
    from (`remove`) a team, from the person who did it, in the team's General channel."""
    with state.read() as tx:
        team = tx.get("team", team_id) or {"displayName": team_id}
        general = general_channel(tx, team_id)
    by_oid = by_oid or str(uuid.uuid5(uuid.NAMESPACE_URL, "sandbox-team-owner"))
    return {
        "type": "installationUpdate", "action": action, "id": f"f:{uuid.uuid4().hex}",
        "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime()),
        "serviceUrl": service_url, "channelId": "msteams",
        "from": {"id": f"29:{by_oid}", "aadObjectId": by_oid},
        "recipient": {"id": f"28:{bot_id}", "name": "Incident Desk"},
        "conversation": {"isGroup": True, "conversationType": "channel",
                         "tenantId": tenant_id, "id": general},
        "channelData": {"settings": {"selectedChannel": {"id": general}},
                        "channel": {"id": general},
                        "team": {"aadGroupId": team_id, "name": team.get("displayName"),
                                 "id": general},
                        "tenant": {"id": tenant_id}, "source": {"name": "message"}},
        "entities": [{"type": "clientInfo", "locale": "en-GB", "platform": "Web"}],
        "locale": "en-GB"}


def deliver_installation(state, bot_url: str, team_id: str, action: str, *,
                         service_url: str, bot_id: str):
    """Tell the bot at `bot_url`, signed as the Bot Connector signs (routes_connector)."""
    from graph.sandbox import routes_connector

    activity = installation_activity(state, team_id, action, service_url=service_url,
                                     bot_id=bot_id)
    token = routes_connector.connector_token(state, audience=bot_id, service_url=service_url)
    return routes_connector.deliver(state, bot_url, activity, token)
