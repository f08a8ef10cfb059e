"""A local Microsoft Graph for development and tests (see app.py for the endpoints)."""

from graph.sandbox.app import SandboxApp as create_wsgi_app
from graph.sandbox.faults import Faults
from graph.sandbox.server import SandboxServer
from graph.sandbox.state import SandboxState, seed_defaults

__all__ = ["Faults", "SandboxServer", "SandboxState", "create_wsgi_app", "seed_defaults"]
