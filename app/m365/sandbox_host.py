"""The Graph sandbox as the default Microsoft 365 when no tenant is configured.

Each process (web, in-process jobs, an RQ worker) runs its own sandbox server thread on
a free port; they share one SQLite state file, so what one process sent, every process
and the "what was sent" page can see, across restarts too.
"""

from __future__ import annotations

import os
import threading

SANDBOX_TEAM = "incident-team"
SANDBOX_BROADCAST = "19:general@thread.tacv2"
SANDBOX_SITE = "contacts-site"
SANDBOX_LIST = "contacts"
SANDBOX_DRIVE = "incident-reports"

_lock = threading.Lock()
_servers: dict[tuple[int, str], object] = {}


def sandbox_defaults(_db_path: str) -> dict:
    """The ids `graph.sandbox.seed_defaults` creates, as a tenant's settings would name."""
    return {
        "team_id": SANDBOX_TEAM,
        "broadcast_channel_id": SANDBOX_BROADCAST,
        "contacts_site_id": SANDBOX_SITE,
        "contacts_list_id": SANDBOX_LIST,
        "reports_drive_id": SANDBOX_DRIVE,
    }


def state_for(db_path: str):
    from graph.sandbox import SandboxState, seed_defaults

    state = SandboxState(path=None if db_path == ":memory:" else db_path)
    seed_defaults(state)
    return state


def sandbox_for(app):
    """This process's sandbox server for the app's state file, started on first use."""
    from graph.sandbox import SandboxServer

    db_path = app.extensions["settings"].graph_sandbox_db
    key = (os.getpid(), db_path)
    with _lock:
        server = _servers.get(key)
        if server is None:
            server = SandboxServer(state=state_for(db_path)).start()
            _servers[key] = server
    return server


def sandbox_view(db_path: str) -> dict:
    """What the sandbox page lists, newest first."""
    state = state_for(db_path)
    return {
        "channels": list(reversed(state.channels())),
        "messages": list(reversed(state.messages())),
        "mails": list(reversed(state.mails())),
        "files": list(reversed(state.files())),
        "events": list(reversed(state.events())),
        "requests": list(reversed(state.requests()))[:100],
    }
