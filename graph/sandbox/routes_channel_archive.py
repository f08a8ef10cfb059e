"""Teams: archiving and unarchiving a channel, and what an archived channel refuses.

As Microsoft's reference pages document them:
- POST /teams/{team}/channels/{channel}/archive and .../unarchive answer 202 Accepted with
  no body and a `Location` header naming a teamsAsyncOperation
  (`/teams/{team}/operations/{id}`); the operation may finish after the answer. The sandbox
  finishes it before answering (the channel reads back with `isArchived` at once), and
  does not serve the operation's URL.
- archive takes an optional body `{"shouldSetSpoSiteReadOnlyForMembers": bool}` (false or
  omitted: the SharePoint site is left alone); unarchive takes no body.
- a channel whose team is archived can be neither archived nor unarchived: 400 BadRequest
  "Team has to be active, for channel to be archived or unarchived: {channel-id}".
- a channel without an owner, or whose team (group) has no owner, can't be archived. The
  pages give no wording for this refusal: the sandbox answers 400 BadRequest.
- archiving an archived channel, or unarchiving one that is not archived: the pages
  document no error, so the sandbox answers 202 again and changes nothing.
- an archived channel takes no new messages or replies ("users can't send new messages");
  its members can still be changed. The pages give no status for a refused post: the
  sandbox answers 403 Forbidden (`refuse_if_archived`, called by routes_teams' `_post`).
- unknown team or channel: 404, worded as routes_teams words it; a person who is not in
  the team (or, for a private channel, in the channel) is refused as for every channel
  call (graph/sandbox/teams_access.py). The pages note that only Teams and Global
  administrators may act on teams they are not members of.
"""

from __future__ import annotations

import uuid
from urllib.parse import quote

from werkzeug.routing import Rule

from graph.sandbox import teams_access
from graph.sandbox.auth import requires
from graph.sandbox.teams_docs import channel_or_404, team_or_404
from graph.sandbox.wire import ApiError, Ctx, empty_response

ARCHIVE_DOC = "https://learn.microsoft.com/graph/api/channel-archive"
UNARCHIVE_DOC = "https://learn.microsoft.com/graph/api/channel-unarchive"
# Both pages: delegated (work or school account) and application, least privileged and
# only: ChannelSettings.ReadWrite.All.
CHANNEL_SETTINGS = ("ChannelSettings.ReadWrite.All",)


def refuse_if_archived(channel_doc: dict) -> None:
    """Raise what Teams answers a post or reply to an archived channel.

    https://learn.microsoft.com/graph/api/channel-archive: "When a channel is archived,
    users can't send new messages or react to existing messages in the channel". The
    status is not documented; 403 Forbidden is the sandbox's choice."""
    if channel_doc.get("isArchived"):
        raise ApiError(403, "Forbidden", "The channel is archived: it takes no new messages "
                                         "until it is unarchived.")




def _has_owner(tx, team: str, channel_doc: dict) -> bool:
    """channel-archive: "A channel without an owner or that belongs to a group that has no
    owner, can't be archived." A standard channel's owners are the team's; a private one
    also has its own."""
    if not any("owner" in (m.get("roles") or []) for m in tx.bodies("member", scope=team)):
        return False
    if channel_doc.get("membershipType") == "private":
        return any("owner" in (m.get("roles") or [])
                   for m in tx.bodies("channel_member", scope=channel_doc["id"]))
    return True


def _set_archived(ctx: Ctx, team: str, channel: str, archived: bool):
    with ctx.state.tx() as tx:
        team_doc = team_or_404(tx, team)
        found = channel_or_404(tx, team, channel)
        # A person must be in the team (and in a private channel) as for every channel
        # call; an app with the application permission is not asked.
        teams_access.require_channel_access(tx, team, found, getattr(ctx, "principal", None))
        # Both pages, example 2: the team must be active to archive or unarchive a channel.
        if team_doc.get("isArchived"):
            raise ApiError(400, "BadRequest", "Team has to be active, for channel to be "
                                              f"archived or unarchived: {channel}")
        if archived and not _has_owner(tx, team, found):
            raise ApiError(400, "BadRequest", "A channel without an owner, or in a team "
                                              "without an owner, can't be archived.")
        if bool(found.get("isArchived")) != archived:
            tx.put("channel", channel, {**found, "isArchived": archived}, scope=team)
    # The response: 202 Accepted, Location of the teamsAsyncOperation, no content.
    operation = str(uuid.uuid4())
    return empty_response(202, {"Location": f"/teams/{quote(team, safe='')}/operations/"
                                            f"{operation}",
                                "Content-Type": "text/plain"})


# https://learn.microsoft.com/graph/api/channel-archive: POST .../archive,
# ChannelSettings.ReadWrite.All (delegated and application), 202 Accepted + Location.
@requires(delegated=CHANNEL_SETTINGS, application=CHANNEL_SETTINGS, doc=ARCHIVE_DOC)
def archive_channel(ctx: Ctx, team: str, channel: str):
    body = ctx.body()  # optional; {} when there is none
    read_only = body.get("shouldSetSpoSiteReadOnlyForMembers")
    if read_only is not None and not isinstance(read_only, bool):
        raise ApiError(400, "BadRequest", "Invalid value for property "
                                          "'shouldSetSpoSiteReadOnlyForMembers': a Boolean "
                                          "was expected.")
    return _set_archived(ctx, team, channel, True)


# https://learn.microsoft.com/graph/api/channel-unarchive: POST .../unarchive, no body,
# ChannelSettings.ReadWrite.All (delegated and application), 202 Accepted + Location.
@requires(delegated=CHANNEL_SETTINGS, application=CHANNEL_SETTINGS, doc=UNARCHIVE_DOC)
def unarchive_channel(ctx: Ctx, team: str, channel: str):
    return _set_archived(ctx, team, channel, False)


def rules() -> list[Rule]:
    channel = "/v1.0/teams/<team>/channels/<channel>"
    return [
        # https://learn.microsoft.com/graph/api/channel-archive
        Rule(f"{channel}/archive", endpoint=archive_channel, methods=["POST"]),
        # https://learn.microsoft.com/graph/api/channel-unarchive
        Rule(f"{channel}/unarchive", endpoint=unarchive_channel, methods=["POST"]),
    ]
