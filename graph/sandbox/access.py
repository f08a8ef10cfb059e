"""Access that depends on the resource, not only on the token: checked after the route's
permission (graph/sandbox/auth.py), before the route runs.

- Sites.Selected grants nothing by itself: the app must have been granted the site
  ("read" or "write"), https://learn.microsoft.com/graph/permissions-selected-overview;
  otherwise SharePoint answers 403 accessDenied.
- Exchange RBAC for Applications gives an app a mail permission on chosen mailboxes only,
  without the Entra role in its token,
  https://learn.microsoft.com/exchange/permissions-exo/application-rbac; a tenant-wide
  role in the token works on every mailbox.
- A person may use another mailbox (a shared one) only with Send As or Full Access on it
  (https://learn.microsoft.com/graph/outlook-send-mail-from-other-user).
- Resource-specific consent (ChannelMessage.Read.Group): granted to an app in one team by
  installing the Teams app there (graph/sandbox/teams_apps.py); without it, or the
  tenant-wide role, Graph's 403.
- `/me` means nothing to an app on its own: 400, as Graph answers.
"""

from __future__ import annotations

from graph.sandbox import directory, teams_apps
from graph.sandbox.auth import Principal, Requirement
from graph.sandbox.wire import ApiError

WRITES = ("PUT", "POST", "PATCH", "DELETE")


def authorise(tx, principal: Principal, requirement: Requirement, method: str,
              args: dict) -> None:
    """Raise Graph's answer if this caller may not touch this resource."""
    if requirement.mail:
        _mailbox(tx, principal, requirement, args)
        return
    if _team_consent(tx, principal, requirement, args):
        return
    held = requirement.check(principal)
    if held == "Sites.Selected":
        _selected_site(tx, principal, method, args)


def _team_consent(tx, principal: Principal, requirement: Requirement, args: dict) -> bool:
    """An app without the tenant-wide role may hold the team-scoped RSC permission the
    Teams app's installation in this team granted it."""
    if principal.delegated or not requirement.resource_specific or \
            principal.holds(requirement.application):
        return False
    return teams_apps.rsc_granted(tx, args.get("team"), principal.app_id,
                                  requirement.resource_specific) is not None


def _mailbox(tx, principal: Principal, requirement: Requirement, args: dict) -> None:
    box = args.get("user")
    if not principal.delegated:
        if box is None:
            raise ApiError(400, "BadRequest", "/me request is only valid with delegated "
                                              "authentication flow.")
        scoped = directory.mailbox_permissions(tx, principal.app_id, box)
        if principal.holds(requirement.application) or scoped & set(requirement.application):
            return
        raise ApiError(403, "ErrorAccessDenied",
                       "Access is denied. Check credentials and try again.")
    requirement.check(principal)
    if box is None or box.lower() in {(principal.upn or "").lower(), principal.user_id}:
        return
    if tx.get("mailbox_delegate", f"{box.lower()}/{(principal.upn or '').lower()}") is None:
        raise ApiError(403, "ErrorAccessDenied", "Access is denied. Check credentials and "
                                                 "try again.")


def _selected_site(tx, principal: Principal, method: str, args: dict) -> None:
    site = args.get("site")
    if site is None and args.get("drive"):
        drive = tx.get("drive", args["drive"]) or {}
        site = drive.get("site_id")
    role = directory.site_role(tx, principal.app_id, site) if site else None
    if role is None or (method.upper() in WRITES and role != "write"):
        raise ApiError(403, "accessDenied", "Access denied")
