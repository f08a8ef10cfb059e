"""Fixtures for the Graph contract suite: each test runs against the in-memory FakeGraph
and against the real msgraph-sdk client talking HTTP to a sandbox server."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from graph.fake import FakeGraph

TEAM = "team-1"
DRIVE = "drive-1"
ACTOR = "ada@example.com"


def pytest_configure(config):
    # msgraph's generated request builders and kiota warn about their own deprecated
    # classes when their modules are imported; nothing to do with how we call them.
    for message in ("This class is deprecated", "GetQueryParameters is deprecated"):
        config.addinivalue_line("filterwarnings", f"ignore:{message}:DeprecationWarning")


@dataclass
class World:
    """The implementation under test and where to look at what it did: `state` has the
    sandbox's readers (the FakeGraph has the same ones); `faults` only for the client."""

    kind: str
    graph: Any
    state: Any
    faults: Any = None
    server: Any = None


@pytest.fixture(scope="module")
def sandbox():
    from graph.sandbox import SandboxServer

    server = SandboxServer().start()
    yield server
    server.stop()


def client_for(server, timeout: float = 5.0, token: str = ACTOR):
    from graph.client import GraphClient
    from graph.tokens import sandbox_token

    return GraphClient(server.graph_base_url, sandbox_token(token), timeout=timeout)


def _client_world(server) -> World:
    server.state.reset()
    server.faults.reset()
    return World("client", client_for(server), server.state, server.faults, server)


@pytest.fixture(params=["fake", "client"])
def world(request) -> World:
    if request.param == "fake":
        fake = FakeGraph(actor=ACTOR)
        found = World("fake", fake, fake)
    else:
        found = _client_world(request.getfixturevalue("sandbox"))
    found.state.add_team(TEAM, "Incidents")
    found.state.add_drive(DRIVE)
    return found


@pytest.fixture
def client_world(sandbox) -> World:
    """The real client only, for what needs a network to happen (faults, timeouts)."""
    found = _client_world(sandbox)
    found.state.add_team(TEAM, "Incidents")
    found.state.add_drive(DRIVE)
    return found
