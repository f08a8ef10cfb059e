"""Teams: channels, channel messages and replies, team members.

Error answers follow what Graph is documented or reported to return:
- unknown team: 404 NotFound "No team found with Group Id {id}"
- an illegal channel name: 400 BadRequest "Channel.DisplayName doesn't contain allowed
  characters, please use the valid values."
- a taken channel name (compared case-insensitively): 400 NameAlreadyExists "Channel name
  already existed, please use other name."
- an attachment not referenced from the body: 400 BadRequest "Body does not contain marker
  for attachment with Id '...'"; card content that is not a JSON string: 400 BadRequest
  "Failed to process content in attachment with Id '...'."
- a message over ~28 KB: 413 RequestEntityTooLarge
- $top over 50 when listing messages: 400 "Limit of '50' for Top Query has been exceeded."
- adding someone who is already a member: 201 again (Graph does not refuse it); an
  owner added again without roles stays an owner (the docs are silent; the sandbox takes
  the reading that harms no one, and the app never relies on demoting).

Private channels (membershipType "private"), as documented for Create channel and Add
member to channel, and as reported where the documentation is silent:
- the creating request names its people in `members`: aadUserConversationMembers with
  `user@odata.bind` and roles ["owner"] or []; at most 200. A member without @odata.type:
  400 BadRequest "'odata.type' must be specified in the request body for each member.";
  none of them an owner: 400 BadRequest (Graph refuses a private channel with no members
  from an application; with a delegated token it would make the caller the owner, which
  the sandbox does not guess); someone who is not a member of the team: 400 BadRequest
  "User ... is not part of team ...". The same name rules and the same name clash hold.
  (`members` when creating a standard channel: 400, the sandbox's own strictness.)
- POST .../channels/{id}/members only for a private channel (else 400 BadRequest
  "Operation not supported for this Channel."); someone not in the team: 400 BadRequest
  "User is not found in the team."; already a member: 201 again, roles as now sent.
- DELETE .../channels/{id}/members/{membership-id} (channel-delete-members): 204 with no
  body; the person leaves the channel, not the team. Only for a private channel (Graph:
  private or shared; a standard one: 400 as for adding); a delegated caller must own the
  channel (403); a membership id the channel does not have, or no longer has: 404
  NotFound. Graph documents no refusal for removing a private channel's last owner
  (Teams' own docs say another member is promoted), so the sandbox invents none; the app
  only ever removes people it added as members.
"""

from __future__ import annotations

import json
import re
from datetime import timedelta
from urllib.parse import quote

from werkzeug.routing import Rule

from graph.port import CARD_CONTENT_TYPE, ILLEGAL_CHANNEL_CHARACTERS, MAX_CHANNEL_NAME
from graph.sandbox import directory, permissions, shapes, teams_access
from graph.sandbox.limits import TenantLimits
from graph.sandbox.routes_channel_archive import refuse_if_archived
from graph.sandbox.teams_docs import channel_or_404, team_or_404
from graph.sandbox.wire import (
    TENANT_ID,
    ApiError,
    Ctx,
    decode_token,
    empty_response,
    encode_token,
    identity,
    iso,
    item_body,
    json_response,
    list_field,
    parse_iso,
    text_field,
    utc_now,
)

MAX_MESSAGE_BYTES = 28 * 1024
MESSAGES_PAGE, MESSAGES_MAX_PAGE = 20, 50
FILTER = re.compile(r"^\s*displayName\s+eq\s+'((?:[^']|'')*)'\s*$", re.IGNORECASE)
BIND = re.compile(r"users(?:\('((?:[^']|'')+)'\)|/([^/?]+))\s*$")
MEMBER_TYPE = "#microsoft.graph.aadUserConversationMember"
MEMBERSHIP_TYPES = ("standard", "private")
MAX_PRIVATE_MEMBERS = 200
INTERNAL = ("user", "added_by", "added_at")  # kept with a member, never sent




def _upn(tx, ref: str) -> str:
    """The directory's UPN for an object id or UPN in a request (unknown: 404, as Graph
    answers for a user that does not exist)."""
    return directory.user_or_404(tx, ref)["userPrincipalName"]


def listed(channel: dict) -> bool:
    """Whether a list shows the channel yet: a new one may be missing for a moment."""
    lag = channel.get("listed_after")
    return lag is None or parse_iso(lag) <= utc_now()


