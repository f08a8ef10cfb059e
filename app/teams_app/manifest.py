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
REVISION = 2
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
)

SHORT_NAME = "Incident Desk"
SHORT_DESCRIPTION = "Declare and run incidents from Teams: status, updates, roles and notes."
FULL_DESCRIPTION = (
    "Incident Desk helps your organisation respond to incidents by its playbook. "
    "Mention the bot in the incidents team to declare an incident, which opens its own "
    "channel; in that channel ask for its status, post an update to the channel and "
    "stakeholders, take a role (say 'lead me' or 'scribe me') and add notes to the "
    "incident's timeline. In a personal chat the bot lists your open incidents. "
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
        "configurableTabs": [{
            "id": TAB_ID,
            "configurationUrl": base + TAB_CONFIG_PATH + TAB_CONFIG_QUERY,
            "canUpdateConfiguration": True,
            "scopes": ["team"],
            "context": ["channelTab"],
        }],
        "validDomains": [host],
        "webApplicationInfo": {"id": entra_id, "resource": f"api://{host}/{entra_id}"},
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
