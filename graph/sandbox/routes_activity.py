"""Teams: a notification in one person's activity feed, and the sandbox's record of them.

POST /v1.0/users/{user}/teamwork/sendActivityNotification, as Microsoft documents it
(https://learn.microsoft.com/graph/api/userteamwork-sendactivitynotification and
https://learn.microsoft.com/graph/teams-send-activityfeednotifications):
- Permissions: delegated TeamsActivity.Send; application TeamsActivity.Send, or the
  resource-specific TeamsActivity.Send.User, which installing the Teams app for the
  person grants (its manifest lists it) to the Entra app the manifest names.
- "The Teams app must be installed for the recipient": the sandbox counts the app
  installed for the person (graph/sandbox/teams_apps.py, personal scope), backed by the
  calling Entra app (`webApplicationInfo.id`). Without it Graph answers 403 Forbidden
  "Application with AAD App Id '...' is not authorized to generate custom text
  notifications about '...' to the recipient. Ensure that the expected Teams app is
  installed in the target scope (user, team, or chat)." (the wording reported in
  OfficeDev/microsoft-365-agents-toolkit#6067 and tested against by n8n). Installed, but
  without the RSC and without the tenant-wide role: 403 "Missing role permissions on the
  request. API requires one of 'TeamsActivity.Send, TeamsActivity.Send.User'. Roles on the
  request '...'. Resource specific consent grants on the request ''."
- Body: `topic` (source "text" with a `value` and a `webUrl`, which "must start with the
  Microsoft Teams domain"; or "entityUrl" naming the app's installation or catalog
  entry), `activityType` (declared in the installed app's manifest `activities`, or the
  reserved `systemDefault` with its `systemDefaultText`), `templateParameters` (the
  templateText's {names}, `actor` excepted: Teams fills it with the caller, the app's
  name for an app alone), `previewText` ("Microsoft Teams will only show first 150
  characters": the record keeps what is shown), `chainId` (the same again replaces the
  earlier notification). The pages give no wording for a malformed body; the sandbox
  answers 400 BadRequest naming what is wrong. "A user can't send notifications to
  themselves": 400 as well.
- 204 No Content. Throttling: 5 requests a second per app per tenant
  (https://learn.microsoft.com/graph/throttling-limits, Microsoft Teams service limits).

The record (kind "activity_notification", newest last) is what the /sandbox page lists.
"""

from __future__ import annotations

import json
import re
import time
import uuid

from werkzeug.routing import Rule
from werkzeug.wrappers import Request, Response

from graph.sandbox import directory, teams_apps
from graph.sandbox.auth import Principal, Requirement, requires
from graph.sandbox.wire import ApiError, Ctx, empty_response, error_body, iso, json_response

DOC = "https://learn.microsoft.com/graph/api/userteamwork-sendactivitynotification"
KIND = "activity_notification"
SEND = "TeamsActivity.Send"
SEND_USER_RSC = "TeamsActivity.Send.User"
TEAMS_DOMAIN = "https://teams.microsoft.com/"
PREVIEW_SHOWN = 150
RPS_PER_TENANT = 5.0  # POST /users/{user-id}/teamwork/sendActivityNotification
SYSTEM_DEFAULT = "systemDefault"
MAX_CHAIN_ID = 2 ** 63 - 1
MAX_TEXT = 4000  # a bound on what the sandbox keeps of any one field
MAX_MANIFEST_BYTES = 64 * 1024
PARAMETER = re.compile(r"\{(\w+)\}")


class _SendRequirement(Requirement):
    """TeamsActivity.Send, delegated or application; an app without the tenant-wide role
    may still hold the recipient's resource-specific TeamsActivity.Send.User, which only
    the route can look up (it names the recipient): the route checks it, first."""

    def check(self, principal: Principal) -> str:
        if not principal.delegated and principal.holds(self.application) is None:
            return SEND_USER_RSC
        return super().check(principal)


SEND_NOTIFICATION = _SendRequirement((SEND,), (SEND,), DOC,
                                     resource_specific=(SEND_USER_RSC,))