def _selected(channel: dict, select: str | None) -> dict:
    """$select=id,displayName,... (the docs advise it when listing channels)."""
    internal = {k: v for k, v in channel.items() if k in ("listed_after",)}
    public = {k: v for k, v in channel.items() if k not in internal}
    if not select:
        return public
    wanted = {name.strip() for name in select.split(",") if name.strip()}
    return {k: v for k, v in public.items() if k in wanted or k.startswith("@")}


def _check_room_and_name(tx, team: str, name: str) -> None:
    """A name is taken by any channel of the team, deleted ones included for 30 days;
    the team holds at most `channels_per_team` channels, deleted ones included."""
    limits = TenantLimits.from_doc(tx.get("tenant", "limits"))
    horizon = utc_now() - timedelta(days=limits.deleted_channel_days)
    deleted = [c for c in tx.bodies("deleted_channel", scope=team)
               if parse_iso(c["deletedDateTime"]) > horizon]
    every = tx.bodies("channel", scope=team) + deleted
    if any(c["displayName"].lower() == name.lower() for c in every):
        raise ApiError(400, "NameAlreadyExists",
                       "Channel name already existed, please use other name.")
    if len(every) >= limits.channels_per_team:
        raise ApiError(400, "BadRequest", f"The team has reached its limit of "
                       f"{limits.channels_per_team} channels, which counts channels deleted "
                       f"in the last {limits.deleted_channel_days} days.")


def _conversation_member(body, roles_allowed: tuple[str, ...],
                         type_required: bool = False) -> tuple[str, list[str]]:
    """(user id or UPN, roles) of an aadUserConversationMember in a request body."""
    if not isinstance(body, dict):
        raise ApiError(400, "BadRequest", "Invalid request body was sent.")
    if type_required and "@odata.type" not in body:
        raise ApiError(400, "BadRequest",
                       "'odata.type' must be specified in the request body for each member.")
    if body.get("@odata.type", MEMBER_TYPE) != MEMBER_TYPE:
        raise ApiError(400, "BadRequest", "Only aadUserConversationMember can be added.")
    bind = body.get("user@odata.bind")
    match = BIND.search(bind) if isinstance(bind, str) else None
    if match is None:
        raise ApiError(400, "BadRequest", "The 'user@odata.bind' property is required, as "
                                          "https://graph.microsoft.com/v1.0/users('{id}').")
    user = (match.group(1) or "").replace("''", "'") or match.group(2)
    roles = list_field(body, "roles")
    if any(role not in roles_allowed for role in roles):
        raise ApiError(400, "BadRequest", f"Invalid roles {roles}.")
    return user, roles


def _member_body(key_scope: str, user: str, roles: list[str], actor: str,
                 existing: dict | None, settled: bool = False) -> dict:
    """`settled`: visible at once (set up by an administrator, or the channel's creator),
    not after the propagation delay."""
    return {
        "@odata.type": MEMBER_TYPE,
        "id": existing["id"] if existing else encode_token(f"{key_scope}#{user}"),
        "roles": roles, "displayName": user,
        "visibleHistoryStartDateTime": "0001-01-01T00:00:00Z",
        "userId": user, "email": user if "@" in user else None,
        "tenantId": TENANT_ID,
        "user": user, "added_by": actor,
        "added_at": existing["added_at"] if existing else (
            "2000-01-01T00:00:00.000Z" if settled else iso())}


def _public(member: dict) -> dict:
    return {k: v for k, v in member.items() if k not in INTERNAL}


def name_problem(name: str) -> str | None:
    if not name.strip():
        return "Channel.DisplayName cannot be empty."
    if len(name) > MAX_CHANNEL_NAME:
        return f"Channel.DisplayName cannot be longer than {MAX_CHANNEL_NAME} characters."
    if set(name) & ILLEGAL_CHANNEL_CHARACTERS or name.startswith("_") or name.endswith("."):
        return "Channel.DisplayName doesn't contain allowed characters, please use the " \
               "valid values."
    return None


# ---- teams and channels -------------------------------------------------------------------


@permissions.requires(permissions.GET_TEAM)
def get_team(ctx: Ctx, team: str):
    with ctx.state.read() as tx:
        return json_response({"@odata.context": f"{ctx.graph_url}/$metadata#teams/$entity",
                              **team_or_404(tx, team)})


