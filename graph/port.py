"""The Microsoft 365 work Incident Desk needs, as one small interface.

The rest of the app depends on `Graph` and these dataclasses only; `graph.client` is the
msgraph-sdk implementation and `graph.fake` the in-memory one. Both pass the same
contract suite (tests/graph/test_contract.py), the client against the sandbox over HTTP.

Every method is synchronous and raises `GraphError` (or a subclass) on failure, so a
job can tell a retryable failure (`error.retryable`, honouring `error.retry_after`) from
one that needs a person.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

CARD_CONTENT_TYPE = "application/vnd.microsoft.card.adaptive"
MAX_CHANNEL_NAME = 50
ILLEGAL_CHANNEL_CHARACTERS = set("~#%&*{}+/\\:<>?|'\"")
SIMPLE_UPLOAD_LIMIT = 4 * 1024 * 1024  # larger files need an upload session
MAX_MAIL_RECIPIENTS = 500  # per message, across to/cc/bcc
# A message's delivery key, stored on the message as a single-value extended property so
# that a retry can find the draft an earlier attempt made. Graph cannot $filter messages
# on internetMessageHeaders (they are not a filterable property; they are returned only
# with $select), but it documents a $filter on an extended property's id and value:
# https://learn.microsoft.com/graph/api/singlevaluelegacyextendedproperty-get and
# https://learn.microsoft.com/graph/api/resources/extended-properties-overview (a custom
# named property: "String {GUID} Name ...", the GUID our own property set).
DELIVERY_PROPERTY = "String {42b24b51-6864-4716-9e86-50971718685a} Name IncidentDeskDelivery"


# ---- errors ----------------------------------------------------------------------------


class GraphError(Exception):
    """Graph said no, or could not be reached.

    `status` is the HTTP status (0 when there was no response), `code` Graph's error
    code (e.g. "NameAlreadyExists"), `retry_after` seconds from a Retry-After header.
    """

    def __init__(self, message: str, *, status: int = 0, code: str = "",
                 retry_after: float | None = None):
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code
        self.retry_after = retry_after

    @property
    def retryable(self) -> bool:
        """Throttling, outages and timeouts pass; trying again later may work."""
        return self.status in (0, 408, 429, 500, 502, 503, 504)


class NotFound(GraphError):
    """The team, channel, message, draft, list or drive item does not exist (404)."""


class Conflict(GraphError):
    """Something with that name or key already exists (409, or 400 NameAlreadyExists)."""


class InvalidRequest(GraphError):
    """Graph rejected what we sent (400): a bug or bad data, never worth retrying as is."""


class StillRunning(GraphError):
    """Graph accepted work that runs on after its answer (202 Accepted and a
    teamsAsyncOperation, e.g. unarchiving a channel) and it has not finished yet: checking
    again later is the only thing to do, so it is always retryable."""

    @property
    def retryable(self) -> bool:
        return True


class Locked(GraphError):
    """The file is open for editing (423 Locked: someone has it open in Word), so it
    cannot be replaced until they close it. Not `retryable` in the outbox's sense
    (minutes of backoff): a lock lasts as long as the person keeps the file open, so
    only a caller that can wait for hours (the report writer) should wait for it."""


class Unconfirmed(Exception):
    """Work that may already have been done and cannot be checked (a webhook call that
    got no answer): repeating it automatically could post twice, so a person decides."""


class TokenUnavailable(Exception):
    """No usable Microsoft token for whoever this work must act as (their sign-in expired
    or was never made); the message says who must sign in. Not worth retrying."""


class AppNotInstalled(GraphError):
    """An activity feed notification's recipient does not have the Teams app (the one the
    calling Entra app backs) installed: Graph's 403 Forbidden "... is not authorized to
    generate custom text notifications ... Ensure that the expected Teams app is installed
    in the target scope (user, team, or chat)." Nothing was sent; tell them another way."""


# ---- what goes in and comes out ----------------------------------------------------------


