"""Teams: the apps installed in a team, and the tabs pinned to its channels.

As Microsoft's reference pages document them, and as reported where they are silent:
- GET /teams/{team}/installedApps (team-list-installedapps) lists teamsAppInstallations;
  `$expand=teamsApp` (and teamsAppDefinition) adds the app, whose `id` is the app
  catalog's and `externalId` the manifest's; `$filter=teamsApp/externalId eq '...'`
  (example 3) finds one app. The sandbox's team holds at most the Incident Desk app
  (graph/sandbox/teams_apps.py). Any other filter or expansion: 400.
- GET /teams/{team}/channels/{channel}/tabs (channel-list-tabs): the channel's tabs;
  `$expand=teamsApp` adds each tab's app; `$filter=teamsApp/id eq '...'` (example 2).
- POST /teams/{team}/channels/{channel}/tabs (channel-post-tabs): 201 and the teamsTab.
  "The app must be preinstalled in the team and have the configurableTabs property
  defined in the app manifest." No `teamsApp@odata.bind` on the tab: 400 BadRequest "The
  navigation bind for the teamsApp was missing in request." (as reported:
  msgraph-sdk-dotnet#2448); an app not installed in the team: 400 BadRequest "App id ...
  needs to be installed to the team {team}:{channel} and be in an unblocked state to
  install/update a tab" (as reported: msteams-docs#2565). Pinning again makes a second
  tab: Graph documents no idempotency key for tabs. No displayName: 400 (the sandbox's
  own strictness; Graph documents no maximum length, so none is invented).
- Permissions (each page's table): the application ones are satisfied by the team-scoped
  RSC grants of the installed app (TeamsAppInstallation.Read.Group, TeamsTab.Read.Group,
  TeamsTab.Create.Group; graph/sandbox/access.py), or a tenant-wide role. A person must be
  in the team, and in a private channel in that channel (graph/sandbox/teams_access.py).
- Private channels: an app installed in the team is not available in the team's private
  channels until it is added to each ("App must be added to each channel",
  build-apps-for-shared-private-channels); there is no Graph call for that, a channel owner
  does it in Teams (teams_apps.add_to_channel). Until then tabs of the app cannot be pinned
  there, and an app-only caller cannot read the channel's tabs: 403 Forbidden, worded as
  that page's FAQ quotes it ("app not enabled in this channel").
"""

from __future__ import annotations

import json
import re
import uuid
from urllib.parse import quote

from werkzeug.routing import Rule

from graph.sandbox import teams_access, teams_apps
from graph.sandbox.auth import Requirement, requires
from graph.sandbox.teams_docs import channel_or_404, team_or_404
from graph.sandbox.wire import TENANT_ID, ApiError, Ctx, iso, json_response, text_field

API = "https://learn.microsoft.com/graph/api"
_BACKWARD = ("Group.Read.All", "Group.ReadWrite.All", "Directory.Read.All",
             "Directory.ReadWrite.All")  # "supported only for backward compatibility"
LIST_INSTALLED_APPS = Requirement(
    ("TeamsAppInstallation.ReadForTeam", "TeamsAppInstallation.ReadWriteSelfForTeam",
     "TeamsAppInstallation.ReadWriteForTeam", "TeamsAppInstallation.ReadWriteAndConsentForTeam",
     "TeamsAppInstallation.ReadWriteAndConsentSelfForTeam", *_BACKWARD),
    ("TeamsAppInstallation.ReadWriteSelfForTeam.All", "TeamsAppInstallation.Read.All",
     "TeamsAppInstallation.ReadForTeam.All", "TeamsAppInstallation.ReadWriteForTeam.All",
     "TeamsAppInstallation.ReadWriteAndConsentForTeam.All",
     "TeamsAppInstallation.ReadWriteAndConsentSelfForTeam.All", *_BACKWARD),
    f"{API}/team-list-installedapps",
    resource_specific=("TeamsAppInstallation.Read.Group",))
LIST_TABS = Requirement(
    ("TeamsTab.Read.All", "TeamsTab.ReadWriteForTeam", "TeamsTab.ReadWriteSelfForTeam",
     "TeamsTab.ReadWrite.All", *_BACKWARD),
    ("TeamsTab.Read.All", "TeamsTab.ReadWriteForTeam.All", "TeamsTab.ReadWriteSelfForTeam.All",
     "TeamsTab.ReadWrite.All", *_BACKWARD),
    f"{API}/channel-list-tabs",
    resource_specific=("TeamsTab.Read.Group", "TeamsTab.ReadWrite.Group"))