@permissions.requires(permissions.LIST_CHANNELS)
def list_channels(ctx: Ctx, team: str):
    wanted = ctx.arg("$filter")
    name = None
    if wanted:
        match = FILTER.match(wanted)
        if match is None:
            raise ApiError(400, "BadRequest", f"Invalid filter clause: {wanted}")
        name = match.group(1).replace("''", "'")
    with ctx.state.read() as tx:
        team_or_404(tx, team)
        channels = [c for c in tx.bodies("channel", scope=team)
                    if teams_access.may_see(tx, c, ctx.principal) and listed(c)]
    channels = [_selected(c, ctx.arg("$select")) for c in channels]
    if name is not None:
        channels = [c for c in channels if c["displayName"].lower() == name.lower()]
    return json_response({
        "@odata.context": f"{ctx.graph_url}/$metadata#teams('{team}')/channels",
        "@odata.count": len(channels), "value": channels})


@permissions.requires(permissions.CREATE_CHANNEL)
def create_channel(ctx: Ctx, team: str):
    body = ctx.body()
    name = text_field(body, "displayName")
    description = text_field(body, "description")
    kind = text_field(body, "membershipType", "standard")
    if kind not in MEMBERSHIP_TYPES:
        raise ApiError(400, "BadRequest", "The sandbox creates standard and private channels "
                                          f"only, not membershipType '{kind}'.")
    raw_members = list_field(body, "members")
    problem = name_problem(name)
    with ctx.state.tx() as tx:
        team_or_404(tx, team)  # an unknown team is a 404 whatever the name
        teams_access.require_member(tx, team, ctx.principal)
        if problem:
            raise ApiError(400, "BadRequest", problem)
        members = [_conversation_member(m, ("owner",), type_required=True)
                   for m in raw_members]
        if kind == "standard" and members:
            raise ApiError(400, "BadRequest", "Members can be specified only when creating a "
                                              "private or shared channel.")
        if kind == "private":
            if len(members) > MAX_PRIVATE_MEMBERS:
                raise ApiError(400, "BadRequest", "A private channel can be created with at "
                                                  f"most {MAX_PRIVATE_MEMBERS} members.")
            if not any("owner" in roles for _user, roles in members):
                raise ApiError(400, "BadRequest", "Cannot create private channel, no owner "
                               "specified: members must include at least one member with "
                               "roles ['owner'].")
            for user, _roles in members:
                if teams_access.team_member(tx, team, _upn(tx, user)) is None:
                    raise ApiError(400, "BadRequest", f"User {user} is not part of team "
                                                      f"{team}.")
        _check_room_and_name(tx, team, name)
        channel_id = shapes.new_channel_id()
        lag = TenantLimits.from_doc(tx.get("tenant", "limits")).channel_list_lag
        channel = tx.put("channel", channel_id,
                         {**shapes.channel(team, channel_id, name, description, kind),
                          "listed_after": iso(utc_now() + timedelta(seconds=lag))},
                         scope=team)
        channel = _selected(channel, None)
        for user, roles in members:
            upn = _upn(tx, user)
            key = f"{channel_id}/{upn}"
            tx.put("channel_member", key,
                   _member_body(channel_id, upn, roles, ctx.actor,
                                tx.get("channel_member", key), settled=True),
                   scope=channel_id)
    return json_response({
        "@odata.context": f"{ctx.graph_url}/$metadata#teams('{team}')/channels/$entity",
        **channel}, 201)


@permissions.requires(permissions.GET_CHANNEL)
def get_channel(ctx: Ctx, team: str, channel: str):
    with ctx.state.read() as tx:
        found = channel_or_404(tx, team, channel)
        if not teams_access.may_see(tx, found, ctx.principal):
            raise ApiError(404, "NotFound", f"Channel {channel} was not found in team {team}.")
    found = _selected(found, ctx.arg("$select"))
    return json_response({
        "@odata.context": f"{ctx.graph_url}/$metadata#teams('{team}')/channels/$entity",
        **found})


# ---- messages ---------------------------------------------------------------------------


