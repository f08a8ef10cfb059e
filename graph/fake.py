"""An in-memory Microsoft 365 behind the `Graph` interface, for fast tests of the app.

It enforces the same rules as Graph and the sandbox (Teams-legal channel names, duplicate
names, 500 recipients a message, drafts that can be sent once, transactionId and
externalId idempotency, paging) and keeps what it was sent as the same Graph-shaped
documents the sandbox's state readers return, so a test can look at either the same way.
The contract suite (tests/graph/test_contract.py) holds it and the real client to one
behaviour.
"""

from __future__ import annotations

import itertools
import json
import re
import threading
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import replace
from datetime import UTC, datetime

from graph.names import channel_name_problem
from graph.port import (
    CARD_CONTENT_TYPE,
    DELIVERY_PROPERTY,
    MAX_MAIL_RECIPIENTS,
    MAX_PREVIEW_TEXT,
    SIMPLE_UPLOAD_LIMIT,
    TEAMS_LINK,
    ActivityNotification,
    AppNotInstalled,
    Card,
    CardMarker,
    Channel,
    ChannelMessage,
    Conflict,
    DriveFile,
    Event,
    EventRequest,
    GraphError,
    InstalledApp,
    InvalidRequest,
    ListItem,
    Locked,
    Mail,
    Meeting,
    NotFound,
    Sender,
    Tab,
    TabRequest,
    TeamMember,
    UploadSession,
)

MAX_MESSAGE_BYTES = 28 * 1024
RECENT_MESSAGES = 50
DELIVERY_HEADER = "x-incident-desk-delivery"


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _etag() -> str:
    return f'"{uuid.uuid4()},1"'


