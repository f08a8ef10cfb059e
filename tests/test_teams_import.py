"""Teams channel messages into the timeline: read as the person asking, chosen by hand,
imported once each, at the time they were posted, as text."""

from __future__ import annotations

import time

from sqlalchemy import select

from app.incidents.models import TimelineEntry
from app.m365.models import ChannelMessageCopy, TeamsChannel
from app.m365.teams_import import plain
from app.outbox.models import Delivery
from tests.conftest import drain


def test_chosen_messages_go_on_the_timeline_once(app, browser, session, fake_graph,
                                                 frozen_clock):
    browser.sign_in(name="Ada Lovelace")
    reference = browser.declare(title="Search slow")
    drain(app)
    channel = session.scalar(select(TeamsChannel))
    session.commit()
    frozen_clock.advance(minutes=5)
    fake_graph.post_message(channel.team_id, channel.channel_id,
                            "<p>db-2 CPU at 100% <b>since 08:50</b></p>")
    frozen_clock.advance(minutes=3)
    fake_graph.post_message(channel.team_id, channel.channel_id,
                            "<p>Restarting &lt;db-2&gt; now</p><script>x()</script>")
    url = f"/incidents/{reference}/teams-messages"
    assert "No messages read yet." in browser.get(url).get_data(as_text=True)
    response = browser.submit(url, f"{url}/fetch")
    assert response.status_code == 302
    drain(app)
    read = session.scalar(select(Delivery).where(Delivery.kind == "teams.read_channel"))
    assert read.status == "delivered" and read.result["new"] >= 2, read.result
    session.commit()
    page = browser.get(url).get_data(as_text=True)
    assert "db-2 CPU at 100% since 08:50" in page
    assert "Restarting &lt;db-2&gt; now" in page and "<script>" not in page

    copy = session.scalar(select(ChannelMessageCopy).where(
        ChannelMessageCopy.text.like("Restarting%")))
    session.commit()
    response = browser.submit(url, data={"messages": [str(copy.id)]})
    assert response.status_code == 302, response.get_data(as_text=True)
    entry = session.scalar(select(TimelineEntry).where(TimelineEntry.kind == "teams_message"))
    assert entry.text.endswith(" in Teams: Restarting <db-2> now")
    assert entry.occurred_at == copy.sent_at and entry.entry_type == "event"
    session.commit()
    # Already imported: not offered again, and a second import is refused.
    response = browser.submit(url, data={"messages": [str(copy.id)]})
    assert response.status_code == 400
    # Reading again stores nothing twice.
    browser.submit(url, f"{url}/fetch")
    drain(app)
    assert session.scalar(select(Delivery.result).where(
        Delivery.kind == "teams.read_channel").order_by(Delivery.id.desc()))["new"] == 0


def test_replies_are_read_and_offered_under_their_post(app, browser, session, fake_graph):
    browser.sign_in(name="Ada Lovelace")
    reference = browser.declare(title="Search slow")
    drain(app)
    channel = session.scalar(select(TeamsChannel))
    team, channel_id = channel.team_id, channel.channel_id
    session.commit()
    post = fake_graph.post_message(team, channel_id, "<p>Who is looking at db-2?</p>")
    time.sleep(0.01)  # the fake dates messages by the real clock, to the millisecond
    fake_graph.post_message(team, channel_id, "<p>Status page updated</p>")
    time.sleep(0.01)
    fake_graph.actor = "Bob Ng"
    fake_graph.reply(team, channel_id, post.id, "<p>Me: failing over to db-3</p>")
    url = f"/incidents/{reference}/teams-messages"
    browser.submit(url, f"{url}/fetch")
    drain(app)
    page = browser.get(url).get_data(as_text=True)
    order = [page.index(text) for text in ("Who is looking at db-2?", "Bob Ng</strong> replied",
                                           "Me: failing over to db-3", "Status page updated")]
    assert order == sorted(order), "the reply is shown under its post, before later posts"

    reply = session.scalar(select(ChannelMessageCopy).where(
        ChannelMessageCopy.text.like("Me:%")))
    assert reply.reply_to_id == post.id and reply.sender == "Bob Ng"
    session.commit()
    response = browser.submit(url, data={"messages": [str(reply.id)]})
    assert response.status_code == 302, response.get_data(as_text=True)
    entry = session.scalar(select(TimelineEntry).where(TimelineEntry.kind == "teams_message"))
    assert entry.text == "Bob Ng replied in Teams: Me: failing over to db-3"
    assert entry.occurred_at == reply.sent_at and entry.data["reply_to_id"] == post.id


def test_nothing_chosen_is_a_clear_error(app, browser, fake_graph):
    browser.sign_in()
    reference = browser.declare()
    drain(app)
    url = f"/incidents/{reference}/teams-messages"
    browser.submit(url, f"{url}/fetch")
    drain(app)
    response = browser.submit(url, data={})
    assert response.status_code == 400


def test_plain_text_from_teams_html():
    assert plain("<div><p>One &amp; two</p><p>three<br>four</p></div>") == \
        "One & two\nthree\nfour"
    assert plain("<at id=\"0\">Ada</at> look") == "Ada look"
    assert plain("<p>a</p><script>alert(1)</script><style>p{}</style>") == "a"
