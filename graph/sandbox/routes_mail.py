"""Outlook mail: sendMail, drafts and sending them; and `GET /me`.

`/me/...` is the token's actor's mailbox; `/users/{id}/...` is that mailbox (a shared
mailbox, say). Errors, as Exchange Online answers through Graph:
- no message in sendMail: 400 ErrorInvalidParameter "The value of the parameter 'Message'
  is empty."
- no recipients when sending, or an address that is not one: 400 ErrorInvalidRecipients
  "At least one recipient isn't valid., ..."
- more than 500 recipients (to + cc + bcc): 400 ErrorExceededMessageLimit (the sandbox
  refuses when the draft is saved and when sent; Exchange itself accepts the call and
  bounces with "550 5.5.3 RESOLVER.ADR.RecipLimit; too many recipients")
- an internetMessageHeaders name without "x-": 400 InvalidInternetMessageHeader
- sending a draft that was sent already (or never existed): 404 ErrorItemNotFound "The
  specified object was not found in the store."; deleting one likewise.

Single-value extended properties (`singleValueExtendedProperties` [{id, value}]) are kept
on a message when it is created and on the copy a send leaves in Sent Items; listing a
folder's messages takes the `$filter` Microsoft documents for them,
`singleValueExtendedProperties/Any(ep: ep/id eq '{id}' and ep/value eq '{value}')` (also
`ne`, `contains(ep/value, ...)`, `startswith(ep/value, ...)`): the id's name compared
case-sensitively, the value case-insensitively
(https://learn.microsoft.com/graph/api/singlevaluelegacyextendedproperty-get). Reading
extended properties needs Mail.Read: Mail.ReadBasic excludes them
(https://learn.microsoft.com/graph/permissions-reference#mailreadbasic). A filter Graph
cannot evaluate (internetMessageHeaders is not filterable; a lambda without `ep/id eq`)
answers 400 ErrorInvalidUrlQueryFilter; filters Graph takes but the sandbox does not model
(subject, receivedDateTime, ...) answer 501 NotImplemented rather than a wrong answer.
"""

from __future__ import annotations

import re
import uuid
from urllib.parse import quote, urlencode

from werkzeug.routing import Rule

from graph.port import MAX_MAIL_RECIPIENTS
from graph.sandbox import permissions
from graph.sandbox.access import authorise
from graph.sandbox.wire import (
    ApiError,
    Ctx,
    empty_response,
    iso,
    item_body,
    json_response,
    list_field,
    text_field,
)

ADDRESS = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
# "String {GUID} Name X", "String {GUID} Id 0x8001" or "String 0x007D":
# https://learn.microsoft.com/graph/api/resources/extended-properties-overview
PROPERTY_ID = re.compile(r"^\s*(\w+)\s+(?:\{([0-9a-fA-F-]{36})\}\s+(Name|Id)\s+(.+?)|"
                         r"(0x[0-9a-fA-F]{1,4}))\s*$", re.IGNORECASE)
_TEXT = r"'((?:[^']|'')*)'"
ANY_FILTER = re.compile(r"^\s*singleValueExtendedProperties/any\(\s*(\w+)\s*:\s*(.*)\)\s*$",
                        re.IGNORECASE | re.DOTALL)
# Folders by their well-known names (https://learn.microsoft.com/graph/api/resources/
# mailfolder): which documents hold their messages; None for folders the sandbox keeps empty.
WELL_KNOWN_FOLDERS = {"drafts": "draft", "sentitems": "mail", "inbox": None,
                      "deleteditems": None, "outbox": None, "junkemail": None,
                      "archive": None}
# Outlook pages messages 10 at a time unless $top says otherwise, up to 1,000:
# https://learn.microsoft.com/graph/paging and .../graph/api/mailfolder-list-messages
MAX_PAGE = 1000
RECIPIENT_FIELDS = ("toRecipients", "ccRecipients", "bccRecipients", "replyTo")


def mailbox(ctx: Ctx, user: str | None) -> str:
    return user or ctx.actor


def param(body: dict, name: str):
    """An action parameter: Graph matches their names case-insensitively."""
    for key, value in body.items():
        if key.lower() == name.lower():
            return value
    return None


def _addresses(message: dict, field: str) -> list[str]:
    addresses = []
    for recipient in list_field(message, field):
        email = recipient.get("emailAddress") if isinstance(recipient, dict) else None
        address = email.get("address") if isinstance(email, dict) else None
        if not isinstance(address, str) or not ADDRESS.match(address.strip()):
            raise ApiError(400, "ErrorInvalidRecipients",
                           f"At least one recipient isn't valid., Recipient '{address}' is "
                           "not resolved. All recipients must be resolved before a message "
                           "can be submitted.")
        addresses.append(address.strip())
    return addresses


