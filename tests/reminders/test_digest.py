"""Reminders due together for one person and incident go as one email and one Teams post
listing each; every reminder is in exactly one notice, none twice, none dropped; the
working-hours rule still holds. Runs the minute's job against the app and a FakeGraph.

Dates: November 2026, London on GMT, so local equals UTC; 2026-11-24 is a Tuesday.
"""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from app.auth.models import User
from app.incidents import service
from app.jobs import send_reminders, sweep_outbox
from app.m365 import notices
from app.outbox.models import Delivery
from app.people import service as people
from app.reminders import digest
from app.reminders import service as reminders
from app.reminders.models import SentReminder
from app.reminders.schedule import due
from graph.port import GraphError
from tests.conftest import drain

TUE_17 = datetime(2026, 11, 24, 17, 0, tzinfo=UTC)


def person(session, name: str, email: str) -> User:
    user = session.scalar(select(User).where(User.email == email))
    if user is None:
        user = User(entra_oid=f"dev-{email}", name=name, email=email)
        session.add(user)
        session.commit()
    return user


def declare(app, session, org, clock, when, severity="P1", title="Checkout down"):
    clock.value = when
    ada = person(session, "Ada Lovelace", "ada@example.com")
    with app.app_context():
        reference = service.declare(session, org, ada, title=title, description="",
                                    severity=severity,
                                    effects=app.extensions["effects"]).reference
    session.commit()
    return service.get_for(session, ada, reference)


def run(app) -> int:
    with app.app_context():
        return send_reminders()


def rows(session) -> list[SentReminder]:
    session.expire_all()
    found = list(session.scalars(select(SentReminder).order_by(SentReminder.id)))
    session.commit()
    return found


def reminder_deliveries(session) -> list[Delivery]:
    session.expire_all()
    found = list(session.scalars(select(Delivery).where(
        Delivery.key.contains("/reminders/")).order_by(Delivery.id)))
    session.commit()
    return found


def card_texts(message: dict) -> list[str]:
    """The TextRuns and link titles of a posted card, in order."""
    found = []

    def walk(node):
        if isinstance(node, dict):
            if node.get("type") == "TextRun":
                found.append(node["text"])
            if node.get("type") == "Action.OpenUrl":
                found.append(f"{node['title']} -> {node['url']}")
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    for attachment in message["attachments"]:
        walk(json.loads(attachment["content"]))
    return found


def test_reminders_due_together_go_as_one_email_and_one_post_listing_each(
        app, session, org, fake_graph, frozen_clock):
    incident = declare(app, session, org, frozen_clock, TUE_17)
    drain(app)
    frozen_clock.advance(minutes=10)
    assert run(app) == 1  # the empty comms lead role, on its own
    frozen_clock.advance(minutes=20)  # 17:30: summary and escalation due; the role's
    assert run(app) == 3  # repeat (due 17:40) rides along with them
    drain(app)
    group = [r for r in rows(session) if r.sent_at == frozen_clock.value]
    assert sorted(r.kind for r in group) == ["escalate", "role_unfilled", "summary"]
    assert len({r.notice_key for r in group}) == 1 and group[0].notice_key
    assert {r.to for r in group} == {"Ada Lovelace"}

    mails = [m for m in fake_graph.mails() if "3 reminders" in m["subject"]]
    assert len(mails) == 1
    [mail] = mails
    assert mail["to"] == ["ada@example.com"]
    assert mail["subject"] == (f"{incident.reference} 3 reminders: Consider escalating; "
                               "Time for a summary; A required role is not filled")
    url = f"http://incident-desk.test/incidents/{incident.reference}"
    for r in group:
        assert r.text in mail["html"]
    assert mail["html"].count("<li") == 3
    for link in (f'href="{url}#people"', f'href="{url}#timeline"', f'href="{url}#roles"'):
        assert link in mail["html"]

    posts = [m for m in fake_graph.messages()
             if "3 reminders about" in m["body"]["content"]]
    assert len(posts) == 1
    texts = card_texts(posts[0])
    assert texts[:2] == [f"3 reminders about {incident.reference}", "For Ada Lovelace"]
    for r in group:
        assert r.text in texts
        assert digest.TITLES[r.kind] in texts
    assert f"Assign the role -> {url}#roles" in texts
    assert f"Add a summary to the timeline -> {url}#timeline" in texts
    frozen_clock.advance(minutes=10)  # 17:40: the repeat that rode along is not sent again
    assert run(app) == 0


