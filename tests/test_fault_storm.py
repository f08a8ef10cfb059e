"""A storm: the sandbox fails 30 % of calls (429 with Retry-After, 503, hangs, lost
responses) while 200 status updates go out through the real client. Each one reaches
Teams exactly once and each email batch is sent exactly once."""

from __future__ import annotations

from collections import Counter

import pytest
from sqlalchemy import select

from app.auth.models import User
from app.incidents import service
from app.jobs import sweep_outbox
from app.outbox.models import Delivery
from app.updates.service import post_update
from graph.client import GraphClient
from graph.sandbox import SandboxServer
from graph.tokens import sandbox_token
from tests.conftest import drain, sandbox_tenant, use_graph

pytestmark = pytest.mark.slow  # 200 updates through the sandbox, with faults

ADA = "ada@example.com"

UPDATES = 200


@pytest.fixture
def sandbox():
    with SandboxServer() as server:
        sandbox_tenant(server.state, "ada@example.com")
        server.state.add_channel("incident-team", "General", "19:general@thread.tacv2")
        yield server


def test_every_update_is_delivered_exactly_once_through_a_fault_storm(
        app, session, org, sandbox, frozen_clock):
    graph = GraphClient(sandbox.graph_base_url, sandbox_token(sandbox.graph_base_url, ADA),
                        timeout=0.5)
    graph.broadcast_channel_id = "19:general@thread.tacv2"
    use_graph(app, graph)
    # About faults, not pacing (tests/test_pacing.py): 200 posts at Teams' documented 4 a
    # second per channel would take the storm a minute of real time.
    app.extensions["pacer"] = None
    sandbox.state.configure_tenant(teams_rps_per_channel=0, teams_rps_per_tenant=0,
                                   teams_rps_per_team=0)
    effects = app.extensions["effects"]
    ada = User(entra_oid="dev-ada", name="Ada", email="ada@example.com")
    session.add(ada)
    session.commit()
    incident = service.declare(session, org, ada, title="Storm", description="",
                               severity="P2", effects=effects)
    drain(app)

    sandbox.faults.configure(error_rate=0.3, retry_after=0, hang=1.0, seed=7,
                             kinds=("429", "503", "timeout", "lost_response"))
    with app.app_context():
        for number in range(UPDATES):
            post_update(session, org, effects, ada, incident, phase="investigating",
                        message=f"Update {number}", to_channel=True,
                        recipients=[f"person{number}@example.com"])
    for _round in range(40):
        drain(app, timeout=60)
        session.expire_all()
        left = session.scalar(select(Delivery.id).where(Delivery.status != "delivered"))
        if left is None:
            break
        frozen_clock.advance(minutes=10)  # past any backoff and any dead worker's lease
        with app.app_context():
            sweep_outbox()
    injected = dict(sandbox.faults.injected)
    sandbox.faults.reset()

    statuses = Counter(d.status for d in session.scalars(select(Delivery)))
    assert statuses == {"delivered": 2 * UPDATES + 3}, statuses
    assert sum(injected.values()) > 150 and set(injected) == {
        "429", "503", "timeout", "lost_response"}, injected
    channel_id = session.scalar(select(Delivery).where(
        Delivery.key == f"{incident.reference}/channel")).result["channel_id"]
    cards = Counter(a["id"] for m in sandbox.state.messages(channel_id=channel_id)
                    for a in m["attachments"])
    assert len(cards) == UPDATES + 1 and set(cards.values()) == {1}  # kickoff + updates
    mails = Counter(m["headers"].get("x-incident-desk-delivery") for m in sandbox.state.mails())
    assert len(mails) == UPDATES and set(mails.values()) == {1}
    assert sandbox.state.drafts() == []  # no copy of an update left to send by mistake