def parse_message(raw) -> dict:
    """A message resource from a request, checked; the sandbox's record of it."""
    if not isinstance(raw, dict):
        raise ApiError(400, "ErrorInvalidParameter",
                       "The value of the parameter 'Message' is empty.")
    recipients = {field: _addresses(raw, field) for field in RECIPIENT_FIELDS}
    headers = {}
    for header in list_field(raw, "internetMessageHeaders"):
        name = header.get("name") if isinstance(header, dict) else None
        if not isinstance(name, str) or not name.lower().startswith("x-"):
            raise ApiError(400, "InvalidInternetMessageHeader",
                           f"The internet message header name '{name}' should start with "
                           "'x-' or 'X-'.")
        headers[name] = text_field(header, "value")
    extended = {}
    for prop in list_field(raw, "singleValueExtendedProperties"):
        prop_id = prop.get("id") if isinstance(prop, dict) else None
        if not isinstance(prop_id, str) or property_key(prop_id) is None:
            raise ApiError(400, "ErrorInvalidProperty",
                           f"The extended property id '{prop_id}' is not valid.")
        extended[prop_id.strip()] = text_field(prop, "value")
    count = sum(len(recipients[f]) for f in RECIPIENT_FIELDS[:3])
    if count > MAX_MAIL_RECIPIENTS:
        raise ApiError(400, "ErrorExceededMessageLimit",
                       f"Cannot send mail: {count} recipients exceeds the limit of "
                       f"{MAX_MAIL_RECIPIENTS} a message. 550 5.5.3 RESOLVER.ADR.RecipLimit; "
                       "too many recipients")
    body = item_body(raw.get("body"))
    return {"subject": text_field(raw, "subject"), "html": body["content"],
            "content_type": body["contentType"],
            "to": recipients["toRecipients"], "cc": recipients["ccRecipients"],
            "bcc": recipients["bccRecipients"], "reply_to": recipients["replyTo"],
            "headers": headers, "extended": extended, "recipient_count": count}


def property_key(prop_id: str) -> tuple | None:
    """What makes two extended property ids the same property: the type and GUID in any
    case, a name exactly (Graph compares it case-sensitively)."""
    found = PROPERTY_ID.match(prop_id)
    if found is None:
        return None
    kind, guid, how, name, tag = found.groups()
    if tag:
        return kind.lower(), int(tag, 16)
    return kind.lower(), guid.lower(), how.lower(), name if how.lower() == "name" \
        else name.lower()


def _unquote(text: str) -> str:
    return text.replace("''", "'")


def message_filter(text: str | None):
    """A predicate on a message record for `$filter`, or Graph's (or the sandbox's)
    refusal."""
    if text is None or not text.strip():
        return lambda record: True
    found = ANY_FILTER.match(text)
    if found is None:
        if re.search(r"internetMessageHeaders", text, re.IGNORECASE):
            raise ApiError(400, "ErrorInvalidUrlQueryFilter",
                           "The query filter contains one or more invalid nodes.")
        raise ApiError(501, "NotImplemented",
                       "The sandbox filters messages only on single-value extended "
                       "properties (singleValueExtendedProperties/Any(ep: ep/id eq '...' "
                       "and ep/value eq '...')).")
    var, body = found.group(1), found.group(2)
    v = re.escape(var)
    inner = re.match(
        rf"^\s*{v}/id\s+eq\s+{_TEXT}\s+and\s+(?:{v}/value\s+(eq|ne)\s+{_TEXT}|"
        rf"(contains|startswith)\(\s*{v}/value\s*,\s*{_TEXT}\s*\))\s*$",
        body, re.IGNORECASE | re.DOTALL)
    key = property_key(_unquote(inner.group(1))) if inner else None
    if key is None:
        raise ApiError(400, "ErrorInvalidUrlQueryFilter",
                       "The query filter contains one or more invalid nodes.")
    operator = (inner.group(2) or inner.group(4)).lower()
    wanted = _unquote(inner.group(3) if inner.group(3) is not None else inner.group(5)).lower()
    compare = {"eq": lambda v: v == wanted, "ne": lambda v: v != wanted,
               "contains": lambda v: wanted in v,
               "startswith": lambda v: v.startswith(wanted)}[operator]

    def matches(record: dict) -> bool:
        for prop_id, value in (record.get("extended") or {}).items():
            if property_key(prop_id) == key:
                return compare((value or "").lower())
        return False

    return matches


