"""Who may do what in a team, as Teams enforces it for a person (delegated calls); an app
with the application permission is not a member of anything and is not asked.

- Creating channels, posting, and reading messages require membership of the team; a
  private channel's messages, membership of that channel too. Private channels are listed
  only to their members (https://learn.microsoft.com/graph/api/channel-list: "private
  and shared channels ... only if the user is a member").
- Adding team members needs a team owner; adding to (or removing from) a private
  channel, an owner of that channel: a team owner who is not in it has no say (Teams'
  private channel rules, https://learn.microsoft.com/microsoftteams/private-channels).
- Someone just added is not visible for a while (`member_propagation` seconds): "stagger
  calls", https://learn.microsoft.com/graph/api/team-post-members.
- Refusals are 403 Forbidden; the wording follows what Teams is reported to send.
"""

from __future__ import annotations

from graph.sandbox.auth import Principal
from graph.sandbox.limits import TenantLimits
from graph.sandbox.wire import ApiError, parse_iso, utc_now


def _visible(member: dict | None, limits: TenantLimits) -> dict | None:
    if member is None:
        return None
    added = parse_iso(member.get("added_at") or "1970-01-01T00:00:00Z")
    if (utc_now() - added).total_seconds() < limits.member_propagation:
        return None
    return member


def team_member(tx, team: str, upn: str | None) -> dict | None:
    if not upn:
        return None
    limits = TenantLimits.from_doc(tx.get("tenant", "limits"))
    return _visible(tx.get("member", f"{team}/{upn.lower()}"), limits)


def channel_member(tx, channel: str, upn: str | None) -> dict | None:
    if not upn:
        return None
    limits = TenantLimits.from_doc(tx.get("tenant", "limits"))
    return _visible(tx.get("channel_member", f"{channel}/{upn.lower()}"), limits)


def require_member(tx, team: str, principal: Principal | None) -> None:
    if principal is None or not principal.delegated:
        return
    if team_member(tx, team, principal.upn) is None:
        raise ApiError(403, "Forbidden", f"User {principal.upn} is not a member of team "
                                         f"{team}; only members can do this.")


def require_owner(tx, team: str, principal: Principal | None) -> None:
    if principal is None or not principal.delegated:
        return
    member = team_member(tx, team, principal.upn)
    if member is None or "owner" not in member.get("roles", []):
        raise ApiError(403, "Forbidden", f"User {principal.upn} is not an owner of team "
                                         f"{team}; only owners can add members.")


def may_see(tx, channel: dict, principal: Principal | None) -> bool:
    """A private channel exists, for a person, only if they are in it."""
    if channel.get("membershipType") != "private" or principal is None \
            or not principal.delegated:
        return True
    return channel_member(tx, channel["id"], principal.upn) is not None


def require_channel_access(tx, team: str, channel: dict, principal: Principal | None
                           ) -> None:
    require_member(tx, team, principal)
    if not may_see(tx, channel, principal):
        raise ApiError(404, "NotFound", f"Channel {channel['id']} was not found in team "
                                        f"{team}.")


def require_channel_owner(tx, team: str, channel: dict, principal: Principal | None
                          ) -> None:
    if principal is None or not principal.delegated:
        return
    own = channel_member(tx, channel["id"], principal.upn)
    if own is None or "owner" not in own.get("roles", []):
        raise ApiError(403, "Forbidden", f"User {principal.upn} is not an owner of channel "
                                         f"{channel['id']}; only its owners can add or remove "
                                         "members.")


def refuse_app_posts(principal: Principal | None) -> None:
    """Teamwork.Migrate.All lets an app import history, not post as itself."""
    if principal is not None and not principal.delegated:
        raise ApiError(403, "Forbidden", "Message POST is allowed in application-only "
                                         "context only for import purposes.")