def _parse(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def _copy(doc: dict) -> dict:
    return json.loads(json.dumps(doc))  # readers hand out copies, as the sandbox does


class FakeGraph:
    """`graph.port.Graph` in memory. `actor` plays the signed-in user (`/me`)."""

    def __init__(self, actor: str = "Incident Desk"):
        self.actor = actor
        self._lock = threading.RLock()
        self._ids = itertools.count(1)
        self.reset()

    def ready(self) -> None:
        """Nothing to fetch in memory."""

    def reset(self) -> None:
        """Forget everything, as the sandbox's state.reset() does."""
        with self._lock:
            self._teams: dict[str, dict] = {}  # id -> {displayName, channels, members}
            # a private channel's id -> lowercased user id -> its member document
            self._channel_members: dict[str, dict[str, dict]] = {}
            self._messages: list[dict] = []
            self._drafts: dict[str, dict] = {}
            self._sent: list[dict] = []
            self._events: dict[str, dict] = {}  # transactionId (or a fresh key) -> event
            self._meetings: dict[str, dict] = {}  # externalId -> meeting
            self._lists: dict[tuple[str, str], list[dict]] = {}
            self._drives: dict[str, dict[str, dict]] = {}  # id -> lowercased path -> file
            self._open_files: dict[tuple[str, str], datetime | None] = {}  # -> expiry or None
            self._upload_sessions: dict[str, tuple[str, str]] = {}  # url -> drive, path
            self._personal_apps: dict[str, dict] = {}  # user id -> the app installed for them
            self._activity: list[dict] = []  # activity feed notifications sent
            # team -> the Teams app installed in it: {installation_id, teams_app_id, ...}
            self._installed: dict[str, dict] = {}
            self._channel_apps: set[str] = set()  # private channels the app was added to
            self._tabs: dict[str, list[dict]] = {}  # channel id -> its tabs

    # ---- set-up ----------------------------------------------------------------------------

    def add_team(self, team_id: str, display_name: str = "") -> None:
        with self._lock:
            self._teams.setdefault(team_id, {"displayName": display_name, "channels": {},
                                             "members": {}})

    def add_channel(self, team_id: str, display_name: str, channel_id: str | None = None,
                    description: str = "", membership_type: str = "standard") -> dict:
        """A channel that exists already (the sandbox's seed does the same); a private one
        starts with no members."""
        with self._lock:
            channel_id = channel_id or f"19:{uuid.uuid4().hex}@thread.tacv2"
            self._team(team_id)["channels"][channel_id] = {
                "id": channel_id, "displayName": display_name, "description": description,
                "membershipType": membership_type, "isArchived": False,
                "createdDateTime": _now(),
                "webUrl": f"https://teams.microsoft.com/l/channel/{channel_id}/"
                          f"{display_name}?groupId={team_id}"}
            return _copy(self._team(team_id)["channels"][channel_id])

    def seed_list(self, site_id: str, list_id: str, items: Sequence[dict],
                  replace: bool = False) -> None:
        with self._lock:
            rows = [] if replace else self._lists.get((site_id, list_id), [])
            start = len(rows)
            self._lists[(site_id, list_id)] = rows + [
                {"id": str(start + n + 1), "eTag": _etag(), "fields": dict(fields)}
                for n, fields in enumerate(items)]

    def add_drive(self, drive_id: str) -> None:
        with self._lock:
            self._drives.setdefault(drive_id, {})

    def put_file(self, drive_id: str, path: str, content: bytes) -> None:
        """A file that is there already (an organisation's report template)."""
        folder, _, name = path.strip("/").rpartition("/")
        self.add_drive(drive_id)
        self.upload_file(drive_id, folder, name, content)

    def lock_file(self, drive_id: str, path: str, by: str = "Someone",
                  until: datetime | None = None) -> None:
        """Hold the file open for editing (graph.sandbox.locks.lock_file does the same):
        replacing it raises Locked until `unlock_file` or `until` (real time)."""
        with self._lock:
            self._open_files[(drive_id, path.strip("/").lower())] = until

    def unlock_file(self, drive_id: str, path: str) -> bool:
        """Close the file in Word; False if it was not open."""
        key = (drive_id, path.strip("/").lower())
        with self._lock:
            found = key in self._open_files
            self._open_files.pop(key, None)
            return found

    def _refuse_if_locked(self, drive_id: str, path: str) -> None:
        key = (drive_id, path.lower())
        if key not in self._open_files:
            return
        until = self._open_files[key]
        if until is not None and until <= datetime.now(UTC):
            del self._open_files[key]
            return
        raise Locked("The resource you are attempting to access is locked", status=423,
                     code="notAllowed")

    # ---- readers (the sandbox's state readers, same shapes) --------------------------------

    def channels(self, team_id: str | None = None) -> list[dict]:
        with self._lock:
            teams = [team_id] if team_id else list(self._teams)
            return [_copy(c) for t in teams
                    for c in self._teams.get(t, {}).get("channels", {}).values()]

    def messages(self, team_id: str | None = None, channel_id: str | None = None) -> list[dict]:
        with self._lock:
            return [_copy(m) for m in self._messages
                    if (team_id is None or m["team_id"] == team_id)
                    and (channel_id is None or m["channel_id"] == channel_id)]

    def mails(self) -> list[dict]:
        with self._lock:
            return [_copy(m) for m in self._sent]

    def drafts(self) -> list[dict]:
        with self._lock:
            return [_copy(m) for m in self._drafts.values()]

    def events(self) -> list[dict]:
        with self._lock:
            return [_copy(e) for e in self._events.values()]

    def meetings(self) -> list[dict]:
        with self._lock:
            return [_copy(m) for m in self._meetings.values()]

    def members(self, team_id: str) -> list[dict]:
        with self._lock:
            return [_copy(m) for m in self._teams.get(team_id, {}).get("members", {}).values()]

    def channel_members(self, channel_id: str) -> list[dict]:
        with self._lock:
            return [_copy(m) for m in self._channel_members.get(channel_id, {}).values()]

    def files(self, drive_id: str | None = None) -> list[dict]:
        with self._lock:
            drives = [drive_id] if drive_id else list(self._drives)
            return [{k: v for k, v in f.items() if k != "content"}
                    for d in drives for f in self._drives.get(d, {}).values()]

    def file_bytes(self, drive_id: str, path: str) -> bytes | None:
        with self._lock:
            found = self._drives.get(drive_id, {}).get(path.strip("/").lower())
            return None if found is None else found["content"]

    # ---- Teams -----------------------------------------------------------------------------

    def _team(self, team_id: str) -> dict:
        team = self._teams.get(team_id)
        if team is None:
            raise NotFound(f"No team found with Group Id {team_id}", status=404,
                           code="NotFound")
        return team

    def _channel(self, team_id: str, channel_id: str) -> dict:
        channel = self._team(team_id)["channels"].get(channel_id)
        if channel is None:
            raise NotFound("Channel not found", status=404, code="NotFound")
        return channel

    @staticmethod
    def _as_channel(team_id: str, raw: dict) -> Channel:
        return Channel(id=raw["id"], team_id=team_id, display_name=raw["displayName"],
                       web_url=raw["webUrl"], description=raw["description"],
                       membership_type=raw["membershipType"],
                       is_archived=raw.get("isArchived", False))

    def _in_team(self, team_id: str, user_id: str) -> bool:
        return any(u.lower() == user_id.lower() for u in self._team(team_id)["members"])

    def _put_channel_member(self, channel_id: str, user_id: str, owner: bool) -> None:
        members = self._channel_members.setdefault(channel_id, {})
        existing = members.get(user_id.lower())
        members[user_id.lower()] = {
            "id": existing["id"] if existing else f"{channel_id}/{user_id}",
            "userId": user_id, "roles": ["owner"] if owner else [],
            "@odata.type": "#microsoft.graph.aadUserConversationMember"}

    def create_channel(self, team_id: str, display_name: str, description: str = "",
                       private_owner: str | None = None,
                       co_owners: Sequence[str] = ()) -> Channel:
        with self._lock:
            team = self._team(team_id)
            problem = channel_name_problem(display_name)
            if problem:
                raise InvalidRequest(problem, status=400, code="BadRequest")
            owners = list(dict.fromkeys((private_owner, *co_owners))) if private_owner else []
            outside = [o for o in owners if not self._in_team(team_id, o)]
            if outside:
                who = outside[0]
                raise InvalidRequest(
                    f"The private channel {display_name!r} cannot have {who} as "
                    f"its owner (User {who} is not part of team {team_id}.): the "
                    f"owner must already be a member of team {team_id} (add them to the team "
                    "first), with an enabled account.", status=400, code="BadRequest")
            if any(c["displayName"].lower() == display_name.lower()
                   for c in team["channels"].values()):
                raise Conflict("Channel name already existed, please use other name.",
                               status=400, code="NameAlreadyExists")
            kind = "standard" if private_owner is None else "private"
            raw = self.add_channel(team_id, display_name, description=description,
                                   membership_type=kind)
            for owner in owners:
                self._put_channel_member(raw["id"], owner, owner=True)
            return self._as_channel(team_id, raw)

    def list_channels(self, team_id: str) -> list[Channel]:
        with self._lock:
            return [self._as_channel(team_id, raw)
                    for raw in self._team(team_id)["channels"].values()]

    def find_channel(self, team_id: str, display_name: str) -> Channel | None:
        with self._lock:
            for raw in self._team(team_id)["channels"].values():
                if raw["displayName"].lower() == display_name.lower():
                    return self._as_channel(team_id, raw)
        return None

    def _post(self, team_id: str, channel_id: str, html: str, cards: Sequence[Card],
              reply_to_id: str | None = None) -> ChannelMessage:
        with self._lock:
            if self._channel(team_id, channel_id).get("isArchived"):
                # As the sandbox answers (graph/sandbox/routes_channel_archive.py).
                raise GraphError("The channel is archived: it takes no new messages until it "
                                 "is unarchived.", status=403, code="Forbidden")
            if reply_to_id is not None and not any(
                    m["id"] == reply_to_id and m["channel_id"] == channel_id
                    for m in self._messages):
                raise NotFound("Message not found", status=404, code="NotFound")
            body = html + "".join(f'<attachment id="{c.attachment_id}"></attachment>'
                                  for c in cards)
            attachments = [{"id": c.attachment_id, "contentType": CARD_CONTENT_TYPE,
                            "content": json.dumps(c.content), "name": None} for c in cards]
            wire = {"body": {"contentType": "html", "content": body},
                    "attachments": attachments}
            if len(json.dumps(wire).encode()) > MAX_MESSAGE_BYTES:
                raise InvalidRequest("Message is too large.", status=413,
                                     code="RequestEntityTooLarge")
            message_id = f"{int(datetime.now(UTC).timestamp() * 1000)}{next(self._ids):06d}"
            raw = {"id": message_id, "replyToId": reply_to_id, "createdDateTime": _now(),
                   "messageType": "message", **wire,
                   "from": {"user": {"id": str(uuid.uuid5(uuid.NAMESPACE_URL, self.actor)),
                                     "displayName": self.actor}},
                   "webUrl": f"https://teams.microsoft.com/l/message/{channel_id}/{message_id}",
                   "team_id": team_id, "channel_id": channel_id}
            self._messages.append(raw)
            return self._as_message(raw)

    @staticmethod
    def _as_message(raw: dict) -> ChannelMessage:
        return ChannelMessage(
            id=raw["id"], html=raw["body"]["content"], web_url=raw["webUrl"],
            created_at=_parse(raw["createdDateTime"]),
            sender_name=raw["from"]["user"]["displayName"],
            attachment_ids=tuple(a["id"] for a in raw["attachments"]),
            reply_to_id=raw["replyToId"])

    def post_message(self, team_id: str, channel_id: str, html: str,
                     cards: Sequence[Card] = ()) -> ChannelMessage:
        return self._post(team_id, channel_id, html, cards)

    def reply(self, team_id: str, channel_id: str, message_id: str, html: str,
              cards: Sequence[Card] = ()) -> ChannelMessage:
        return self._post(team_id, channel_id, html, cards, reply_to_id=message_id)

    def find_message(self, team_id: str, channel_id: str, attachment_id: str,
                     reply_to_id: str | None = None,
                     since: datetime | None = None) -> ChannelMessage | None:
        """Without `since`, the last 50 (one page); with it, back to `since`."""
        with self._lock:
            self._channel(team_id, channel_id)
            rows = [m for m in self._messages if m["channel_id"] == channel_id
                    and m["replyToId"] == reply_to_id]
            if since is None:
                rows = rows[-RECENT_MESSAGES:]
            else:
                rows = [m for m in rows if _parse(m["createdDateTime"]) >= since]
            for raw in reversed(rows):
                if any(a["id"] == attachment_id for a in raw["attachments"]):
                    return self._as_message(raw)
        return None

    def find_card_message(self, team_id: str, channel_id: str, marker: CardMarker,
                          since: datetime | None = None) -> ChannelMessage | None:
        with self._lock:
            self._channel(team_id, channel_id)
            rows = [m for m in self._messages if m["channel_id"] == channel_id
                    and m["replyToId"] is None]
            if since is None:
                rows = rows[-RECENT_MESSAGES:]
            else:
                rows = [m for m in rows if _parse(m["createdDateTime"]) >= since]
            for raw in reversed(rows):
                if any(marker.carried_by(a) for a in raw["attachments"]):
                    return self._as_message(raw)
        return None

    def channel_messages(self, team_id: str, channel_id: str,
                         since: datetime | None = None,
                         with_replies: bool = False) -> Iterator[ChannelMessage]:
        with self._lock:
            self._channel(team_id, channel_id)
            rows = [m for m in self._messages if m["channel_id"] == channel_id]
        posts = [m for m in rows if m["replyToId"] is None]
        for raw in reversed(posts):
            message = self._as_message(raw)
            if since is not None and message.created_at < since:
                return
            if with_replies:  # posted in order: oldest first already
                message = replace(message, replies=tuple(
                    self._as_message(r) for r in rows if r["replyToId"] == raw["id"]))
            yield message

    def add_team_member(self, team_id: str, user_id: str, owner: bool = False) -> None:
        with self._lock:
            self._team(team_id)["members"][user_id] = {
                "id": f"{team_id}/{user_id}", "userId": user_id,
                "roles": ["owner"] if owner else [],
                "@odata.type": "#microsoft.graph.aadUserConversationMember"}

    def add_channel_member(self, team_id: str, channel_id: str, user_id: str,
                           owner: bool = False) -> str:
        with self._lock:
            channel = self._channel(team_id, channel_id)
            if channel["membershipType"] != "private":
                raise InvalidRequest("Operation not supported for this Channel.", status=400,
                                     code="BadRequest")
            if not self._in_team(team_id, user_id):
                raise InvalidRequest(
                    f"{user_id} cannot join channel {channel_id} (User is not found in the "
                    "team.): a private channel takes only people who are already members of "
                    f"team {team_id} (add them to the team first), with an enabled account.",
                    status=400, code="BadRequest")
            self._put_channel_member(channel_id, user_id, owner)
            return self._channel_members[channel_id][user_id.lower()]["id"]

    def remove_channel_member(self, team_id: str, channel_id: str, user_id: str,
                              membership_id: str = "") -> None:
        with self._lock:
            try:
                channel = self._channel(team_id, channel_id)
            except NotFound:
                return  # no channel: they are not in it
            if channel["membershipType"] != "private":
                raise InvalidRequest("Operation not supported for this Channel.", status=400,
                                     code="BadRequest")
            members = self._channel_members.get(channel_id, {})
            gone = [key for key, member in members.items() if member["id"] == membership_id] \
                if membership_id else [user_id.lower()]
            for key in gone:
                members.pop(key, None)

    def _set_archived(self, team_id: str, channel_id: str, archived: bool) -> None:
        """What the sandbox's archive and unarchive routes check, done at once (Graph's
        asynchronous operation, finished before the answer)."""
        with self._lock:
            channel = self._channel(team_id, channel_id)
            if archived:
                owners = [m for m in self._team(team_id)["members"].values()
                          if "owner" in m["roles"]]
                if channel["membershipType"] == "private":
                    owners = owners and [
                        m for m in self._channel_members.get(channel_id, {}).values()
                        if "owner" in m["roles"]]
                if not owners:
                    raise InvalidRequest("A channel without an owner, or in a team without "
                                         "an owner, can't be archived.", status=400,
                                         code="BadRequest")
            channel["isArchived"] = archived

    def get_channel(self, team_id: str, channel_id: str) -> Channel:
        with self._lock:
            return self._as_channel(team_id, self._channel(team_id, channel_id))

    def archive_channel(self, team_id: str, channel_id: str) -> None:
        self._set_archived(team_id, channel_id, True)

    def unarchive_channel(self, team_id: str, channel_id: str) -> None:
        self._set_archived(team_id, channel_id, False)

    # ---- Teams apps and tabs (the sandbox's rules: graph/sandbox/routes_tabs.py) ------------

    def install_app(self, team_id: str, external_id: str, display_name: str = "Incident Desk",
                    teams_app_id: str | None = None) -> str:
        """A team owner adds the app (uploaded with manifest id `external_id`) to the
        team; returns its app catalog id. A private channel gets it only once someone adds
        it there (`add_app_to_channel`)."""
        with self._lock:
            self._team(team_id)
            teams_app_id = teams_app_id or str(uuid.uuid5(uuid.NAMESPACE_URL,
                                                          f"catalog:{external_id}"))
            self._installed[team_id] = {"installation_id": f"{team_id}##{teams_app_id}",
                                        "teams_app_id": teams_app_id,
                                        "external_id": external_id,
                                        "display_name": display_name}
            return teams_app_id

    def uninstall_app(self, team_id: str) -> None:
        with self._lock:
            self._installed.pop(team_id, None)

    def add_app_to_channel(self, team_id: str, channel_id: str) -> None:
        """A channel owner adds the installed app to a private channel in Teams."""
        with self._lock:
            self._channel(team_id, channel_id)
            self._channel_apps.add(channel_id)

    def tabs(self, channel_id: str | None = None) -> list[dict]:
        """Pinned tabs, as the sandbox's state reader gives them (with `channel_id`)."""
        with self._lock:
            return [_copy(t) for c, rows in self._tabs.items() for t in rows
                    if channel_id is None or c == channel_id]

    def find_installed_app(self, team_id: str, external_id: str) -> InstalledApp | None:
        with self._lock:
            self._team(team_id)
            found = self._installed.get(team_id)
            if found is None or found["external_id"].lower() != external_id.lower():
                return None
            return InstalledApp(found["installation_id"], found["teams_app_id"],
                                found["external_id"], found["display_name"])

    def _app_may_use(self, team_id: str, channel_id: str) -> None:
        """The app is available in a standard channel of its team, in a private one once
        added there (the sandbox answers an app-only caller so: graph/sandbox/routes_tabs)."""
        channel = self._channel(team_id, channel_id)
        if channel["membershipType"] == "private" and channel_id not in self._channel_apps:
            raise GraphError(f"The app is not enabled in this channel ({channel_id}): add it "
                             "to the private channel first.", status=403, code="Forbidden")

    @staticmethod
    def _as_tab(raw: dict) -> Tab:
        return Tab(id=raw["id"], display_name=raw["displayName"],
                   teams_app_id=raw["teamsApp"]["id"],
                   entity_id=raw["configuration"].get("entityId") or "",
                   content_url=raw["configuration"].get("contentUrl") or "",
                   web_url=raw["webUrl"])

    def list_tabs(self, team_id: str, channel_id: str, teams_app_id: str = "") -> list[Tab]:
        with self._lock:
            self._app_may_use(team_id, channel_id)
            return [self._as_tab(raw) for raw in self._tabs.get(channel_id, [])
                    if not teams_app_id or raw["teamsApp"]["id"] == teams_app_id]

    def pin_tab(self, team_id: str, channel_id: str, tab: TabRequest) -> Tab:
        with self._lock:
            self._channel(team_id, channel_id)
            installed = self._installed.get(team_id)
            if installed is None or installed["teams_app_id"] != tab.teams_app_id:
                raise InvalidRequest(
                    f"App id {tab.teams_app_id} needs to be installed to the team "
                    f"{team_id}:{channel_id} and be in an unblocked state to install/update "
                    "a tab", status=400, code="BadRequest")
            self._app_may_use(team_id, channel_id)
            if not tab.display_name.strip():
                raise InvalidRequest("displayName is required.", status=400,
                                     code="BadRequest")
            tab_id = str(uuid.uuid4())
            raw = {"id": tab_id, "displayName": tab.display_name,
                   "configuration": {"entityId": tab.entity_id,
                                     "contentUrl": tab.content_url,
                                     "websiteUrl": tab.website_url or None,
                                     "removeUrl": tab.remove_url or None},
                   "teamsApp": {"id": tab.teams_app_id,
                                "externalId": installed["external_id"],
                                "displayName": installed["display_name"],
                                "distributionMethod": "organization"},
                   "webUrl": f"https://teams.microsoft.com/l/channel/{channel_id}/"
                             f"tab%3a%3a{tab_id}?groupId={team_id}",
                   "team_id": team_id, "channel_id": channel_id}
            self._tabs.setdefault(channel_id, []).append(raw)
            return self._as_tab(raw)

    # ---- Outlook ---------------------------------------------------------------------------

    def _mail_record(self, sender: Sender, mail: Mail) -> dict:
        if mail.recipient_count == 0:
            raise InvalidRequest("At least one recipient is not valid.", status=400,
                                 code="ErrorInvalidRecipients")
        if mail.recipient_count > MAX_MAIL_RECIPIENTS:
            raise InvalidRequest("The message exceeds the maximum supported recipient "
                                 "count.", status=400, code="ErrorExceededMessageLimit")
        mailbox = sender.user_id or "me"
        return {"sender": self.actor if mailbox == "me" else mailbox, "mailbox": mailbox,
                "subject": mail.subject, "html": mail.html_body, "to": list(mail.to),
                "cc": list(mail.cc), "bcc": list(mail.bcc), "reply_to": list(mail.reply_to),
                "headers": {DELIVERY_HEADER: mail.delivery_key} if mail.delivery_key else {},
                "extended": ({DELIVERY_PROPERTY: mail.delivery_key} if mail.delivery_key
                             else {})}

    def create_draft(self, sender: Sender, mail: Mail) -> str:
        record = self._mail_record(sender, mail)
        with self._lock:
            draft_id = f"AAMk{uuid.uuid4().hex}"
            self._drafts[draft_id] = {"id": draft_id, **record}
            return draft_id

    def send_draft(self, sender: Sender, draft_id: str) -> None:
        with self._lock:
            draft = self._drafts.pop(draft_id, None)
            if draft is None:
                raise NotFound("The specified object was not found in the store.",
                               status=404, code="ErrorItemNotFound")
            self._sent.append({**draft, "sent_at": _now()})

    def find_drafts(self, sender: Sender, delivery_key: str) -> list[str]:
        mailbox = sender.user_id or "me"
        wanted = delivery_key.lower()  # Graph compares an extended property's value so
        with self._lock:
            return [d["id"] for d in self._drafts.values() if d["mailbox"] == mailbox
                    and (d["extended"].get(DELIVERY_PROPERTY) or "").lower() == wanted]

    def delete_draft(self, sender: Sender, draft_id: str) -> None:
        with self._lock:
            draft = self._drafts.get(draft_id)
            if draft is None or draft["mailbox"] != (sender.user_id or "me"):
                raise NotFound("The specified object was not found in the store.",
                               status=404, code="ErrorItemNotFound")
            del self._drafts[draft_id]

    def send_mail(self, sender: Sender, mail: Mail) -> None:
        record = self._mail_record(sender, mail)
        with self._lock:
            self._sent.append({"id": f"AAMk{uuid.uuid4().hex}", **record, "sent_at": _now()})

    def create_event(self, sender: Sender, request: EventRequest) -> Event:
        def utc(value: datetime) -> dict:
            return {"dateTime": value.astimezone(UTC).replace(tzinfo=None).isoformat(),
                    "timeZone": "UTC"}

        if request.end < request.start:  # as the sandbox answers
            raise InvalidRequest("Your request can't be completed. The end of an event can't "
                                 "be before its start.", status=400, code="ErrorInvalidRequest")
        with self._lock:
            key = request.transaction_id or uuid.uuid4().hex
            if key not in self._events:
                event_id = f"AAMkEv{uuid.uuid4().hex}"
                event = {
                    "id": event_id, "transactionId": request.transaction_id or None,
                    "subject": request.subject, "start": utc(request.start),
                    "end": utc(request.end),
                    "attendees": [{"emailAddress": {"address": a.email, "name": a.name},
                                   "type": "required" if a.required else "optional"}
                                  for a in request.attendees],
                    "body": {"contentType": "html", "content": request.body_html},
                    "organizer": sender.user_id or self.actor,
                    "isOnlineMeeting": request.online_meeting,
                    "location": {"displayName": request.location},
                    "categories": list(request.categories),
                    "webLink": f"https://outlook.office365.com/owa/?itemid={event_id}"}
                if request.online_meeting:
                    event["onlineMeeting"] = {
                        "joinUrl": f"https://teams.microsoft.com/l/meetup-join/{event_id}"}
                self._events[key] = event
            raw = self._events[key]
            return Event(id=raw["id"], web_url=raw["webLink"], subject=raw["subject"],
                         join_url=raw.get("onlineMeeting", {}).get("joinUrl", ""))

    def create_online_meeting(self, sender: Sender, subject: str, start: datetime,
                              end: datetime, external_id: str) -> Meeting:
        if not external_id:
            raise InvalidRequest("externalId is required.", status=400, code="BadRequest")
        with self._lock:
            if external_id not in self._meetings:
                meeting_id = uuid.uuid4().hex
                self._meetings[external_id] = {
                    "id": meeting_id, "externalId": external_id, "subject": subject,
                    "startDateTime": start.isoformat(), "endDateTime": end.isoformat(),
                    "organizer": sender.user_id or self.actor,
                    "joinWebUrl": f"https://teams.microsoft.com/l/meetup-join/{meeting_id}"}
            raw = self._meetings[external_id]
            return Meeting(id=raw["id"], join_url=raw["joinWebUrl"], subject=raw["subject"])

    # ---- SharePoint ------------------------------------------------------------------------

    def list_items(self, site_id: str, list_id: str, page_size: int = 200
                   ) -> Iterator[ListItem]:
        """Page by page, as Graph returns them: each page is copied when it is reached."""
        with self._lock:
            if (site_id, list_id) not in self._lists:
                raise NotFound("The list was not found.", status=404, code="itemNotFound")
        start = 0
        while True:
            with self._lock:
                page = self._lists[(site_id, list_id)][start:start + page_size]
            for raw in page:
                yield ListItem(id=raw["id"], fields=dict(raw["fields"]), etag=raw["eTag"])
            if len(page) < page_size:
                return
            start += page_size

    def upload_file(self, drive_id: str, folder: str, name: str, content: bytes,
                    replace: bool = True) -> DriveFile:
        path = f"{folder.strip('/')}/{name}" if folder.strip("/") else name
        with self._lock:
            drive = self._drives.get(drive_id)
            if drive is None:
                raise NotFound("The drive was not found.", status=404, code="itemNotFound")
            existing = drive.get(path.lower())
            if existing is not None and not replace:
                raise Conflict("The specified item name already exists.", status=409,
                               code="nameAlreadyExists")
            self._refuse_if_locked(drive_id, path)
            item_id = existing["id"] if existing else uuid.uuid4().hex
            drive[path.lower()] = raw = {
                "id": item_id, "name": name, "path": path, "size": len(content),
                "content": bytes(content), "eTag": _etag(),
                "upload_session": len(content) > SIMPLE_UPLOAD_LIMIT,
                "webUrl": f"https://contoso.sharepoint.com/{drive_id}/{path}"}
            return DriveFile(id=raw["id"], name=name, web_url=raw["webUrl"], size=raw["size"],
                             etag=raw["eTag"])

    def get_file(self, drive_id: str, path: str) -> bytes:
        content = self.file_bytes(drive_id, path)
        if content is None:
            raise NotFound("The resource could not be found.", status=404,
                           code="itemNotFound")
        return content

    # ---- team members, and requests that change nothing (the set-up check) ----------------

    def list_team_members(self, team_id: str) -> list[TeamMember]:
        with self._lock:
            return [TeamMember(user_id=m["userId"],
                               email=m["userId"] if "@" in m["userId"] else "",
                               display_name=m["userId"], roles=tuple(m["roles"]))
                    for m in self._team(team_id)["members"].values()]

    def post_without_body(self, team_id: str, channel_id: str) -> ChannelMessage:
        with self._lock:  # who may post is checked before what is posted, as by Graph
            if self._channel(team_id, channel_id).get("isArchived"):
                raise GraphError("The channel is archived: it takes no new messages until it "
                                 "is unarchived.", status=403, code="Forbidden")
        raise InvalidRequest("Missing body content.", status=400, code="BadRequest")

    def create_invalid_draft(self, sender: Sender) -> str:
        raise InvalidRequest("At least one recipient isn't valid.", status=400,
                             code="ErrorInvalidRecipients")

    def start_upload_session(self, drive_id: str, folder: str, name: str) -> UploadSession:
        path = f"{folder.strip('/')}/{name}" if folder.strip("/") else name
        with self._lock:
            drive = self._drives.get(drive_id)
            if drive is None:
                raise NotFound("The drive was not found.", status=404, code="itemNotFound")
            if path.lower() in drive:
                raise Conflict("An item with the same name already exists.", status=409,
                               code="nameAlreadyExists")
            url = f"https://fake.sharepoint.example/upload/{uuid.uuid4().hex}"
            self._upload_sessions[url] = (drive_id, path)
            return UploadSession(upload_url=url)

    def cancel_upload_session(self, session: UploadSession) -> None:
        with self._lock:
            if self._upload_sessions.pop(session.upload_url, None) is None:
                raise NotFound("The upload session was not found.", status=404,
                               code="itemNotFound")

    # ---- the Teams activity feed (the sandbox's rules: graph/sandbox/routes_activity.py) --

    def install_app_for_user(self, user_id: str, activity_types: dict[str, str],
                             send_permission: bool = True) -> None:
        """The Teams app installed for a person: `activity_types` maps each type its
        manifest declares to its templateText; `send_permission` False is a package
        without the TeamsActivity.Send.User resource-specific consent."""
        with self._lock:
            self._personal_apps[user_id.lower()] = {"types": dict(activity_types),
                                                    "send": send_permission}

    def uninstall_app_for_user(self, user_id: str) -> None:
        with self._lock:
            self._personal_apps.pop(user_id.lower(), None)

    def activity_notifications(self) -> list[dict]:
        """Every notification sent, oldest first; `replaced` once a later one with the
        same chainId took its place in the person's feed."""
        with self._lock:
            return [_copy(n) for n in self._activity]

    def send_activity_notification(self, user_id: str,
                                   notification: ActivityNotification) -> None:
        with self._lock:
            installed = self._personal_apps.get(user_id.lower())
            if installed is None:
                raise AppNotInstalled(
                    "Application with AAD App Id 'fake' is not authorized to generate custom "
                    f"text notifications about '/users/{user_id}/teamwork/"
                    "sendActivityNotification' to the recipient. Ensure that the expected "
                    "Teams app is installed in the target scope (user, team, or chat).",
                    status=403, code="Forbidden")
            if not installed["send"]:
                raise GraphError("Missing role permissions on the request. API requires one "
                                 "of 'TeamsActivity.Send, TeamsActivity.Send.User'. Roles on "
                                 "the request ''. Resource specific consent grants on the "
                                 "request ''.", status=403, code="Forbidden")
            template = installed["types"].get(notification.activity_type)
            if template is None:
                raise InvalidRequest(f"The activity type '{notification.activity_type}' is "
                                     "not declared in the Teams app's manifest.",
                                     status=400, code="BadRequest")
            given = dict(notification.parameters)
            wanted = set(re.findall(r"\{(\w+)\}", template)) - {"actor"}
            if set(given) != wanted or len(given) != len(notification.parameters):
                raise InvalidRequest(f"The template parameters {sorted(given)} do not match "
                                     f"the activity type's {sorted(wanted)}.", status=400,
                                     code="BadRequest")
            if not notification.web_url.startswith(TEAMS_LINK) or not notification.topic_text:
                raise InvalidRequest("A text topic needs a value and a webUrl on the "
                                     "Microsoft Teams domain.", status=400,
                                     code="BadRequest")
            if notification.chain_id is not None:
                for earlier in self._activity:
                    if (earlier["recipient_id"], earlier["chain_id"]) == \
                            (user_id.lower(), notification.chain_id):
                        earlier["replaced"] = True
            self._activity.append({
                "recipient_id": user_id.lower(), "activity_type": notification.activity_type,
                "text": re.sub(r"\{(\w+)\}", lambda m: given.get(m[1], self.actor),
                               template),
                "preview": notification.preview[:MAX_PREVIEW_TEXT],
                "topic": {"source": "text", "value": notification.topic_text,
                          "webUrl": notification.web_url},
                "template_parameters": given, "chain_id": notification.chain_id,
                "replaced": False, "sent_at": _now()})
