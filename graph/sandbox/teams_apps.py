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
               "ChannelMember.ReadWrite.Group", "TeamsAppInstallation.Read.Group",
               "TeamsTab.Read.Group", "TeamsTab.Create.Group",
               )  # app/teams_app/manifest.py's RSC_PERMISSIONS


def install(state, team_id: str, bot_id: str, rsc_app_ids: tuple[str, ...] | list[str],
            permissions: tuple[str, ...] = DEFAULT_RSC) -> dict:
    """The app in the team: its bot on the roster, its RSC granted to `rsc_app_ids`."""
    with state.tx() as tx:
        if tx.get("team", team_id) is None:
            raise ValueError(f"no team {team_id!r}")
        # The package uploaded to the catalog stays there: installing it again keeps its
        # catalog id and manifest id (set_package); its private channels start afresh.
        package = {k: v for k, v in (tx.get(KIND, team_id) or {}).items()
                   if k in ("external_id", "teams_app_id", "display_name")}
        return tx.put(KIND, team_id, {
            "team_id": team_id, "bot_id": bot_id, "rsc_app_ids": list(rsc_app_ids),
            "rsc": list(permissions), "installed": True, "installed_at": iso(),
            "removed_at": None, "channels": [], **package})


def uninstall(state, team_id: str) -> dict | None:
    """The app out of the team: the bot leaves its roster and the RSC grants go."""
    with state.tx() as tx:
        found = tx.get(KIND, team_id)
        if found is None:
            return None
        return tx.put(KIND, team_id, {**found, "installed": False, "removed_at": iso()})


def set_package(state, team_id: str, external_id: str, display_name: str = "Incident Desk"
                ) -> dict:
    """Which package the installation is: its manifest id (`externalId`) and the app
    catalog id Teams gave it when it was uploaded (what `teamsApp@odata.bind` names),
    derived from the manifest id so uploading the same app again keeps it. The README has
    an administrator upload the package /admin/teams-app builds."""
    with state.tx() as tx:
        found = tx.get(KIND, team_id)
        if found is None:
            raise ValueError(f"the app is not installed in {team_id!r}")
        catalog = str(uuid.uuid5(uuid.NAMESPACE_URL, f"sandbox-catalog:{external_id.lower()}"))
        return tx.put(KIND, team_id, {**found, "external_id": external_id,
                                      "teams_app_id": catalog, "display_name": display_name})


def add_to_channel(state, team_id: str, channel_id: str) -> dict:
    """A channel owner adds the installed app to one of the team's private channels in
    Teams: an app installed in the team is not available in its private channels until it
    is added to each (https://learn.microsoft.com/microsoftteams/platform/build-apps-for-shared-private-channels,
    "App must be added to each channel"); Graph has no call for it."""
    with state.tx() as tx:
        found = installation(tx, team_id)
        if found is None:
            raise ValueError(f"the app is not installed in {team_id!r}")
        channels = sorted({*found.get("channels", []), channel_id})
        return tx.put(KIND, team_id, {**found, "channels": channels})


def in_channel(tx, team_id: str, channel: dict) -> bool:
    """Whether the installed app is available in this channel of the team: every standard
    channel; a private one only once it was added there."""
    found = installation(tx, team_id)
    if found is None:
        return False
    return channel.get("membershipType") != "private" or \
        channel["id"] in found.get("channels", [])


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


# ---- the app installed for one person (personal scope) --------------------------------
# A person adds the app for themselves in Teams (Apps, then Add), or an administrator's
# app setup policy does it for them. That installation carries the package's manifest: the
# activity types its `activities` declares (what the app may post to their activity feed)
# and the user-scoped RSC permissions it lists (TeamsActivity.Send.User), granted to the
# Entra app the manifest names (`webApplicationInfo.id`) for this person only.
# https://learn.microsoft.com/graph/teams-send-activityfeednotifications (Requirements).
PERSONAL_KIND = "teams_app_personal_installation"  # key: "{user object id}/{manifest id}"


def install_for_user(state, user: str, manifest: dict,
                     rsc_app_ids: tuple[str, ...] | list[str] = ()) -> dict:
    """The app (its `manifest`, as the package has it) installed for `user` (UPN or
    object id, who must be in the directory); its user-scoped RSC goes to the manifest's
    webApplicationInfo app and to `rsc_app_ids`. Raises ValueError for a manifest
    without an id or webApplicationInfo, or an unknown person."""
    from graph.sandbox import directory

    app_id = str((manifest.get("webApplicationInfo") or {}).get("id") or "")
    external = str(manifest.get("id") or "")
    if not app_id or not external:
        raise ValueError("the manifest needs an id and webApplicationInfo.id")
    declared = ((manifest.get("activities") or {}).get("activityTypes")) or []
    types = {str(t.get("type")): {"templateText": str(t.get("templateText") or ""),
                                  "description": str(t.get("description") or "")}
             for t in declared if isinstance(t, dict) and t.get("type")}
    rsc = [str(p.get("name")) for p in
           ((manifest.get("authorization") or {}).get("permissions") or {})
           .get("resourceSpecific") or [] if isinstance(p, dict) and p.get("name")]
    with state.tx() as tx:
        person = directory.find_user(tx, user)
        if person is None:
            raise ValueError(f"no user {user!r} in the directory")
        return tx.put(PERSONAL_KIND, f"{person['id']}/{external.lower()}", {
            "user_id": person["id"], "upn": person["userPrincipalName"],
            "external_id": external, "display_name": (manifest.get("name") or {}).get(
                "short") or "Teams app",
            "app_ids": sorted({app_id, *rsc_app_ids}), "rsc": rsc, "activity_types": types,
            "installed": True, "installed_at": iso(), "removed_at": None},
            scope=person["id"])


def uninstall_for_user(state, user: str) -> int:
    """Every app installed for `user` removed; returns how many."""
    from graph.sandbox import directory

    with state.tx() as tx:
        person = directory.find_user(tx, user)
        found = personal_installations(tx, person["id"]) if person else []
        for row in found:
            tx.put(PERSONAL_KIND, f"{row['user_id']}/{row['external_id'].lower()}",
                   {**row, "installed": False, "removed_at": iso()}, scope=row["user_id"])
        return len(found)


def personal_installations(tx, user_object_id: str) -> list[dict]:
    """The apps installed for this person now."""
    return [row for row in tx.bodies(PERSONAL_KIND, scope=user_object_id)
            if row.get("installed")]


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