def _check_sendable(record: dict) -> None:
    if record["recipient_count"] == 0:
        raise ApiError(400, "ErrorInvalidRecipients",
                       "At least one recipient isn't valid., A message can't be sent "
                       "because it contains no recipients.")


def _message_json(ctx: Ctx, message_id: str, box: str, record: dict, draft: bool,
                  created: str) -> dict:
    def people(addresses):
        return [{"emailAddress": {"name": a, "address": a}} for a in addresses]

    sender = None if draft else {"emailAddress": {"name": box, "address": box}}
    return {
        "@odata.context": f"{ctx.graph_url}/$metadata#users('{box}')/messages/$entity",
        "@odata.etag": f'W/"{message_id[-12:]}"', "id": message_id,
        "createdDateTime": created, "lastModifiedDateTime": created,
        "changeKey": message_id[-12:], "categories": [], "receivedDateTime": created,
        "sentDateTime": None if draft else created, "hasAttachments": False,
        "internetMessageId": f"<{message_id[-20:]}@sandbox.example>",
        "subject": record["subject"], "bodyPreview": re.sub(r"<[^>]+>", "",
                                                            record["html"])[:255],
        "importance": "normal", "parentFolderId": "Drafts" if draft else "SentItems",
        "conversationId": f"AAQk{uuid.uuid5(uuid.NAMESPACE_URL, message_id).hex}",
        "isDeliveryReceiptRequested": False, "isReadReceiptRequested": False,
        "isRead": True, "isDraft": draft, "inferenceClassification": "focused",
        "webLink": f"https://outlook.office365.com/owa/?ItemID={message_id}&exvsurl=1",
        "body": {"contentType": record["content_type"], "content": record["html"]},
        "sender": sender, "from": sender,
        "toRecipients": people(record["to"]), "ccRecipients": people(record["cc"]),
        "bccRecipients": people(record["bcc"]), "replyTo": people(record["reply_to"]),
        "flag": {"flagStatus": "notFlagged"},
    }


def _new_id() -> str:
    return f"AAMkAG{uuid.uuid4().hex}{uuid.uuid4().hex[:16]}="


@permissions.requires(permissions.SEND_MAIL)
def send_mail(ctx: Ctx, user: str | None = None):
    body = ctx.body()
    record = parse_message(param(body, "message"))
    _check_sendable(record)
    save = param(body, "saveToSentItems")
    box = mailbox(ctx, user)
    mail_id = _new_id()
    with ctx.state.tx() as tx:
        tx.put("mail", mail_id, {
            "id": mail_id, "mailbox": box, "sender": box, "actor": ctx.actor,
            **record, "sent_at": iso(), "via": "sendMail", "draft_id": None,
            "save_to_sent_items": save is None or str(save).lower() != "false"},
            scope=box.lower())
    return empty_response(202)


@permissions.requires(permissions.CREATE_DRAFT)
def create_draft(ctx: Ctx, user: str | None = None):
    record = parse_message(ctx.body())
    box = mailbox(ctx, user)
    draft_id = _new_id()
    created = iso()
    with ctx.state.tx() as tx:
        tx.put("draft", draft_id, {"id": draft_id, "mailbox": box, "actor": ctx.actor,
                                   **record, "created_at": created}, scope=box.lower())
    return json_response(_message_json(ctx, draft_id, box, record, True, created), 201)


@permissions.requires(permissions.SEND_DRAFT)
def send_draft(ctx: Ctx, message: str, user: str | None = None):
    box = mailbox(ctx, user)
    with ctx.state.tx() as tx:
        draft = tx.get("draft", message, scope=box.lower())
        if draft is None:
            raise ApiError(404, "ErrorItemNotFound",
                           "The specified object was not found in the store.")
        _check_sendable(draft)
        tx.delete("draft", message)
        sent_id = _new_id()
        tx.put("mail", sent_id, {
            **{k: v for k, v in draft.items() if k not in ("created_at", "actor")},
            "id": sent_id, "sender": box, "actor": ctx.actor, "sent_at": iso(),
            "via": "draft", "draft_id": message, "save_to_sent_items": True},
            scope=box.lower())
    return empty_response(202)