def test_one_reminder_alone_reads_as_before(app, session, org, fake_graph, frozen_clock):
    incident = declare(app, session, org, frozen_clock, TUE_17)
    drain(app)
    frozen_clock.advance(minutes=10)
    assert run(app) == 1
    drain(app)
    [mail] = [m for m in fake_graph.mails() if "required role" in m["subject"]]
    assert mail["subject"] == f"{incident.reference} A required role is not filled"
    assert mail["html"].count("A required role is not filled") == 1  # a heading, once
    assert "still has no Comms lead" in mail["html"] and "Assign the role" in mail["html"]
    [post] = [m for m in fake_graph.messages() if "A required role" in m["body"]["content"]]
    texts = card_texts(post)
    assert texts.count("A required role is not filled") == 1


@pytest.mark.slow
def test_an_unattended_p1_overnight_loses_no_reminder_and_repeats_none(
        app, session, org, fake_graph, frozen_clock):
    """Every key the playbook rules make due from 17:00 to 23:00 (all six kinds; the
    bench runs the whole night) is sent, in exactly one notice, and each notice is one
    email and one post listing exactly its reminders."""
    # About grouping, not pacing (tests/test_pacing.py): paced posts wait in real time
    # for a frozen clock's evening, and RQ's drain would end before they are due.
    app.extensions["pacer"] = None
    incident = declare(app, session, org, frozen_clock, TUE_17)
    drain(app)
    policy = reminders.policy_from(app.extensions["settings"])
    expected = set()
    while frozen_clock.value <= datetime(2026, 11, 24, 23, 0, tzinfo=UTC):
        session.expire_all()
        facts = reminders.facts_for(session, org, session.get(type(incident), incident.id))
        expected |= {r.key for r in due(facts, frozen_clock.value, policy)}
        session.commit()
        run(app)
        frozen_clock.advance(minutes=1)
    drain(app)
    sent = rows(session)
    keys = [r.key for r in sent]
    assert len(keys) == len(set(keys))  # none twice
    assert expected <= set(keys)  # none dropped
    assert set(keys) - expected <= {r.key for r in sent if r.due_at > frozen_clock.value
                                    - timedelta(minutes=1)}  # only ride-alongs ahead of 09:00
    notices_sent = Counter(r.notice_key for r in sent)
    assert None not in notices_sent
    mails = fake_graph.mails()
    posts = [m for m in fake_graph.messages() if "For Ada Lovelace" in card_texts(m)]
    assert len(mails) == len(notices_sent) == len(posts)
    assert set(Counter(r.kind for r in sent)) == set(digest.TITLES)
    assert len(mails) < len(sent) / 2  # fewer than half as many emails as reminders
    deliveries = {d.key: d for d in reminder_deliveries(session)}
    assert Counter(m["html"] for m in mails) == Counter(
        d.payload["html"] for d in deliveries.values() if d.kind == "mail.send")
    by_notice = {}
    for r in sent:
        by_notice.setdefault(r.notice_key, []).append(r)
    for key, members in by_notice.items():
        email = deliveries[f"{key}/mail/1"]
        assert email.status == "delivered"
        assert email.payload["html"].count("<li") == len(members)
        for r in members:
            assert r.text in email.payload["html"]
        assert deliveries[f"{key}/teams"].status == "delivered"
    night = [k for k, members in by_notice.items() if members[0].sent_at.hour >= 18]
    assert len(night) <= 2 * 5 + 1  # at most two an hour, the floor of a 30-minute prompt


def test_a_second_run_in_the_same_minute_sends_nothing(app, session, org, fake_graph,
                                                        frozen_clock):
    declare(app, session, org, frozen_clock, TUE_17)
    frozen_clock.advance(minutes=30)  # the role's 17:10 and 17:40, summary, escalation
    assert run(app) == 4
    before = len(reminder_deliveries(session))
    assert run(app) == 0
    assert len(reminder_deliveries(session)) == before == 2  # one email, one post
    drain(app)
    [mail] = [m for m in fake_graph.mails() if "reminders:" in m["subject"]]
    assert mail["html"].count("<li") == 3  # the role's two due times say the same: once
    assert mail["html"].count("still has no Comms lead") == 1


