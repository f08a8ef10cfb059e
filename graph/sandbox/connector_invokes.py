"""Invoke activities as Teams' Bot Connector sends them when a person presses a card's
button: `adaptiveCard/action` (an Action.Execute, or a card's automatic refresh). An
invoke is answered in the HTTP response (Teams waits five seconds for it), so `send`
returns the bot's status and body.

Shapes as Microsoft documents them: the Universal Action request
(https://learn.microsoft.com/adaptive-cards/authoring-cards/universal-action-model#request-format:
`value.action` is the Action.Execute with its `data` merged with the card's inputs,
`value.trigger` "manual" or "automatic").
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


def send(state, bot_url: str, activity: dict, *, bot_id: str) -> tuple[int, dict | None]:
    """Sign and deliver `activity`; (HTTP status, the bot's JSON body or None)."""
    token = connector_token(state, audience=bot_id, service_url=activity["serviceUrl"])
    answer = deliver(state, bot_url, activity, token)
    try:
        body = answer.json() if answer.content else None
    except ValueError:
        body = None
    return answer.status_code, body