@permissions.requires(permissions.LIST_FOLDER_MESSAGES)
def list_folder_messages(ctx: Ctx, folder: str, user: str | None = None):
    """GET .../mailFolders/{well-known name}/messages: newest first, `$top` (10 by
    default, at most 1000) and `$skip`, with an @odata.nextLink while more remain."""
    kind = WELL_KNOWN_FOLDERS.get(folder.lower(), "unknown")
    if kind == "unknown":
        raise ApiError(400, "ErrorInvalidIdMalformed", "Id is malformed.")
    wanted = message_filter(ctx.arg("$filter"))
    top = ctx.top(10, MAX_PAGE, strict=False)
    try:
        skip = max(0, int(ctx.arg("$skip") or 0))
    except ValueError as exc:
        raise ApiError(400, "BadRequest",
                       f"Invalid value '{ctx.arg('$skip')}' for query option '$skip'.") from exc
    box = mailbox(ctx, user)
    with ctx.state.read() as tx:
        if ctx.arg("$filter") and "singlevalueextendedproperties" in ctx.arg("$filter").lower():
            authorise(tx, ctx.principal, permissions.READ_EXTENDED_PROPERTIES, "GET",
                      {"user": user})
        records = [] if kind is None else tx.bodies(kind, scope=box.lower(),
                                                    newest_first=True)
    if kind == "mail":  # the copies sends saved in Sent Items
        records = [r for r in records if r.get("save_to_sent_items", True)
                   and not r.get("deleted_at")]
    records = [r for r in records if wanted(r)]
    page = records[skip:skip + top]
    select = [f.strip() for f in (ctx.arg("$select") or "").split(",") if f.strip()]

    def shown(record: dict) -> dict:
        full = _message_json(ctx, record["id"], box, record, kind == "draft",
                             record.get("created_at") or record.get("sent_at") or iso())
        full.pop("@odata.context", None)
        if not select:
            return full
        return {k: v for k, v in full.items() if k in ("id", "@odata.etag", *select)}

    path = f"{ctx.graph_url}/{'me' if user is None else f'users/{user}'}/mailFolders/" \
           f"{folder}/messages"
    result = {"@odata.context": f"{ctx.graph_url}/$metadata#users('{box}')/mailFolders"
                                f"('{folder}')/messages", "value": [shown(r) for r in page]}
    if skip + top < len(records):
        query = {k: v for k, v in ctx.request.args.items() if k.lstrip("$") != "skip"}
        query["$skip"] = str(skip + top)
        result["@odata.nextLink"] = f"{path}?{urlencode(query, quote_via=quote)}"
    return json_response(result)


@permissions.requires(permissions.DELETE_MESSAGE)
def delete_message(ctx: Ctx, message: str, user: str | None = None):
    """DELETE .../messages/{id}, 204 (https://learn.microsoft.com/graph/api/message-delete):
    a draft is gone; a sent message's copy leaves Sent Items (it stays sent). A sent
    draft's id names nothing any more: its copy in Sent Items has an id of its own."""
    box = mailbox(ctx, user)
    with ctx.state.tx() as tx:
        if tx.get("draft", message, scope=box.lower()) is not None:
            tx.delete("draft", message)
            return empty_response(204)
        sent = tx.get("mail", message, scope=box.lower())
        if sent is None or sent.get("deleted_at") or not sent.get("save_to_sent_items", True):
            raise ApiError(404, "ErrorItemNotFound",
                           "The specified object was not found in the store.")
        tx.put("mail", message, {**sent, "deleted_at": iso()}, scope=box.lower())
    return empty_response(204)


@permissions.requires(permissions.GET_ME)
def me(ctx: Ctx):
    """The signed-in person, as the directory knows them."""
    who = ctx.principal
    upn = who.upn or ""
    return json_response({
        "@odata.context": f"{ctx.graph_url}/$metadata#users/$entity",
        "id": who.user_id, "displayName": who.name or upn, "userPrincipalName": upn,
        "mail": upn if "@" in upn else None, "givenName": (who.name or upn).split(" ")[0],
        "surname": None, "jobTitle": None, "businessPhones": [], "mobilePhone": None,
        "officeLocation": None, "preferredLanguage": "en-GB"})


def rules() -> list[Rule]:
    rules_ = [Rule("/v1.0/me", endpoint=me, methods=["GET"])]
    for prefix, defaults in (("/v1.0/me", {"user": None}), ("/v1.0/users/<user>", None)):
        rules_ += [
            Rule(f"{prefix}/sendMail", endpoint=send_mail, methods=["POST"],
                 defaults=defaults),
            Rule(f"{prefix}/messages", endpoint=create_draft, methods=["POST"],
                 defaults=defaults),
            Rule(f"{prefix}/messages/<message>/send", endpoint=send_draft, methods=["POST"],
                 defaults=defaults),
            Rule(f"{prefix}/messages/<message>", endpoint=delete_message,
                 methods=["DELETE"], defaults=defaults),
            Rule(f"{prefix}/mailFolders/<folder>/messages", endpoint=list_folder_messages,
                 methods=["GET"], defaults=defaults),
        ]
    return rules_
