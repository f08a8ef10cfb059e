"""The sandbox as Teams' Bot Connector service, far enough for a bot's real path.

Inbound (connector to bot): Bot Connector tokens are RS256 JWTs signed with keys published
through OpenID metadata; the sandbox serves both at Microsoft's paths
(`/v1/.well-known/openidconfiguration`, `/v1/.well-known/keys`) and signs with an RSA key
kept in its state (beside its Entra's key), so the bot checks them exactly as it checks
login.botframework.com's. `deliver` posts a signed activity to a bot the way Teams does.
https://learn.microsoft.com/azure/bot-service/rest-api/bot-framework-rest-connector-authentication

Outbound (bot to connector): `/v3/conversations` (a new thread in a channel of a team
the app is installed in, which also appears as a Graph channel message) and
`/v3/conversations/{id}/activities[/{activityId}]` (send, reply, update) need a bearer
token from the sandbox's Entra for `https://api.botframework.com/.default`, as the
connector requires; what the bot sent is stored (kind `connector_activity`, `sent_activities`).
"""

from __future__ import annotations

import base64
import json
import time
import uuid

import jwt
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from werkzeug.routing import Rule
from werkzeug.wrappers import Request, Response

from graph.sandbox.auth import ALGORITHM, signing_key
from graph.sandbox.wire import TENANT_ID

CONNECTOR_ISSUER = "https://api.botframework.com"  # the `iss` of Bot Connector tokens
CONNECTOR_RESOURCE = "https://api.botframework.com"  # the audience of a bot's own tokens
CONNECTOR_SCOPE = f"{CONNECTOR_RESOURCE}/.default"
DELIVERY_TIMEOUT = 10.0


def _json(body: dict, status: int = 200) -> Response:
    return Response(json.dumps(body), status=status,
                    content_type="application/json; charset=utf-8")