@dataclass(frozen=True)
class Card:
    """An Adaptive Card to attach to a channel message.

    `attachment_id` is ours to choose: it is how a retried post finds out whether the
    first attempt got through (`Graph.find_message`).
    """

    attachment_id: str
    content: dict  # the Adaptive Card JSON object; serialised to a string on the wire


@dataclass(frozen=True)
class Channel:
    id: str
    team_id: str
    display_name: str
    web_url: str = ""
    description: str = ""
    # "standard" (everyone in the team) or "private" (only its own members see it).
    membership_type: str = "standard"
    # Archived: read-only, nobody can post in it until it is unarchived (`isArchived`).
    is_archived: bool = False


@dataclass(frozen=True)
class CardMarker:
    """What recognises a card an earlier attempt posted when the post's own ids are not
    ours to choose (a bot's post through the Bot Connector): `value` at `path` inside
    an Adaptive Card attachment's content (a JSON string, as Graph returns it)."""

    path: tuple[str, ...]
    value: str

    def carried_by(self, attachment: dict) -> bool:
        if attachment.get("contentType") != CARD_CONTENT_TYPE:
            return False
        try:
            node = json.loads(attachment.get("content") or "")
        except (TypeError, ValueError):
            return False
        for step in self.path:
            if not isinstance(node, dict):
                return False
            node = node.get(step)
        return isinstance(node, str) and node == self.value


@dataclass(frozen=True)
class ChannelMessage:
    """A post or a reply (`reply_to_id` is then its post's id). `replies` is filled only
    by `channel_messages(..., with_replies=True)`: the post's replies, oldest first."""

    id: str
    html: str
    web_url: str = ""
    created_at: datetime | None = None
    sender_name: str = ""
    attachment_ids: tuple[str, ...] = ()
    reply_to_id: str | None = None
    replies: tuple[ChannelMessage, ...] = ()


@dataclass(frozen=True)
class Mail:
    subject: str
    html_body: str  # already escaped by the caller
    to: Sequence[str]
    cc: Sequence[str] = ()
    bcc: Sequence[str] = ()
    reply_to: Sequence[str] = ()
    # Ours, sent as an x- header (read by people tracing a message back to its
    # delivery) and as the DELIVERY_PROPERTY extended property (what `find_drafts`
    # filters on).
    delivery_key: str = ""

    @property
    def recipient_count(self) -> int:
        return len(self.to) + len(self.cc) + len(self.bcc)


@dataclass(frozen=True)
class ListItem:
    id: str
    fields: dict
    etag: str = ""


@dataclass(frozen=True)
class DriveFile:
    id: str
    name: str
    web_url: str
    size: int
    etag: str = ""


@dataclass(frozen=True)
class Meeting:
    id: str
    join_url: str
    subject: str = ""


@dataclass(frozen=True)
class Attendee:
    email: str
    name: str = ""
    required: bool = True


@dataclass(frozen=True)
class Event:
    id: str
    web_url: str
    subject: str = ""
    join_url: str = ""


@dataclass(frozen=True)
class Sender:
    """Whose name a call is made in.

    `user_id` None means the signed-in user behind the token (`/me`); otherwise a user id
    or UPN, e.g. a shared mailbox for stakeholder email.
    """

    user_id: str | None = None

    @property
    def path(self) -> str:
        return "me" if self.user_id is None else f"users/{self.user_id}"


ME = Sender()


@dataclass(frozen=True)
class EventRequest:
    subject: str
    start: datetime  # timezone-aware
    end: datetime
    attendees: Sequence[Attendee] = ()
    body_html: str = ""
    online_meeting: bool = True
    # Graph's own idempotency key for event creation: a retried POST returns the same event.
    transaction_id: str = ""
    location: str = ""
    categories: Sequence[str] = field(default_factory=tuple)


