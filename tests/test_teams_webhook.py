"""Major-incident announcements through a Teams Workflows webhook: no one's Microsoft
sign-in needed, and never posted twice when a call's outcome is unknown."""

from __future__ import annotations

from dataclasses import replace

import pytest
from sqlalchemy import select

from app.auth.models import User
from app.incidents import service
from app.jobs import sweep_outbox
from app.outbox.models import Delivery
from graph.client import GraphClient
from graph.sandbox import SandboxServer
from graph.tokens import sandbox_token
from tests.conftest import drain, sandbox_tenant, use_graph

ADA = "ada@example.com"

GENERAL = "19:general@thread.tacv2"


@pytest.fixture
def sandbox():
    with SandboxServer() as server:
        sandbox_tenant(server.state, "ada@example.com")
        server.state.add_channel("incident-team", "General", GENERAL)
        yield server


@pytest.fixture
def webhook_app(app, sandbox):
    use_graph(app, GraphClient(sandbox.graph_base_url, sandbox_token(sandbox.graph_base_url, ADA)))
    flow = sandbox.state.add_workflow("incident-team", GENERAL)
    app.extensions["installation"] = replace(app.extensions["installation"],
                                        teams_webhook_url=sandbox.workflow_url(flow))
    return app


def declare_p1(app, session, org, title="Payments down <everywhere>"):
    ada = session.scalar(select(User).where(User.email == "ada@example.com"))
    if ada is None:
        ada = User(entra_oid="dev-ada", name="Ada", email="ada@example.com")
        session.add(ada)
        session.commit()
    with app.app_context():  # so its deliveries are queued when it commits
        return service.declare(session, org, ada, title=title, description="",
                               severity="P1", effects=app.extensions["effects"]).reference


def broadcast(session, reference: str) -> Delivery:
    session.expire_all()
    return session.scalar(select(Delivery).where(Delivery.key == f"{reference}/broadcast"))


def test_the_announcement_goes_through_the_workflow(webhook_app, session, org, sandbox):
    reference = declare_p1(webhook_app, session, org)
    drain(webhook_app)
    row = broadcast(session, reference)
    assert row.kind == "teams.webhook" and row.status == "delivered", row.last_error
    assert row.depends_on_id is None  # not held up by the incident's own channel
    [message] = sandbox.state.messages(channel_id=GENERAL)
    assert message["from"]["application"]["displayName"] == "Workflows"
    assert "Payments down <everywhere>" in message["attachments"][0]["content"]


def test_an_announcement_with_no_answer_waits_for_a_person(
        webhook_app, session, org, sandbox, frozen_clock, browser):
    sandbox.faults.configure(hang=0.2)
    sandbox.faults.fail_next(1, "timeout", path_contains="/workflows/")
    reference = declare_p1(webhook_app, session, org)
    drain(webhook_app)
    for _ in range(3):  # the retry after the lost call must not post blindly
        frozen_clock.advance(minutes=10)
        with webhook_app.app_context():
            sweep_outbox()
        drain(webhook_app)
    row = broadcast(session, reference)
    assert row.status == "failed"
    assert "may already be in the channel" in row.last_error
    assert sandbox.state.messages(channel_id=GENERAL) == []  # the call never arrived

    browser.sign_in(name="Ada", email="ada@example.com")
    page = browser.get(f"/incidents/{reference}").get_data(as_text=True)
    assert "may already be in the channel" in page
    response = browser.submit(f"/incidents/{reference}",
                              f"/incidents/{reference}/deliveries/{row.id}/retry")
    assert response.status_code == 302
    drain(webhook_app)
    assert broadcast(session, reference).status == "delivered"
    assert len(sandbox.state.messages(channel_id=GENERAL)) == 1


def test_a_security_incident_is_never_announced(webhook_app, session, org, sandbox):
    ada = User(entra_oid="dev-ada", name="Ada", email="ada@example.com")
    session.add(ada)
    session.commit()
    with webhook_app.app_context():
        reference = service.declare(session, org, ada, title="Data exposed", description="",
                                    severity="P1", is_security=True,
                                    effects=webhook_app.extensions["effects"]).reference
    drain(webhook_app)
    assert broadcast(session, reference) is None
    assert sandbox.state.messages(channel_id=GENERAL) == []


SECRET_SIG = "Sup3rSecretSig"


def test_a_webhook_that_cannot_be_reached_never_shows_its_secret(
        app, session, org, sandbox, browser, caplog):
    use_graph(app, GraphClient(sandbox.graph_base_url, sandbox_token(sandbox.graph_base_url, ADA)))
    url = ("http://127.0.0.1:9/workflows/abc/triggers/manual/paths/invoke"
           f"?api-version=2016-06-01&sp=%2Ftriggers%2Fmanual%2Frun&sv=1.0&sig={SECRET_SIG}")
    app.extensions["installation"] = replace(app.extensions["installation"],
                                             teams_webhook_url=url)
    reference = declare_p1(app, session, org)
    drain(app)
    row = broadcast(session, reference)
    assert row.last_error and "could not be reached" in row.last_error
    assert SECRET_SIG not in row.last_error
    browser.sign_in(name="Ada", email="ada@example.com")
    page = browser.get(f"/incidents/{reference}").get_data(as_text=True)
    assert "could not be reached" in page and SECRET_SIG not in page
    assert SECRET_SIG not in caplog.text
