"""The default tenant `python -m graph.sandbox` starts with (and the app's sandbox mode)."""

from __future__ import annotations

from graph.sandbox.state import SandboxState

TEAM_ID = "incident-team"
BROADCAST_CHANNEL_ID = "19:general@thread.tacv2"
SITE_ID = "contacts-site"
LIST_ID = "contacts"
DRIVE_ID = "incident-reports"

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


def seed_defaults(state: SandboxState) -> None:
    """Team "incident-team" with a "General" broadcast channel, site "contacts-site" with
    list "contacts" of sample contacts, and drive "incident-reports". Does nothing if the
    team is there already (a restarted sandbox keeps what it had)."""
    with state.read() as tx:
        if tx.get("team", TEAM_ID) is not None:
            return
    state.add_team(TEAM_ID, "Incidents")
    state.add_channel(TEAM_ID, "General", BROADCAST_CHANNEL_ID,
                      description="Announcements for everyone")
    state.add_site(SITE_ID, "Contacts")
    state.seed_list(SITE_ID, LIST_ID, CONTACTS)
    state.add_drive(DRIVE_ID, "Incident reports")