def test_a_failed_run_leaves_no_half_group_and_the_next_sends_it_whole(
        app, session, org, fake_graph, frozen_clock, monkeypatch):
    declare(app, session, org, frozen_clock, TUE_17)
    frozen_clock.advance(minutes=30)
    real = notices.notify_list

    def broken(*args, **kwargs):
        raise RuntimeError("the database went away mid-run")

    monkeypatch.setattr(notices, "notify_list", broken)
    with pytest.raises(RuntimeError):
        run(app)
    session.rollback()
    assert rows(session) == [] and reminder_deliveries(session) == []
    monkeypatch.setattr(notices, "notify_list", real)
    frozen_clock.advance(minutes=1)
    assert run(app) == 4
    assert len({r.notice_key for r in rows(session)}) == 1


def test_a_reminder_a_peer_already_sent_is_in_no_second_group(
        app, session, org, fake_graph, frozen_clock):
    """Two overlapping sweeps: the other one won the summary; ours lists the rest only."""
    incident = declare(app, session, org, frozen_clock, TUE_17)
    frozen_clock.advance(minutes=30)
    peer = SentReminder(incident_id=incident.id, key="summary:2026-11-24T17:30:00+00:00",
                        kind="summary", due_at=frozen_clock.value, text="sent by a peer",
                        to="Ada Lovelace", notice_key="peer")
    session.add(peer)
    session.commit()
    assert run(app) == 3
    drain(app)
    ours = [r for r in rows(session) if r.notice_key != "peer"]
    assert sorted(r.kind for r in ours) == ["escalate", "role_unfilled", "role_unfilled"]
    [mail] = [m for m in fake_graph.mails() if "2 reminders" in m["subject"]]
    assert "summary" not in mail["subject"].lower()


class FailsOnce:
    """The FakeGraph, but the first Teams post is made and its answer lost (a timeout),
    and the first email attempt fails with a 503, as Graph and networks do."""

    def __init__(self, graph):
        self.graph, self.failed = graph, set()

    def __getattr__(self, name):
        target = getattr(self.graph, name)
        if name not in ("post_message", "send_mail", "create_draft") or not callable(target):
            return target

        def call(*args, **kwargs):
            kind = "post" if name == "post_message" else "mail"
            if kind in self.failed:
                return target(*args, **kwargs)
            self.failed.add(kind)
            if kind == "post":
                target(*args, **kwargs)
                raise GraphError("Gateway timeout", status=504)
            raise GraphError("Service unavailable", status=503)

        return call


def test_a_retried_delivery_never_sends_a_group_twice(app, session, org, fake_graph,
                                                      frozen_clock):
    declare(app, session, org, frozen_clock, TUE_17)
    drain(app)  # the channel and kickoff exist
    flaky = FailsOnce(fake_graph)
    app.extensions["graph_for"] = lambda delivery: flaky
    frozen_clock.advance(minutes=30)
    assert run(app) == 4
    drain(app)
    for _ in range(5):  # the outbox retries what failed, on its own schedule
        frozen_clock.advance(minutes=2)
        with app.app_context():
            sweep_outbox()
        drain(app)
    assert flaky.failed == {"post", "mail"}
    assert {d.status for d in reminder_deliveries(session)} == {"delivered"}
    assert len([m for m in fake_graph.mails() if "3 reminders" in m["subject"]]) == 1
    assert len([m for m in fake_graph.messages()
                if "3 reminders about" in m["body"]["content"]]) == 1


def test_each_recipient_gets_their_own_notice(app, session, org, fake_graph, frozen_clock):
    wed_11 = datetime(2026, 11, 25, 11, 0, tzinfo=UTC)
    incident = declare(app, session, org, frozen_clock, wed_11)
    bob = person(session, "Bob Comms", "bob@example.com")
    ada = person(session, "Ada Lovelace", "ada@example.com")
    people.assign_or_offer(session, org, app.extensions["effects"], ada, incident, "comms_lead",
                           bob)
    frozen_clock.value = wed_11 + timedelta(hours=1)  # update (Bob); summary and
    assert run(app) == 3  # escalation (Ada)
    drain(app)
    sent = {r.kind: r for r in rows(session)}
    assert sent["update"].to == "Bob Comms" and sent["summary"].to == "Ada Lovelace"
    assert sent["escalate"].notice_key == sent["summary"].notice_key
    assert sent["update"].notice_key != sent["summary"].notice_key
    [to_bob] = [m for m in fake_graph.mails() if m["to"] == ["bob@example.com"]]
    assert "status update" in to_bob["html"] and "summary" not in to_bob["html"]
    [to_ada] = [m for m in fake_graph.mails() if m["to"] == ["ada@example.com"]
                and "summary" in m["subject"].lower()]
    assert "status update" not in to_ada["html"]


