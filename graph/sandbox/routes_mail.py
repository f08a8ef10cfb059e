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
  specified object was not found in the store."
"""

from __future__ import annotations

import re
import uuid

from werkzeug.routing import Rule

from graph.port import MAX_MAIL_RECIPIENTS
from graph.sandbox import permissions
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
            "headers": headers, "recipient_count": count}


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
        ]
    return rules_
