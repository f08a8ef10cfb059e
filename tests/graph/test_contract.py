"""One contract, two implementations: the in-memory FakeGraph and the real msgraph-sdk
client talking HTTP to the sandbox. What the app relies on must hold for both."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from graph.client import GraphClient
from graph.fake import FakeGraph
from graph.port import (
    ME,
    Attendee,
    Card,
    Conflict,
    EventRequest,
    GraphError,
    InvalidRequest,
    Mail,
    NotFound,
    Sender,
)
from graph.sandbox import SandboxServer
from graph.tokens import sandbox_token

TEAM = "team-1"
HOSTILE = '<img src=x onerror=alert(1)> & "quotes" \u202e'


@pytest.fixture(scope="module")
def server():
    with SandboxServer() as running:
        yield running


class World:
    """The implementation under test, and where to look at what it did."""

    def __init__(self, graph, store, faults=None):
        self.graph, self.store, self.faults = graph, store, faults


@pytest.fixture(params=["fake", "client"])
def world(request, server):
    if request.param == "fake":
        fake = FakeGraph()
        store = fake
        world = World(fake, store)
    else:
        server.state.reset()
        server.faults.reset()
        world = World(GraphClient(server.graph_base_url, sandbox_token("ada@example.com"),
                                  timeout=5), server.state, server.faults)
    world.store.add_team(TEAM, "Incidents")
    world.store.add_drive("drive-1")
    return world


def test_channels_are_created_found_and_refused_when_illegal_or_taken(world):
    channel = world.graph.create_channel(TEAM, "inc-2026-11-24-login", "INC-2026-0001: Login")
    assert channel.id and channel.web_url and channel.team_id == TEAM
    found = world.graph.find_channel(TEAM, "INC-2026-11-24-LOGIN")
    assert found.id == channel.id and found.description == "INC-2026-0001: Login"
    assert world.graph.find_channel(TEAM, "nope") is None
    with pytest.raises(Conflict):
        world.graph.create_channel(TEAM, "Inc-2026-11-24-Login")
    for bad in ("a" * 51, "what?", "a/b", "_hidden", "ends."):
        with pytest.raises(InvalidRequest):
            world.graph.create_channel(TEAM, bad)
    with pytest.raises(NotFound):
        world.graph.create_channel("no-such-team", "fine")


def test_posts_carry_cards_and_can_be_found_again(world):
    channel = world.graph.create_channel(TEAM, "posts")
    card = {"type": "AdaptiveCard", "version": "1.5",
            "body": [{"type": "TextRun", "text": HOSTILE}]}
    posted = world.graph.post_message(TEAM, channel.id, "<p>hello</p>", [Card("att-1", card)])
    assert posted.id and "att-1" in posted.attachment_ids
    (stored,) = world.store.messages(channel_id=channel.id)
    assert json.loads(stored["attachments"][0]["content"]) == card  # bytes arrive unchanged
    assert '<attachment id="att-1"></attachment>' in stored["body"]["content"]
    assert world.graph.find_message(TEAM, channel.id, "att-1").id == posted.id
    assert world.graph.find_message(TEAM, channel.id, "att-2") is None
    reply = world.graph.reply(TEAM, channel.id, posted.id, "<p>re</p>", [Card("att-3", card)])
    assert world.graph.find_message(TEAM, channel.id, "att-3", reply_to_id=posted.id).id \
        == reply.id
    assert [m.id for m in world.graph.channel_messages(TEAM, channel.id)] == [posted.id]


def test_drafts_are_sent_once(world):
    mail = Mail(subject="Update", html_body="<p>&lt;b&gt;</p>", to=["a@example.com"],
                bcc=[f"p{n}@example.com" for n in range(499)], delivery_key="K1")
    draft = world.graph.create_draft(ME, mail)
    world.graph.send_draft(ME, draft)
    with pytest.raises(NotFound):
        world.graph.send_draft(ME, draft)
    (sent,) = world.store.mails()
    assert sent["subject"] == "Update" and len(sent["bcc"]) == 499
    assert sent["html"] == "<p>&lt;b&gt;</p>"
    with pytest.raises(InvalidRequest):
        world.graph.create_draft(ME, Mail(subject="x", html_body="", to=["a@example.com"],
                                          bcc=[f"p{n}@example.com" for n in range(500)]))


def test_shared_mailbox_and_one_shot_mail(world):
    world.graph.send_mail(Sender("incidents@example.com"),
                          Mail(subject="Hi", html_body="<p>x</p>", to=["b@example.com"]))
    (sent,) = world.store.mails()
    assert sent["to"] == ["b@example.com"]


def test_events_and_meetings_are_idempotent(world):
    start = datetime(2026, 11, 25, 9, tzinfo=UTC)
    request = EventRequest(subject="Review", start=start, end=start + timedelta(hours=1),
                           attendees=[Attendee("a@example.com", "A")], transaction_id="T1")
    first = world.graph.create_event(ME, request)
    assert world.graph.create_event(ME, request).id == first.id
    assert len(world.store.events()) == 1
    meeting = world.graph.create_online_meeting(ME, "Room", start, start + timedelta(hours=8),
                                                external_id="E1")
    again = world.graph.create_online_meeting(ME, "Room", start, start + timedelta(hours=8),
                                              external_id="E1")
    assert meeting.id == again.id and meeting.join_url.startswith("https://")


def test_list_items_are_paged_through(world):
    world.store.seed_list("site", "list", [{"Title": f"P{n}", "Email": f"p{n}@x.org"}
                                           for n in range(10_000)])
    titles = [item.fields["Title"] for item in world.graph.list_items("site", "list",
                                                                     page_size=1000)]
    assert len(titles) == 10_000 and len(set(titles)) == 10_000
    with pytest.raises(NotFound):
        list(world.graph.list_items("site", "missing"))


def test_files_are_uploaded_replaced_and_read(world):
    first = world.graph.upload_file("drive-1", "Incident reports", "INC-1.docx", b"one")
    second = world.graph.upload_file("drive-1", "Incident reports", "INC-1.docx", b"two!")
    assert first.id == second.id and second.size == 4
    assert world.graph.get_file("drive-1", "Incident reports/INC-1.docx") == b"two!"
    with pytest.raises(Conflict):
        world.graph.upload_file("drive-1", "Incident reports", "INC-1.docx", b"x",
                                replace=False)


@pytest.fixture
def client_world(server):
    """The real client only: failures that need a network to happen."""
    server.state.reset()
    server.faults.reset()
    server.state.add_team(TEAM, "Incidents")
    return World(GraphClient(server.graph_base_url, sandbox_token("ada@example.com"),
                             timeout=5), server.state, server.faults)


def test_throttling_and_outages_are_retryable_errors(client_world):
    world = client_world
    channel = world.graph.create_channel(TEAM, "faults")
    world.faults.configure(retry_after=7)
    world.faults.fail_next(1, "429", "/messages")
    with pytest.raises(GraphError) as caught:
        world.graph.post_message(TEAM, channel.id, "x")
    assert caught.value.status == 429 and caught.value.retryable
    assert caught.value.retry_after == 7
    assert world.store.messages(channel_id=channel.id) == []
    world.faults.fail_next(1, "503", "/messages")
    with pytest.raises(GraphError) as caught:
        world.graph.post_message(TEAM, channel.id, "x")
    assert caught.value.status == 503 and caught.value.retryable


def test_a_lost_response_was_applied_though_the_caller_saw_an_error(client_world):
    world = client_world
    channel = world.graph.create_channel(TEAM, "lost")
    world.faults.fail_next(1, "lost_response", "/messages")
    with pytest.raises(GraphError) as caught:
        world.graph.post_message(TEAM, channel.id, "x", [Card("k", {"type": "AdaptiveCard"})])
    assert caught.value.retryable
    assert world.graph.find_message(TEAM, channel.id, "k") is not None


def test_a_hung_request_times_out_as_a_retryable_error(client_world):
    client_world.faults.configure(hang=3)
    client_world.faults.fail_next(1, "timeout", "/channels")
    client = GraphClient(client_world.graph.base_url,
                         sandbox_token("ada@example.com"), timeout=1)
    with pytest.raises(GraphError) as caught:
        client.create_channel(TEAM, "slow")
    assert caught.value.status == 0 and caught.value.retryable


def test_no_token_is_refused(server):
    client = GraphClient(server.graph_base_url, lambda: "", timeout=5)
    with pytest.raises(GraphError) as caught:
        client.find_channel(TEAM, "x")
    assert caught.value.status == 401
