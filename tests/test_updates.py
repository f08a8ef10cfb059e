"""Status updates: one form, sent to the incident channel and by email, on the timeline."""

from __future__ import annotations

import json

from sqlalchemy import func, select

from app.contacts.models import Contact
from app.incidents.models import StatusUpdate, TimelineEntry
from app.outbox.models import Delivery
from tests.conftest import drain


def count(session, model) -> int:
    return session.scalar(select(func.count()).select_from(model))


def add_contacts(session, *rows):
    for number, (name, email, service, role, severities) in enumerate(rows):
        session.add(Contact(item_id=f"item-{number}", name=name, email=email, service=service,
                            role=role, severities=severities))
    session.commit()


def test_the_form_starts_from_the_template_for_the_current_stage(app, browser, fake_graph,
                                                                  frozen_clock):
    browser.sign_in()
    reference = browser.declare(new_services="Payments", severity="P2")
    page = browser.get(f"/incidents/{reference}/updates/new").get_data(as_text=True)
    assert "We are investigating reports that Payments" in page
    assert "We will update you by 11:00 GMT." in page  # a P2's 2 hours from 09:00 UTC
    page = browser.get(f"/incidents/{reference}/updates/new?phase=monitoring")
    assert "A fix has been put in place for the problem with Payments" in page.get_data(
        as_text=True)


def test_an_update_goes_to_the_channel_and_to_every_recipient_in_batches(
        app, browser, session, fake_graph, frozen_clock):
    browser.sign_in()
    reference = browser.declare(title="Slow checkout")
    people = "\n".join(f"person{n}@example.com" for n in range(1200))
    response = browser.submit(f"/incidents/{reference}/updates/new", data={
        "phase": "identified", "message": "We found the cause.", "to_channel": "y",
        "extra_recipients": people})
    assert response.status_code == 302, response.get_data(as_text=True)
    drain(app)
    update = session.scalar(select(StatusUpdate))
    assert len(update.recipients) == 1200 and update.to_channel
    mails = session.scalars(select(Delivery).where(Delivery.kind == "mail.send")
                            .order_by(Delivery.id)).all()
    # 500 recipients a message, one of them the sender in To.
    assert [len(d.payload["bcc"]) for d in mails] == [499, 499, 202]
    assert {d.status for d in session.scalars(select(Delivery))} == {"delivered"}
    sent = fake_graph.mails()
    assert len(sent) == 3
    assert sorted(address for m in sent for address in m["bcc"]) == sorted(
        f"person{n}@example.com" for n in range(1200))
    assert all(m["subject"] == f"[P2] {reference} Identified: Slow checkout" for m in sent)
    channel_id = session.scalar(select(Delivery).where(Delivery.kind == "teams.create_channel")
                                ).result["channel_id"]
    posts = fake_graph.messages(channel_id=channel_id)
    assert len(posts) == 2  # kickoff, then the update
    page = browser.get(f"/incidents/{reference}").get_data(as_text=True)
    assert "Update sent (identified) to the Teams channel and 1,200 people by email" in page


def test_user_text_in_an_update_is_escaped_in_email_and_plain_in_teams(
        app, browser, session, fake_graph, frozen_clock):
    hostile = '<script>alert("x")</script> & <b>bold</b>'
    browser.sign_in(name="Ann <img src=x onerror=alert(1)>")
    reference = browser.declare(title="T <i>itle</i>")
    browser.submit(f"/incidents/{reference}/updates/new", data={
        "phase": "investigating", "message": hostile, "to_channel": "y",
        "extra_recipients": "a@example.com"})
    drain(app)
    (sent,) = fake_graph.mails()
    assert "<script>" not in sent["html"] and "<img" not in sent["html"]
    escaped = "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; &lt;b&gt;bold&lt;/b&gt;"
    assert escaped in sent["html"]
    assert "T &lt;i&gt;itle&lt;/i&gt;" in sent["html"]
    posts = fake_graph.messages(
        channel_id=session.scalar(select(Delivery).where(
            Delivery.kind == "teams.create_channel")).result["channel_id"])
    # The kickoff and the update wait for the same channel: either may be posted first.
    cards = [json.loads(p["attachments"][0]["content"]) for p in posts]
    [card] = [c for c in cards if "Update" in json.dumps(c)]
    assert hostile in json.dumps(card, ensure_ascii=False).replace('\\"', '"')


def update_cards(session, fake_graph) -> list[dict]:
    channel_id = session.scalar(select(Delivery).where(
        Delivery.kind == "teams.create_channel")).result["channel_id"]
    cards = [json.loads(p["attachments"][0]["content"])
             for p in fake_graph.messages(channel_id=channel_id)]
    return [c for c in cards if "Update ·" in json.dumps(c, ensure_ascii=False)]


