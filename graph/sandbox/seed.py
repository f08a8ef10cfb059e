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
# The bot's Entra app registration (Azure Bot resource) in the sandbox tenant: what
# BOT_APP_ID / BOT_APP_PASSWORD default to when no tenant is configured.
BOT_APP_ID = "b07a55e1-1d2e-4f00-9a7c-5a4db0b07de5"
BOT_APP_PASSWORD = "sandbox-bot-password"  # noqa: S105 - the sandbox tenant's, not a real one

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


def register_bot(state: SandboxState, app_id: str = BOT_APP_ID,
                 password: str = BOT_APP_PASSWORD) -> None:
    """The bot's registration: no Graph permissions, only Bot Connector tokens."""
    if state.app(app_id) is None:
        state.add_app(app_id, password, "Incident Desk bot")
    with state.tx() as tx:
        found = tx.get("app", app_id)
        tx.put("app", app_id, {**found, "bot": True})


def seed_defaults(state: SandboxState) -> None:
    """Team "incident-team" (owned by the service account, the Teams app installed in
    it) with a "General" broadcast channel, site "contacts-site" with list "contacts" of
    sample contacts, drive "incident-reports" in its own site, and Incident Desk's app
    registration. Does nothing if the team is there already (a restarted sandbox keeps
    what it had)."""
    register_bot(state)  # also into a sandbox seeded before the bot existed
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
    install_teams_app(state)


def install_teams_app(state: SandboxState, team_id: str = TEAM_ID) -> dict:
    """The Incident Desk Teams app added to the team, as the README has a team owner do:
    the bot joins its roster, and the RSC permissions go to Incident Desk's registration
    (whose app-only token reads the team's messages) and to the bot's (which the sandbox's
    manifest names as webApplicationInfo, app/teams_app/identity.py)."""
    from graph.sandbox import teams_apps

    return teams_apps.install(state, team_id, BOT_APP_ID, (CLIENT_ID, BOT_APP_ID))


SANDBOX_MARK = "incident-desk-graph-sandbox"  # how a client knows it reached this sandbox


def seeded_ids(state: SandboxState) -> dict:
    """What an administrator would put in Incident Desk's M365_* settings for this tenant,
    if it holds the default seed (`seeded` False after a reset without it). The sandbox
    owns its seed, so a standalone sandbox tells the app these ids rather than the app
    keeping copies of them (GET /_sandbox/seed)."""
    from graph.sandbox.wire import TENANT_ID

    with state.read() as tx:
        seeded = tx.get("team", TEAM_ID) is not None
    ids = {"team_id": TEAM_ID, "broadcast_channel_id": BROADCAST_CHANNEL_ID,
           "contacts_site_id": SITE_ID, "contacts_list_id": LIST_ID,
           "reports_drive_id": DRIVE_ID, "service_account": SERVICE_ACCOUNT,
           "shared_mailbox": SHARED_MAILBOX} if seeded else {}
    return {"sandbox": SANDBOX_MARK, "seeded": seeded, "ids": ids,
            "tenant_id": TENANT_ID, "client_id": CLIENT_ID, "state_file": state.path}


def add_members(state: SandboxState, upns: list[str], team_id: str = TEAM_ID) -> list[str]:
    """People made members of the seeded team, as an administrator would before they use
    Incident Desk (POST /_sandbox/team-members, `--member` of `python -m graph.sandbox`).
    Raises ValueError for an address that is not one."""
    added = []
    for upn in upns:
        upn = str(upn).strip().lower()
        if "@" not in upn or len(upn) > 254:
            raise ValueError(f"{upn[:80]!r} is not an email address")
        with state.read() as tx:
            if tx.get("team", team_id) is None:
                raise ValueError(f"the team {team_id!r} does not exist (reset with seed)")
            known = tx.get("member", f"{team_id}/{upn}") is not None
        if not known:
            state.add_team_member(team_id, upn)
        added.append(upn)
    return added
