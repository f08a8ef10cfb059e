"""A retried command-room meeting acts as the organiser its first attempt acted as:
createOrGet's externalId is unique per organiser, so a retry as someone else (the service
account standing in for a person who has not signed in, or the person once they have)
would open a second meeting."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest
from sqlalchemy import delete, select

from app.auth import service as auth_service
from app.auth.models import TokenCache, User
from app.incidents.models import Incident
from app.jobs import sweep_outbox
from app.m365 import plans
from app.m365.connect import ACTING_AS, make_graph_for
from app.outbox import service as outbox
from app.outbox.models import Delivery
from graph.fake import FakeGraph
from graph.port import GraphError
from tests.conftest import drain

SERVICE = "incident-desk@example.com"


class Tenant:
    """Microsoft 365 as seen by one person at a time: each signed-in person's mailbox is
    a FakeGraph of its own, so a meeting made as the wrong organiser shows up twice."""

    def __init__(self):
        self.mailboxes: dict[str, FakeGraph] = {}
        self.lose_next_answer = False

    def client(self, _base_url, token, timeout=30.0):  # stands in for GraphClient
        return Mailbox(self, self.mailboxes.setdefault(token(), FakeGraph(actor=token())))

    def meetings(self) -> list[tuple[str, dict]]:
        return [(who, m) for who, box in self.mailboxes.items() for m in box.meetings()]


class Mailbox:
    def __init__(self, tenant: Tenant, graph: FakeGraph):
        self.tenant, self.graph = tenant, graph

    def create_online_meeting(self, *args, **kwargs):
        meeting = self.graph.create_online_meeting(*args, **kwargs)
        if self.tenant.lose_next_answer:  # Graph made it; the answer never came back
            self.tenant.lose_next_answer = False
            raise GraphError("Microsoft Graph did not answer in time", status=0)
        return meeting


@pytest.fixture
def tenant(app, monkeypatch):
    """The app acting in a real tenant (Entra configured): whose stored sign-in each
    delivery uses is decided by app.m365.connect; the token names them (their oid)."""
    found = Tenant()
    monkeypatch.setattr("graph.client.GraphClient", found.client)
    monkeypatch.setattr("graph.tokens.user_token",
                        lambda *args, **options: (lambda oid=args[5]: oid))
    settings = replace(app.extensions["settings"], entra_tenant_id="tenant",
                       entra_client_id="client", entra_client_secret="secret")
    installation = replace(app.extensions["installation"], service_account=SERVICE)
    app.extensions["graph_for"] = make_graph_for(
        SimpleNamespace(extensions={"settings": settings, "installation": installation}))
    return found


def signed_in(session, app, user_id: int) -> None:
    secret = app.extensions["settings"].secret_key
    auth_service.save_token_cache(session, session.get(User, user_id), "{}", secret)


def signed_out(session, user_id: int) -> None:
    session.execute(delete(TokenCache).where(TokenCache.user_id == user_id))
    session.commit()


def run_due(app) -> None:
    """What the minute's sweep finds due, run to the end."""
    with app.app_context():
        sweep_outbox()
    drain(app)


def people(session) -> tuple[int, int]:
    """Ada (who declared the incident) and the service account, by id."""
    ada = session.scalar(select(User).where(User.email == "ada@example.com"))
    desk = User(entra_oid="oid-desk", name="Incident Desk", email=SERVICE)
    session.add(desk)
    session.commit()
    return ada.id, desk.id


def test_a_retried_meeting_keeps_the_organiser_of_its_first_attempt(
        app, browser, session, tenant, frozen_clock):
    browser.sign_in(name="Ada Lovelace", email="ada@example.com")
    incident = session.scalar(select(Incident).where(
        Incident.reference == browser.declare()))
    ada, desk = people(session)
    signed_in(session, app, desk)  # Ada has not signed in: the service account stands in
    start = datetime(2026, 11, 22, 9, tzinfo=UTC)
    delivery = outbox.add(
        session, key="INC-2026-0001/meeting", kind=plans.MEETING, incident=incident,
        actor=session.get(User, ada),
        payload={"subject": "INC-2026-0001 command room", "start": start.isoformat(),
                 "end": (start + timedelta(hours=8)).isoformat()})
    session.commit()
    delivery_id = delivery.id
    tenant.lose_next_answer = True
    run_due(app)
    delivery = session.get(Delivery, delivery_id)
    assert delivery.status == "pending" and delivery.progress[ACTING_AS] == desk
    session.commit()

    signed_in(session, app, ada)  # Ada signs in now; the meeting is still the desk's
    signed_out(session, desk)  # ...and the desk's sign-in lapses: no switching to Ada
    frozen_clock.advance(minutes=10)
    run_due(app)
    delivery = session.get(Delivery, delivery_id)
    assert delivery.status == "failed"
    assert delivery.last_error.startswith("Incident Desk needs to sign in to Incident Desk")
    assert "sending it as anyone else would make a second one" in delivery.last_error
    session.commit()

    signed_in(session, app, desk)
    outbox.retry(session, session.get(Delivery, delivery_id))  # "Try again"
    run_due(app)
    assert session.get(Delivery, delivery_id).status == "delivered"
    assert [who for who, _meeting in tenant.meetings()] == ["oid-desk"]  # one meeting


def test_work_not_keyed_by_organiser_still_falls_back_to_the_service_account(
        app, browser, session, tenant):
    browser.sign_in(name="Ada Lovelace", email="ada@example.com")
    ada, desk = people(session)
    signed_in(session, app, desk)
    delivery = outbox.add(session, key="INC-2026-0001/read/1", kind=plans.READ_CHANNEL,
                          actor=session.get(User, ada), payload={})
    session.commit()
    app.extensions["graph_for"](delivery)
    assert ACTING_AS not in delivery.progress
