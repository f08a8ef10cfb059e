"""A local Microsoft Graph v1.0 for development and tests: the endpoints Incident Desk
uses (graph/port.py), answering with Graph's statuses and JSON so the real msgraph-sdk
can talk to it, with injectable latency and faults.

    with SandboxServer() as sandbox:
        sandbox.state.add_team("team-1", "Incidents")
        client = GraphClient(sandbox.graph_base_url, sandbox_token("ada@example.com"))

Modules: state (SQLite-backed SandboxState), faults, app (the WSGI app and controls),
routes_* (teams, mail, calendar, sites, drives), server (SandboxServer), seed.
"""

from graph.sandbox.app import SandboxApp, create_wsgi_app
from graph.sandbox.faults import Faults
from graph.sandbox.seed import seed_defaults
from graph.sandbox.server import SandboxServer
from graph.sandbox.state import SandboxState

__all__ = ["Faults", "SandboxApp", "SandboxServer", "SandboxState", "create_wsgi_app",
           "seed_defaults"]