CREATE_TAB = Requirement(
    ("TeamsTab.Create", "TeamsTab.ReadWriteForTeam", "TeamsTab.ReadWriteSelfForTeam",
     "TeamsTab.ReadWrite.All", "Group.ReadWrite.All", "Directory.ReadWrite.All"),
    ("TeamsTab.Create", "TeamsTab.ReadWriteForTeam.All", "TeamsTab.ReadWriteSelfForTeam.All",
     "TeamsTab.ReadWrite.All", "Group.ReadWrite.All", "Directory.ReadWrite.All"),
    f"{API}/channel-post-tabs",
    resource_specific=("TeamsTab.Create.Group",))

BIND = re.compile(r"/appCatalogs/teamsApps(?:/([^/?#('\s]+)|\('([^']+)'\))\s*$")
EXTERNAL_ID_FILTER = re.compile(r"^\s*teamsApp/externalId\s+eq\s+'((?:[^']|'')*)'\s*$",
                                re.IGNORECASE)
APP_ID_FILTER = re.compile(r"^\s*teamsApp/id\s+eq\s+'((?:[^']|'')*)'\s*$", re.IGNORECASE)
NOT_ENABLED = "The app is not enabled in this channel: add it to the channel in Teams first."


def _expansions(ctx: Ctx, allowed: tuple[str, ...], on: str) -> set[str]:
    wanted = {e.strip() for e in (ctx.arg("$expand") or "").split(",") if e.strip()}
    unknown = sorted(e for e in wanted if e not in allowed)
    if unknown:
        raise ApiError(400, "BadRequest", "Parsing OData Select and Expand failed: Could "
                       f"not find a property named '{unknown[0]}' on type "
                       f"'microsoft.graph.{on}'.")
    return wanted


def _filtered(ctx: Ctx, pattern: re.Pattern) -> str | None:
    wanted = ctx.arg("$filter")
    if not wanted:
        return None
    match = pattern.match(wanted)
    if match is None:
        raise ApiError(400, "BadRequest", f"Invalid filter clause: {wanted}")
    return match.group(1).replace("''", "'")


def _teams_app(found: dict) -> dict:
    """The catalog's teamsApp, as $expand=teamsApp shows it (an uploaded app is the
    organisation's: distributionMethod "organization")."""
    return {"id": found["teams_app_id"], "externalId": found.get("external_id"),
            "displayName": found.get("display_name") or "Incident Desk",
            "distributionMethod": "organization"}


def _packaged(tx, team: str) -> dict | None:
    """The installed app, if it has been uploaded as a package (has a catalog id)."""
    found = teams_apps.installation(tx, team)
    return found if found is not None and found.get("teams_app_id") else None


@requires(LIST_INSTALLED_APPS)
def list_installed_apps(ctx: Ctx, team: str):
    expand = _expansions(ctx, ("teamsApp", "teamsAppDefinition"), "teamsAppInstallation")
    external = _filtered(ctx, EXTERNAL_ID_FILTER)
    with ctx.state.read() as tx:
        team_or_404(tx, team)
        teams_access.require_member(tx, team, ctx.principal)
        found = _packaged(tx, team)
    rows = []
    if found is not None and (external is None
                              or (found.get("external_id") or "").lower() == external.lower()):
        row = {"id": f"{team}##{found['teams_app_id']}"}
        if "teamsApp" in expand:
            row["teamsApp"] = _teams_app(found)
        if "teamsAppDefinition" in expand:
            row["teamsAppDefinition"] = {
                "id": f"{found['teams_app_id']}##1", "teamsAppId": found["teams_app_id"],
                "azureADAppId": (found.get("rsc_app_ids") or [None])[-1],
                "displayName": found.get("display_name") or "Incident Desk",
                "publishingState": "published"}
        rows.append(row)
    return json_response({
        "@odata.context": f"{ctx.graph_url}/$metadata#teams('{team}')/installedApps",
        "@odata.count": len(rows), "value": rows})


def _app_only(ctx: Ctx) -> bool:
    return ctx.principal is not None and not ctx.principal.delegated


def _channel_for_tabs(tx, ctx: Ctx, team: str, channel: str) -> dict:
    found = channel_or_404(tx, team, channel)
    teams_access.require_channel_access(tx, team, found, ctx.principal)
    return found


def _public_tab(tab: dict, expand: set[str]) -> dict:
    shown = {k: v for k, v in tab.items() if k not in ("teamsApp", "pinned_by")}
    if "teamsApp" in expand:
        shown["teamsApp"] = tab["teamsApp"]
    return shown