def _attachments(html: str, raw: list) -> list[dict]:
    attachments = []
    for attachment in raw:
        if not isinstance(attachment, dict):
            raise ApiError(400, "BadRequest", "Invalid request body was sent.")
        attachment_id = attachment.get("id")
        if not isinstance(attachment_id, str) or not attachment_id:
            raise ApiError(400, "BadRequest", "Attachment id is required.")
        content_type = text_field(attachment, "contentType")
        content = attachment.get("content")
        if content is not None and not isinstance(content, str):
            raise ApiError(400, "BadRequest", "Invalid request body was sent.")
        if content_type == CARD_CONTENT_TYPE:
            try:
                card = json.loads(content or "")
            except ValueError:
                card = None
            if not isinstance(card, dict):
                raise ApiError(400, "BadRequest", "Failed to process content in attachment "
                                                  f"with Id '{attachment_id}'.")
        marker = re.compile(r"<attachment\s+id\s*=\s*[\"']" + re.escape(attachment_id)
                            + r"[\"']\s*>\s*</attachment>")
        if not marker.search(html):
            raise ApiError(400, "BadRequest", "Body does not contain marker for attachment "
                           f"with Id '{attachment_id}'. Add '<attachment id=\""
                           f"{attachment_id}\"></attachment>' to the body.")
        attachments.append({
            "id": attachment_id, "contentType": content_type,
            "contentUrl": attachment.get("contentUrl"), "content": content,
            "name": attachment.get("name"), "thumbnailUrl": attachment.get("thumbnailUrl"),
            "teamsAppId": attachment.get("teamsAppId")})
    return attachments


def _post(ctx: Ctx, team: str, channel: str, reply_to: str | None):
    with ctx.state.tx() as tx:
        # Who may post is checked before what is posted, as Graph does: a message that is
        # certain to be refused as invalid still answers 403 to someone who may not post.
        found = channel_or_404(tx, team, channel)
        teams_access.refuse_app_posts(ctx.principal)
        teams_access.require_channel_access(tx, team, found, ctx.principal)
        refuse_if_archived(found)
        body = ctx.body()
        if body.get("body") is None:
            raise ApiError(400, "BadRequest", "Missing body content.")
        content = item_body(body.get("body"))
        attachments = _attachments(content["content"], list_field(body, "attachments"))
        size = len(content["content"].encode()) + sum(
            len((a["content"] or "").encode()) for a in attachments)
        if size > MAX_MESSAGE_BYTES:
            raise ApiError(413, "RequestEntityTooLarge", "Request Entity too large.")
        if reply_to is not None:
            parent = tx.get("message", reply_to)
            if parent is None or parent["channelIdentity"]["channelId"] != channel \
                    or parent.get("replyToId"):
                raise ApiError(404, "NotFound", f"Message {reply_to} was not found.")
        floor = int(utc_now().timestamp() * 1000)  # Teams' ids are epoch milliseconds
        message_id = str(tx.next_number("message", floor=floor))
        now = iso()
        link = (f"https://teams.microsoft.com/l/message/{quote(channel, safe='')}/"
                f"{message_id}?groupId={team}&tenantId={TENANT_ID}&createdTime={message_id}"
                + (f"&parentMessageId={reply_to}" if reply_to else ""))
        message = tx.put("message", message_id, {
            "id": message_id, "replyToId": reply_to, "etag": message_id,
            "messageType": "message", "createdDateTime": now, "lastModifiedDateTime": now,
            "lastEditedDateTime": None, "deletedDateTime": None,
            "subject": text_field(body, "subject") or None, "summary": None, "chatId": None,
            "importance": "normal", "locale": "en-us", "webUrl": link,
            "policyViolation": None, "eventDetail": None,
            "from": {"application": None, "device": None, "user": identity(ctx.actor)},
            "body": content,
            "channelIdentity": {"teamId": team, "channelId": channel},
            "attachments": attachments, "mentions": [], "reactions": []},
            scope=channel, parent=reply_to or "")
    context = f"teams('{team}')/channels('{quote(channel, safe='')}')/messages"
    if reply_to:
        context += f"('{reply_to}')/replies"
    return json_response({"@odata.context": f"{ctx.graph_url}/$metadata#{context}/$entity",
                          **message}, 201)


EXPANDED_REPLIES = 1000  # per message with $expand=replies; the rest behind a nextLink


def _expands_replies(ctx: Ctx) -> bool:
    """`$expand=replies`, the one expansion Graph documents for channel messages
    (https://learn.microsoft.com/graph/api/channel-list-messages); any other: 400."""
    wanted = (ctx.arg("$expand") or "").strip()
    if wanted and wanted.lower() != "replies":
        raise ApiError(400, "BadRequest", "Parsing OData Select and Expand failed: Could "
                       f"not find a property named '{wanted}' on type "
                       "'microsoft.graph.chatMessage'.")
    return bool(wanted)


