"""Calendar events and Teams online meetings.

- `POST /me/events` (or /users/{id}/events): 201 event. A `transactionId` seen before in the
  same mailbox returns the event it created, not a second one (Graph: "A custom
  identifier specified by a client app for the server to avoid redundant POST operations
  in case of client retries to create the same event").
- `POST /me/onlineMeetings/createOrGet`: 201 with a new meeting, or 200 with the meeting
  already made for that externalId.
- start/end missing or not dateTimes: 400 ErrorInvalidRequest (sandbox wording); an
  end before the start: 400 ErrorInvalidRequest.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

from werkzeug.routing import Rule

from graph.sandbox import permissions
from graph.sandbox.routes_mail import mailbox, param
from graph.sandbox.wire import (
    TENANT_ID,
    ApiError,
    Ctx,
    iso,
    item_body,
    json_response,
    list_field,
    parse_iso,
    text_field,
    user_id,
    utc_now,
)


def _when(body: dict, name: str):
    value = body.get(name)
    if not isinstance(value, dict) or not isinstance(value.get("dateTime"), str):
        raise ApiError(400, "ErrorInvalidRequest", f"Your request can't be completed. The "
                       f"'{name}' property needs a dateTime and a timeZone.")
    try:
        moment = parse_iso(value["dateTime"])
    except ValueError as exc:
        raise ApiError(400, "ErrorInvalidRequest",
                       f"Cannot convert '{value['dateTime']}' to a dateTime.") from exc
    zone = value.get("timeZone") or "UTC"
    return moment, {"dateTime": moment.replace(tzinfo=None).isoformat(timespec="microseconds")
                    + "0", "timeZone": zone}


def _attendees(body: dict) -> list[dict]:
    attendees = []
    for raw in list_field(body, "attendees"):
        email = raw.get("emailAddress") if isinstance(raw, dict) else None
        if not isinstance(email, dict) or not isinstance(email.get("address"), str):
            raise ApiError(400, "ErrorInvalidRecipients", "At least one attendee isn't "
                                                          "valid: emailAddress.address.")
        kind = raw.get("type") or "required"
        if kind not in ("required", "optional", "resource"):
            raise ApiError(400, "RequestBodyRead", f"Cannot convert the literal '{kind}' to "
                                                   "the expected type "
                                                   "'microsoft.graph.attendeeType'.")
        attendees.append({"type": kind, "status": {"response": "none",
                                                   "time": "0001-01-01T00:00:00Z"},
                          "emailAddress": {"name": email.get("name") or email["address"],
                                           "address": email["address"]}})
    return attendees


@permissions.requires(permissions.CREATE_EVENT)
def create_event(ctx: Ctx, user: str | None = None):
    body = ctx.body()
    start, start_json = _when(body, "start")
    end, end_json = _when(body, "end")
    if end < start:
        raise ApiError(400, "ErrorInvalidRequest", "Your request can't be completed. The "
                                                   "end of an event can't be before its start.")
    transaction_id = text_field(body, "transactionId")
    box = mailbox(ctx, user)
    online = bool(body.get("isOnlineMeeting"))
    with ctx.state.tx() as tx:
        if transaction_id:
            previous = tx.bodies("event", scope=box.lower(), parent=transaction_id)
            if previous:
                return json_response(_public(ctx, box, previous[0]), 201)
        event_id = f"AAMkAGEv{uuid.uuid4().hex}{uuid.uuid4().hex[:12]}="
        now = iso()
        location = body.get("location") if isinstance(body.get("location"), dict) else {}
        event = tx.put("event", event_id, {
            "id": event_id, "createdDateTime": now, "lastModifiedDateTime": now,
            "changeKey": event_id[-12:], "categories": list_field(body, "categories"),
            "transactionId": transaction_id or None,
            "originalStartTimeZone": start_json["timeZone"],
            "originalEndTimeZone": end_json["timeZone"],
            "iCalUId": f"040000008200E00074C5B7101A82E008{uuid.uuid4().hex.upper()}",
            "reminderMinutesBeforeStart": 15, "isReminderOn": True,
            "hasAttachments": False, "subject": text_field(body, "subject"),
            "bodyPreview": "", "importance": "normal", "sensitivity": "normal",
            "isAllDay": bool(body.get("isAllDay")), "isCancelled": False,
            "isOrganizer": True, "responseRequested": True, "showAs": "busy",
            "type": "singleInstance",
            "webLink": f"https://outlook.office365.com/owa/?itemid={event_id}"
                       "&exvsurl=1&path=/calendar/item",
            "onlineMeetingUrl": None, "isOnlineMeeting": online,
            "onlineMeetingProvider": "teamsForBusiness" if online else "unknown",
            "responseStatus": {"response": "organizer", "time": "0001-01-01T00:00:00Z"},
            "body": item_body(body.get("body")), "start": start_json, "end": end_json,
            "location": {"displayName": (location or {}).get("displayName") or "",
                         "locationType": "default"},
            "attendees": _attendees(body),
            "organizer": {"emailAddress": {"name": box, "address": box}},
            "onlineMeeting": {"joinUrl": _join_url(event_id)} if online else None,
            "mailbox": box, "actor": ctx.actor,
        }, scope=box.lower(), parent=transaction_id)
    return json_response(_public(ctx, box, event), 201)


def _public(ctx: Ctx, box: str, event: dict) -> dict:
    return {"@odata.context": f"{ctx.graph_url}/$metadata#users('{box}')/events/$entity",
            **{k: v for k, v in event.items() if k not in ("mailbox", "actor")}}


def _join_url(key: str) -> str:
    thread = uuid.uuid5(uuid.NAMESPACE_URL, key).hex
    return (f"https://teams.microsoft.com/l/meetup-join/19%3ameeting_{thread}%40thread.v2/0"
            f"?context=%7b%22Tid%22%3a%22{TENANT_ID}%22%7d")


@permissions.requires(permissions.CREATE_OR_GET_MEETING)
def create_or_get_meeting(ctx: Ctx, user: str | None = None):
    body = ctx.body()
    external_id = param(body, "externalId")
    if not isinstance(external_id, str) or not external_id:
        raise ApiError(400, "BadRequest", "externalId is required.")
    box = mailbox(ctx, user)
    start_raw, end_raw = param(body, "startDateTime"), param(body, "endDateTime")
    try:
        start = parse_iso(start_raw) if start_raw else utc_now()
        end = parse_iso(end_raw) if end_raw else start + timedelta(hours=1)
    except ValueError as exc:
        raise ApiError(400, "BadRequest", "startDateTime and endDateTime must be "
                                          "DateTimeOffsets.") from exc
    with ctx.state.tx() as tx:
        existing = tx.bodies("meeting", scope=box.lower(), parent=external_id)
        if existing:
            return json_response(_meeting_public(ctx, existing[0]), 200)
        meeting_id = f"MSo{uuid.uuid4().hex}"
        meeting = tx.put("meeting", meeting_id, {
            "id": meeting_id, "creationDateTime": iso(), "startDateTime": iso(start),
            "endDateTime": iso(end), "externalId": external_id,
            "subject": param(body, "subject") or None,
            "joinWebUrl": _join_url(meeting_id), "videoTeleconferenceId": None,
            "isBroadcast": False, "allowedPresenters": "everyone",
            "participants": {"organizer": {
                "upn": box, "role": "presenter",
                "identity": {"user": {"id": user_id(box), "displayName": None,
                                      "tenantId": TENANT_ID}}}, "attendees": []},
            "chatInfo": {"threadId": f"19:meeting_{uuid.uuid4().hex}@thread.v2",
                         "messageId": "0", "replyChainMessageId": None},
            "mailbox": box, "actor": ctx.actor,
        }, scope=box.lower(), parent=external_id)
    return json_response(_meeting_public(ctx, meeting), 201)


def _meeting_public(ctx: Ctx, meeting: dict) -> dict:
    return {"@odata.context": f"{ctx.graph_url}/$metadata#onlineMeetings/$entity",
            **{k: v for k, v in meeting.items() if k not in ("mailbox", "actor")}}


def rules() -> list[Rule]:
    rules_ = []
    for prefix, defaults in (("/v1.0/me", {"user": None}), ("/v1.0/users/<user>", None)):
        rules_ += [
            Rule(f"{prefix}/events", endpoint=create_event, methods=["POST"],
                 defaults=defaults),
            Rule(f"{prefix}/onlineMeetings/createOrGet", endpoint=create_or_get_meeting,
                 methods=["POST"], defaults=defaults),
        ]
    return rules_