@requires(LIST_TABS)
def list_tabs(ctx: Ctx, team: str, channel: str):
    expand = _expansions(ctx, ("teamsApp",), "teamsTab")
    app_id = _filtered(ctx, APP_ID_FILTER)
    with ctx.state.read() as tx:
        found = _channel_for_tabs(tx, ctx, team, channel)
        if _app_only(ctx) and not teams_apps.in_channel(tx, team, found):
            raise ApiError(403, "Forbidden", NOT_ENABLED)
        tabs = [t for t in tx.bodies("tab", scope=channel)
                if app_id is None or t["teamsApp"]["id"] == app_id]
    return json_response({
        "@odata.context": f"{ctx.graph_url}/$metadata#teams('{team}')/channels("
                          f"'{quote(channel, safe='')}')/tabs",
        "@odata.count": len(tabs), "value": [_public_tab(t, expand) for t in tabs]})


def _bound_app(body: dict) -> str:
    bind = body.get("teamsApp@odata.bind")
    if bind is None:
        raise ApiError(400, "BadRequest", "The navigation bind for the teamsApp was missing "
                                          "in request.")
    match = BIND.search(bind) if isinstance(bind, str) else None
    if match is None:
        raise ApiError(400, "BadRequest", "Invalid teamsApp@odata.bind: expected "
                       "https://graph.microsoft.com/v1.0/appCatalogs/teamsApps/{id}.")
    return match.group(1) or match.group(2)


def _configuration(body: dict) -> dict:
    raw = body.get("configuration")
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise ApiError(400, "RequestBodyRead", "Invalid value for property 'configuration': "
                                               "a teamsTabConfiguration was expected.")
    return {name: text_field(raw, name) or None
            for name in ("entityId", "contentUrl", "websiteUrl", "removeUrl")}


@requires(CREATE_TAB)
def create_tab(ctx: Ctx, team: str, channel: str):
    body = ctx.body()
    name = text_field(body, "displayName")
    app_id = _bound_app(body)
    configuration = _configuration(body)
    with ctx.state.tx() as tx:
        found = _channel_for_tabs(tx, ctx, team, channel)
        installed = _packaged(tx, team)
        if installed is None or installed["teams_app_id"] != app_id:
            raise ApiError(400, "BadRequest", f"App id {app_id} needs to be installed to the "
                           f"team {team}:{channel} and be in an unblocked state to "
                           "install/update a tab")
        if not teams_apps.in_channel(tx, team, found):
            raise ApiError(403, "Forbidden", NOT_ENABLED)
        if not name.strip():
            raise ApiError(400, "BadRequest", "displayName is required for a configurable "
                                              "tab.")
        tab_id = str(uuid.uuid4())
        label = quote(name, safe="")
        tab = tx.put("tab", tab_id, {
            "id": tab_id, "displayName": name, "configuration": configuration,
            "sortOrderIndex": str(len(tx.bodies("tab", scope=channel)) + 10),
            "webUrl": (f"https://teams.microsoft.com/l/channel/{quote(channel, safe='')}/"
                       f"tab%3a%3a{tab_id}?label={label}&groupId={team}"
                       f"&tenantId={TENANT_ID}"),
            "teamsApp": _teams_app(installed), "pinned_by": ctx.actor,
            "createdDateTime": iso()}, scope=channel)
    return json_response({
        "@odata.context": f"{ctx.graph_url}/$metadata#teams('{team}')/channels("
                          f"'{quote(channel, safe='')}')/tabs/$entity",
        **_public_tab(tab, set())}, 201)


def rules() -> list[Rule]:
    base = "/v1.0/teams/<team>"
    return [
        Rule(f"{base}/installedApps", endpoint=list_installed_apps, methods=["GET"]),
        Rule(f"{base}/channels/<channel>/tabs", endpoint=list_tabs, methods=["GET"]),
        Rule(f"{base}/channels/<channel>/tabs", endpoint=create_tab, methods=["POST"]),
    ]


def pinned_tabs(state, channel_id: str | None = None) -> list[dict]:
    """Every pinned tab (in one channel), with its `teamsApp`: for tests and the sandbox
    page, as FakeGraph.tabs gives them."""
    with state.read() as tx:
        rows = tx.conn.execute("SELECT scope, body FROM docs WHERE kind = 'tab' ORDER BY seq"
                               ).fetchall()
    return [{**json.loads(body), "channel_id": scope} for scope, body in rows
            if channel_id is None or scope == channel_id]