def _with_replies(tx, message: dict, path: str) -> dict:
    """The message with up to EXPANDED_REPLIES replies (newest first, as List replies
    gives them) and, past that, `replies@odata.nextLink` to the List replies route
    (channel-list-messages: "By default, the response can contain up to 1,000 replies.
    ... use the returned replies@odata.nextLink request URL to get the next page")."""
    rows = tx.select("message", scope=message["channelIdentity"]["channelId"],
                     parent=message["id"], newest_first=True, limit=EXPANDED_REPLIES + 1)
    expanded = {**message, "replies": [body for _seq, body in rows[:EXPANDED_REPLIES]]}
    if len(rows) > EXPANDED_REPLIES:
        last = encode_token(str(rows[EXPANDED_REPLIES - 1][0]))
        expanded["replies@odata.nextLink"] = (f"{path}/{message['id']}/replies?$top="
                                              f"{MESSAGES_MAX_PAGE}&$skiptoken={last}")
    return expanded


def _list(ctx: Ctx, team: str, channel: str, parent: str = ""):
    top = ctx.top(MESSAGES_PAGE, MESSAGES_MAX_PAGE, strict=True)
    expand = _expands_replies(ctx)
    token = ctx.arg("$skiptoken")
    before = None
    if token:
        try:
            before = int(decode_token(token))
        except ValueError as exc:
            raise ApiError(400, "BadRequest", "The $skiptoken is not valid.") from exc
    with ctx.state.read() as tx:
        teams_access.require_channel_access(tx, team, channel_or_404(tx, team, channel),
                                            ctx.principal)
        if parent and tx.get("message", parent) is None:
            raise ApiError(404, "NotFound", f"Message {parent} was not found.")
        rows = tx.select("message", scope=channel, parent=parent, seq_before=before,
                         newest_first=True, limit=top + 1)
        messages = f"{ctx.graph_url}/teams/{quote(team)}/channels/" \
                   f"{quote(channel, safe=':@')}/messages"
        page = [_with_replies(tx, body, messages) if expand else body
                for _seq, body in rows[:top]]
    path = f"{messages}/{parent}/replies" if parent else messages
    result = {"@odata.context": f"{ctx.graph_url}/$metadata#Collection(chatMessage)",
              "@odata.count": len(page), "value": page}
    if len(rows) > top:
        result["@odata.nextLink"] = f"{path}?$top={top}&$skiptoken=" \
                                    f"{encode_token(str(rows[top - 1][0]))}" \
                                    + ("&$expand=replies" if expand else "")
    return json_response(result)


@permissions.requires(permissions.POST_MESSAGE)
def post_message(ctx: Ctx, team: str, channel: str):
    return _post(ctx, team, channel, None)


@permissions.requires(permissions.READ_MESSAGES)
def list_messages(ctx: Ctx, team: str, channel: str):
    return _list(ctx, team, channel)


@permissions.requires(permissions.READ_MESSAGES)
def get_message(ctx: Ctx, team: str, channel: str, message: str, reply: str | None = None):
    with ctx.state.read() as tx:
        channel_or_404(tx, team, channel)
        found = tx.get("message", reply or message)
    if found is None or found["channelIdentity"]["channelId"] != channel \
            or (reply and found.get("replyToId") != message):
        raise ApiError(404, "NotFound", f"Message {reply or message} was not found.")
    return json_response(found)


@permissions.requires(permissions.POST_REPLY)
def post_reply(ctx: Ctx, team: str, channel: str, message: str):
    return _post(ctx, team, channel, message)


@permissions.requires(permissions.READ_REPLIES)
def list_replies(ctx: Ctx, team: str, channel: str, message: str):
    return _list(ctx, team, channel, parent=message)


# ---- members ----------------------------------------------------------------------------


@permissions.requires(permissions.ADD_TEAM_MEMBER)
def add_member(ctx: Ctx, team: str):
    user, roles = _conversation_member(ctx.body(), ("owner", "guest"))
    with ctx.state.tx() as tx:
        team_or_404(tx, team)
        teams_access.require_owner(tx, team, ctx.principal)
        upn = _upn(tx, user)
        key = f"{team}/{upn}"
        existing = tx.get("member", key)
        if existing is not None and "owner" in existing["roles"]:
            roles = sorted({*roles, "owner"})  # adding again never demotes an owner
        member = tx.put("member", key, _member_body(team, upn, roles, ctx.actor, existing),
                        scope=team)
    return json_response({"@odata.context": f"{ctx.graph_url}/$metadata#teams('{team}')/"
                                            "members/$entity", **_public(member)}, 201)


