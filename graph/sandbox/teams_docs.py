"""Looking up a team or channel the way every Teams route answers when it is missing."""

from __future__ import annotations

from graph.sandbox.wire import ApiError


def team_or_404(tx, team: str) -> dict:
    found = tx.get("team", team)
    if found is None:
        raise ApiError(404, "NotFound", f"No team found with Group Id {team}",
                       inner={"code": "ItemNotFound"})
    return found


def channel_or_404(tx, team: str, channel: str) -> dict:
    team_or_404(tx, team)
    found = tx.get("channel", channel, scope=team)
    if found is None:
        raise ApiError(404, "NotFound", f"Channel {channel} was not found in team {team}.")
    return found
