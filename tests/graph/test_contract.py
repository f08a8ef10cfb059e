"""One contract, two implementations: the in-memory FakeGraph and the real msgraph-sdk
client talking HTTP to the sandbox. What the app relies on must hold for both.

`world` runs a test once per implementation (see conftest.py); `client_world` tests are
the client's own: faults, timeouts, retries, threads and processes.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from urllib.parse import unquote

import pytest

from graph.port import (
    ME,
    SIMPLE_UPLOAD_LIMIT,
    Attendee,
    Card,
    Conflict,
    EventRequest,
    GraphError,
    InvalidRequest,
    Locked,
    Mail,
    NotFound,
    Sender,
)
from tests.graph.conftest import ACTOR, CONTRACT_APP, DRIVE, TEAM, client_for

# What a person might type: markup, entities, quotes, a right-to-left override, astral
# characters. The port passes it through untouched; escaping is the caller's job.
HOSTILE = ('<img src=x onerror=alert(1)> &amp; & "quotes" \'single\' </attachment> '
           '\u202eevil\u202c 🔥 ${{7*7}} \\n')
START = datetime(2026, 11, 25, 9, tzinfo=UTC)


def card(text: str = "hello") -> dict:
    return {"type": "AdaptiveCard", "version": "1.5",
            "body": [{"type": "TextBlock", "text": text, "wrap": True}]}


def mail(**overrides) -> Mail:
    values = dict(subject="Update", html_body="<p>Update</p>", to=["a@example.com"])
    values.update(overrides)
    return Mail(**values)


# ---- Teams: channels ---------------------------------------------------------------------


def test_a_channel_is_created_and_found_whatever_the_case(world):
    channel = world.graph.create_channel(TEAM, "inc-2026-11-24-login", "INC-2026-0001: Login")
    assert channel.id and channel.web_url and channel.team_id == TEAM
    assert channel.display_name == "inc-2026-11-24-login"
    found = world.graph.find_channel(TEAM, "INC-2026-11-24-LOGIN")
    assert found.id == channel.id and found.description == "INC-2026-0001: Login"
    assert world.graph.find_channel(TEAM, "inc-2026-11-24") is None
    (stored,) = [c for c in world.state.channels(TEAM) if c["id"] == channel.id]
    assert stored["displayName"] == "inc-2026-11-24-login"


def test_a_taken_name_is_a_conflict_whatever_the_case(world):
    world.graph.create_channel(TEAM, "inc-2026-11-24-login")
    with pytest.raises(Conflict) as caught:
        world.graph.create_channel(TEAM, "Inc-2026-11-24-Login")
    assert caught.value.code == "NameAlreadyExists" and not caught.value.retryable
    assert len(world.state.channels(TEAM)) == 1


@pytest.mark.parametrize("name", ["a" * 51, "what?", "a/b", "50%", "x#y", "_hidden",
                                  "ends.", 'say "hi"', ""])
def test_an_illegal_channel_name_is_an_invalid_request(world, name):
    with pytest.raises(InvalidRequest) as caught:
        world.graph.create_channel(TEAM, name)
    assert caught.value.status == 400 and not caught.value.retryable
    assert world.state.channels(TEAM) == []


def test_a_missing_team_is_not_found(world):
    with pytest.raises(NotFound) as caught:
        world.graph.create_channel("no-such-team", "fine")
    assert caught.value.status == 404
    with pytest.raises(NotFound):
        world.graph.find_channel("no-such-team", "fine")


def test_adding_a_member_twice_is_not_an_error(world):
    world.graph.add_team_member(TEAM, "user-1", owner=True)
    world.graph.add_team_member(TEAM, "user-1", owner=True)
    world.graph.add_team_member(TEAM, "user-2")
    members = {m["userId"]: m["roles"] for m in world.state.members(TEAM)}
    members.pop(ACTOR, None)  # the sandbox tenant's own set-up: the caller owns the team
    assert members == {"user-1": ["owner"], "user-2": []}
    with pytest.raises(NotFound):
        world.graph.add_team_member("no-such-team", "user-1")


# ---- Teams: private channels -------------------------------------------------------------

LEAD = "lead@example.com"


def channel_members(world, channel_id: str) -> dict[str, list[str]]:
    return {m["userId"]: m["roles"] for m in world.state.channel_members(channel_id)}


def test_a_standard_channel_says_so(world):
    channel = world.graph.create_channel(TEAM, "open")
    assert channel.membership_type == "standard"
    assert world.graph.find_channel(TEAM, "OPEN").membership_type == "standard"


def test_a_private_channel_is_created_with_its_owner_and_found(world):
    """Found by its owner: a private channel is listed only to its members."""
    world.graph.add_team_member(TEAM, ACTOR)
    channel = world.graph.create_channel(TEAM, "sec-2026-11-24-breach", "INC-2026-0002: Breach",
                                         private_owner=ACTOR)
    assert channel.membership_type == "private" and channel.id and channel.web_url
    assert channel.display_name == "sec-2026-11-24-breach" and channel.team_id == TEAM
    found = world.graph.find_channel(TEAM, "SEC-2026-11-24-BREACH")
    assert found == channel and found.description == "INC-2026-0002: Breach"
    (stored,) = world.state.channels(TEAM)
    assert stored["membershipType"] == "private"
    assert channel_members(world, channel.id) == {ACTOR: ["owner"]}


def test_a_private_channel_is_hidden_from_people_outside_it(client_world):
    """Teams lists a private channel only to its members, and its name stays taken."""
    client_world.graph.add_team_member(TEAM, LEAD)
    client_world.graph.create_channel(TEAM, "sec-hidden", private_owner=LEAD)
    assert client_world.graph.find_channel(TEAM, "sec-hidden") is None
    with pytest.raises(Conflict):
        client_world.graph.create_channel(TEAM, "SEC-HIDDEN")


def test_a_private_channel_follows_the_same_name_rules(world):
    world.graph.add_team_member(TEAM, LEAD)
    world.graph.create_channel(TEAM, "inc-1")
    with pytest.raises(Conflict) as caught:  # names are unique across standard and private
        world.graph.create_channel(TEAM, "INC-1", private_owner=LEAD)
    assert caught.value.code == "NameAlreadyExists"
    world.graph.create_channel(TEAM, "sec-1", private_owner=LEAD)
    with pytest.raises(Conflict):
        world.graph.create_channel(TEAM, "Sec-1")
    for name in ("a" * 51, "what?", "_hidden", ""):
        with pytest.raises(InvalidRequest) as caught:
            world.graph.create_channel(TEAM, name, private_owner=LEAD)
        assert caught.value.status == 400
    assert sorted(c["displayName"] for c in world.state.channels(TEAM)) == ["inc-1", "sec-1"]


def test_a_private_channel_owner_must_be_in_the_team(world):
    with pytest.raises(InvalidRequest) as caught:
        world.graph.create_channel(TEAM, "sec-2", private_owner="stranger@example.com")
    assert caught.value.status == 400 and not caught.value.retryable
    assert "stranger@example.com" in caught.value.message
    assert "add them to the team first" in caught.value.message
    assert world.state.channels(TEAM) == []
    with pytest.raises(NotFound):
        world.graph.create_channel("no-such-team", "sec-2", private_owner=LEAD)


def test_adding_a_channel_member_twice_is_not_an_error(world):
    for user in (LEAD, "user-2", "User-3"):
        world.graph.add_team_member(TEAM, user)
    world.graph.add_team_member(TEAM, ACTOR, owner=True)
    # The caller co-owns it: only a private channel's owners may add its members.
    channel = world.graph.create_channel(TEAM, "sec-3", private_owner=LEAD, co_owners=[ACTOR])
    world.graph.add_channel_member(TEAM, channel.id, "user-2")
    world.graph.add_channel_member(TEAM, channel.id, "user-2")
    world.graph.add_channel_member(TEAM, channel.id, "user-3", owner=True)  # ids ignore case
    world.graph.add_channel_member(TEAM, channel.id, "user-3", owner=True)
    assert channel_members(world, channel.id) == \
        {LEAD: ["owner"], ACTOR: ["owner"], "user-2": [], "user-3": ["owner"]}
    with pytest.raises(NotFound):
        world.graph.add_channel_member(TEAM, "19:missing@thread.tacv2", "user-2")
    with pytest.raises(NotFound):
        world.graph.add_channel_member("no-such-team", channel.id, "user-2")


def test_a_person_not_in_the_team_cannot_join_a_private_channel(world):
    world.graph.add_team_member(TEAM, LEAD)
    world.graph.add_team_member(TEAM, ACTOR, owner=True)  # as the tenant made them
    channel = world.graph.create_channel(TEAM, "sec-4", private_owner=LEAD, co_owners=[ACTOR])
    with pytest.raises(InvalidRequest) as caught:
        world.graph.add_channel_member(TEAM, channel.id, "stranger@example.com")
    assert caught.value.status == 400 and not caught.value.retryable
    assert "stranger@example.com" in caught.value.message
    assert "add them to the team first" in caught.value.message
    assert channel_members(world, channel.id) == {LEAD: ["owner"], ACTOR: ["owner"]}
    world.graph.add_team_member(TEAM, "stranger@example.com")
    world.graph.add_channel_member(TEAM, channel.id, "stranger@example.com")
    assert set(channel_members(world, channel.id)) == {LEAD, ACTOR, "stranger@example.com"}


def test_a_standard_channel_takes_no_members_of_its_own(world):
    world.graph.add_team_member(TEAM, LEAD)
    channel = world.graph.create_channel(TEAM, "open")
    with pytest.raises(InvalidRequest) as caught:
        world.graph.add_channel_member(TEAM, channel.id, LEAD)
    assert caught.value.status == 400
    assert world.state.channel_members(channel.id) == []


def test_a_channel_member_removed_leaves_the_channel_not_the_team(world):
    """By the membership id the add returned, or by user id (an add whose answer did
    not carry one); gone already, or the channel gone, is not an error."""
    for user in (LEAD, "user-2", "user-3"):
        world.graph.add_team_member(TEAM, user)
    world.graph.add_team_member(TEAM, ACTOR, owner=True)
    channel = world.graph.create_channel(TEAM, "sec-5", private_owner=LEAD, co_owners=[ACTOR])
    membership = world.graph.add_channel_member(TEAM, channel.id, "user-2")
    assert membership and membership == world.graph.add_channel_member(TEAM, channel.id,
                                                                       "user-2")
    world.graph.add_channel_member(TEAM, channel.id, "user-3")
    world.graph.remove_channel_member(TEAM, channel.id, "user-2", membership_id=membership)
    assert channel_members(world, channel.id) == {LEAD: ["owner"], ACTOR: ["owner"],
                                                  "user-3": []}
    world.graph.remove_channel_member(TEAM, channel.id, "user-2", membership_id=membership)
    world.graph.remove_channel_member(TEAM, channel.id, "USER-3")  # looked up, any case
    world.graph.remove_channel_member(TEAM, channel.id, "user-3")
    world.graph.remove_channel_member(TEAM, "19:missing@thread.tacv2", "user-2")
    assert channel_members(world, channel.id) == {LEAD: ["owner"], ACTOR: ["owner"]}
    assert {"user-2", "user-3"} <= {m["userId"] for m in world.state.members(TEAM)}
    standard = world.graph.create_channel(TEAM, "open-5")
    with pytest.raises(InvalidRequest) as caught:
        world.graph.remove_channel_member(TEAM, standard.id, "user-2")
    assert caught.value.status == 400 and not caught.value.retryable


# ---- Teams: archiving channels -----------------------------------------------------------
# https://learn.microsoft.com/graph/api/channel-archive and .../channel-unarchive

OWNER = "owner@example.com"
TEAM_2 = "team-2"


def test_a_channel_is_archived_and_unarchived_and_reads_back_so(world):
    world.state.add_team_member(TEAM, OWNER, owner=True)  # "a channel without an owner..."
    channel = world.graph.create_channel(TEAM, "inc-2026-11-24-login", "INC-2026-0001: Login")
    assert not channel.is_archived
    world.graph.archive_channel(TEAM, channel.id)
    assert world.graph.find_channel(TEAM, "inc-2026-11-24-login").is_archived
    (stored,) = world.state.channels(TEAM)
    assert stored["isArchived"] is True
    world.graph.archive_channel(TEAM, channel.id)  # again: Graph documents no error for it
    assert world.graph.find_channel(TEAM, "inc-2026-11-24-login").is_archived
    world.graph.unarchive_channel(TEAM, channel.id)
    assert not world.graph.get_channel(TEAM, channel.id).is_archived
    world.graph.unarchive_channel(TEAM, channel.id)  # not archived: nothing to do, no error
    assert world.state.channels(TEAM)[0]["isArchived"] is False


def test_an_archived_channel_takes_no_posts_or_replies_until_unarchived(world):
    world.state.add_team_member(TEAM, OWNER, owner=True)
    channel = world.graph.create_channel(TEAM, "inc-1")
    first = world.graph.post_message(TEAM, channel.id, "<p>before</p>")
    world.graph.archive_channel(TEAM, channel.id)
    with pytest.raises(GraphError) as caught:
        world.graph.post_message(TEAM, channel.id, "<p>after</p>", cards=[Card("c1", card())])
    assert caught.value.status == 403 and not caught.value.retryable
    with pytest.raises(GraphError) as caught:
        world.graph.reply(TEAM, channel.id, first.id, "<p>a reply</p>")
    assert caught.value.status == 403
    assert [m["id"] for m in world.state.messages(TEAM, channel.id)] == [first.id]
    world.graph.unarchive_channel(TEAM, channel.id)
    again = world.graph.post_message(TEAM, channel.id, "<p>after</p>",
                                     cards=[Card("c1", card())])
    assert world.graph.find_message(TEAM, channel.id, "c1").id == again.id


def test_a_private_channel_is_archived_the_same_way(world):
    world.state.add_team_member(TEAM, OWNER, owner=True)
    world.graph.add_team_member(TEAM, ACTOR)
    channel = world.graph.create_channel(TEAM, "sec-1", private_owner=ACTOR)
    world.graph.archive_channel(TEAM, channel.id)
    found = world.graph.get_channel(TEAM, channel.id)
    assert found.is_archived and found.membership_type == "private"
    assert world.graph.find_channel(TEAM, "sec-1") == found
    with pytest.raises(GraphError) as caught:
        world.graph.post_message(TEAM, channel.id, "<p>after</p>")
    assert caught.value.status == 403
    assert channel_members(world, channel.id) == {ACTOR: ["owner"]}  # members are kept


def test_a_channel_is_got_by_its_id(world):
    world.state.add_team_member(TEAM, OWNER, owner=True)
    channel = world.graph.create_channel(TEAM, "inc-1", "INC-2026-0001: Login")
    assert world.graph.get_channel(TEAM, channel.id) == channel
    world.graph.archive_channel(TEAM, channel.id)
    assert world.graph.get_channel(TEAM, channel.id).is_archived
    with pytest.raises(NotFound):
        world.graph.get_channel(TEAM, "19:missing@thread.tacv2")
    with pytest.raises(NotFound):
        world.graph.get_channel("no-such-team", channel.id)


def test_a_channel_in_a_team_without_an_owner_cannot_be_archived(world):
    world.state.add_team(TEAM_2, "No owner")
    world.state.add_team_member(TEAM_2, ACTOR)  # a member, not an owner
    channel = world.graph.create_channel(TEAM_2, "inc-1")
    with pytest.raises(InvalidRequest) as caught:
        world.graph.archive_channel(TEAM_2, channel.id)
    assert caught.value.status == 400 and not caught.value.retryable
    assert not world.graph.find_channel(TEAM_2, "inc-1").is_archived
    world.state.add_team_member(TEAM_2, OWNER, owner=True)
    world.graph.archive_channel(TEAM_2, channel.id)
    assert world.graph.find_channel(TEAM_2, "inc-1").is_archived


def test_archiving_what_does_not_exist_is_not_found(world):
    world.state.add_team_member(TEAM, OWNER, owner=True)
    channel = world.graph.create_channel(TEAM, "inc-1")
    for archive in (world.graph.archive_channel, world.graph.unarchive_channel):
        with pytest.raises(NotFound):
            archive(TEAM, "19:missing@thread.tacv2")
        with pytest.raises(NotFound):
            archive("no-such-team", channel.id)


# ---- Teams: messages ---------------------------------------------------------------------


def test_html_and_cards_arrive_byte_for_byte(world):
    channel = world.graph.create_channel(TEAM, "posts")
    html = f"<p>{HOSTILE}</p>"
    content = card(HOSTILE)
    posted = world.graph.post_message(TEAM, channel.id, html,
                                      [Card("att-1", content), Card("att-2", card())])
    assert posted.id and posted.attachment_ids == ("att-1", "att-2")
    assert posted.sender_name == ACTOR and posted.created_at is not None
    assert posted.html == html + '<attachment id="att-1"></attachment>' \
                                 '<attachment id="att-2"></attachment>'
    (stored,) = world.state.messages(channel_id=channel.id)
    assert stored["body"] == {"contentType": "html", "content": posted.html}
    first = stored["attachments"][0]
    assert first["contentType"] == "application/vnd.microsoft.card.adaptive"
    assert first["content"] == json.dumps(content)  # a JSON string, unchanged
    assert json.loads(first["content"])["body"][0]["text"] == HOSTILE


def test_a_posted_card_is_found_again_by_its_attachment_id(world):
    channel = world.graph.create_channel(TEAM, "find")
    posted = world.graph.post_message(TEAM, channel.id, "<p>a</p>", [Card("k-1", card())])
    world.graph.post_message(TEAM, channel.id, "<p>b</p>")
    assert world.graph.find_message(TEAM, channel.id, "k-1").id == posted.id
    assert world.graph.find_message(TEAM, channel.id, "k-2") is None
    reply = world.graph.reply(TEAM, channel.id, posted.id, "<p>re</p>", [Card("k-3", card())])
    assert reply.reply_to_id == posted.id
    found = world.graph.find_message(TEAM, channel.id, "k-3", reply_to_id=posted.id)
    assert found.id == reply.id and found.reply_to_id == posted.id
    assert world.graph.find_message(TEAM, channel.id, "k-3") is None  # not top level


def test_a_card_is_found_again_by_a_marker_in_its_content(world):
    """How a bot's post is recognised: the card's content carries the delivery key."""
    from graph.port import CardMarker

    channel = world.graph.create_channel(TEAM, "marked")
    marked = {**card(), "refresh": {"action": {"data": {"key": "k/1"}}}}
    posted = world.graph.post_message(TEAM, channel.id, "<p>a</p>", [Card("a-1", marked)])
    world.graph.post_message(TEAM, channel.id, "<p>b</p>", [Card("a-2", card())])
    path = ("refresh", "action", "data", "key")
    assert world.graph.find_card_message(TEAM, channel.id, CardMarker(path, "k/1")).id == \
        posted.id
    assert world.graph.find_card_message(TEAM, channel.id, CardMarker(path, "k/2")) is None
    assert world.graph.find_card_message(
        TEAM, channel.id, CardMarker(("refresh", "action"), "k/1")) is None  # not a string


def test_find_message_looks_at_the_last_fifty_or_back_to_since(world):
    channel = world.graph.create_channel(TEAM, "busy")
    old = world.graph.post_message(TEAM, channel.id, "old", [Card("old", card())])
    for n in range(55):
        world.graph.post_message(TEAM, channel.id, f"<p>{n}</p>")
    assert world.graph.find_message(TEAM, channel.id, "old") is None
    since = old.created_at - timedelta(minutes=5)
    assert world.graph.find_message(TEAM, channel.id, "old", since=since).id == old.id
    assert world.graph.find_message(TEAM, channel.id, "nope", since=since) is None
    messages = list(world.graph.channel_messages(TEAM, channel.id))  # pages past 50
    assert len(messages) == 56 and messages[-1].id == old.id


def test_channel_messages_are_newest_first_without_replies(world):
    channel = world.graph.create_channel(TEAM, "history")
    first = world.graph.post_message(TEAM, channel.id, "<p>1</p>")
    world.graph.reply(TEAM, channel.id, first.id, "<p>1.1</p>")
    time.sleep(0.01)
    second = world.graph.post_message(TEAM, channel.id, "<p>2</p>")
    assert [m.id for m in world.graph.channel_messages(TEAM, channel.id)] == \
        [second.id, first.id]
    recent = list(world.graph.channel_messages(TEAM, channel.id, since=second.created_at))
    assert [m.id for m in recent] == [second.id]
    later = second.created_at + timedelta(minutes=1)
    assert list(world.graph.channel_messages(TEAM, channel.id, since=later)) == []


def test_replies_come_with_their_post_oldest_first_when_asked_for(world):
    channel = world.graph.create_channel(TEAM, "threads")
    post = world.graph.post_message(TEAM, channel.id, "<p>db-2 is at 100% CPU</p>")
    replies = []
    for text in ("<p>Restarting it</p>", "<p>Back to 20%</p>"):
        time.sleep(0.01)
        replies.append(world.graph.reply(TEAM, channel.id, post.id, text))
    quiet = world.graph.post_message(TEAM, channel.id, "<p>No replies here</p>")
    read = list(world.graph.channel_messages(TEAM, channel.id, with_replies=True))
    assert [m.id for m in read] == [quiet.id, post.id] and read[0].replies == ()
    got = read[1].replies
    assert [r.id for r in got] == [r.id for r in replies]
    assert [r.html for r in got] == ["<p>Restarting it</p>", "<p>Back to 20%</p>"]
    assert {r.reply_to_id for r in got} == {post.id} and {r.sender_name for r in got} == {ACTOR}
    assert got[0].created_at < got[1].created_at and got[0].created_at >= read[1].created_at
    assert list(world.graph.channel_messages(TEAM, channel.id))[1].replies == ()


def test_more_replies_than_graph_inlines_are_followed_by_their_next_link(
        client_world, monkeypatch):
    from graph.sandbox import routes_teams

    monkeypatch.setattr(routes_teams, "EXPANDED_REPLIES", 2)
    world = client_world
    channel = world.graph.create_channel(TEAM, "long thread")
    post = world.graph.post_message(TEAM, channel.id, "<p>start</p>")
    sent = [world.graph.reply(TEAM, channel.id, post.id, f"<p>{n}</p>").id for n in range(5)]
    (read,) = world.graph.channel_messages(TEAM, channel.id, with_replies=True)
    assert [r.id for r in read.replies] == sent
    assert requests_to(world, f"/messages/{post.id}/replies", "GET")  # the nextLink


def test_posting_to_what_does_not_exist_is_not_found(world):
    channel = world.graph.create_channel(TEAM, "exists")
    with pytest.raises(NotFound):
        world.graph.post_message(TEAM, "19:missing@thread.tacv2", "<p>x</p>")
    with pytest.raises(NotFound):
        world.graph.reply(TEAM, channel.id, "404", "<p>x</p>")
    with pytest.raises(NotFound):
        world.graph.find_message(TEAM, "19:missing@thread.tacv2", "k")
    assert world.state.messages() == []


def test_a_message_over_the_size_cap_is_refused(world):
    channel = world.graph.create_channel(TEAM, "big")
    with pytest.raises(InvalidRequest) as caught:
        world.graph.post_message(TEAM, channel.id, "<p>x</p>", [Card("big", card("x" * 30_000))])
    assert not caught.value.retryable
    assert world.state.messages() == []


# ---- Outlook -------------------------------------------------------------------------------


def test_a_draft_is_sent_once(world):
    draft = world.graph.create_draft(ME, mail(html_body=f"<p>{HOSTILE}</p>",
                                              delivery_key="incident/1/update/2"))
    assert [d["id"] for d in world.state.drafts()] == [draft]
    assert world.state.mails() == []
    world.graph.send_draft(ME, draft)
    with pytest.raises(NotFound) as caught:
        world.graph.send_draft(ME, draft)
    assert caught.value.status == 404 and not caught.value.retryable
    (sent,) = world.state.mails()
    assert sent["html"] == f"<p>{HOSTILE}</p>" and sent["subject"] == "Update"
    assert sent["headers"] == {"x-incident-desk-delivery": "incident/1/update/2"}
    assert sent["sender"] == ACTOR and world.state.drafts() == []


def test_five_hundred_recipients_pass_and_more_are_refused(world):
    many = [f"p{n}@example.com" for n in range(500)]
    draft = world.graph.create_draft(ME, mail(to=many[:1], cc=many[1:2], bcc=many[2:]))
    world.graph.send_draft(ME, draft)
    (sent,) = world.state.mails()
    assert len(sent["to"]) + len(sent["cc"]) + len(sent["bcc"]) == 500
    too_many = mail(bcc=[*many, "one.more@example.com"])
    with pytest.raises(InvalidRequest):
        world.graph.create_draft(ME, too_many)
    with pytest.raises(InvalidRequest):
        world.graph.send_mail(ME, too_many)
    with pytest.raises(InvalidRequest):
        world.graph.send_mail(ME, mail(to=[]))
    assert len(world.state.mails()) == 1 and world.state.drafts() == []


def test_one_shot_mail_from_a_shared_mailbox(world):
    world.graph.send_mail(Sender("incidents@example.com"),
                          mail(to=["b@example.com"], cc=["c@example.com"], delivery_key="K"))
    (sent,) = world.state.mails()
    assert sent["mailbox"] == "incidents@example.com" and sent["to"] == ["b@example.com"]
    assert sent["cc"] == ["c@example.com"]
    assert sent["headers"]["x-incident-desk-delivery"] == "K"


def test_an_event_with_a_transaction_id_is_created_once(world):
    request = EventRequest(subject="Review", start=START, end=START + timedelta(hours=1),
                           attendees=[Attendee("a@example.com", "A"),
                                      Attendee("b@example.com", required=False)],
                           body_html=f"<p>{HOSTILE}</p>", transaction_id="T1",
                           location="Room 1", categories=("Incident",))
    first = world.graph.create_event(ME, request)
    again = world.graph.create_event(ME, request)
    assert again.id == first.id and first.web_url and first.join_url.startswith("https://")
    assert first.subject == "Review"
    (stored,) = world.state.events()
    assert stored["transactionId"] == "T1"
    assert stored["start"]["dateTime"].startswith("2026-11-25T09:00:00")
    assert [a["type"] for a in stored["attendees"]] == ["required", "optional"]
    offline = world.graph.create_event(ME, EventRequest(
        subject="Other", start=START, end=START + timedelta(hours=1), online_meeting=False))
    assert offline.id != first.id and offline.join_url == ""
    assert len(world.state.events()) == 2


def test_an_online_meeting_is_created_or_got_by_external_id(world):
    end = START + timedelta(hours=8)
    meeting = world.graph.create_online_meeting(ME, "Command room", START, end, "E1")
    again = world.graph.create_online_meeting(ME, "Command room", START, end, "E1")
    other = world.graph.create_online_meeting(ME, "Command room", START, end, "E2")
    assert meeting.id == again.id != other.id
    assert meeting.join_url.startswith("https://") and meeting.subject == "Command room"
    assert sorted(m["externalId"] for m in world.state.meetings()) == ["E1", "E2"]


# ---- SharePoint ----------------------------------------------------------------------------


def test_ten_thousand_list_items_are_paged_through(world):
    world.state.seed_list("site", "list", [{"Title": f"P{n}", "Email": f"p{n}@x.org",
                                            "Tags": ["a", HOSTILE]} for n in range(10_000)])
    items = world.graph.list_items("site", "list", page_size=500)
    first = next(items)
    seeded = {"Title": "P0", "Email": "p0@x.org", "Tags": ["a", HOSTILE]}
    assert {k: first.fields.get(k) for k in seeded} == seeded  # and SharePoint's own
    assert first.id == "1" and first.etag
    titles = [first.fields["Title"]] + [item.fields["Title"] for item in items]
    assert titles == [f"P{n}" for n in range(10_000)]


def test_a_missing_list_is_not_found(world):
    with pytest.raises(NotFound):
        list(world.graph.list_items("site", "missing"))
    world.state.seed_list("site", "empty", [])
    assert list(world.graph.list_items("site", "empty")) == []


def test_a_small_file_is_uploaded_replaced_and_read(world):
    name, body = "INC-2026-0001 review.docx", b"one"
    first = world.graph.upload_file(DRIVE, "Incident reports", name, body)
    second = world.graph.upload_file(DRIVE, "/Incident reports/", name, b"two!")
    assert first.id == second.id and second.size == 4 and second.name == name
    assert second.web_url and second.etag
    assert world.graph.get_file(DRIVE, f"Incident reports/{name}") == b"two!"
    assert world.state.file_bytes(DRIVE, f"Incident reports/{name}") == b"two!"
    with pytest.raises(Conflict):
        world.graph.upload_file(DRIVE, "Incident reports", name, b"x", replace=False)
    assert world.graph.get_file(DRIVE, f"Incident reports/{name}") == b"two!"
    root = world.graph.upload_file(DRIVE, "", "top.txt", b"at the root")
    assert root.name == "top.txt" and world.graph.get_file(DRIVE, "top.txt") == b"at the root"


def test_reading_or_writing_what_does_not_exist_is_not_found(world):
    with pytest.raises(NotFound):
        world.graph.get_file(DRIVE, "Templates/missing.docx")
    with pytest.raises(NotFound):
        world.graph.upload_file("no-such-drive", "x", "y.txt", b"y")


def test_a_large_file_goes_through_an_upload_session(world):
    body = random.Random(7).randbytes(SIMPLE_UPLOAD_LIMIT * 2 + 12345)  # three chunks
    uploaded = world.graph.upload_file(DRIVE, "Reports", "big.docx", body)
    assert uploaded.size == len(body) and uploaded.name == "big.docx"
    assert world.graph.get_file(DRIVE, "Reports/big.docx") == body
    (stored,) = world.state.files(DRIVE)
    assert stored["upload_session"] is True and stored["size"] == len(body)
    again = world.graph.upload_file(DRIVE, "Reports", "big.docx", body[::-1])
    assert again.id == uploaded.id
    assert world.graph.get_file(DRIVE, "Reports/big.docx") == body[::-1]
    with pytest.raises(Conflict):
        world.graph.upload_file(DRIVE, "Reports", "big.docx", body, replace=False)


def open_in_word(world, path: str, **lock) -> None:
    """Someone opens the file for editing: the fake's own control, or the sandbox's."""
    if world.kind == "fake":
        world.graph.lock_file(DRIVE, path, **lock)
    else:
        from graph.sandbox.locks import lock_file

        lock_file(world.state, DRIVE, path, **lock)


def close_in_word(world, path: str) -> None:
    if world.kind == "fake":
        world.graph.unlock_file(DRIVE, path)
    else:
        from graph.sandbox.locks import unlock_file

        unlock_file(world.state, DRIVE, path)


def test_a_file_open_in_word_is_locked_until_it_is_closed(world):
    first = world.graph.upload_file(DRIVE, "Reports", "open.docx", b"one")
    open_in_word(world, "Reports/Open.docx", by="bob@example.com")
    with pytest.raises(Locked) as caught:
        world.graph.upload_file(DRIVE, "Reports", "open.docx", b"two")
    assert caught.value.status == 423 and caught.value.code == "notAllowed"
    assert not caught.value.retryable  # the outbox's minutes of backoff do not fit a lock
    big = b"x" * (SIMPLE_UPLOAD_LIMIT + 1)
    with pytest.raises(Locked):  # the upload session's last fragment is refused too
        world.graph.upload_file(DRIVE, "Reports", "open.docx", big)
    assert world.graph.get_file(DRIVE, "Reports/open.docx") == b"one"
    if world.kind == "client":  # the refused session was cancelled, not left to expire
        assert "upload" not in world.state.summary()
    world.graph.upload_file(DRIVE, "Reports", "other.docx", b"free")  # only that file
    close_in_word(world, "Reports/open.docx")
    again = world.graph.upload_file(DRIVE, "Reports", "open.docx", b"two")
    assert again.id == first.id and world.graph.get_file(DRIVE, "Reports/open.docx") == b"two"


def test_a_lock_that_has_run_out_no_longer_holds(world):
    world.graph.upload_file(DRIVE, "Reports", "left.docx", b"one")
    open_in_word(world, "Reports/left.docx", until=datetime.now(UTC) - timedelta(seconds=1))
    world.graph.upload_file(DRIVE, "Reports", "left.docx", b"two")
    assert world.graph.get_file(DRIVE, "Reports/left.docx") == b"two"


# ---- the client's own: HTTP, faults, threads, processes ----------------------------------


def requests_to(world, fragment: str, method: str | None = None) -> list[dict]:
    return [r for r in world.state.requests() if fragment in r["path"]
            and (method is None or r["method"] == method)]


def test_throttling_is_a_retryable_error_with_retry_after_and_no_hidden_retry(client_world):
    world = client_world
    channel = world.graph.create_channel(TEAM, "faults")
    world.faults.configure(retry_after=7)
    world.faults.fail_next(1, "429", "/messages")
    with pytest.raises(GraphError) as caught:
        world.graph.post_message(TEAM, channel.id, "x")
    assert caught.value.status == 429 and caught.value.retryable
    assert caught.value.retry_after == 7 and caught.value.code == "TooManyRequests"
    assert world.state.messages(channel_id=channel.id) == []
    assert len(requests_to(world, "/messages", "POST")) == 1  # the SDK did not retry


def test_an_outage_is_a_retryable_error(client_world):
    world = client_world
    world.faults.configure(retry_after=2)
    world.faults.fail_next(1, "503", "/channels")
    with pytest.raises(GraphError) as caught:
        world.graph.create_channel(TEAM, "down")
    assert caught.value.status == 503 and caught.value.retryable
    assert caught.value.retry_after == 2
    assert world.state.channels(TEAM) == [] and len(requests_to(world, "/channels")) == 1


def test_a_lost_response_is_retryable_though_graph_did_the_work(client_world):
    world = client_world
    channel = world.graph.create_channel(TEAM, "lost")
    world.faults.fail_next(1, "lost_response", "/messages")
    with pytest.raises(GraphError) as caught:
        world.graph.post_message(TEAM, channel.id, "x", [Card("k", card())])
    assert caught.value.retryable and caught.value.status == 504
    assert world.graph.find_message(TEAM, channel.id, "k") is not None


def test_a_hung_request_times_out_within_the_timeout_as_status_0(client_world):
    client_world.faults.configure(hang=3)
    client_world.faults.fail_next(1, "timeout", "/members")
    client = client_for(client_world.server, timeout=0.5)
    started = time.monotonic()
    with pytest.raises(GraphError) as caught:
        client.add_team_member(TEAM, "slow")
    assert caught.value.status == 0 and caught.value.retryable
    assert time.monotonic() - started < 1.5
    assert client.find_channel(TEAM, "anything") is None  # the loop is not stuck


def test_nobody_listening_is_status_0():
    from graph.client import GraphClient

    client = GraphClient("http://127.0.0.1:9/v1.0", lambda: "t", timeout=2)
    with pytest.raises(GraphError) as caught:
        client.find_channel(TEAM, "x")
    assert caught.value.status == 0 and caught.value.retryable


def test_no_token_is_refused_and_not_retryable(client_world):
    client = client_world.graph.__class__(client_world.server.graph_base_url, lambda: "")
    with pytest.raises(GraphError) as caught:
        client.find_channel(TEAM, "x")
    assert caught.value.status == 401 and not caught.value.retryable


def test_a_token_failure_is_raised_as_is_in_the_callers_thread(client_world):
    from graph.client import GraphClient
    from graph.port import TokenUnavailable

    threads = []
    bearer = client_world.state.token_for(ACTOR, CONTRACT_APP)

    def token():
        threads.append(threading.current_thread())
        if len(threads) > 1:
            raise TokenUnavailable("Ada must sign in again")
        return bearer

    client = GraphClient(client_world.server.graph_base_url, token)
    assert client.find_channel(TEAM, "x") is None
    with pytest.raises(TokenUnavailable):
        client.find_channel(TEAM, "x")
    assert threads == [threading.current_thread()] * 2


def test_list_pages_are_fetched_only_as_they_are_read(client_world):
    world = client_world
    world.state.seed_list("site", "list", [{"Title": str(n)} for n in range(1000)])
    items = world.graph.list_items("site", "list", page_size=100)
    assert requests_to(world, "/items") == []
    for _ in range(150):
        next(items)
    assert len(requests_to(world, "/items")) == 2
    assert sum(1 for _ in items) == 850 and len(requests_to(world, "/items")) == 10


def test_a_lost_chunk_is_resumed_from_next_expected_ranges(client_world):
    world = client_world
    body = random.Random(3).randbytes(SIMPLE_UPLOAD_LIMIT + 1)
    world.faults.fail_next(1, "lost_response", "/_upload/")
    world.graph.upload_file(DRIVE, "Reports", "resumed.docx", body)
    assert world.graph.get_file(DRIVE, "Reports/resumed.docx") == body
    chunks = requests_to(world, "/_upload/")
    assert [r["method"] for r in chunks] == ["PUT", "GET", "PUT"]
    assert all(r["bytes"] <= SIMPLE_UPLOAD_LIMIT for r in chunks)


def test_a_lost_last_chunk_still_gives_the_file(client_world, monkeypatch):
    world, graph = client_world, client_world.graph
    body = random.Random(4).randbytes(SIMPLE_UPLOAD_LIMIT + 99)
    send = graph._raw

    def lose_the_last_answer(method, url, content=None, headers=None):
        if method == "PUT" and headers["Content-Range"].endswith(f"/{len(body)}") and \
                headers["Content-Range"].split("-")[1].startswith(f"{len(body) - 1}/"):
            world.faults.fail_next(1, "lost_response", "/_upload/")
        return send(method, url, content, headers)

    monkeypatch.setattr(graph, "_raw", lose_the_last_answer)
    uploaded = graph.upload_file(DRIVE, "Reports", "last.docx", body)
    assert uploaded.size == len(body) and graph.get_file(DRIVE, "Reports/last.docx") == body
    assert [r["method"] for r in requests_to(world, "/_upload/")] == ["PUT", "PUT", "GET"]


def test_many_threads_share_one_loop(client_world):
    world = client_world
    channel = world.graph.create_channel(TEAM, "busy")
    errors = []

    def post(n):
        try:
            client_for(world.server).post_message(TEAM, channel.id, f"<p>{n}</p>")
        except Exception as error:  # collected, then asserted on below
            errors.append(error)

    threads = [threading.Thread(target=post, args=(n,)) for n in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(20)
    assert errors == [] and len(world.state.messages(channel_id=channel.id)) == 16
    assert [t.name for t in threading.enumerate()].count("graph-sdk-loop") == 1


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_the_client_works_in_a_forked_child(client_world):
    graph = client_world.graph
    graph.create_channel(TEAM, "before-fork")  # the parent's loop thread is running
    pid = os.fork()
    if pid == 0:  # the child: exit codes only, never back into pytest
        code = 3
        try:
            code = 0 if graph.find_channel(TEAM, "before-fork") else 1
            graph.create_channel(TEAM, "from-the-child")
        except BaseException:
            code = 2
        finally:
            os._exit(code)
    deadline = time.monotonic() + 20
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        if time.monotonic() > deadline:
            os.kill(pid, 9)
            pytest.fail("the forked child hung")
        time.sleep(0.02)
    assert os.waitstatus_to_exitcode(status) == 0
    assert graph.find_channel(TEAM, "from-the-child") is not None


def test_the_client_sends_graphs_documented_private_channel_bodies(client_world,
                                                                    monkeypatch):
    """Byte for byte what Create channel and Add member to channel document: the owner in
    `members` with @odata.type, user@odata.bind and roles; membershipType "private"."""
    from graph.sandbox import wire

    sent: list[tuple[str, dict]] = []
    body = wire.Ctx.body

    def recording(ctx):
        found = body(ctx)
        sent.append((ctx.request.path, json.loads(json.dumps(found))))
        return found

    monkeypatch.setattr(wire.Ctx, "body", recording)
    world = client_world
    world.graph.add_team_member(TEAM, "o'brien@example.com")
    world.graph.add_team_member(TEAM, "user-2")
    channel = world.graph.create_channel(TEAM, "sec-wire", "INC-9: Breach",
                                         private_owner="o'brien@example.com",
                                         co_owners=[ACTOR])
    world.graph.add_channel_member(TEAM, channel.id, "user-2")
    world.graph.add_channel_member(TEAM, channel.id, "user-2", owner=True)
    world.graph.create_channel(TEAM, "open-wire")
    bodies = [b for path, b in sent if "/channels" in path]
    member = "#microsoft.graph.aadUserConversationMember"
    assert bodies[0] == {
        "displayName": "sec-wire", "description": "INC-9: Breach", "membershipType": "private",
        "members": [{"@odata.type": member, "roles": ["owner"],
                     "user@odata.bind": "https://graph.microsoft.com/v1.0/users('o''brien"
                                        "@example.com')"},
                    {"@odata.type": member, "roles": ["owner"],
                     "user@odata.bind": f"https://graph.microsoft.com/v1.0/users('{ACTOR}')"}]}
    assert bodies[1] == {"@odata.type": member, "roles": [],
                         "user@odata.bind": "https://graph.microsoft.com/v1.0/users('user-2')"}
    assert bodies[2]["roles"] == ["owner"]
    assert bodies[3] == {"displayName": "open-wire", "membershipType": "standard"}
    assert [r["status"] for r in requests_to(world, "/channels", "POST")] == [201] * 4
    assert channel_members(world, channel.id) == \
        {"o'brien@example.com": ["owner"], ACTOR: ["owner"], "user-2": ["owner"]}


# ---- team members, and requests that change nothing (the set-up check) -----------------


def test_team_members_are_listed_with_their_roles(world):
    world.graph.add_team_member(TEAM, "lead@example.com")
    world.graph.add_team_member(TEAM, "owner@example.com", owner=True)
    members = {m.email or m.user_id: m for m in world.graph.list_team_members(TEAM)}
    assert {"lead@example.com", "owner@example.com"} <= set(members)
    assert members["owner@example.com"].is_owner
    assert not members["lead@example.com"].is_owner
    assert members["lead@example.com"].roles == ()
    with pytest.raises(NotFound):
        world.graph.list_team_members("no-such-team")


def test_a_post_without_body_is_refused_and_posts_nothing(world):
    channel = world.graph.create_channel(TEAM, "probe")
    with pytest.raises(InvalidRequest) as caught:
        world.graph.post_without_body(TEAM, channel.id)
    assert caught.value.status == 400
    with pytest.raises(NotFound):
        world.graph.post_without_body(TEAM, "19:missing@thread.tacv2")
    world.state.add_team_member(TEAM, ACTOR, owner=True)  # archiving needs an owner
    world.graph.archive_channel(TEAM, channel.id)
    with pytest.raises(GraphError) as archived:  # who may post comes before what is posted
        world.graph.post_without_body(TEAM, channel.id)
    assert archived.value.status == 403
    assert world.state.messages() == []


def test_an_invalid_draft_is_refused_and_saves_nothing(world):
    with pytest.raises(InvalidRequest) as caught:
        world.graph.create_invalid_draft(ME)
    assert caught.value.status == 400 and not caught.value.retryable
    assert world.state.drafts() == [] and world.state.mails() == []


def test_an_event_that_ends_before_it_starts_is_refused(world):
    backwards = EventRequest(subject="Check", start=START, end=START - timedelta(minutes=1))
    with pytest.raises(InvalidRequest):
        world.graph.create_event(ME, backwards)
    assert world.state.events() == []


def test_an_online_meeting_without_an_external_id_is_refused(world):
    with pytest.raises(InvalidRequest):
        world.graph.create_online_meeting(ME, "Check", START, START + timedelta(hours=1), "")
    assert world.state.meetings() == []


def test_a_cancelled_upload_session_makes_no_file(world):
    session = world.graph.start_upload_session(DRIVE, "Incident reports", "check.docx")
    assert session.upload_url
    world.graph.cancel_upload_session(session)
    assert world.state.files(DRIVE) == []
    with pytest.raises(NotFound):  # it has ended: nothing more can be sent to it
        world.graph.cancel_upload_session(session)
    world.graph.upload_file(DRIVE, "Incident reports", "taken.docx", b"x")
    with pytest.raises(Conflict):
        world.graph.start_upload_session(DRIVE, "Incident reports", "taken.docx")
    with pytest.raises(NotFound):
        world.graph.start_upload_session("no-such-drive", "", "check.docx")
    assert [f["name"] for f in world.state.files(DRIVE)] == ["taken.docx"]


def test_importing_the_client_does_not_import_msgraph():
    code = ("import sys, graph.client, graph.fake, graph.names; "
            "assert not any(m.split('.')[0] in ('msgraph', 'kiota_http', 'msgraph_core') "
            "for m in sys.modules), sorted(sys.modules)")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60,  # noqa: S603 - our code
                   cwd=os.path.dirname(os.path.dirname(os.path.dirname(__file__))))


def test_both_implement_every_port_method_with_its_signature():
    import inspect

    from graph.client import GraphClient
    from graph.fake import FakeGraph
    from graph.port import Graph

    wanted = {name: inspect.signature(member) for name, member in vars(Graph).items()
              if callable(member) and not name.startswith("_")}
    assert len(wanted) == 34
    for implementation in (FakeGraph, GraphClient):
        for name, signature in wanted.items():
            found = inspect.signature(getattr(implementation, name))
            assert [(p.name, p.default) for p in found.parameters.values()] == \
                [(p.name, p.default) for p in signature.parameters.values()], \
                f"{implementation.__name__}.{name}{found} is not Graph.{name}{signature}"


def test_finding_a_channel_asks_only_for_what_it_reads(client_world):
    """List channels with $select, as its reference page advises."""
    client_world.graph.create_channel(TEAM, "selected")
    assert client_world.graph.find_channel(TEAM, "SELECTED").display_name == "selected"
    (listing,) = requests_to(client_world, "/channels", "GET")
    assert "select=id,displayName,description,membershipType,webUrl,isArchived" in \
        unquote(listing["path"])


def test_listing_channels_shows_what_the_caller_may_see(world):
    world.graph.create_channel(TEAM, "one")
    world.graph.create_channel(TEAM, "two")
    assert sorted(c.display_name for c in world.graph.list_channels(TEAM)) == ["one", "two"]
