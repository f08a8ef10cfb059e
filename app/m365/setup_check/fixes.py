"""What an administrator does to fix each kind of fault, worded once.

Every permission named here must be one Incident Desk asks for (graph/permissions.py):
a fix never tells anyone to grant more than the README's table lists.
"""

from __future__ import annotations

from dataclasses import dataclass

from graph import permissions

API_PERMISSIONS = ("Entra admin centre → App registrations → Incident Desk → API permissions "
                   "→ Microsoft Graph")
SITES_SELECTED = "https://learn.microsoft.com/graph/permissions-selected-overview"
EXCHANGE_RBAC = "https://learn.microsoft.com/exchange/permissions-exo/application-rbac"


@dataclass(frozen=True)
class Fix:
    """What to do, the commands to run for it, and Microsoft's page about it."""

    text: str
    commands: tuple[str, ...] = ()
    docs: str = ""


def _declared(name: str, kind: str) -> str:
    declared = permissions.DELEGATED if kind == "delegated" else permissions.APPLICATION
    if not any(p.name == name for p in declared):
        raise ValueError(f"{name} ({kind}) is not a permission Incident Desk asks for")
    return name


def consent(name: str, kind: str, who: str | None = None) -> str:
    """A permission an administrator consents to in Entra."""
    _declared(name, kind)
    text = (f"Add {name} ({kind}) to the app registration and grant admin consent for it: "
            f"{API_PERMISSIONS} → {kind.capitalize()} permissions.")
    if kind == "delegated" and who:
        text += f" Then sign in to Incident Desk again as {who}, so its token carries it."
    return text


def site_grant(role: str, where: str) -> Fix:
    """A Sites.Selected grant on one site."""
    _declared("Sites.Selected", "application")
    return Fix(
        f"Give the app {role} on {where}: consent to Sites.Selected (application) in Entra "
        f"({API_PERMISSIONS} → Application permissions), then have an administrator grant "
        "the site with Graph (this needs Sites.FullControl.All):",
        (f'POST https://graph.microsoft.com/v1.0/sites/{{site-id}}/permissions\n'
         f'{{"roles": ["{role}"], "grantedToIdentities": [{{"application": '
         f'{{"id": "<ENTRA_CLIENT_ID>", "displayName": "Incident Desk"}}}}]}}',),
        SITES_SELECTED)


def _powershell_quoted(value: str) -> str:
    """`value` inside '...' inside a "..." PowerShell string: quotes doubled, and what a
    double-quoted string would expand escaped with a backtick."""
    value = value.replace("'", "''").replace("`", "``")
    return value.replace("$", "`$").replace('"', '`"')


def mailbox_rbac(name: str, mailbox: str) -> Fix:
    """An application mail permission granted in Exchange on one mailbox only."""
    _declared(name, "application")
    return Fix(
        f"Grant {name} (application) on {mailbox} only, with Exchange RBAC for Applications "
        "(not in Entra, which would reach every mailbox), in Exchange Online PowerShell:",
        (f'New-ManagementScope -Name "Incident Desk mailbox" -RecipientRestrictionFilter '
         f"\"PrimarySmtpAddress -eq '{_powershell_quoted(mailbox)}'\"",
         f'New-ManagementRoleAssignment -App <the app\'s service principal> -Role '
         f'"Application {name}" -CustomResourceScope "Incident Desk mailbox"'),
        EXCHANGE_RBAC)


def team_member(who: str, team_id: str, owner: bool) -> str:
    if owner:
        return (f"Make {who} an owner of the team {team_id} (M365_TEAM_ID): in Teams, the "
                "team → Manage team → Members → Role: Owner. Only owners can add the "
                "people brought into an incident.")
    return (f"Add {who} to the team {team_id} (M365_TEAM_ID): in Teams, the team → Manage "
            "team → Add member. Channels are created and posted in as team members.")


def room_for_channels(team_id: str) -> str:
    return (f"Archiving does not free a place. Before the team {team_id} is full, create a "
            "new incidents team (with the service account as an owner and Incident Desk's "
            "people as members) and set M365_TEAM_ID to it; or delete channels of old "
            "incidents you no longer need in Teams (they still count for 30 days).")


def setting(name: str, meaning: str) -> str:
    return f"Set {name} to {meaning}, then restart Incident Desk."


def sign_in(who: str) -> str:
    return (f"Sign in to Incident Desk as {who} (its sign-in is kept, encrypted, for the "
            "work it does when nobody else is behind it).")


def try_again() -> str:
    return ("Run the check again in a few minutes; if Microsoft keeps failing, see Service "
            "health in the Microsoft 365 admin centre.")