@dataclass(frozen=True)
class TeamMember:
    """Someone in a team (a conversationMember). `user_id` is their Entra object id (the
    sandbox's: their UPN); `email` as Graph gives it, which may be empty; `roles` is
    ["owner"] for an owner, [] for a member, ["guest"] for a guest."""

    user_id: str
    email: str = ""
    display_name: str = ""
    roles: tuple[str, ...] = ()

    @property
    def is_owner(self) -> bool:
        return "owner" in self.roles


@dataclass(frozen=True)
class InstalledApp:
    """A Teams app installed in a team (a teamsAppInstallation with its teamsApp).
    `teams_app_id` is the app catalog's id, generated by Teams when the package was
    uploaded: what `teamsApp@odata.bind` names. `external_id` is the manifest's own id
    (empty for a store app)."""

    installation_id: str
    teams_app_id: str
    external_id: str = ""
    display_name: str = ""


@dataclass(frozen=True)
class TabRequest:
    """A configurable tab to pin (channel-post-tabs): `teams_app_id` the app catalog id,
    the rest its teamsTabConfiguration, as the tab's configuration page would have set."""

    display_name: str
    teams_app_id: str
    entity_id: str
    content_url: str
    website_url: str = ""
    remove_url: str = ""


@dataclass(frozen=True)
class Tab:
    """A tab pinned to a channel (a teamsTab); `teams_app_id` is its app's catalog id
    (read with $expand=teamsApp)."""

    id: str
    display_name: str
    teams_app_id: str = ""
    entity_id: str = ""
    content_url: str = ""
    web_url: str = ""


@dataclass(frozen=True)
class ActivityNotification:
    """One notification in a person's Teams activity feed (userTeamwork:
    sendActivityNotification). `activity_type` is declared in the Teams app's manifest
    (`activities.activityTypes`) and `parameters` fill its templateText's {names}
    (`actor` excepted: Teams fills it with the caller, the app's name when the app calls
    alone). The topic is text (`topic_text`, shown as where it happened) with `web_url`,
    which Graph requires to be a Teams link (https://teams.microsoft.com/...). Teams shows
    the first MAX_PREVIEW_TEXT characters of `preview`. The same `chain_id` again replaces
    the earlier notification instead of adding one: what makes a retry safe."""

    activity_type: str
    topic_text: str
    web_url: str
    preview: str = ""
    parameters: tuple[tuple[str, str], ...] = ()
    chain_id: int | None = None


MAX_PREVIEW_TEXT = 150  # "Microsoft Teams will only show first 150 characters"
TEAMS_LINK = "https://teams.microsoft.com/"  # what a text topic's webUrl must start with


@dataclass(frozen=True)
class UploadSession:
    """An open upload session: Graph keeps the bytes sent to `upload_url` and makes no
    file until the last of them arrives."""

    upload_url: str
    expires_at: datetime | None = None


# ---- the interface -----------------------------------------------------------------------


