"""The Teams app manifest, built from this installation.

Schema: https://developer.microsoft.com/en-us/json-schemas/teams/v1.29/MicrosoftTeams.schema.json
(vendored in tests/data/teams/ and checked there). Limits the schema leaves looser than
Microsoft's pages (a command's title 32 characters and description 128, 10 commands a
menu: https://learn.microsoft.com/microsoftteams/platform/bots/how-to/create-a-bot-commands-menu)
are kept to the stricter numbers, so every Teams client shows the menu.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass
from urllib.parse import urlsplit

MANIFEST_VERSION = "1.29"
SCHEMA_URL = ("https://developer.microsoft.com/en-us/json-schemas/teams/"
              f"v{MANIFEST_VERSION}/MicrosoftTeams.schema.json")
# Bump when what the app offers changes (commands, permissions, wording): Teams takes an
# upload as an update only when its version is higher than the one installed.
REVISION = 3
# Fixed forever: every installation's app id is derived in this namespace.
_APP_ID_NAMESPACE = uuid.UUID("6b0f3f8e-2a41-5c1e-9d7a-1c1d3e4e5f60")
ACCENT_COLOR = "#1d70b8"
COLOR_ICON = "color.png"
OUTLINE_ICON = "outline.png"
PRIVACY_PATH = "/teams-app/privacy"
TERMS_PATH = "/teams-app/terms"
# The incident as a channel tab (app/web/tab): Teams opens the configuration page when
# someone adds the tab, filling in the channel's and team's ids, and the page hands Teams
# the contentUrl of the incident chosen (the channel's own by default).
TAB_ID = "incident"
TAB_CONFIG_PATH = "/tab/config"
TAB_CONFIG_QUERY = "?channel={channelId}&team={teamId}"


@dataclass(frozen=True)
class Command:
    title: str
    description: str


DECLARE = Command("declare", "declare <title>: open an incident and its Teams channel")
STATUS = Command("status", "In an incident channel: its status. In chat: your open incidents")
UPDATE = Command("update", "Post an update on this incident to its channel and stakeholders")
LEAD_ME = Command("lead me", "Take the incident lead role; '<role> me' takes another, e.g. "
                             "'scribe me'")
NOTE = Command("note", "note <text>: add a note to this incident's timeline")
HELP = Command("help", "What the bot can do, and how")

# The playbook's commands, by where Teams offers them: in the incidents team's channels
# everything; in a personal chat only what needs no incident channel.
TEAM_COMMANDS = (DECLARE, STATUS, UPDATE, LEAD_ME, NOTE, HELP)
PERSONAL_COMMANDS = (DECLARE, STATUS, HELP)
BOT_SCOPES = ("team", "personal", "groupChat")


@dataclass(frozen=True)
class MessageAction:
    """An action command on a message's More actions menu (a message extension's,
    context "message"), its dialog fetched from the bot (app/bot/message_actions.py):
    https://learn.microsoft.com/microsoftteams/platform/messaging-extensions/how-to/action-commands/define-action-command
    The schema allows a title of 32 characters and a description of 128."""

    id: str
    title: str
    description: str


ADD_TO_TIMELINE = MessageAction(
    "addToTimeline", "Add to incident timeline",
    "Put this message on an incident's timeline, with who wrote it, when, and a link to it")
DECLARE_FROM_MESSAGE = MessageAction(
    "declareFromMessage", "Declare incident from message",
    "Declare an incident, the form filled in from this message")
MESSAGE_ACTIONS = (ADD_TO_TIMELINE, DECLARE_FROM_MESSAGE)


@dataclass(frozen=True)
class ResourceSpecificPermission:
    """Granted by the team owner who adds the app, for the incidents team only, in place
    of a tenant-wide Graph permission."""

    name: str
    why: str
    type: str = "Application"


# Only what a feature uses. Archiving channels stays on ChannelSettings.ReadWrite.All and
# adding people on the .All member permissions: Graph offers no RSC permission for those.
RSC_PERMISSIONS = (
    ResourceSpecificPermission(
        "ChannelMessage.Read.Group",
        "read incident channels' messages and replies into the timeline, in this team only"),
    ResourceSpecificPermission(
        "TeamMember.Read.Group",
        "tell whether someone writing to the bot ('lead me', 'note') is in the incidents team"),
    ResourceSpecificPermission(
        "ChannelMember.ReadWrite.Group",
        "take people who are no longer on a security incident out of its private channel"),
    # Pinning the incident tab in channels Incident Desk creates (app/m365/tab_pins.py):
    # the app's catalog id from its installation, a look for a tab an earlier attempt
    # pinned, then the pin. Each is the least privileged application permission its
    # Graph page lists (team-list-installedapps, channel-list-tabs, channel-post-tabs).
    ResourceSpecificPermission(
        "TeamsAppInstallation.Read.Group",
        "find this app's installation in the incidents team, to pin the incident tab"),
    ResourceSpecificPermission(
        "TeamsTab.Read.Group",
        "see whether an incident channel has its tab already, so it is never pinned twice"),
    ResourceSpecificPermission(
        "TeamsTab.Create.Group",
        "pin the incident as a tab in the channels Incident Desk creates for incidents"),
    # User-scoped, granted by each person who adds the app for themselves (or by the
    # administrator's app setup policy that adds it for them), for that person only:
    # notifying them in their activity feed (app/m365/activity_feed.py), the least
    # privileged application permission userteamwork-sendactivitynotification lists.
    ResourceSpecificPermission(
        "TeamsActivity.Send.User",
        "tell you in your Teams activity feed about a role handed to you, your overdue "
        "follow-up actions and updates due from you"),
)


@dataclass(frozen=True)
class ActivityType:
    """A kind of notification the app posts to a person's activity feed
    (https://learn.microsoft.com/graph/teams-send-activityfeednotifications, "Activities
    update"). Teams shows `description` in the person's notification settings for the
    app. The app notifies as itself, so Teams' {actor} would only ever say "Incident Desk":
    who asked is a parameter of its own."""

    type: str
    description: str
    template_text: str


HANDOVER_OFFERED = ActivityType(
    "handoverOffered", "Someone asks you to take over a role on an incident",
    "{asker} asks you to take over as {role} for {incident}")
ROLE_ASSIGNED = ActivityType(
    "roleAssigned", "Someone gives you a role on an incident",
    "{assigner} made you {role} for {incident}")
ACTION_OVERDUE = ActivityType(
    "actionOverdue", "A follow-up action you own is overdue",
    "Your follow-up action for {incident} is overdue")
UPDATE_DUE = ActivityType(
    "updateDue", "An update is due on an incident you run",
    "An update on {incident} is due")
ACTIVITY_TYPES = (HANDOVER_OFFERED, ROLE_ASSIGNED, ACTION_OVERDUE, UPDATE_DUE)
# Ready for private (and shared) channels, where an app must be added to each channel:
# https://learn.microsoft.com/microsoftteams/platform/build-apps-for-shared-private-channels
SUPPORTS_CHANNEL_FEATURES = "tier1"

SHORT_NAME = "Incident Desk"
SHORT_DESCRIPTION = "Declare and run incidents from Teams: status, updates, roles and notes."
FULL_DESCRIPTION = (
    "Incident Desk helps your organisation respond to incidents by its playbook. "
    "Mention the bot in the incidents team to declare an incident, which opens its own "
    "channel; in that channel ask for its status, post an update to the channel and "
    "stakeholders, take a role (say 'lead me' or 'scribe me') and add notes to the "
    "incident's timeline. In a personal chat the bot lists your open incidents. "
    "On any message, More actions offers 'Add to incident timeline' (with who wrote it, "
    "when, and a link back) and 'Declare incident from message'. "
    "Pin an incident to its channel as a tab to see it and add notes without leaving "
    "Teams, signed in with your Teams account. "
    "Everything is also on the Incident Desk website, where reports and reviews are written."
)


@dataclass(frozen=True)
class AppIdentity:
    """Who the app is in Entra and where it lives: what the manifest is built from."""

    base_url: str
    bot_app_id: str
    entra_app_id: str | None = None
    tenant_id: str | None = None
    organisation_name: str = ""


def app_id(identity: AppIdentity) -> str:
    """The same GUID for the same installation (tenant and address), so uploading a new
    package updates the app Teams has instead of adding a second one."""
    base = identity.base_url.rstrip("/").lower()
    return str(uuid.uuid5(_APP_ID_NAMESPACE, f"{identity.tenant_id or 'sandbox'}|{base}"))


def _commands(commands: tuple[Command, ...]) -> list[dict]:
    return [{"title": c.title, "description": c.description} for c in commands]


def _content(identity: AppIdentity) -> dict:
    """Everything but the schema and the versions."""
    base = identity.base_url.rstrip("/")
    host = urlsplit(base).hostname or ""
    entra_id = identity.entra_app_id or identity.bot_app_id
    developer = (identity.organisation_name or SHORT_NAME)[:32]
    full_name = f"{SHORT_NAME} for {identity.organisation_name}" if identity.organisation_name \
        else SHORT_NAME
    return {
        "id": app_id(identity),
        "developer": {
            "name": developer,
            "websiteUrl": base,
            "privacyUrl": base + PRIVACY_PATH,
            "termsOfUseUrl": base + TERMS_PATH,
        },
        "name": {"short": SHORT_NAME, "full": full_name[:100]},
        "description": {"short": SHORT_DESCRIPTION, "full": FULL_DESCRIPTION},
        "icons": {"color": COLOR_ICON, "outline": OUTLINE_ICON},
        "accentColor": ACCENT_COLOR,
        "bots": [{
            "botId": identity.bot_app_id,
            "scopes": list(BOT_SCOPES),
            "isNotificationOnly": False,
            "supportsFiles": False,
            "commandLists": [
                {"scopes": ["team"], "commands": _commands(TEAM_COMMANDS)},
                {"scopes": ["personal"], "commands": _commands(PERSONAL_COMMANDS)},
            ],
        }],
        "composeExtensions": [{
            "botId": identity.bot_app_id,
            "commands": [{"id": a.id, "type": "action", "title": a.title,
                          "description": a.description, "context": ["message"],
                          "fetchTask": True} for a in MESSAGE_ACTIONS],
        }],
        "configurableTabs": [{
            "id": TAB_ID,
            "configurationUrl": base + TAB_CONFIG_PATH + TAB_CONFIG_QUERY,
            "canUpdateConfiguration": True,
            "scopes": ["team"],
            "context": ["channelTab"],
        }],
        "supportsChannelFeatures": SUPPORTS_CHANNEL_FEATURES,
        "validDomains": [host],
        "webApplicationInfo": {"id": entra_id, "resource": f"api://{host}/{entra_id}"},
        "activities": {"activityTypes": [
            {"type": a.type, "description": a.description, "templateText": a.template_text}
            for a in ACTIVITY_TYPES]},
        "authorization": {"permissions": {"resourceSpecific": [
            {"name": p.name, "type": p.type} for p in RSC_PERMISSIONS]}},
    }


def version_of(content: dict) -> str:
    """REVISION, then a number from the manifest's content: any change (a new address,
    bot id or command) gives a new version."""
    digest = hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()
    return f"1.{REVISION}.{int(digest[:7], 16)}"


def build(identity: AppIdentity) -> dict:
    content = _content(identity)
    return {"$schema": SCHEMA_URL, "manifestVersion": MANIFEST_VERSION,
            "version": version_of(content), **content}
