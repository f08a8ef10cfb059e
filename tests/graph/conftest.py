"""Fixtures for the Graph contract suite: each test runs against the in-memory FakeGraph
and against the real msgraph-sdk client talking HTTP to a sandbox server."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from graph import permissions
from graph.fake import FakeGraph

TEAM = "team-1"
DRIVE = "drive-1"
ACTOR = "ada@example.com"
PEOPLE = ("user-1", "user-2", "user-3", "lead@example.com", "stranger@example.com",
          "o'brien@example.com", "owner@example.com")


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


# The contract suite is about behaviour, not permissions (tests/graph/test_permissions.py
# is): its app registration is consented for everything the calls need, delegated.
CONTRACT_APP = "contract-tests"
CONTRACT_SCOPES = (*permissions.delegated_scopes(), "Sites.ReadWrite.All",
                   "Files.ReadWrite.All", "ChannelSettings.ReadWrite.All")


def client_for(server, timeout: float = 5.0, token: str = ACTOR):
    """The real client, signed in as `token` (a UPN) through the contract app."""
    from graph.client import GraphClient

    bearer = server.state.token_for(token, CONTRACT_APP)
    return GraphClient(server.graph_base_url, lambda: bearer, timeout=timeout)


def prepare_tenant(state) -> None:
    """A fresh sandbox tenant for a test: the contract app, no delays, and no limit on
    channel posts (the FakeGraph has none; tests/graph/test_throttling.py is about them)."""
    state.add_app(CONTRACT_APP, "secret", "Contract tests", delegated=CONTRACT_SCOPES)
    state.configure_tenant(member_propagation=0.0, channel_list_lag=0.0,
                           teams_rps_per_channel=0, teams_rps_per_tenant=0,
                           teams_rps_per_team=0)


def _client_world(server) -> World:
    server.state.reset()
    server.faults.reset()
    prepare_tenant(server.state)
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
    if found.kind == "client":
        found.state.add_team_member(TEAM, ACTOR, owner=True)
        for person in PEOPLE:  # the tenant's directory knows whoever the tests name
            found.state.add_user(person)
        found.state.add_mailbox_delegate("incidents@example.com", ACTOR)  # Send As
    return found


@pytest.fixture
def client_world(sandbox) -> World:
    """The real client only, for what needs a network to happen (faults, timeouts)."""
    found = _client_world(sandbox)
    found.state.add_team(TEAM, "Incidents")
    found.state.add_drive(DRIVE)
    found.state.add_team_member(TEAM, ACTOR, owner=True)
    for person in PEOPLE:
        found.state.add_user(person)
    return found


@pytest.fixture(scope="module")
def running():
    """One sandbox server for a test module; each test resets it (its `sandbox` fixture)."""
    from graph.sandbox import SandboxServer

    with SandboxServer() as server:
        yield server
