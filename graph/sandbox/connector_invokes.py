"""Invoke activities as Teams' Bot Connector sends them when a person presses a card's
button: `adaptiveCard/action` (an Action.Execute, or a card's automatic refresh). An
invoke is answered in the HTTP response (Teams waits five seconds for it), so `send`
returns the bot's status and body.

Shapes as Microsoft documents them: the Universal Action request
(https://learn.microsoft.com/adaptive-cards/authoring-cards/universal-action-model#request-format:
`value.action` is the Action.Execute with its `data` merged with the card's inputs,
`value.trigger` "manual" or "automatic"). And the message extension action commands a
person chooses on a message's More actions menu (`composeExtension/fetchTask`, then
`composeExtension/submitAction` from the dialog), with the message the sandbox's Graph
holds as `value.messagePayload` (message_payload, message_action).
"""

from __future__ import annotations

import uuid

from graph.sandbox.routes_connector import connector_token, deliver, message_activity
from graph.sandbox.wire import TENANT_ID


def invoke_activity(*, name: str, value: dict, service_url: str, bot_id: str, user_oid: str,
                    user_name: str = "", tenant_id: str = TENANT_ID,
                    conversation_id: str | None = None, channel_id: str | None = None,
                    team_id: str | None = None, reply_to_id: str | None = None,
                    user_mri: str | None = None) -> dict:
    """An `invoke` from the person `user_oid`; `reply_to_id` is the card's message (Teams
    names the message whose button was pressed)."""
    activity = message_activity(text="", service_url=service_url, bot_id=bot_id,
                                user_oid=user_oid, user_name=user_name, tenant_id=tenant_id,
                                conversation_id=conversation_id, channel_id=channel_id,
                                team_id=team_id)
    activity.pop("text", None)
    activity.update(type="invoke", name=name, value=value)
    if user_mri:
        activity["from"]["id"] = user_mri
    if reply_to_id:
        activity["replyToId"] = reply_to_id
    return activity


def card_action(verb: str, data: dict | None = None, *, trigger: str = "manual",
                **where) -> dict:
    """An `adaptiveCard/action` invoke for the Action.Execute `verb`."""
    value = {"action": {"type": "Action.Execute", "id": uuid.uuid4().hex[:8], "verb": verb,
                        "data": dict(data or {})}, "trigger": trigger}
    return invoke_activity(name="adaptiveCard/action", value=value, **where)


def message_payload(state, message_id: str) -> dict:
    """`value.messagePayload` for a message the sandbox's Graph holds (a channel post or
    reply, as Teams sends it with a message action chosen on it): its id, replyToId,
    createdDateTime, HTML body, `from` (the person's directory name, as Teams shows it)
    and `linkToMessage` (its webUrl), mentions, reactions and attachments.
    https://learn.microsoft.com/microsoftteams/platform/messaging-extensions/how-to/action-commands/create-task-module
    ("Initial invoke request from a message"). KeyError for a message it does not hold."""
    from graph.sandbox import directory

    with state.read() as tx:
        message = tx.get("message", message_id)
        if message is None:
            raise KeyError(message_id)
        sender = dict(message.get("from") or {})
        user = sender.get("user")
        if isinstance(user, dict):
            found = directory.find_user(tx, user.get("id", ""))
            sender["user"] = {"userIdentityType": "aadUser", "id": user.get("id"),
                              "displayName": (found or {}).get("displayName")
                              or user.get("displayName")}
    return {"id": message["id"], "replyToId": message.get("replyToId"),
            "createdDateTime": message["createdDateTime"],
            "lastModifiedDateTime": message.get("lastModifiedDateTime"), "deleted": False,
            "subject": message.get("subject"), "summary": message.get("summary"),
            "importance": message.get("importance", "normal"),
            "locale": message.get("locale", "en-us"), "linkToMessage": message.get("webUrl"),
            "body": dict(message["body"]),
            "from": {"device": None, "conversation": None, "user": sender.get("user"),
                     "application": sender.get("application")},
            "reactions": list(message.get("reactions") or []),
            "mentions": list(message.get("mentions") or []),
            "attachments": list(message.get("attachments") or [])}


def message_action(name: str, command_id: str, payload: dict, *, data: dict | None = None,
                   **where) -> dict:
    """A `composeExtension/fetchTask` (`name`) or `composeExtension/submitAction` invoke
    for the message action `command_id` chosen on the message `payload`
    (message_payload); submitAction carries the dialog's inputs as `data`. In a channel
    the conversation is the message's thread (`<channel>;messageid=<post>`), as Teams
    sends it. `where` as invoke_activity's."""
    if name not in ("composeExtension/fetchTask", "composeExtension/submitAction"):
        raise ValueError(name)
    value = {"commandId": command_id, "commandContext": "message",
             "requestId": uuid.uuid4().hex, "context": {"theme": "default"},
             "messagePayload": payload}
    if name == "composeExtension/submitAction":
        value["data"] = dict(data or {})
    if where.get("channel_id") and not where.get("conversation_id"):
        post = payload.get("replyToId") or payload["id"]
        where["conversation_id"] = f"{where['channel_id']};messageid={post}"
    activity = invoke_activity(name=name, value=value, **where)
    activity["channelData"]["source"] = {"name": "compose"}  # as the page's example has it
    return activity


def send(state, bot_url: str, activity: dict, *, bot_id: str) -> tuple[int, dict | None]:
    """Sign and deliver `activity`; (HTTP status, the bot's JSON body or None)."""
    token = connector_token(state, audience=bot_id, service_url=activity["serviceUrl"])
    answer = deliver(state, bot_url, activity, token)
    try:
        body = answer.json() if answer.content else None
    except ValueError:
        body = None
    return answer.status_code, body