@requires(SEND_NOTIFICATION)
def send_activity_notification(ctx: Ctx, user: str):
    principal: Principal = ctx.principal
    _throttle(ctx, principal)
    body = ctx.body()
    with ctx.state.tx() as tx:
        recipient = directory.user_or_404(tx, user)
        if principal.delegated and principal.user_id == recipient["id"]:
            raise ApiError(400, "BadRequest", "A user can't send an activity notification "
                                              "to themselves.")
        installed = _installation(tx, recipient, principal, user)
        notification = _validated(body, installed)
        sender = principal.name if principal.delegated else installed["display_name"]
        text = PARAMETER.sub(lambda m: sender if m[1] == "actor" else
                             notification["template_parameters"].get(m[1], m[0]),
                             notification["template"])
        chain = notification["chain_id"]
        if chain is not None:
            for earlier in tx.bodies(KIND, scope=recipient["id"]):
                if earlier.get("chain_id") == chain and not earlier.get("replaced") and \
                        earlier.get("caller_app_id") == principal.app_id:
                    tx.put(KIND, earlier["id"], {**earlier, "replaced": True},
                           scope=recipient["id"])
        record_id = str(uuid.uuid4())
        tx.put(KIND, record_id, {
            "id": record_id, "recipient_id": recipient["id"],
            "recipient_upn": recipient["userPrincipalName"],
            "recipient_name": recipient.get("displayName") or "",
            "caller_app_id": principal.app_id, "sender": sender,
            "teams_app": installed["external_id"], "activity_type": notification["type"],
            "text": text[:MAX_TEXT], "preview": notification["preview"][:PREVIEW_SHOWN],
            "preview_length": len(notification["preview"]), "topic": notification["topic"],
            "template_parameters": notification["template_parameters"],
            "chain_id": chain, "replaced": False, "sent_at": iso(),
            "request_id": ctx.request_id}, scope=recipient["id"])
    return empty_response(204)


def _throttle(ctx: Ctx, principal: Principal) -> None:
    from graph.sandbox import throttling

    throttling._count(ctx.state, time.time(),  # the sandbox's own sliding window
                      [(f"activity-feed:{principal.app_id}", RPS_PER_TENANT, 1.0)])


def _installation(tx, recipient: dict, principal: Principal, path_user: str) -> dict:
    """The recipient's installation of a Teams app the caller backs, with the permission
    to notify them; Graph's 403s otherwise."""
    mine = [row for row in teams_apps.personal_installations(tx, recipient["id"])
            if principal.app_id in row.get("app_ids", [])]
    if not mine:
        raise ApiError(403, "Forbidden", f"Application with AAD App Id '{principal.app_id}' "
                       "is not authorized to generate custom text notifications about "
                       f"'/users/{path_user}/teamwork/sendActivityNotification' to the "
                       "recipient. Ensure that the expected Teams app is installed in the "
                       "target scope (user, team, or chat).")
    if principal.delegated or principal.holds((SEND,)):
        return mine[0]
    consented = [row for row in mine
                 if SEND_USER_RSC.lower() in {p.lower() for p in row.get("rsc", [])}]
    if not consented:
        raise ApiError(403, "Forbidden", "Missing role permissions on the request. API "
                       f"requires one of '{SEND}, {SEND_USER_RSC}'. Roles on the request "
                       f"'{', '.join(sorted(principal.permissions))}'. Resource specific "
                       "consent grants on the request ''.")
    return consented[0]


def _bad(message: str) -> ApiError:
    return ApiError(400, "BadRequest", message)


def _text(value, name: str, required: bool = True) -> str:
    if value is None and not required:
        return ""
    if not isinstance(value, str) or (required and not value.strip()):
        raise _bad(f"Invalid value for property '{name}': a string is required.")
    return value


