"""Teams Workflows webhooks ("When a Teams webhook request is received" → "Post card in
a chat or channel"), registered with `SandboxState.add_workflow`.

- `POST /workflows/{id}/triggers/manual/paths/invoke`: a JSON body of type "message"
  with Adaptive Card attachments. 202 Accepted with an empty body; the card appears in the
  workflow's channel as a message from the Workflows app. An unknown workflow: 404
  WorkflowNotFound. A body that is not a message with Adaptive Cards: 400, as the flow's
  "Post card" step would fail (Workflows take Adaptive Cards only).
"""

from __future__ import annotations

import json
import uuid

from werkzeug.routing import Rule

from graph.port import CARD_CONTENT_TYPE
from graph.sandbox.wire import ApiError, Ctx, empty_response, iso, utc_now

PATH = "/workflows/<flow>/triggers/manual/paths/invoke"
WORKFLOWS_APP = {"@odata.type": "#microsoft.graph.teamworkApplicationIdentity",
                 "id": "c3a1996d-0000-0000-0000-workflows000", "displayName": "Workflows",
                 "applicationIdentityType": "bot"}


def rules() -> list[Rule]:
    return [Rule(PATH, endpoint=invoke, methods=["POST"])]


def invoke(ctx: Ctx, flow: str):
    try:
        body = json.loads(ctx.request.get_data() or b"null")
    except ValueError:
        body = None
    with ctx.state.read() as tx:
        workflow = tx.get("workflow", flow)
    if workflow is None:
        raise ApiError(404, "WorkflowNotFound", f"The workflow '{flow}' could not be found.")
    attachments = body.get("attachments") if isinstance(body, dict) else None
    if not isinstance(body, dict) or body.get("type") != "message" or not attachments \
            or not all(isinstance(a, dict) and a.get("contentType") == CARD_CONTENT_TYPE
                       and isinstance(a.get("content"), dict) for a in attachments):
        raise ApiError(400, "InvalidTemplate", "The request body must be a message whose "
                                               "attachments are Adaptive Cards.")
    team, channel = workflow["team_id"], workflow["channel_id"]
    with ctx.state.tx() as tx:
        floor = int(utc_now().timestamp() * 1000)
        message_id = str(tx.next_number("message", floor=floor))
        now = iso()
        tx.put("message", message_id, {
            "id": message_id, "replyToId": None, "etag": message_id,
            "messageType": "message", "createdDateTime": now, "lastModifiedDateTime": now,
            "subject": None, "importance": "normal", "webUrl": "",
            "from": {"application": WORKFLOWS_APP, "device": None, "user": None},
            "body": {"contentType": "html",
                     "content": "".join(f'<attachment id="{i}"></attachment>'
                                        for i in range(len(attachments)))},
            "channelIdentity": {"teamId": team, "channelId": channel},
            "attachments": [{"id": str(uuid.uuid4()), "contentType": CARD_CONTENT_TYPE,
                             "content": json.dumps(a["content"]), "contentUrl": None,
                             "name": None, "thumbnailUrl": None} for a in attachments],
            "mentions": [], "reactions": [], "via": "workflow"},
            scope=channel, parent="")
    return empty_response(202)
