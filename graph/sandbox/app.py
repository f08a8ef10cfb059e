"""The sandbox's HTTP surface: the Graph v1.0 endpoints Incident Desk uses, answering
with Graph's status codes and JSON shapes (so the real msgraph-sdk can talk to it)."""

from __future__ import annotations

import json
import time
import uuid
from datetime import UTC, datetime
from urllib.parse import quote

from werkzeug.exceptions import HTTPException, NotFound
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from graph.names import channel_name_problem
from graph.port import CARD_CONTENT_TYPE, MAX_MAIL_RECIPIENTS, SIMPLE_UPLOAD_LIMIT
from graph.sandbox.faults import Faults
from graph.sandbox.state import SandboxState

MAX_MESSAGE_BYTES = 28 * 1024
MAX_TOP = {"items": 5000, "messages": 50}


class GraphFault(Exception):
    def __init__(self, status: int, code: str, message: str, headers: dict | None = None):
        super().__init__(message)
        self.status, self.code, self.message, self.headers = status, code, message, headers or {}


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def error_response(status: int, code: str, message: str, headers: dict | None = None):
    body = {"error": {"code": code, "message": message, "innerError": {
        "request-id": str(uuid.uuid4()), "date": now()}}}
    return Response(json.dumps(body), status=status, headers=headers or {},
                    content_type="application/json")


def ok(body: dict | None, status: int = 200) -> Response:
    if body is None:
        return Response(status=status)
    return Response(json.dumps(body), status=status, content_type="application/json")


def _json(request: Request) -> dict:
    try:
        data = json.loads(request.get_data() or b"{}")
    except ValueError as exc:
        raise GraphFault(400, "BadRequest", "Unable to read JSON request payload.") from exc
    if not isinstance(data, dict):
        raise GraphFault(400, "BadRequest", "Unable to read JSON request payload.")
    return data


