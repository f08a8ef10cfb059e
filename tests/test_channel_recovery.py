"""The incident's channel and its people against the strict sandbox, through the real
client: what Teams does that a kind sandbox never did (reserved names, channels listed
late, members visible late) costs neither a second channel nor a lost step."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from app.auth.models import User
from app.auth.service import dev_object_id
from app.outbox.models import Delivery
from graph.client import GraphClient
from graph.names import channel_name
from graph.sandbox import SandboxServer, SandboxState
from graph.tokens import sandbox_token
from tests.conftest import sandbox_tenant, use_graph
from tests.test_outbox import deliveries, sweep_and_drain

ADA = "ada@example.com"
TEAM = "incident-team"
CHANNELS = "POST /v1.0/teams/incident-team/channels"


@pytest.fixture
def sandbox(frozen_clock):
    server = SandboxServer(state=SandboxState(clock=frozen_clock)).start()
    sandbox_tenant(server.state)
    # Ada as her Entra account would be: the object id dev sign-in gives her.
    server.state.add_user(ADA, "Ada Lovelace", user_id=dev_object_id(ADA))
    server.state.add_team_member(TEAM, ADA, owner=True)
    yield server
    server.stop()


@pytest.fixture
def teams(app, sandbox):
    base = sandbox.graph_base_url
    use_graph(app, GraphClient(base, sandbox_token(base, ADA), timeout=5))
    return sandbox


def ours(state) -> list[dict]:
    return [c for c in state.channels(TEAM) if c["displayName"].startswith("inc-")]


def test_a_reserved_name_moves_on_to_the_next(app, browser, session, teams, frozen_clock):
    """A channel deleted last week still holds its name: the next free one is used."""
    title = "Login broken"
    name = channel_name(frozen_clock().date(), title, reference="INC-2026-0001")
    old = teams.state.add_channel(TEAM, name)
    teams.state.delete_channel(TEAM, old["id"])
    browser.sign_in()
    browser.declare(title=title)
    sweep_and_drain(app)
    rows = deliveries(session)
    assert rows["channel"].status == "delivered", rows["channel"].last_error
    assert rows["kickoff"].status == "delivered"
    assert [c["displayName"] for c in ours(teams.state)] == [f"{name}-2"]


def test_a_lost_answer_and_a_late_listing_make_one_channel(app, browser, session, teams,
                                                           frozen_clock):
    """The create was applied but its answer lost, and Teams lists the channel only later:
    the retry waits for the listing instead of making a second channel."""
    teams.state.configure_tenant(channel_list_lag=30.0)
    teams.faults.fail_next(1, "lost_response", CHANNELS)
    browser.sign_in()
    browser.declare(title="Login broken")
    sweep_and_drain(app)
    frozen_clock.advance(seconds=20)  # retried while the channel is not listed yet
    sweep_and_drain(app)
    channel = deliveries(session)["channel"]
    assert channel.status == "pending" and "does not list it yet" in channel.last_error
    frozen_clock.advance(minutes=1)
    sweep_and_drain(app)
    rows = deliveries(session)
    assert rows["channel"].status == "delivered" and rows["kickoff"].status == "delivered"
    assert len(ours(teams.state)) == 1


def test_someone_just_added_to_the_team_joins_the_private_channel_once_visible(
        app, browser, session, teams, frozen_clock):
    """Teams shows a new member only after a while: joining the private channel waits
    for that instead of failing for good."""
    teams.state.configure_tenant(member_propagation=60.0)
    cy = User(entra_oid="c7000000-0000-4000-8000-00000000c700", name="Cy Twombly",
              email="cy@example.com")
    session.add(cy)
    session.commit()
    teams.state.add_user(cy.email, cy.name, user_id=cy.entra_oid)
    browser.sign_in()
    ref = browser.declare(title="Card data exposed", is_security="y")
    sweep_and_drain(app)
    assert deliveries(session)["channel"].status == "delivered"
    url = f"/incidents/{ref}"
    assert browser.submit(url, f"{url}/people", {"people-user": str(cy.id)}).status_code == 302
    sweep_and_drain(app)
    session.expire_all()
    joining = session.scalar(select(Delivery).where(
        Delivery.kind == "teams.add_channel_member"))
    assert joining.status == "pending", joining.last_error
    assert "not finished adding" in joining.last_error
    joining_id = joining.id
    frozen_clock.advance(minutes=2)
    sweep_and_drain(app)
    session.expire_all()
    joining = session.get(Delivery, joining_id)
    assert joining.status == "delivered", joining.last_error
    channel_id = deliveries(session)["channel"].result["channel_id"]
    assert cy.email in {m["userId"] for m in teams.state.channel_members(channel_id)}