class Graph(Protocol):
    """What Incident Desk asks of Microsoft 365. Implementations: client, fake."""

    def ready(self) -> None:
        """Have what the next call needs (its token) at hand, so that it leaves at once
        when it is sent: a paced delivery's call then reaches Graph in its slot."""

    # Teams
    def create_channel(self, team_id: str, display_name: str, description: str = "",
                       private_owner: str | None = None,
                       co_owners: Sequence[str] = ()) -> Channel:
        """Create a channel (POST /teams/{id}/channels, 201 Created with the channel).

        Without `private_owner` it is a standard channel everyone in the team sees. With
        `private_owner` (a user id: the Entra object id or UPN of whoever is creating it)
        the channel is private (membershipType "private") and that person is its owner:
        Graph wants the owner among the request's `members` (an aadUserConversationMember
        with `user@odata.bind` and roles ["owner"]) and the owner must already be a member
        of the team; more people join with `add_channel_member`.

        Private or not, the name follows the same rules and must be free among all the
        team's channels. `co_owners` (with `private_owner`) are further owners named in
        the same request: only a private channel's owners may add its members.

        Raises Conflict if the name is taken, InvalidRequest if it is not Teams-legal
        (see `graph.names.channel_name`) or an owner is not in the team."""

    def list_channels(self, team_id: str) -> list[Channel]:
        """Every channel the caller can see (a private one only if they are in it),
        archived ones included; a team holds at most 1,000."""

    def find_channel(self, team_id: str, display_name: str) -> Channel | None:
        """The channel with exactly this name (case-insensitive, as Teams compares),
        standard or private."""

    def post_message(self, team_id: str, channel_id: str, html: str,
                     cards: Sequence[Card] = ()) -> ChannelMessage:
        """Post to a channel; each card is attached and referenced from the body.

        An archived channel takes no new messages or replies: GraphError with status 403,
        not retryable (unarchive it first)."""

    def reply(self, team_id: str, channel_id: str, message_id: str, html: str,
              cards: Sequence[Card] = ()) -> ChannelMessage: ...

    def find_message(self, team_id: str, channel_id: str, attachment_id: str,
                     reply_to_id: str | None = None,
                     since: datetime | None = None) -> ChannelMessage | None:
        """A message (or reply) carrying a card with this attachment id, if one was posted.
        Pages back through the channel to `since` (when the work was first tried): in a
        busy channel the earlier post may be far down the list."""

    def find_card_message(self, team_id: str, channel_id: str, marker: CardMarker,
                          since: datetime | None = None) -> ChannelMessage | None:
        """A top-level message whose card carries `marker`, paging back to `since` as
        find_message does. With an app-only token Graph allows this with
        ChannelMessage.Read.All, or the team-scoped ChannelMessage.Read.Group granted by
        installing the Teams app in the team; otherwise 403."""

    def channel_messages(self, team_id: str, channel_id: str,
                         since: datetime | None = None,
                         with_replies: bool = False) -> Iterator[ChannelMessage]:
        """Top-level messages, newest first, following @odata.nextLink. With
        `with_replies`, each carries its replies (`$expand=replies`: up to 1,000 inline,
        the rest behind each post's `replies@odata.nextLink`, which is followed too)."""

    def add_team_member(self, team_id: str, user_id: str, owner: bool = False) -> None:
        """Add a person to the team; already a member is not an error."""

    def add_channel_member(self, team_id: str, channel_id: str, user_id: str,
                           owner: bool = False) -> str:
        """Add a person to a private channel (POST /teams/{id}/channels/{id}/members, an
        aadUserConversationMember with `user@odata.bind`; roles ["owner"] or none).
        Already a member is not an error. The person must already be a member of the
        team (`add_team_member` first): otherwise InvalidRequest, as for a standard
        channel, whose members are the team's. NotFound if the team or channel is not
        there. Returns the membership's id (the conversationMember's, which
        `remove_channel_member` takes), "" if Graph's answer did not carry one."""

    def remove_channel_member(self, team_id: str, channel_id: str, user_id: str,
                              membership_id: str = "") -> None:
        """Take a person out of a private channel, not out of the team (DELETE
        /teams/{id}/channels/{id}/members/{membership-id}, 204 No Content; Graph allows
        it only for private and shared channels). `membership_id` is what
        `add_channel_member` returned; without it the membership is looked up first
        (GET .../members). Not a member (any more) is not an error: Graph's 404, for a
        membership (or a channel) that is gone, means they are not in it, which is what
        was asked, as for a retry whose first answer was lost. InvalidRequest for a
        standard channel, whose members are the team's. Needs ChannelMember.ReadWrite.All
        (delegated, as one of the channel's owners) or ChannelMember.ReadWrite.All or
        .Group (application).
        https://learn.microsoft.com/graph/api/channel-delete-members"""

    def get_channel(self, team_id: str, channel_id: str) -> Channel:
        """One channel by id (GET /teams/{id}/channels/{id}), e.g. to see whether an
        archive or unarchive has finished (`is_archived`). NotFound if the team or
        channel is not there."""

    def archive_channel(self, team_id: str, channel_id: str) -> None:
        """Archive a channel (POST /teams/{id}/channels/{id}/archive, 202 Accepted with the
        Location of a teamsAsyncOperation): it becomes read-only, keeps its messages and
        members, and reads back with `is_archived` once the operation completes, which may
        be after this returns. Standard and private channels alike.

        Archiving an archived channel is not an error (Graph documents no error for it).
        NotFound if the team or channel is not there; InvalidRequest if the team itself is
        archived, or the channel (or its team) has no owner. An archived channel still
        counts towards the team's 1,000 channels (as a deleted one does for 30 days:
        https://learn.microsoft.com/microsoftteams/limits-specifications-teams).
        Needs ChannelSettings.ReadWrite.All, delegated or application.
        https://learn.microsoft.com/graph/api/channel-archive"""

    def unarchive_channel(self, team_id: str, channel_id: str) -> None:
        """Restore an archived channel (POST .../unarchive, 202 Accepted, asynchronous like
        `archive_channel`), so people can post in it again. Unarchiving a channel that is
        not archived is not an error. NotFound if the team or channel is not there;
        InvalidRequest if the team is archived. Needs ChannelSettings.ReadWrite.All.
        https://learn.microsoft.com/graph/api/channel-unarchive"""

    # Teams apps and tabs
    def find_installed_app(self, team_id: str, external_id: str) -> InstalledApp | None:
        """The app with this manifest id installed in the team, or None if it is not (GET
        /teams/{id}/installedApps?$expand=teamsApp&$filter=teamsApp/externalId eq '...',
        https://learn.microsoft.com/graph/api/team-list-installedapps, example 3). Its
        `teams_app_id` is what pinning a tab binds to. Application permission: the
        team-scoped TeamsAppInstallation.Read.Group (RSC, granted by installing the app)
        is least privileged; without it or a tenant-wide one, 403. NotFound: no team."""

    def list_tabs(self, team_id: str, channel_id: str, teams_app_id: str = "") -> list[Tab]:
        """The channel's tabs (GET .../channels/{id}/tabs?$expand=teamsApp), only those of
        the app `teams_app_id` if given ($filter=teamsApp/id eq '...':
        https://learn.microsoft.com/graph/api/channel-list-tabs). Application: the RSC
        TeamsTab.Read.Group is least privileged (TeamsTab.Create.Group does not read)."""

    def pin_tab(self, team_id: str, channel_id: str, tab: TabRequest) -> Tab:
        """Add (pin) a configurable tab to a channel (POST .../channels/{id}/tabs, 201:
        https://learn.microsoft.com/graph/api/channel-post-tabs). Not idempotent: pinning
        twice makes two tabs, so a caller that may have pinned already looks first
        (`list_tabs`). The app must be installed in the team: otherwise 400 BadRequest
        ("App id ... needs to be installed to the team ..."), InvalidRequest; an
        app-only caller holding only the RSC TeamsTab.Create.Group (least privileged)
        has no grant in a team the app is not in: 403. In a private channel an app is
        available only once it has been added to that channel
        (https://learn.microsoft.com/microsoftteams/platform/build-apps-for-shared-private-channels):
        403 for an app-only caller until then."""

    # Outlook
    def create_draft(self, sender: Sender, mail: Mail) -> str:
        """Save a draft and return its id; with `send_draft` this makes sending
        idempotent: sending a draft that was already sent raises NotFound."""

    def send_draft(self, sender: Sender, draft_id: str) -> None: ...

    def find_drafts(self, sender: Sender, delivery_key: str) -> list[str]:
        """The ids of the drafts in the sender's Drafts folder that carry this delivery
        key (`Mail.delivery_key`), oldest first: what an attempt whose answer was lost
        saved. A sent draft is no longer in Drafts. Needs Mail.Read (Mail.ReadWrite
        covers it); Mail.ReadBasic cannot read extended properties."""

    def delete_draft(self, sender: Sender, draft_id: str) -> None:
        """Delete a draft that will never be sent (DELETE .../messages/{id}, 204), so no
        copy of an update, Bcc list included, waits in Drafts for someone to send it by
        mistake. NotFound if it is gone (sent, or deleted already). Needs
        Mail.ReadWrite."""

    def send_mail(self, sender: Sender, mail: Mail) -> None:
        """One-shot send (POST sendMail, 202). Not idempotent: jobs use drafts."""

    def create_event(self, sender: Sender, request: EventRequest) -> Event:
        """An event in the sender's calendar; one that ends before it starts is refused
        (InvalidRequest) and nothing is booked."""

    def create_online_meeting(self, sender: Sender, subject: str, start: datetime,
                              end: datetime, external_id: str) -> Meeting:
        """createOrGet: the same external id always returns the same meeting. Graph
        requires one: an empty external id is refused (InvalidRequest), nothing made."""

    # SharePoint
    def list_items(self, site_id: str, list_id: str, page_size: int = 200
                   ) -> Iterator[ListItem]:
        """Every item with its fields, following @odata.nextLink page by page."""

    def upload_file(self, drive_id: str, folder: str, name: str, content: bytes,
                    replace: bool = True) -> DriveFile:
        """Put a file at folder/name; over 4 MB goes through an upload session.
        With replace False a clash raises Conflict; a file open for editing raises
        Locked."""

    def get_file(self, drive_id: str, path: str) -> bytes:
        """The content of folder/name (e.g. an organisation's report template)."""

    # Reading who is in a team, and requests that change nothing (the set-up check)
    def list_team_members(self, team_id: str) -> list[TeamMember]:
        """Everyone in the team with their roles (GET /teams/{id}/members, following
        @odata.nextLink). NotFound if there is no such team. Needs TeamMember.Read.All or
        TeamMember.ReadWrite.All. https://learn.microsoft.com/graph/api/team-list-members"""

    def post_without_body(self, team_id: str, channel_id: str) -> ChannelMessage:
        """POST a channel message that has no body, which Graph refuses (InvalidRequest)
        once it has checked that the caller may post there: a 403 means they may not.
        Nothing is posted. Returns the message should Graph ever accept one."""

    def create_invalid_draft(self, sender: Sender) -> str:
        """POST a draft Graph refuses as invalid (InvalidRequest) once it has checked the
        caller may draft in that mailbox (403 if not): its one recipient is not an email
        address and its header's name lacks the "x-" every custom header must start with.
        Nothing is saved. Returns the draft's id should Graph ever accept one."""

    def start_upload_session(self, drive_id: str, folder: str, name: str) -> UploadSession:
        """Open an upload session for folder/name (createUploadSession, conflictBehavior
        "fail"): no file exists until bytes are sent. Conflict if the name is taken,
        NotFound if the drive is not there; 403 if the caller may not write there."""

    def cancel_upload_session(self, session: UploadSession) -> None:
        """End an upload session unused (DELETE on its upload URL, 204): whatever it held
        is discarded and no file is made. NotFound if it has ended already.
        https://learn.microsoft.com/graph/api/driveitem-createuploadsession"""

    # The Teams activity feed
    def send_activity_notification(self, user_id: str,
                                   notification: ActivityNotification) -> None:
        """Notify one person in their Teams activity feed (POST /users/{id}/teamwork/
        sendActivityNotification, 204 No Content;
        https://learn.microsoft.com/graph/api/userteamwork-sendactivitynotification and
        https://learn.microsoft.com/graph/teams-send-activityfeednotifications). `user_id`
        is their Entra object id (or UPN). The Teams app must be installed for them
        (personally), and the caller must be the Entra app its manifest names in
        `webApplicationInfo`. Permissions: delegated TeamsActivity.Send; application
        TeamsActivity.Send, or TeamsActivity.Send.User, resource-specific consent that
        installing the app for the person grants. AppNotInstalled when they do not have
        it; GraphError 403 for a missing permission; InvalidRequest for an activity type
        the manifest does not declare, template parameters that do not match its
        templateText, or a web_url that is not a Teams link. Graph's limit: 5 requests a
        second per app per tenant (throttling-limits, Microsoft Teams service limits)."""