def _b64(number: int) -> str:
    raw = number.to_bytes((number.bit_length() + 7) // 8, "big")
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def new_rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def pem_of(key: rsa.RSAPrivateKey) -> str:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode()


def connector_key(tx) -> dict:
    """{"kid", "pem"}: the connector's signing key, made on first use (every process
    sharing the state file signs and publishes the same one)."""
    found = tx.get("connector_key", "current")
    if found is None:
        found = tx.put("connector_key", "current",
                       {"kid": uuid.uuid4().hex, "pem": pem_of(new_rsa_key())})
    return found


def jwk_of(kid: str, pem: str) -> dict:
    public = serialization.load_pem_private_key(pem.encode(), None).public_key().public_numbers()
    return {"kty": "RSA", "use": "sig", "kid": kid, "alg": "RS256", "n": _b64(public.n),
            "e": _b64(public.e), "endorsements": ["msteams"]}


# ---- inbound: what the connector signs ------------------------------------------------


def connector_token(state, *, audience: str, service_url: str, lifetime: int = 3600,
                    issuer: str = CONNECTOR_ISSUER, pem: str | None = None,
                    kid: str | None = None) -> str:
    """A Bot Connector token for the bot `audience` (its app id), as Teams sends in
    `Authorization: Bearer`. `pem`/`kid` sign with another key (a forgery, for tests)."""
    with state.tx() as tx:
        key = connector_key(tx)
    now = int(time.time())
    claims = {"iss": issuer, "aud": audience, "serviceurl": service_url, "nbf": now - 5,
              "iat": now, "exp": now + lifetime, "jti": uuid.uuid4().hex}
    return jwt.encode(claims, pem or key["pem"], algorithm="RS256",
                      headers={"kid": kid or key["kid"]})


def message_activity(*, text: str, service_url: str, bot_id: str, user_oid: str,
                     user_name: str = "", tenant_id: str = TENANT_ID,
                     conversation_id: str | None = None, channel_id: str | None = None,
                     team_id: str | None = None) -> dict:
    """A Teams `message` activity: personal chat, or a channel post when `channel_id`."""
    conversation = {"id": conversation_id or f"a:{uuid.uuid4().hex}", "tenantId": tenant_id,
                    "conversationType": "channel" if channel_id else "personal"}
    channel_data: dict = {"tenant": {"id": tenant_id}}
    if channel_id:
        conversation["id"] = conversation_id or f"{channel_id};messageid={uuid.uuid4().int}"
        channel_data.update(channel={"id": channel_id}, team={"id": team_id or channel_id})
    return {
        "type": "message", "id": str(uuid.uuid4().int)[:13], "text": text,
        "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime()),
        "serviceUrl": service_url, "channelId": "msteams",
        "from": {"id": f"29:{user_oid}", "name": user_name, "aadObjectId": user_oid},
        "recipient": {"id": f"28:{bot_id}", "name": "Incident Desk"},
        "conversation": conversation, "channelData": channel_data, "locale": "en-GB"}


def deliver(state, bot_url: str, activity: dict, token: str | None) -> requests.Response:
    """POST `activity` to the bot as Teams' connector would."""
    headers = {"Content-Type": "application/json"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    http = requests.Session()
    http.trust_env = False
    try:
        return http.post(bot_url, data=json.dumps(activity), headers=headers,
                         timeout=DELIVERY_TIMEOUT)
    finally:
        http.close()


def metadata(request: Request, state) -> Response:
    base = request.host_url.rstrip("/")
    return _json({"issuer": CONNECTOR_ISSUER, "authorization_endpoint":
                  "https://invalid.botframework.com", "jwks_uri":
                  f"{base}/v1/.well-known/keys", "id_token_signing_alg_values_supported":
                  ["RS256"], "token_endpoint_auth_methods_supported": ["private_key_jwt"]})


def keys(request: Request, state) -> Response:
    with state.tx() as tx:
        key = connector_key(tx)
    return _json({"keys": [jwk_of(key["kid"], key["pem"])]})


# ---- outbound: what the bot sends -----------------------------------------------------


def bot_access_token(key: str, app: dict, lifetime: float) -> tuple[str, int]:
    """What the sandbox Entra issues a bot for https://api.botframework.com/.default."""
    now = int(time.time())
    expires = now + max(1, int(lifetime))
    return jwt.encode({"aud": CONNECTOR_RESOURCE, "iss": f"https://sts.windows.net/{TENANT_ID}/",
                       "iat": now, "nbf": now, "exp": expires, "tid": TENANT_ID,
                       "appid": app["client_id"], "idtyp": "app", "ver": "1.0",
                       "uti": uuid.uuid4().hex}, key, algorithm=ALGORITHM), expires


def _caller(request: Request, state) -> str | Response:
    """The bot app id a valid connector bearer token names, or the connector's 401."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    refused = _json({"message": "Authorization has been denied for this request."}, 401)
    if scheme.lower() != "bearer" or not token.strip():
        return refused
    with state.tx() as tx:
        key = signing_key(tx)
    try:
        claims = jwt.decode(token.strip(), key, algorithms=[ALGORITHM],
                            audience=CONNECTOR_RESOURCE)
    except jwt.PyJWTError:
        return refused
    return claims["appid"]


def _caller_and_body(request: Request, state) -> tuple[str | Response, object]:
    """The calling bot (or the connector's 401) and the JSON body (None if not JSON)."""
    caller = _caller(request, state)
    if isinstance(caller, Response):
        return caller, None
    try:
        return caller, json.loads(request.get_data() or b"{}")
    except ValueError:
        return caller, None


def _store(request: Request, state, conversation_id: str, reply_to: str | None,
           activity_id: str | None = None) -> Response:
    caller, body = _caller_and_body(request, state)
    if isinstance(caller, Response):
        return caller
    if not isinstance(body, dict) or not body.get("type"):
        return _json({"error": {"code": "BadArgument", "message": "Activity type is "
                                "required."}}, 400)
    with state.tx() as tx:
        if activity_id is not None and tx.get("connector_activity", activity_id) is None:
            return _json({"error": {"code": "ActivityNotFound", "message": "The activity "
                                    "was not found."}}, 404)
        new_id = activity_id or f"1{tx.next_number('connector_activity'):012d}"
        tx.put("connector_activity", new_id, {
            "id": new_id, "conversation_id": conversation_id, "reply_to_id": reply_to,
            "updated": activity_id is not None, "sent_by": caller, "activity": body,
            "at": time.time()}, scope=conversation_id)
    return _json({"id": new_id}, 200 if activity_id else 201)


def send(request: Request, state, conversation_id: str) -> Response:
    return _store(request, state, conversation_id, None)


def reply_or_update(request: Request, state, conversation_id: str,
                    activity_id: str) -> Response:
    if request.method == "PUT":
        return _store(request, state, conversation_id, None, activity_id)
    return _store(request, state, conversation_id, activity_id)


BOT_NOT_IN_ROSTER = ("BotNotInConversationRoster", "The bot is not part of the "
                     "conversation roster.")


def _error(status: int, code: str, message: str) -> Response:
    return _json({"error": {"code": code, "message": message}}, status)


def create_conversation(request: Request, state) -> Response:
    """`POST /v3/conversations`: a bot starting a new thread in a channel of a team its app
    is installed in (`isGroup`, `channelData.channel.id`, the first `activity`), as
    Microsoft documents proactive channel messages
    (https://learn.microsoft.com/microsoftteams/platform/bots/how-to/conversations/send-proactive-messages).
    Answers `{"id": "<channel>;messageid=<id>", "activityId": "<id>"}`; the post is also a
    channel message Graph lists, from the bot's application identity, its cards as
    attachments with JSON string content (graph/sandbox/teams_apps.py has the roster).
    A bot not in the team's roster: 403 BotNotInConversationRoster; an unknown channel:
    404 ConversationNotFound."""
    from graph.sandbox import teams_apps

    caller, body = _caller_and_body(request, state)
    if isinstance(caller, Response):
        return caller
    channel_data = body.get("channelData") if isinstance(body, dict) else None
    channel = (channel_data or {}).get("channel") if isinstance(channel_data, dict) else None
    channel_id = channel.get("id") if isinstance(channel, dict) else None
    activity = body.get("activity") if isinstance(body, dict) else None
    if not body or not body.get("isGroup") or not isinstance(channel_id, str) \
            or not isinstance(activity, dict) or activity.get("type") != "message":
        return _error(400, "BadArgument", "A channel conversation needs isGroup, "
                                          "channelData.channel.id and a message activity.")
    attachments = activity.get("attachments") or []
    if not isinstance(attachments, list) or not all(isinstance(a, dict) for a in attachments):
        return _error(400, "BadArgument", "Activity attachments must be a list.")
    with state.tx() as tx:
        team = teams_apps.team_of_channel(tx, channel_id)
        if team is None:
            return _error(404, "ConversationNotFound", "Conversation not found.")
        if not teams_apps.bot_in_team(tx, team, caller):
            return _error(403, *BOT_NOT_IN_ROSTER)
        message_id = _channel_message(tx, team, channel_id, caller, activity, attachments)
        conversation_id = f"{channel_id};messageid={message_id}"
        tx.put("connector_activity", message_id, {
            "id": message_id, "conversation_id": conversation_id, "reply_to_id": None,
            "updated": False, "sent_by": caller, "activity": activity, "at": time.time(),
            "team_id": team, "channel_id": channel_id, "new_conversation": True},
            scope=conversation_id)
    return _json({"id": conversation_id, "activityId": message_id}, 201)


def _channel_message(tx, team: str, channel: str, bot_id: str, activity: dict,
                     attachments: list[dict]) -> str:
    """The bot's post as Graph shows it (a channel message from the bot's application
    identity; each card an attachment whose content is a JSON string)."""
    from graph.sandbox.wire import iso, utc_now

    floor = int(utc_now().timestamp() * 1000)  # Teams' ids are epoch milliseconds
    message_id = str(tx.next_number("message", floor=floor))
    now = iso()
    cards = [{"id": str(uuid.uuid4()), "contentType": a.get("contentType"),
              "contentUrl": a.get("contentUrl"), "content": json.dumps(a.get("content"))
              if not isinstance(a.get("content"), str) else a["content"],
              "name": a.get("name"), "thumbnailUrl": None, "teamsAppId": None}
             for a in attachments]
    text = str(activity.get("text") or "")
    tx.put("message", message_id, {
        "id": message_id, "replyToId": None, "etag": message_id, "messageType": "message",
        "createdDateTime": now, "lastModifiedDateTime": now, "lastEditedDateTime": None,
        "deletedDateTime": None, "subject": None, "summary": activity.get("summary"),
        "chatId": None, "importance": "normal", "locale": "en-us",
        "webUrl": (f"https://teams.microsoft.com/l/message/{channel}/{message_id}?groupId="
                   f"{team}&tenantId={TENANT_ID}&createdTime={message_id}"
                   f"&parentMessageId={message_id}"),
        "policyViolation": None, "eventDetail": None,
        "from": {"application": {
            "@odata.type": "#microsoft.graph.teamworkApplicationIdentity", "id": bot_id,
            "displayName": "Incident Desk",  # the Teams app's name, as Teams shows it
            "applicationIdentityType": "bot"}, "device": None, "user": None},
        "body": {"contentType": "html", "content": text + "".join(
            f'<attachment id="{c["id"]}"></attachment>' for c in cards)},
        "channelIdentity": {"teamId": team, "channelId": channel},
        "attachments": cards, "mentions": [], "reactions": [], "via": "bot"},
        scope=channel, parent="")
    return message_id


def sent_activities(state, conversation_id: str | None = None) -> list[dict]:
    with state.read() as tx:
        found = tx.bodies("connector_activity", **(
            {"scope": conversation_id} if conversation_id else {}))
    return sorted(found, key=lambda row: row["id"])


def rules() -> list[Rule]:
    return [
        Rule("/v1/.well-known/openidconfiguration", endpoint=metadata, methods=["GET"]),
        Rule("/v1/.well-known/keys", endpoint=keys, methods=["GET"]),
        Rule("/v3/conversations", endpoint=create_conversation, methods=["POST"]),
        Rule("/v3/conversations/<conversation_id>/activities", endpoint=send,
             methods=["POST"]),
        Rule("/v3/conversations/<conversation_id>/activities/<activity_id>",
             endpoint=reply_or_update, methods=["POST", "PUT"]),
    ]