def test_a_long_update_says_in_teams_that_it_continues_and_links_to_all_of_it(
        app, browser, session, fake_graph, frozen_clock):
    browser.sign_in()
    reference = browser.declare()
    long = "Failover plan: " + "step by step. " * 120 + "Do not restart db-1."
    for message in ("Short and whole.", long):
        response = browser.submit(f"/incidents/{reference}/updates/new", data={
            "phase": "identified", "message": message, "to_channel": "y"})
        assert response.status_code == 302, response.get_data(as_text=True)
    drain(app)
    cards = update_cards(session, fake_graph)
    (short_card,) = [c for c in cards if "Short and whole." in json.dumps(c)]
    (long_card,) = [c for c in cards if "Failover plan" in json.dumps(c)]
    assert "continues" not in json.dumps(short_card)
    assert [a["title"] for a in short_card["actions"]] == ["Open in Incident Desk"]
    text = json.dumps(long_card)
    assert "Do not restart db-1." not in text  # cut short to fit the card...
    assert "This update continues in Incident Desk" in text  # ...and it says so
    (link,) = [a["url"] for a in long_card["actions"] if a["title"] == "Read the full update"]
    entry = session.scalar(select(TimelineEntry).where(
        TimelineEntry.kind == "status_update", TimelineEntry.text.like("%db-1.")))
    session.commit()
    assert link == f"http://incident-desk.test/incidents/{reference}?timeline=all" \
                   f"#entry-{entry.id}"
    page = browser.get(link.removeprefix("http://incident-desk.test")).get_data(as_text=True)
    assert f'id="entry-{entry.id}"' in page and "Do not restart db-1." in page


def test_bad_input_is_explained_and_nothing_is_lost_or_sent(app, browser, session, fake_graph,
                                                            frozen_clock):
    browser.sign_in()
    reference = browser.declare()
    drain(app)
    before = count(session, Delivery)
    response = browser.submit(f"/incidents/{reference}/updates/new", data={
        "phase": "identified", "message": "Keep this text", "to_channel": "",
        "extra_recipients": "ok@example.com, not-an-address, also bad@"})
    page = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "These are not email addresses: not-an-address, also bad@." in page
    assert "Keep this text" in page and "ok@example.com, not-an-address" in page
    response = browser.submit(f"/incidents/{reference}/updates/new", data={
        "phase": "identified", "message": "   ", "to_channel": "y"})
    assert response.status_code == 400 and "Enter the update." in response.get_data(
        as_text=True)
    response = browser.submit(f"/incidents/{reference}/updates/new", data={
        "phase": "identified", "message": "Nobody to tell", "to_channel": ""})
    assert "Choose at least one person to email" in response.get_data(as_text=True)
    response = browser.submit(f"/incidents/{reference}/updates/new", data={
        "phase": "sideways", "message": "x", "to_channel": "y"})
    assert response.status_code == 400
    assert count(session, StatusUpdate) == 0 and count(session, Delivery) == before


def test_p1_updates_always_include_the_roles_policy_names(app, browser, session, fake_graph,
                                                          frozen_clock):
    add_contacts(
        session,
        ("Dee Director", "dee@example.com", "", "Deputy director", []),
        ("Pam Payments", "pam@example.com", "Payments", "Product manager", []),
        ("Sid Search", "sid@example.com", "Search", "Service owner", []),
        ("Pat P2", "pat@example.com", "", "Engineer", ["P2"]),
        ("Una Unrelated", "una@example.com", "Search", "Engineer", []),
    )
    browser.sign_in()
    reference = browser.declare(severity="P1", new_services="Payments")
    page = browser.get(f"/incidents/{reference}/updates/new").get_data(as_text=True)
    assert "Always sent to these 2 people" in page
    assert "Dee Director" in page and "Sid Search" in page
    assert "Pam Payments (Product manager, Payments)" in page  # suggested, ticked
    assert "Una Unrelated" not in page and "Pat P2" not in page
    pam = session.scalar(select(Contact).where(Contact.email == "pam@example.com"))
    response = browser.submit(f"/incidents/{reference}/updates/new", data={
        "phase": "investigating", "message": "Looking", "contacts": [str(pam.id)],
        "extra_recipients": "extra@example.com"})
    assert response.status_code == 302
    update = session.scalar(select(StatusUpdate))
    assert sorted(update.recipients) == ["dee@example.com", "extra@example.com",
                                         "pam@example.com", "sid@example.com"]
    # Unticking everyone still sends to those policy requires.
    response = browser.submit(f"/incidents/{reference}/updates/new", data={
        "phase": "investigating", "message": "Again", "to_channel": ""})
    assert response.status_code == 302
    latest = session.scalars(select(StatusUpdate).order_by(StatusUpdate.id.desc())).first()
    assert sorted(latest.recipients) == ["dee@example.com", "sid@example.com"]


def test_updates_need_the_incident_to_be_visible_and_open(app, browser, other_browser,
                                                          session, fake_graph, frozen_clock):
    browser.sign_in()
    reference = browser.declare(is_security="y")
    other_browser.sign_in(name="Mallory", email="mallory@example.com")
    assert other_browser.get(f"/incidents/{reference}/updates/new").status_code == 404
    signed_out = app.test_client()
    assert signed_out.get(f"/incidents/{reference}/updates/new").status_code == 302
