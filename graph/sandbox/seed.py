"""The default tenant `python -m graph.sandbox` starts with (and the app's sandbox mode),
set up exactly the way the README tells an administrator to set up theirs: the app
registration consented for graph/permissions.py, Sites.Selected grants on the contacts and
reports sites, the shared mailbox scoped through RBAC for Applications, and a service
account that owns the incidents team."""

from __future__ import annotations

from graph import permissions
from graph.sandbox.state import SandboxState

TEAM_ID = "incident-team"
BROADCAST_CHANNEL_ID = "19:general@thread.tacv2"
SITE_ID = "contacts-site"
LIST_ID = "contacts"
REPORTS_SITE_ID = "incident-reports-site"
DRIVE_ID = "incident-reports"
CLIENT_ID = "5a4db0c5-1d2e-4f00-9a7c-1ncidentdesk"
CLIENT_SECRET = "sandbox-client-secret"  # noqa: S105 - the sandbox tenant's, not a real one
SERVICE_ACCOUNT = "incident-desk@example.org"
SHARED_MAILBOX = "incidents@example.org"

CONTACTS = [
    {"Title": "Priya Shah", "Email": "priya.shah@example.org", "Service": "",
     "Role": "Deputy director", "Severities": ["P1"]},
    {"Title": "Tom Baker", "Email": "tom.baker@example.org", "Service": "",
     "Role": "Programme delivery manager", "Severities": ["P1", "P2"]},
    {"Title": "Ama Mensah", "Email": "ama.mensah@example.org", "Service": "Payments",
     "Role": "Service owner", "Severities": ["P1", "P2"]},
    {"Title": "Li Wei", "Email": "li.wei@example.org", "Service": "Payments",
     "Role": "Product manager", "Severities": []},
    {"Title": "Sam Jones", "Email": "sam.jones@example.org", "Service": "Search",
     "Role": "Service owner", "Severities": ["P1"]},
]


def register_incident_desk(state: SandboxState, client_id: str = CLIENT_ID,
                           secret: str = CLIENT_SECRET) -> dict:
    """The README's app registration, with admin consent, and its resource grants."""
    app = state.add_app(client_id, secret, "Incident Desk",
                        delegated=permissions.delegated_scopes(),
                        application=permissions.consented_application_roles())
    state.grant_site(client_id, SITE_ID, permissions.SITE_GRANTS["contacts"])
    state.grant_site(client_id, REPORTS_SITE_ID, permissions.SITE_GRANTS["reports"])
    state.grant_mailbox(client_id, SHARED_MAILBOX, permissions.mailbox_permissions())
    return app


def seed_defaults(state: SandboxState) -> None:
    """Team "incident-team" (owned by the service account) with a "General" broadcast
    channel, site "contacts-site" with list "contacts" of sample contacts, drive
    "incident-reports" in its own site, and Incident Desk's app registration. Does
    nothing if the team is there already (a restarted sandbox keeps what it had)."""
    with state.read() as tx:
        if tx.get("team", TEAM_ID) is not None:
            return
    state.add_team(TEAM_ID, "Incidents")
    state.add_channel(TEAM_ID, "General", BROADCAST_CHANNEL_ID,
                      description="Announcements for everyone")
    state.add_user(SERVICE_ACCOUNT, "Incident Desk service account")
    state.add_team_member(TEAM_ID, SERVICE_ACCOUNT, owner=True)
    state.add_user(SHARED_MAILBOX, "Incidents")
    state.add_site(SITE_ID, "Contacts")
    state.seed_list(SITE_ID, LIST_ID, CONTACTS)
    state.add_site(REPORTS_SITE_ID, "Incident reports")
    state.add_drive(DRIVE_ID, "Incident reports", site_id=REPORTS_SITE_ID)
    register_incident_desk(state)