@permissions.requires(permissions.LIST_TEAM_MEMBERS)
def list_members(ctx: Ctx, team: str):
    with ctx.state.read() as tx:
        team_or_404(tx, team)
        members = tx.bodies("member", scope=team)
    return json_response({"value": [_public(m) for m in members]})


@permissions.requires(permissions.ADD_CHANNEL_MEMBER)
def add_channel_member(ctx: Ctx, team: str, channel: str):
    user, roles = _conversation_member(ctx.body(), ("owner",))
    with ctx.state.tx() as tx:
        found = channel_or_404(tx, team, channel)
        if found.get("membershipType") != "private":
            raise ApiError(400, "BadRequest", "Operation not supported for this Channel.")
        teams_access.require_channel_owner(tx, team, found, ctx.principal)
        user = _upn(tx, user)
        if teams_access.team_member(tx, team, user) is None:
            raise ApiError(400, "BadRequest", "User is not found in the team.")
        key = f"{channel}/{user}"
        member = tx.put("channel_member", key,
                        _member_body(channel, user, roles, ctx.actor,
                                     tx.get("channel_member", key)), scope=channel)
    context = (f"{ctx.graph_url}/$metadata#teams('{team}')/channels('{quote(channel, safe='')}')"
               "/members/microsoft.graph.aadUserConversationMember/$entity")
    return json_response({"@odata.context": context, **_public(member)}, 201)


@permissions.requires(permissions.REMOVE_CHANNEL_MEMBER)
def remove_channel_member(ctx: Ctx, team: str, channel: str, membership: str):
    with ctx.state.tx() as tx:
        found = channel_or_404(tx, team, channel)
        if found.get("membershipType") != "private":
            raise ApiError(400, "BadRequest", "Operation not supported for this Channel.")
        teams_access.require_channel_owner(tx, team, found, ctx.principal)
        member = next((m for m in tx.bodies("channel_member", scope=channel)
                       if m["id"] == membership), None)
        if member is None:
            raise ApiError(404, "NotFound", f"Member {membership} was not found in channel "
                                            f"{channel}.")
        tx.delete("channel_member", f"{channel}/{member['user']}")
    return empty_response(204)


@permissions.requires(permissions.LIST_CHANNEL_MEMBERS)
def list_channel_members(ctx: Ctx, team: str, channel: str):
    with ctx.state.read() as tx:
        found = channel_or_404(tx, team, channel)
        private = found.get("membershipType") == "private"  # else the team's people
        members = tx.bodies("channel_member", scope=channel) if private else \
            tx.bodies("member", scope=team)
    return json_response({"@odata.count": len(members),
                          "value": [_public(m) for m in members]})


def rules() -> list[Rule]:
    base = "/v1.0/teams/<team>"
    channel = f"{base}/channels/<channel>"
    return [
        Rule(base, endpoint=get_team, methods=["GET"]),
        Rule(f"{base}/channels", endpoint=list_channels, methods=["GET"]),
        Rule(f"{base}/channels", endpoint=create_channel, methods=["POST"]),
        Rule(channel, endpoint=get_channel, methods=["GET"]),
        Rule(f"{channel}/messages", endpoint=list_messages, methods=["GET"]),
        Rule(f"{channel}/messages", endpoint=post_message, methods=["POST"]),
        Rule(f"{channel}/messages/<message>", endpoint=get_message, methods=["GET"]),
        Rule(f"{channel}/messages/<message>/replies", endpoint=list_replies,
             methods=["GET"]),
        Rule(f"{channel}/messages/<message>/replies", endpoint=post_reply,
             methods=["POST"]),
        Rule(f"{channel}/messages/<message>/replies/<reply>", endpoint=get_message,
             methods=["GET"]),
        Rule(f"{channel}/members", endpoint=list_channel_members, methods=["GET"]),
        Rule(f"{channel}/members", endpoint=add_channel_member, methods=["POST"]),
        Rule(f"{channel}/members/<membership>", endpoint=remove_channel_member,
             methods=["DELETE"]),
        Rule(f"{base}/members", endpoint=list_members, methods=["GET"]),
        Rule(f"{base}/members", endpoint=add_member, methods=["POST"]),
    ]
