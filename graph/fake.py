"""An in-memory Microsoft 365 behind the `Graph` interface, for fast tests of the app.

It enforces the same rules as Graph and the sandbox (Teams-legal channel names,
duplicate names, 500 recipients a message, drafts that can be sent once, transactionId
and externalId idempotency, paging) and keeps everything in Graph's JSON shapes so tests
can look at what was "sent". The contract suite runs it and the real client side by side.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime

from graph.names import channel_name_problem
from graph.port import (
    CARD_CONTENT_TYPE,
    MAX_MAIL_RECIPIENTS,
    SIMPLE_UPLOAD_LIMIT,
    Card,
    Channel,
    ChannelMessage,
    Conflict,
    DriveFile,
    Event,
    EventRequest,
    InvalidRequest,
    ListItem,
    Mail,
    Meeting,
    NotFound,
    Sender,
)

MAX_MESSAGE_BYTES = 28 * 1024
RECENT_MESSAGES = 50


def _now() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


class FakeGraph:
    def __init__(self):
        self._lock = threading.RLock()
        self._teams: dict[str, dict] = {}
        self._messages: list[dict] = []
        self._drafts: dict[str, dict] = {}
        self._sent: list[dict] = []
        self._events: dict[str, dict] = {}
        self._meetings: dict[str, dict] = {}
        self._lists: dict[tuple[str, str], list[dict]] = {}
        self._drives: dict[str, dict[str, dict]] = {}

    # ---- set-up and inspection ---------------------------------------------------------

    def add_team(self, team_id: str, display_name: str = "") -> None:
        with self._lock:
            self._teams.setdefault(team_id, {"displayName": display_name, "channels": {},
                                             "members": set()})

    def seed_list(self, site_id: str, list_id: str, items: Sequence[dict],
                  replace: bool = False) -> None:
        with self._lock:
            rows = [] if replace else self._lists.get((site_id, list_id), [])
            start = len(rows)
            rows = rows + [{"id": str(start + n + 1), "eTag": f'"{uuid.uuid4()},1"',
                            "fields": dict(fields)} for n, fields in enumerate(items)]
            self._lists[(site_id, list_id)] = rows

    def add_drive(self, drive_id: str) -> None:
        with self._lock:
            self._drives.setdefault(drive_id, {})

    def channels(self, team_id: str | None = None) -> list[dict]:
        with self._lock:
            teams = [team_id] if team_id else list(self._teams)
            return [dict(c) for t in teams for c in self._teams.get(t, {}).get(
                "channels", {}).values()]

    def messages(self, team_id: str | None = None, channel_id: str | None = None) -> list[dict]:
        with self._lock:
            return [dict(m) for m in self._messages
                    if (team_id is None or m["team_id"] == team_id)
                    and (channel_id is None or m["channel_id"] == channel_id)]

    def mails(self) -> list[dict]:
        with self._lock:
            return [dict(m) for m in self._sent]

    def drafts(self) -> list[dict]:
        with self._lock:
            return [dict(m) for m in self._drafts.values()]

    def events(self) -> list[dict]:
        with self._lock:
            return list(self._events.values())

    def meetings(self) -> list[dict]:
        with self._lock:
            return list(self._meetings.values())

    def members(self, team_id: str) -> list[str]:
        with self._lock:
            return sorted(self._team(team_id)["members"])

    def files(self, drive_id: str | None = None) -> list[dict]:
        with self._lock:
            drives = [drive_id] if drive_id else list(self._drives)
            return [{k: v for k, v in f.items() if k != "content"}
                    for d in drives for f in self._drives.get(d, {}).values()]

    def file_bytes(self, drive_id: str, path: str) -> bytes:
        return self.get_file(drive_id, path)

    # ---- Teams -----------------------------------------------------------------------

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

    def create_channel(self, team_id: str, display_name: str, description: str = "") -> Channel:
        with self._lock:
            team = self._team(team_id)
            problem = channel_name_problem(display_name)
            if problem:
                raise InvalidRequest(problem, status=400, code="BadRequest")
            if any(c["displayName"].lower() == display_name.lower()
                   for c in team["channels"].values()):
                raise Conflict("Channel name already existed, please use other name.",
                               status=400, code="NameAlreadyExists")
            channel_id = f"19:{uuid.uuid4().hex}@thread.tacv2"
            team["channels"][channel_id] = {
                "id": channel_id, "displayName": display_name, "description": description,
                "membershipType": "standard", "createdDateTime": _now(),
                "webUrl": f"https://teams.microsoft.com/l/channel/{channel_id}/"
                          f"{display_name}?groupId={team_id}",
            }
            return self._as_channel(team_id, team["channels"][channel_id])

    @staticmethod
    def _as_channel(team_id: str, raw: dict) -> Channel:
        return Channel(id=raw["id"], team_id=team_id, display_name=raw["displayName"],
                       web_url=raw["webUrl"], description=raw["description"])

    def find_channel(self, team_id: str, display_name: str) -> Channel | None:
        with self._lock:
            for raw in self._team(team_id)["channels"].values():
                if raw["displayName"].lower() == display_name.lower():
                    return self._as_channel(team_id, raw)
        return None

    def _post(self, team_id, channel_id, html, cards, reply_to_id=None) -> ChannelMessage:
        with self._lock:
            self._channel(team_id, channel_id)
            if reply_to_id is not None and not any(
                    m["id"] == reply_to_id and m["channel_id"] == channel_id
                    for m in self._messages):
                raise NotFound("Message not found", status=404, code="NotFound")
            body = html + "".join(f'<attachment id="{c.attachment_id}"></attachment>'
                                  for c in cards)
            attachments = [{"id": c.attachment_id, "contentType": CARD_CONTENT_TYPE,
                            "content": json.dumps(c.content)} for c in cards]
            size = len(body.encode()) + sum(len(a["content"].encode()) for a in attachments)
            if size > MAX_MESSAGE_BYTES:
                raise InvalidRequest("Message is too large.", status=413,
                                     code="RequestEntityTooLarge")
            message_id = str(int(datetime.now(UTC).timestamp() * 1000) * 1000
                             + len(self._messages))
            raw = {"id": message_id, "team_id": team_id, "channel_id": channel_id,
                   "replyToId": reply_to_id, "createdDateTime": _now(),
                   "body": {"contentType": "html", "content": body},
                   "attachments": attachments,
                   "from": {"user": {"displayName": "Incident Desk"}},
                   "webUrl": f"https://teams.microsoft.com/l/message/{channel_id}/{message_id}"}
            self._messages.append(raw)
            return self._as_message(raw)

    @staticmethod
    def _as_message(raw: dict) -> ChannelMessage:
        return ChannelMessage(
            id=raw["id"], html=raw["body"]["content"], web_url=raw["webUrl"],
            created_at=datetime.fromisoformat(raw["createdDateTime"].replace("Z", "+00:00")),
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
                     reply_to_id: str | None = None) -> ChannelMessage | None:
        with self._lock:
            self._channel(team_id, channel_id)
            recent = [m for m in self._messages if m["channel_id"] == channel_id
                      and m["replyToId"] == reply_to_id][-RECENT_MESSAGES:]
            for raw in reversed(recent):
                if any(a["id"] == attachment_id for a in raw["attachments"]):
                    return self._as_message(raw)
        return None

    def channel_messages(self, team_id: str, channel_id: str,
                         since: datetime | None = None) -> Iterator[ChannelMessage]:
        with self._lock:
            self._channel(team_id, channel_id)
            rows = [m for m in self._messages
                    if m["channel_id"] == channel_id and m["replyToId"] is None]
        for raw in reversed(rows):
            message = self._as_message(raw)
            if since is not None and message.created_at < since:
                return
            yield message

    def add_team_member(self, team_id: str, user_id: str, owner: bool = False) -> None:
        with self._lock:
            self._team(team_id)["members"].add(user_id)

    # ---- Outlook ---------------------------------------------------------------------

    @staticmethod
    def _check_mail(mail: Mail) -> None:
        if mail.recipient_count == 0:
            raise InvalidRequest("At least one recipient is required.", status=400,
                                 code="ErrorInvalidRecipients")
        if mail.recipient_count > MAX_MAIL_RECIPIENTS:
            raise InvalidRequest("The message exceeds the maximum supported size or "
                                 "recipient count.", status=400,
                                 code="ErrorExceededMessageLimit")

    @staticmethod
    def _mail_record(sender: Sender, mail: Mail) -> dict:
        return {"sender": sender.user_id or "me", "subject": mail.subject,
                "html": mail.html_body, "to": list(mail.to), "cc": list(mail.cc),
                "bcc": list(mail.bcc), "reply_to": list(mail.reply_to),
                "headers": {"x-incident-desk-delivery": mail.delivery_key}}

    def create_draft(self, sender: Sender, mail: Mail) -> str:
        self._check_mail(mail)
        with self._lock:
            draft_id = f"AAMk{uuid.uuid4().hex}"
            self._drafts[draft_id] = {"id": draft_id, **self._mail_record(sender, mail)}
            return draft_id

    def send_draft(self, sender: Sender, draft_id: str) -> None:
        with self._lock:
            draft = self._drafts.pop(draft_id, None)
            if draft is None:
                raise NotFound("The specified object was not found in the store.",
                               status=404, code="ErrorItemNotFound")
            self._sent.append({**draft, "sent_at": _now()})

    def send_mail(self, sender: Sender, mail: Mail) -> None:
        self._check_mail(mail)
        with self._lock:
            self._sent.append({"id": f"AAMk{uuid.uuid4().hex}",
                               **self._mail_record(sender, mail), "sent_at": _now()})

    def create_event(self, sender: Sender, request: EventRequest) -> Event:
        with self._lock:
            key = request.transaction_id or uuid.uuid4().hex
            if key not in self._events:
                event_id = f"AAMkEv{uuid.uuid4().hex}"
                self._events[key] = {
                    "id": event_id, "subject": request.subject, "organizer": sender.user_id,
                    "start": request.start.isoformat(), "end": request.end.isoformat(),
                    "attendees": [{"email": a.email, "name": a.name,
                                   "type": "required" if a.required else "optional"}
                                  for a in request.attendees],
                    "body": request.body_html, "transactionId": request.transaction_id,
                    "webLink": f"https://outlook.office365.com/owa/?itemid={event_id}",
                    "joinUrl": (f"https://teams.microsoft.com/l/meetup-join/{event_id}"
                                if request.online_meeting else ""),
                }
            raw = self._events[key]
            return Event(id=raw["id"], web_url=raw["webLink"], subject=raw["subject"],
                         join_url=raw["joinUrl"])

    def create_online_meeting(self, sender: Sender, subject: str, start: datetime,
                              end: datetime, external_id: str) -> Meeting:
        with self._lock:
            if external_id not in self._meetings:
                meeting_id = uuid.uuid4().hex
                self._meetings[external_id] = {
                    "id": meeting_id, "subject": subject, "externalId": external_id,
                    "startDateTime": start.isoformat(), "endDateTime": end.isoformat(),
                    "joinWebUrl": f"https://teams.microsoft.com/l/meetup-join/{meeting_id}"}
            raw = self._meetings[external_id]
            return Meeting(id=raw["id"], join_url=raw["joinWebUrl"], subject=raw["subject"])

    # ---- SharePoint ------------------------------------------------------------------

    def list_items(self, site_id: str, list_id: str, page_size: int = 200
                   ) -> Iterator[ListItem]:
        with self._lock:
            if (site_id, list_id) not in self._lists:
                raise NotFound("List not found", status=404, code="itemNotFound")
            rows = list(self._lists[(site_id, list_id)])
        for start in range(0, len(rows), page_size):  # page by page, as Graph returns them
            for raw in rows[start:start + page_size]:
                yield ListItem(id=raw["id"], fields=dict(raw["fields"]), etag=raw["eTag"])

    def upload_file(self, drive_id: str, folder: str, name: str, content: bytes,
                    replace: bool = True) -> DriveFile:
        path = f"{folder.strip('/')}/{name}" if folder.strip("/") else name
        with self._lock:
            drive = self._drives.get(drive_id)
            if drive is None:
                raise NotFound("Drive not found", status=404, code="itemNotFound")
            existing = drive.get(path.lower())
            if existing is not None and not replace:
                raise Conflict("An item with the same name already exists.", status=409,
                               code="nameAlreadyExists")
            item_id = existing["id"] if existing else uuid.uuid4().hex
            drive[path.lower()] = {
                "id": item_id, "name": name, "path": path, "size": len(content),
                "content": bytes(content), "eTag": f'"{uuid.uuid4()},1"',
                "upload_session": len(content) > SIMPLE_UPLOAD_LIMIT,
                "webUrl": f"https://contoso.sharepoint.com/{drive_id}/{path}"}
            raw = drive[path.lower()]
            return DriveFile(id=raw["id"], name=name, web_url=raw["webUrl"], size=raw["size"],
                             etag=raw["eTag"])

    def get_file(self, drive_id: str, path: str) -> bytes:
        with self._lock:
            raw = self._drives.get(drive_id, {}).get(path.strip("/").lower())
            if raw is None:
                raise NotFound("The resource could not be found.", status=404,
                               code="itemNotFound")
            return raw["content"]