def test_user_written_text_is_escaped_in_the_email_and_kept_plain_in_the_card(
        app, session, org, fake_graph, frozen_clock):
    title = 'Pay <script>alert(1)</script> & "cards"'
    incident = declare(app, session, org, frozen_clock, TUE_17, title=title)
    ada = person(session, "Ada Lovelace", "ada@example.com")
    odd = person(session, "<b>Eve</b> & co", "eve@example.com")
    people.assign_or_offer(session, org, app.extensions["effects"], ada, incident, "tech_lead",
                           odd)
    drain(app)
    frozen_clock.value = TUE_17 + timedelta(hours=2)  # Eve's hand-over prompt, at 19:00
    run(app)
    drain(app)
    [mail] = [m for m in fake_graph.mails() if m["to"] == ["eve@example.com"]]
    assert "<script>" not in mail["html"] and "<b>Eve" not in mail["html"]
    assert "&lt;b&gt;Eve&lt;/b&gt; &amp; co" in mail["html"]
    assert "Pay &lt;script&gt;alert(1)&lt;/script&gt; &amp; &#34;cards&#34;" in mail["html"]
    posts = [m for m in fake_graph.messages()
             if any("<b>Eve</b> & co has been" in t for t in card_texts(m))]
    assert len(posts) == 1
    assert "<b>Eve" not in posts[0]["body"]["content"]


@pytest.mark.slow
def test_out_of_hours_a_minor_incident_stays_quiet_and_nothing_rides_across_18_00(
        app, session, org, fake_graph, frozen_clock):
    """A P3 declared Tuesday 17:20: the empty role reminds at 17:30, the summary at 17:50;
    the role's 18:00 repeat is held to Wednesday 10:00, so it does not ride along at 17:50,
    and nothing at all is sent overnight."""
    declare(app, session, org, frozen_clock, datetime(2026, 11, 24, 17, 20, tzinfo=UTC),
            severity="P3")
    sent_at = []
    while frozen_clock.value <= datetime(2026, 11, 25, 10, 0, tzinfo=UTC):
        if run(app):
            sent_at.append(frozen_clock.value)
        frozen_clock.advance(minutes=1)
    assert [t.strftime("%d %H:%M") for t in sent_at] == ["24 17:30", "24 17:50", "25 10:00"]
    by_time = {}
    for r in rows(session):
        by_time.setdefault(r.sent_at.strftime("%d %H:%M"), []).append(r.kind)
    assert sorted(by_time["24 17:50"]) == ["escalate", "summary"]
    morning = by_time["25 10:00"]
    assert "role_unfilled" in morning and "summary" in morning and len(morning) >= 3
    morning_rows = [r for r in rows(session) if r.sent_at.hour == 10]
    assert len({r.notice_key for r in morning_rows}) == 1  # one morning notice, not a pile


def test_a_snoozed_reminder_never_rides_ahead_of_its_snooze(app, session, org, fake_graph,
                                                            frozen_clock):
    """Snoozed at 17:10 for an hour, the empty-role prompt is due again at 18:10; the
    18:00 notice (summary and update) must not carry it ten minutes early."""
    incident = declare(app, session, org, frozen_clock, TUE_17)
    ada = person(session, "Ada Lovelace", "ada@example.com")
    while frozen_clock.value <= datetime(2026, 11, 24, 18, 15, tzinfo=UTC):
        run(app)
        if frozen_clock.value == datetime(2026, 11, 24, 17, 10, tzinfo=UTC):
            reminders.snooze(session, ada, incident, "role_unfilled", 60)
        frozen_clock.advance(minutes=1)
    roles = [r for r in rows(session) if r.kind == "role_unfilled"]
    assert [r.sent_at.strftime("%H:%M") for r in roles] == ["17:10", "18:10"]
    at_six = [r.kind for r in rows(session) if r.sent_at.strftime("%H:%M") == "18:00"]
    assert sorted(at_six) == ["summary", "update"]