class SandboxApp:
    def __init__(self, state: SandboxState, faults: Faults):
        self.state, self.faults = state, faults
        rules = [
            ("/v1.0/me", "me", ["GET"]),
            ("/v1.0/teams/<team>/channels", "channels", ["GET", "POST"]),
            ("/v1.0/teams/<team>/channels/<channel>", "channel", ["GET"]),
            ("/v1.0/teams/<team>/channels/<channel>/messages", "messages", ["GET", "POST"]),
            ("/v1.0/teams/<team>/channels/<channel>/messages/<message>/replies", "replies",
             ["GET", "POST"]),
            ("/v1.0/teams/<team>/members", "members", ["POST"]),
            ("/v1.0/<path:who>/sendMail", "send_mail", ["POST"]),
            ("/v1.0/<path:who>/messages", "drafts", ["POST"]),
            ("/v1.0/<path:who>/messages/<message>/send", "send_draft", ["POST"]),
            ("/v1.0/<path:who>/events", "events", ["POST"]),
            ("/v1.0/<path:who>/onlineMeetings/createOrGet", "meeting", ["POST"]),
            ("/v1.0/sites/<site>/lists/<list_id>/items", "items", ["GET"]),
            ("/v1.0/drives/<drive>/items/<path:item>/content", "content", ["GET", "PUT"]),
            ("/_sandbox/state", "control_state", ["GET"]),
            ("/_sandbox/reset", "control_reset", ["POST"]),
            ("/_sandbox/faults", "control_faults", ["POST"]),
        ]
        self.url_map = Map([Rule(path, endpoint=name, methods=methods)
                            for path, name, methods in rules], strict_slashes=False)

    def __call__(self, environ, start_response):
        request = Request(environ)
        return self.handle(request)(environ, start_response)

    def handle(self, request: Request) -> Response:
        started = time.monotonic()
        adapter = self.url_map.bind_to_environ(request.environ)
        try:
            endpoint, args = adapter.match()
        except NotFound:
            return error_response(400, "BadRequest", f"Resource not found for the segment "
                                                    f"'{request.path.rsplit('/', 1)[-1]}'.")
        except HTTPException as exc:
            return error_response(exc.code or 400, "BadRequest", exc.description or "")
        if endpoint.startswith("control_"):
            return getattr(self, endpoint)(request)
        actor = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
        if not actor:
            return error_response(401, "InvalidAuthenticationToken",
                                  "Access token is empty.")
        fault = self.faults.pick(request.method, request.path)
        if self.faults.latency:
            time.sleep(self.faults.latency)
        response = self._fault_response(fault)
        if response is None or fault == "lost_response":
            try:
                applied = getattr(self, endpoint)(request, actor=actor, **args)
            except GraphFault as error:
                applied = error_response(error.status, error.code, error.message,
                                         error.headers)
            response = response or applied
        self.state.put("request", uuid.uuid4().hex, {
            "method": request.method, "path": request.full_path.rstrip("?"),
            "status": response.status_code, "actor": actor, "fault": fault,
            "duration": round(time.monotonic() - started, 4), "at": now()})
        return response

    def _fault_response(self, fault: str | None) -> Response | None:
        if fault == "429":
            return error_response(429, "TooManyRequests",
                                  "Too many requests, please try again later.",
                                  {"Retry-After": f"{self.faults.retry_after:g}"})
        if fault == "503":
            return error_response(503, "ServiceUnavailable",
                                  "The service is temporarily unavailable.",
                                  {"Retry-After": f"{self.faults.retry_after:g}"})
        if fault == "timeout":
            time.sleep(self.faults.hang)
            return error_response(504, "GatewayTimeout", "The request timed out.")
        if fault == "lost_response":
            return error_response(504, "GatewayTimeout", "The request timed out.")
        return None

    # ---- controls ----------------------------------------------------------------------

    def control_state(self, request):
        return ok({"channels": len(self.state.channels()),
                   "messages": len(self.state.messages()), "mails": len(self.state.mails()),
                   "files": len(self.state.files()), "faults": dict(self.faults.injected)})

    def control_reset(self, request):
        self.state.reset()
        self.faults.reset()
        return ok(None, 204)

    def control_faults(self, request):
        self.faults.configure(**_json(request))
        return ok(None, 204)

    # ---- Graph -------------------------------------------------------------------------

    def me(self, request, actor):
        return ok({"id": str(uuid.uuid5(uuid.NAMESPACE_URL, actor)), "displayName": actor,
                   "mail": actor if "@" in actor else None, "userPrincipalName": actor})

    def _team(self, team):
        if self.state.get("team", team) is None:
            raise GraphFault(404, "NotFound", f"No team found with Group Id {team}")

    def _channel(self, team, channel):
        self._team(team)
        found = self.state.get("channel", channel)
        if found is None:
            raise GraphFault(404, "NotFound", "Channel not found")
        return found

    def channels(self, request, actor, team):
        self._team(team)
        channels = self.state.channels(team)
        if request.method == "GET":
            wanted = request.args.get("$filter", "")
            if wanted.startswith("displayName eq '") and wanted.endswith("'"):
                name = wanted[len("displayName eq '"):-1].replace("''", "'")
                channels = [c for c in channels if c["displayName"].lower() == name.lower()]
            return ok({"@odata.context": "sandbox", "@odata.count": len(channels),
                       "value": channels})
        body = _json(request)
        name = body.get("displayName") or ""
        problem = channel_name_problem(name)
        if problem:
            raise GraphFault(400, "BadRequest", problem)
        if any(c["displayName"].lower() == name.lower() for c in channels):
            raise GraphFault(400, "NameAlreadyExists",
                             "Channel name already existed, please use other name.")
        channel = self.state.add_channel(team, name, description=body.get("description", ""))
        channel["createdDateTime"] = now()
        return ok(self.state.put("channel", channel["id"], channel, scope=team), 201)

    def channel(self, request, actor, team, channel):
        return ok(self._channel(team, channel))

    def _post(self, request, actor, team, channel, reply_to=None):
        self._channel(team, channel)
        body = _json(request)
        content = (body.get("body") or {}).get("content") or ""
        attachments = body.get("attachments") or []
        for attachment in attachments:
            if attachment.get("contentType") == CARD_CONTENT_TYPE:
                try:
                    json.loads(attachment.get("content") or "")
                except ValueError as exc:
                    raise GraphFault(400, "BadRequest",
                                     "Attachment content is not valid JSON.") from exc
            if f'<attachment id="{attachment.get("id")}"></attachment>' not in content:
                raise GraphFault(400, "BadRequest", "Attachment is not referenced in the "
                                                    "message body.")
        if len(json.dumps(body).encode()) > MAX_MESSAGE_BYTES:
            raise GraphFault(413, "RequestEntityTooLarge", "Message is too large.")
        message_id = str(int(time.time() * 1000)) + uuid.uuid4().hex[:6]
        message = {
            "id": message_id, "replyToId": reply_to, "createdDateTime": now(),
            "messageType": "message", "body": {"contentType": "html", "content": content},
            "attachments": [{"id": a.get("id"), "contentType": a.get("contentType"),
                             "content": a.get("content"), "name": a.get("name")}
                            for a in attachments],
            "from": {"user": {"id": str(uuid.uuid5(uuid.NAMESPACE_URL, actor)),
                              "displayName": actor}},
            "webUrl": f"https://teams.microsoft.com/l/message/{quote(channel)}/{message_id}",
            "team_id": team, "channel_id": channel,
        }
        self.state.put("message", message_id, message, scope=channel)
        return ok(message, 201)

    def _list_messages(self, request, team, channel, reply_to=None):
        self._channel(team, channel)
        top = min(int(request.args.get("$top", 20)), MAX_TOP["messages"])
        skip = int(request.args.get("$skiptoken", 0))
        rows = [m for m in reversed(self.state.messages(channel_id=channel))
                if m.get("replyToId") == reply_to]
        page = rows[skip:skip + top]
        result = {"value": page}
        if skip + top < len(rows):
            result["@odata.nextLink"] = (f"{request.host_url}{request.path.lstrip('/')}"
                                         f"?$top={top}&$skiptoken={skip + top}")
        return ok(result)

    def messages(self, request, actor, team, channel):
        if request.method == "GET":
            return self._list_messages(request, team, channel)
        return self._post(request, actor, team, channel)

    def replies(self, request, actor, team, channel, message):
        if self.state.get("message", message) is None:
            raise GraphFault(404, "NotFound", "Message not found")
        if request.method == "GET":
            return self._list_messages(request, team, channel, reply_to=message)
        return self._post(request, actor, team, channel, reply_to=message)

    def members(self, request, actor, team):
        self._team(team)
        body = _json(request)
        user = (body.get("user@odata.bind") or "").rsplit("(", 1)[-1].strip("')")
        if not user:
            raise GraphFault(400, "BadRequest", "user@odata.bind is required.")
        member = {"id": f"{team}/{user}", "userId": user, "roles": body.get("roles", []),
                  "@odata.type": "#microsoft.graph.aadUserConversationMember"}
        self.state.put("member", member["id"], member, scope=team)
        return ok(member, 201)

    # ---- mail and calendar -------------------------------------------------------------

    @staticmethod
    def _mailbox(who: str) -> str:
        return "me" if who == "me" else who.removeprefix("users/")

    @staticmethod
    def _addresses(message: dict, key: str) -> list[str]:
        return [r.get("emailAddress", {}).get("address", "") for r in message.get(key) or []]

    def _mail_record(self, message: dict, who: str, actor: str) -> dict:
        to, cc, bcc = (self._addresses(message, k)
                       for k in ("toRecipients", "ccRecipients", "bccRecipients"))
        if not (to or cc or bcc):
            raise GraphFault(400, "ErrorInvalidRecipients",
                             "At least one recipient is not valid.")
        if len(to) + len(cc) + len(bcc) > MAX_MAIL_RECIPIENTS:
            raise GraphFault(400, "ErrorExceededMessageLimit",
                             "The message exceeds the maximum supported recipient count.")
        mailbox = self._mailbox(who)
        return {"sender": actor if mailbox == "me" else mailbox, "mailbox": mailbox,
                "subject": message.get("subject", ""),
                "html": (message.get("body") or {}).get("content", ""),
                "to": to, "cc": cc, "bcc": bcc,
                "headers": {h.get("name"): h.get("value")
                            for h in message.get("internetMessageHeaders") or []}}

    def send_mail(self, request, actor, who):
        body = _json(request)
        # Graph reads action parameters case-insensitively; the SDK sends "Message".
        message = body.get("message") or body.get("Message") or {}
        record = self._mail_record(message, who, actor)
        mail_id = f"AAMk{uuid.uuid4().hex}"
        self.state.put("sent", mail_id, {"id": mail_id, **record, "sent_at": now()})
        return ok(None, 202)

    def drafts(self, request, actor, who):
        body = _json(request)
        record = self._mail_record(body, who, actor)
        draft_id = f"AAMk{uuid.uuid4().hex}"
        self.state.put("draft", draft_id, {"id": draft_id, **record})
        return ok({"id": draft_id, "isDraft": True, "subject": record["subject"],
                   "createdDateTime": now()}, 201)

    def send_draft(self, request, actor, who, message):
        draft = self.state.get("draft", message)
        if draft is None:
            raise GraphFault(404, "ErrorItemNotFound",
                             "The specified object was not found in the store.")
        self.state.delete("draft", message)
        self.state.put("sent", message, {**draft, "sent_at": now()})
        return ok(None, 202)

    def events(self, request, actor, who):
        body = _json(request)
        key = body.get("transactionId") or uuid.uuid4().hex
        existing = self.state.get("event", key)
        if existing is not None:
            return ok(existing, 201)
        event_id = f"AAMkEv{uuid.uuid4().hex}"
        event = {"id": event_id, "transactionId": body.get("transactionId"),
                 "subject": body.get("subject", ""), "start": body.get("start"),
                 "end": body.get("end"), "attendees": body.get("attendees") or [],
                 "organizer": actor, "isOnlineMeeting": bool(body.get("isOnlineMeeting")),
                 "webLink": f"https://outlook.office365.com/owa/?itemid={event_id}"}
        if event["isOnlineMeeting"]:
            event["onlineMeeting"] = {
                "joinUrl": f"https://teams.microsoft.com/l/meetup-join/{event_id}"}
        return ok(self.state.put("event", key, event), 201)

    def meeting(self, request, actor, who):
        body = _json(request)
        external_id = body.get("externalId")
        if not external_id:
            raise GraphFault(400, "BadRequest", "externalId is required.")
        existing = self.state.get("meeting", external_id)
        if existing is not None:
            return ok(existing, 200)
        meeting_id = uuid.uuid4().hex
        meeting = {"id": meeting_id, "externalId": external_id,
                   "subject": body.get("subject", ""),
                   "startDateTime": body.get("startDateTime"),
                   "endDateTime": body.get("endDateTime"), "organizer": actor,
                   "joinWebUrl": f"https://teams.microsoft.com/l/meetup-join/{meeting_id}"}
        return ok(self.state.put("meeting", external_id, meeting), 201)

    # ---- SharePoint --------------------------------------------------------------------

    def items(self, request, actor, site, list_id):
        scope = f"{site}/{list_id}"
        if self.state.get("list", scope) is None:
            raise GraphFault(404, "itemNotFound", "The list was not found.")
        top = max(1, min(int(request.args.get("$top", 200)), MAX_TOP["items"]))
        after = int(request.args.get("$skiptoken", 0))
        rows = self.state.all("item", scope, after=after, limit=top + 1)
        expand = "fields" in (request.args.get("$expand") or request.args.get("expand") or "")
        page = [doc if expand else {k: v for k, v in doc.items() if k != "fields"}
                for _seq, doc in rows[:top]]
        result = {"value": page}
        if len(rows) > top:
            result["@odata.nextLink"] = (
                f"{request.host_url}{request.path.lstrip('/')}?$expand=fields&$top={top}"
                f"&$skiptoken={rows[top - 1][0]}")
        return ok(result)

    def content(self, request, actor, drive, item):
        if self.state.get("drive", drive) is None:
            raise GraphFault(404, "itemNotFound", "The drive was not found.")
        if not (item.startswith("root:") and item.endswith(":")):
            raise GraphFault(400, "invalidRequest", "Address items by path: root:/path:")
        path = item[len("root:"):-1].strip("/")
        key = f"{drive}/{path.lower()}"
        if request.method == "GET":
            data = self.state.blob(key)
            if data is None:
                raise GraphFault(404, "itemNotFound", "The resource could not be found.")
            return Response(data, content_type="application/octet-stream")
        data = request.get_data()
        if len(data) > SIMPLE_UPLOAD_LIMIT:
            raise GraphFault(413, "requestEntityTooLarge",
                             "Use an upload session for files over 4 MB.")
        existing = self.state.get("file", key)
        behaviour = request.args.get("@microsoft.graph.conflictBehavior", "replace")
        if existing is not None and behaviour == "fail":
            raise GraphFault(409, "nameAlreadyExists",
                             "The specified item name already exists.")
        item_id = existing["id"] if existing else uuid.uuid4().hex
        name = path.rsplit("/", 1)[-1]
        record = {"id": item_id, "name": name, "path": path, "size": len(data),
                  "eTag": f'"{uuid.uuid4()},1"', "lastModifiedDateTime": now(),
                  "webUrl": f"https://sandbox.sharepoint.example/{drive}/{quote(path)}",
                  "file": {"mimeType": request.content_type or "application/octet-stream"},
                  "parentReference": {"driveId": drive,
                                      "path": f"/drive/root:/{path.rsplit('/', 1)[0]}"
                                      if "/" in path else "/drive/root:"}}
        self.state.put("file", key, record, scope=drive)
        self.state.blob(key, data)
        return ok(record, 200 if existing else 201)


