"""The outbox: declare → Teams channel, kickoff card, broadcast; retries, lost responses,
dead workers and failures a person can retry — each message exactly once."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from app.m365.models import TeamsChannel
from app.outbox import runner
from app.outbox.models import Delivery
from graph.port import GraphError, InvalidRequest
from tests.conftest import drain


def sweep_and_drain(app):
    from app.jobs import sweep_outbox

    with app.app_context():
        sweep_outbox()
    drain(app)


def deliveries(session):
    session.expire_all()
    return {d.key.split("/", 1)[1]: d for d in session.scalars(select(Delivery))}


def card_of(message) -> dict:
    """The Adaptive Card a FakeGraph message carries, parsed."""
    (attachment,) = message["attachments"]
    assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    return json.loads(attachment["content"])


def texts(card: dict) -> list[str]:
    found = []

    def walk(node):
        if isinstance(node, dict):
            if node.get("type") in ("TextRun", "TextBlock"):
                found.append(node["text"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(card)
    return found


class Flaky:
    """Wraps a Graph and breaks chosen calls the ways Graph and networks break."""

    def __init__(self, graph):
        self.graph = graph
        self.plan: dict[str, list] = {}
        self.only: dict[str, object] = {}

    def fail(self, method: str, *outcomes, only=None):
        """outcomes: an exception to raise before the call, or ("after", exc) to make the
        call and then raise (the response was lost, or the worker died). `only(*args,
        **kwargs)` picks the calls that fail, where several jobs make the same call."""
        self.plan.setdefault(method, []).extend(outcomes)
        if only is not None:
            self.only[method] = only

    def __getattr__(self, name):
        target = getattr(self.graph, name)
        if not callable(target):
            return target

        def call(*args, **kwargs):
            queue = self.plan.get(name)
            chosen = self.only.get(name, lambda *a, **k: True)(*args, **kwargs)
            if queue and chosen:
                outcome = queue.pop(0)
                if isinstance(outcome, tuple):
                    target(*args, **kwargs)
                    raise outcome[1]
                raise outcome
            return target(*args, **kwargs)

        return call


@pytest.fixture
def flaky(app, fake_graph):
    wrapper = Flaky(fake_graph)
    wrapper.broadcast_channel_id = fake_graph.broadcast_channel_id
    app.extensions["graph_for"] = lambda delivery: wrapper
    return wrapper


def test_declaring_creates_the_channel_and_posts_the_kickoff_card(
        app, browser, session, fake_graph, frozen_clock):
    browser.sign_in()
    reference = browser.declare(title="Payments: 50% of card payments failing!",
                                severity="P2")
    drain(app)
    rows = deliveries(session)
    assert {k: d.status for k, d in rows.items()} == {
        "channel": "delivered", "kickoff": "delivered", "meeting": "delivered"}
    channel = fake_graph.find_channel("incident-team",
                                      "inc-0001-2026-11-22-payments-50-of-card-payments")
    assert channel is not None and channel.description.startswith(reference)
    (kickoff,) = fake_graph.messages(channel_id=channel.id)
    card = card_of(kickoff)
    assert "Payments: 50% of card payments failing!" in texts(card)
    assert card["actions"][0]["url"] == f"http://incident-desk.test/incidents/{reference}"
    stored = session.get(TeamsChannel, rows["channel"].incident_id)
    assert stored.channel_id == channel.id
    page = browser.get(f"/incidents/{reference}").get_data(as_text=True)
    assert "Teams channel created: inc-0001-2026-11-22-payments" in page
    assert channel.web_url in page


def test_major_incidents_are_announced_in_the_broadcast_channel_with_a_link(
        app, browser, session, fake_graph, frozen_clock):
    browser.sign_in()
    browser.declare(title="Everything is down", severity="P1")
    drain(app)
    (announcement,) = fake_graph.messages(channel_id=fake_graph.broadcast_channel_id)
    card = card_of(announcement)
    channel = fake_graph.find_channel("incident-team", "inc-0001-2026-11-22-everything-is-down")
    assert [a["url"] for a in card["actions"]][-1] == channel.web_url
    assert all(d.status == "delivered" for d in deliveries(session).values())


def test_security_incidents_are_never_broadcast(app, browser, session, fake_graph,
                                                 frozen_clock):
    browser.sign_in()
    browser.declare(title="Customer data exposed", severity="P1", is_security="y")
    drain(app)
    # The declarer joins the team first, to own the private channel.
    assert set(deliveries(session)) == {"member/1", "channel", "kickoff", "meeting"}
    assert fake_graph.messages(channel_id=fake_graph.broadcast_channel_id) == []


def test_a_rejected_declaration_leaves_nothing_to_send(app, browser, session, fake_graph):
    browser.sign_in()
    response = browser.submit("/incidents/new", data={"title": "", "severity": "P1"})
    assert response.status_code == 400
    assert session.scalar(select(func.count()).select_from(Delivery)) == 0


def test_user_text_reaches_teams_exactly_as_typed(app, browser, fake_graph, frozen_clock):
    hostile = '<img src=x onerror=alert(1)> **bold** [link](http://evil.example) "quoted"'
    browser.sign_in(name='Eve <script>alert("x")</script>')
    browser.declare(title=hostile, description=hostile, severity="P2")
    drain(app)
    (channel,) = [c for c in fake_graph.channels("incident-team") if c["displayName"] != "General"]
    assert all(ch not in channel["displayName"] for ch in "<>\"'*[]")
    (kickoff,) = fake_graph.messages(channel_id=channel["id"])
    assert "<img" not in kickoff["body"]["content"]  # the HTML summary is escaped
    assert "&lt;img src=x onerror=alert(1)&gt;" in kickoff["body"]["content"]
    card = card_of(kickoff)
    assert hostile in texts(card)  # plain TextRuns: Teams shows it as text, unrendered
    assert 'Eve <script>alert("x")</script>' in texts(card)


def test_throttling_is_retried_after_the_time_graph_asks(app, browser, session, flaky,
                                                          fake_graph, frozen_clock):
    flaky.fail("create_channel", GraphError("slow down", status=429, retry_after=30))
    browser.sign_in()
    browser.declare()
    drain(app)
    channel = deliveries(session)["channel"]
    assert channel.status == "pending" and channel.attempts == 1
    assert channel.next_attempt_at >= frozen_clock() + timedelta(seconds=30)
    assert "throttling" in channel.last_error
    frozen_clock.advance(seconds=29)
    sweep_and_drain(app)
    assert deliveries(session)["channel"].status == "pending"
    frozen_clock.advance(seconds=2)
    sweep_and_drain(app)
    sweep_and_drain(app)
    assert {d.status for d in deliveries(session).values()} == {"delivered"}
    assert len(fake_graph.channels("incident-team")) == 2  # General and ours, once


def test_a_lost_response_does_not_post_twice(app, browser, session, flaky, fake_graph,
                                              frozen_clock):
    # The kickoff's call, not the broadcast's: both are posted once the channel exists.
    flaky.fail("post_message", ("after", GraphError("connection reset", status=0)),
               only=lambda team, channel, *rest, **more:
                   channel != flaky.broadcast_channel_id)
    browser.sign_in()
    browser.declare()
    drain(app)
    kickoff = deliveries(session)["kickoff"]
    assert kickoff.status == "pending" and kickoff.progress.get("ambiguous")
    frozen_clock.advance(minutes=1)
    sweep_and_drain(app)
    kickoff = deliveries(session)["kickoff"]
    assert kickoff.status == "delivered" and kickoff.result.get("found_earlier")
    channel_id = deliveries(session)["channel"].result["channel_id"]
    assert len(fake_graph.messages(channel_id=channel_id)) == 1


class WorkerKilled(BaseException):
    """Stands in for SIGKILL: nothing in the runner can catch it."""


def test_a_worker_killed_after_creating_the_channel_neither_loses_nor_duplicates_it(
        app, browser, session, flaky, fake_graph, frozen_clock):
    flaky.fail("create_channel", ("after", WorkerKilled()))
    browser.sign_in()
    browser.declare(title="Login broken")
    drain(app)  # the job dies; RQ and the thread pool both record it as crashed
    channel = deliveries(session)["channel"]
    assert channel.status == "sending"
    frozen_clock.advance(minutes=2)
    sweep_and_drain(app)
    assert deliveries(session)["channel"].status == "sending"  # lease still held
    frozen_clock.advance(minutes=10)
    sweep_and_drain(app)
    sweep_and_drain(app)
    rows = deliveries(session)
    assert {d.status for d in rows.values()} == {"delivered"}
    names = [c["displayName"] for c in fake_graph.channels("incident-team")]
    assert names.count("inc-0001-2026-11-22-login-broken") == 1 and len(names) == 2
    assert len(fake_graph.messages(channel_id=rows["channel"].result["channel_id"])) == 1


def test_a_failure_that_needs_a_person_shows_on_the_page_and_can_be_retried(
        app, browser, session, flaky, fake_graph, frozen_clock):
    flaky.fail("create_channel", InvalidRequest("Team is archived", status=400,
                                                code="BadRequest"))
    browser.sign_in()
    reference = browser.declare()
    drain(app)
    rows = deliveries(session)
    assert rows["channel"].status == "failed"
    assert rows["kickoff"].status == "failed"  # it cannot go anywhere without the channel
    page = browser.get(f"/incidents/{reference}").get_data(as_text=True)
    assert "Team is archived" in page and "Try again" in page
    response = browser.submit(f"/incidents/{reference}",
                              f"/incidents/{reference}/deliveries/{rows['channel'].id}/retry")
    assert response.status_code == 302
    drain(app)
    sweep_and_drain(app)
    frozen_clock.advance(seconds=10)
    sweep_and_drain(app)
    assert {d.status for d in deliveries(session).values()} == {"delivered"}


def test_retry_needs_the_form_token_and_the_incident(app, browser, other_browser, session,
                                                      flaky, frozen_clock):
    flaky.fail("create_channel", InvalidRequest("nope", status=400))
    browser.sign_in()
    reference = browser.declare(is_security="y")
    drain(app)
    delivery_id = deliveries(session)["channel"].id
    url = f"/incidents/{reference}/deliveries/{delivery_id}/retry"
    assert browser.client.post(url).status_code == 400  # no CSRF token
    other_browser.sign_in(name="Mallory", email="mallory@example.com")
    assert other_browser.submit("/incidents", url).status_code == 404  # cannot see it
    assert deliveries(session)["channel"].status == "failed"


def test_persistent_outages_give_up_after_the_attempt_limit(app, browser, session, flaky,
                                                             frozen_clock):
    flaky.fail("create_channel",
               *[GraphError("unavailable", status=503)] * runner.MAX_ATTEMPTS)
    browser.sign_in()
    browser.declare()
    drain(app)
    for _ in range(runner.MAX_ATTEMPTS):
        frozen_clock.advance(seconds=runner.MAX_BACKOFF + 1)
        sweep_and_drain(app)
    channel = deliveries(session)["channel"]
    assert channel.status == "failed" and channel.attempts == runner.MAX_ATTEMPTS
    assert f"after {runner.MAX_ATTEMPTS} attempts" in channel.last_error


def test_a_delivered_delivery_is_never_sent_again(app, browser, session, fake_graph,
                                               frozen_clock):
    browser.sign_in()
    browser.declare()
    drain(app)
    with app.app_context():
        from app.jobs import deliver

        assert deliver(deliveries(session)["channel"].id) == "skipped"
    assert len(fake_graph.channels("incident-team")) == 2


def test_backoff_grows_and_never_undercuts_retry_after():
    assert runner.backoff(1, None) <= 1.0
    assert 4.0 <= runner.backoff(4, None) <= 8.0
    assert runner.backoff(30, None) <= runner.MAX_BACKOFF
    assert runner.backoff(1, 45.0) == 45.0