def _validated(body: dict, installed: dict) -> dict:
    """The notification as Graph reads it, or its 400."""
    topic = body.get("topic")
    if not isinstance(topic, dict):
        raise _bad("The topic is required.")
    source = topic.get("source")
    if source == "text":
        web_url = _text(topic.get("webUrl"), "topic.webUrl")
        if not web_url.startswith(TEAMS_DOMAIN):
            raise _bad("topic.webUrl must start with the Microsoft Teams domain "
                       f"({TEAMS_DOMAIN}) when the topic's source is text.")
        shown = {"source": "text", "value": _text(topic.get("value"), "topic.value")[:MAX_TEXT],
                 "webUrl": web_url[:MAX_TEXT]}
    elif source == "entityUrl":
        value = _text(topic.get("value"), "topic.value")
        if not re.match(r"^https://graph\.microsoft\.com/(v1\.0|beta)/(users/[^/]+/teamwork/"
                        r"installedApps/[^/]+|appCatalogs/teamsApps/[^/]+)$", value):
            raise _bad("topic.value must name a teamsAppInstallation or a teamsCatalogApp "
                       "when the topic's source is entityUrl.")
        shown = {"source": "entityUrl", "value": value}
    else:
        raise _bad("topic.source must be 'text' or 'entityUrl'.")
    kind = _text(body.get("activityType"), "activityType")
    given = body.get("templateParameters") or []
    if not isinstance(given, list):
        raise _bad("Invalid value for property 'templateParameters': a collection of "
                   "keyValuePair is required.")
    parameters: dict[str, str] = {}
    for pair in given:
        if not isinstance(pair, dict):
            raise _bad("Each template parameter is a keyValuePair {name, value}.")
        name, value = _text(pair.get("name"), "name"), _text(pair.get("value"), "value", False)
        if name in parameters:
            raise _bad(f"The template parameter '{name}' is given twice.")
        parameters[name] = value[:MAX_TEXT]
    if kind == SYSTEM_DEFAULT:
        template, wanted = "{systemDefaultText}", {"systemDefaultText"}
    else:
        declared = installed.get("activity_types", {}).get(kind)
        if declared is None:
            raise _bad(f"The activity type '{kind}' is not declared in the activities of "
                       f"the Teams app's manifest ({installed['external_id']}).")
        template = declared["templateText"]
        wanted = set(PARAMETER.findall(template)) - {"actor"}
    if set(parameters) != wanted:
        missing, extra = sorted(wanted - set(parameters)), sorted(set(parameters) - wanted)
        raise _bad(f"The template parameters do not match the activity type '{kind}': "
                   + "; ".join(part for part in (
                       f"missing {', '.join(missing)}" if missing else "",
                       f"not in its templateText {', '.join(extra)}" if extra else "")
                       if part) + ".")
    preview = body.get("previewText")
    if preview is not None and not isinstance(preview, dict):
        raise _bad("Invalid value for property 'previewText': an itemBody is required.")
    chain = body.get("chainId")
    if chain is not None and (isinstance(chain, bool) or not isinstance(chain, int)
                              or not 0 <= chain <= MAX_CHAIN_ID):
        raise _bad("Invalid value for property 'chainId': an Int64 is required.")
    return {"type": kind, "template": template, "template_parameters": parameters,
            "topic": shown, "chain_id": chain,
            "preview": _text((preview or {}).get("content"), "previewText.content", False)}


def rules() -> list[Rule]:
    return [Rule("/v1.0/users/<user>/teamwork/sendActivityNotification",
                 endpoint=send_activity_notification, methods=["POST"])]


# ---- the sandbox's own controls and readers (no auth, never faulted) ---------------------


def sent_notifications(state) -> list[dict]:
    """Every activity feed notification received, oldest first (`replaced`: a later one
    with the same chainId took its place in the person's feed)."""
    with state.read() as tx:
        return tx.bodies(KIND)


def control_notifications(state, request: Request) -> Response:
    """GET /_sandbox/activity-notifications: the last 200 received."""
    return json_response({"value": sent_notifications(state)[-200:]})


def control_personal_install(state, request: Request) -> Response:
    """POST /_sandbox/teams-app/personal {"action": "install" | "uninstall", "upn",
    "manifest": the package's manifest (install), "rsc_app_ids": optional}: the person
    adds the app for themselves in Teams, or removes it (teams_apps.install_for_user)."""
    raw = request.get_data()
    try:
        if len(raw) > MAX_MANIFEST_BYTES:
            raise ValueError("the request is too large")
        body = json.loads(raw or b"{}")
        if not isinstance(body, dict):
            raise ValueError("a JSON object is required")
        action, upn = body.get("action"), body.get("upn")
        if action not in ("install", "uninstall") or not isinstance(upn, str) \
                or "@" not in upn or len(upn) > 320:
            raise ValueError("action: install or uninstall; upn: an email address")
        if action == "uninstall":
            return json_response({"removed": teams_apps.uninstall_for_user(state, upn)})
        manifest, extra = body.get("manifest"), body.get("rsc_app_ids") or []
        if not isinstance(manifest, dict) or not isinstance(extra, list) or \
                not all(isinstance(a, str) and len(a) <= 200 for a in extra[:10]):
            raise ValueError("manifest: the app package's manifest (an object); "
                             "rsc_app_ids: a list of app ids")
        with state.tx() as tx:
            directory.add_user(tx, upn)  # as a sign-in would have made them
        found = teams_apps.install_for_user(state, upn, manifest, tuple(extra[:10]))
        return json_response({"installed": True, "user_id": found["user_id"],
                              "activity_types": sorted(found["activity_types"])})
    except ValueError as exc:
        return json_response(error_body("BadRequest", str(exc), str(uuid.uuid4())), 400)
