"""People on an incident: hand-overs the new holder accepts, bringing people in, the
security team and security contacts, and the typed, editable scribe log."""

from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from app.auth.models import User
from app.contacts.models import Contact
from app.core import clock
from app.incidents.models import Incident, Participant, TimelineEntry
from app.incidents.rules import RuleError
from app.incidents.scribe import parse_when
from app.outbox.models import Delivery
from app.people.models import RoleHandover
from tests.conftest import drain

LONDON = ZoneInfo("Europe/London")


def user(session, email: str) -> User:
    return session.scalar(select(User).where(User.email == email))


def incident(session, reference: str) -> Incident:
    session.expire_all()
    return session.scalar(select(Incident).where(Incident.reference == reference))


def holders(session, reference: str) -> dict[str, str]:
    found = {k: a.user.name for k, a in incident(session, reference).current_roles().items()}
    session.commit()  # end the read: on SQLite it holds the write lock jobs need
    return found


@pytest.fixture
def bob(other_browser, session):
    other_browser.sign_in(name="Bob Ng", email="bob@example.com")
    return user(session, "bob@example.com")


def test_a_hand_over_waits_for_the_new_holder_to_accept(
        app, browser, other_browser, session, bob, fake_graph):
    browser.sign_in(name="Ada Lovelace")
    ref = browser.declare()
    drain(app)
    url = f"/incidents/{ref}"
    response = browser.submit(url, f"{url}/roles", {"role-role": "incident_lead",
                                                    "role-user": str(bob.id)})
    assert "keeps the role until they accept" in browser.get(
        response.location).get_data(as_text=True)
    assert holders(session, ref)["incident_lead"] == "Ada Lovelace"
    drain(app)
    # Bob hears by email and in the channel, with a link to the hand-over page.
    [mail] = [m for m in fake_graph.mails() if "bob@example.com" in m["to"]]
    assert "please take over as incident lead" in mail["subject"]
    assert f"{url}/handovers/1" in mail["html"]
    [card] = [str(m["attachments"]) for m in fake_graph.messages()
              if f"{url}/handovers/1" in str(m["attachments"])]
    # The email says "you"; the channel's card is read by everyone, so it names Bob.
    assert "asks you" in mail["html"] and "asks you" not in card
    assert "asks Bob Ng to take over as incident lead" in card

    page = other_browser.get(f"{url}/handovers/1").get_data(as_text=True)
    assert "Take over as incident lead?" in page and "Ada Lovelace" in page
    # Only Bob can accept.
    response = browser.submit(f"{url}/handovers/1", f"{url}/handovers/1/accept")
    assert response.status_code == 400
    assert "Only Bob Ng can accept" in response.get_data(as_text=True)
    response = other_browser.submit(f"{url}/handovers/1", f"{url}/handovers/1/accept")
    assert response.status_code == 302
    assert holders(session, ref)["incident_lead"] == "Bob Ng"
    texts = [e.text for e in incident(session, ref).timeline]
    assert "Bob Ng is now incident lead, taking over from Ada Lovelace" in texts
    assert session.scalar(select(RoleHandover.status)) == "accepted"


def test_a_declined_hand_over_leaves_the_role_and_tells_who_asked(
        app, browser, other_browser, session, bob, fake_graph):
    browser.sign_in(name="Ada Lovelace", email="ada@example.com")
    ref = browser.declare()
    url = f"/incidents/{ref}"
    browser.submit(url, f"{url}/roles", {"role-role": "incident_lead",
                                         "role-user": str(bob.id)})
    response = other_browser.submit(f"{url}/handovers/1", f"{url}/handovers/1/decline",
                                    {"decline-reason": "On leave from <5pm>"})
    assert response.status_code == 302
    drain(app)
    assert holders(session, ref)["incident_lead"] == "Ada Lovelace"
    [told] = [m for m in fake_graph.mails() if "ada@example.com" in m["to"]]
    assert "Bob Ng cannot take over as incident lead" in told["subject"]
    assert "On leave from &lt;5pm&gt;" in told["html"]
    page = browser.get(url).get_data(as_text=True)
    assert "Bob Ng declined to take over as incident lead" in page
    response = other_browser.submit(f"{url}/handovers/1", f"{url}/handovers/1/accept")
    assert "already declined" in response.get_data(as_text=True)


def test_the_asker_can_withdraw_and_a_new_request_replaces_the_old(
        app, browser, other_browser, session, bob):
    browser.sign_in(name="Ada Lovelace")
    carol = User(entra_oid="dev-carol", name="Carol", email="carol@example.com")
    session.add(carol)
    session.commit()
    ref = browser.declare()
    url = f"/incidents/{ref}"
    for person in (bob, carol):
        browser.submit(url, f"{url}/roles", {"role-role": "incident_lead",
                                             "role-user": str(person.id)})
    statuses = dict(session.execute(select(RoleHandover.id, RoleHandover.status)).all())
    assert statuses == {1: "cancelled", 2: "pending"}
    assert other_browser.submit(f"{url}/handovers/2", f"{url}/handovers/2/withdraw"
                                ).status_code == 400  # Bob neither asked nor holds it
    assert browser.submit(f"{url}/handovers/2", f"{url}/handovers/2/withdraw"
                          ).status_code == 302
    assert session.scalar(select(RoleHandover.status).where(RoleHandover.id == 2)) \
        == "cancelled"


def test_taking_a_role_yourself_or_filling_an_empty_one_is_immediate(
        app, browser, other_browser, session, bob):
    browser.sign_in(name="Ada Lovelace")
    ref = browser.declare()
    url = f"/incidents/{ref}"
    browser.submit(url, f"{url}/roles", {"role-role": "comms_lead", "role-user": str(bob.id)})
    assert holders(session, ref)["comms_lead"] == "Bob Ng"
    other_browser.submit(url, f"{url}/roles", {"role-role": "incident_lead",
                                               "role-user": str(bob.id)})
    assert holders(session, ref)["incident_lead"] == "Bob Ng"
    assert session.scalar(select(RoleHandover.id)) is None


def test_bringing_someone_in_adds_them_to_the_team_and_lets_them_see_it(
        app, browser, other_browser, session, fake_graph):
    browser.sign_in(name="Ada Lovelace")
    ref = browser.declare(title="Card data exposed", is_security="y")
    url = f"/incidents/{ref}"
    other_browser.sign_in(name="Bob Ng", email="bob@example.com")
    assert other_browser.get(url).status_code == 404
    real = User(entra_oid="3f2a0c9e-0000-4000-8000-000000000001", name="Dee Real",
                email="dee@example.com")
    session.add(real)
    session.commit()
    bob = user(session, "bob@example.com")
    for person in (bob, real):
        response = browser.submit(url, f"{url}/people", {"people-user": str(person.id)})
        assert response.status_code == 302
    assert other_browser.get(url).status_code == 200
    response = browser.submit(url, f"{url}/people", {"people-user": str(bob.id)})
    assert "already working on this incident" in response.get_data(as_text=True)
    drain(app)
    members = {m["userId"] for m in fake_graph.members("incident-team")}
    ada = user(session, "ada@example.com")
    assert {real.entra_oid, bob.entra_oid, ada.entra_oid} <= members
    # A security incident's channel is private: its people are added to it.
    channel = session.scalar(select(Delivery).where(Delivery.key == f"{ref}/channel"))
    assert channel.result["membership_type"] == "private"
    in_channel = {m["userId"] for m in fake_graph.channel_members(channel.result["channel_id"])}
    assert {ada.entra_oid, real.entra_oid, bob.entra_oid} <= in_channel
    assert {d.status for d in session.scalars(select(Delivery).where(Delivery.kind.in_(
        ["teams.add_member", "teams.add_channel_member"])))} == {"delivered"}


def test_the_security_team_sees_every_security_incident(app, browser, other_browser, session):
    browser.sign_in(name="Ada Lovelace")
    ref = browser.declare(title="Laptop stolen", is_security="y")
    other_browser.sign_in(name="Sam Secure", email="sam@example.com", security=True)
    assert other_browser.get(f"/incidents/{ref}").status_code == 200
    assert ref in other_browser.get("/incidents").get_data(as_text=True)


def test_security_contacts_are_told_at_once_and_nothing_else_leaks(
        app, browser, session, fake_graph):
    from dataclasses import replace

    app.extensions["installation"] = replace(app.extensions["installation"],
                                        security_emails=frozenset({"ciso@example.com"}))
    session.add_all([Contact(item_id="1", name="Dana DPO", email="dpo@example.org",
                             service="", role="DPO", severities=[], synced_at=clock.now()),
                     Contact(item_id="2", name="Ed Owner", email="ed@example.org",
                             service="", role="Service owner", severities=[],
                             synced_at=clock.now())])
    dana = User(entra_oid="dev-dana", name="Dana DPO", email="dpo@example.org")
    session.add(dana)
    session.commit()
    browser.sign_in(name="Ada Lovelace")
    ref = browser.declare(title="Customer records <exposed>", severity="P1", is_security="y")
    drain(app)
    [mail] = [m for m in fake_graph.mails() if "Security incident" in m["subject"]]
    # Bcc (app/m365/mail_plan.py): neither learns who else was told.
    assert set(mail["bcc"]) == {"ciso@example.com", "dpo@example.org"}
    assert "Customer records" not in mail["html"] + mail["subject"]  # details stay inside
    assert session.get(Participant, (incident(session, ref).id, dana.id)) is not None
    assert not [m for m in fake_graph.messages()
                if "Major incident declared" in str(m["attachments"])]  # no broadcast


# ---- the scribe log -------------------------------------------------------------------


def test_entries_are_typed_and_can_be_backdated(app, browser, session, frozen_clock):
    browser.sign_in()
    ref = browser.declare()
    url = f"/incidents/{ref}"
    response = browser.submit(url, f"{url}/notes", {"note-entry_type": "decision",
                                                    "note-text": "Roll back release 42",
                                                    "note-when": "08:55"})
    assert response.status_code == 302, response.get_data(as_text=True)
    entry = incident(session, ref).timeline[0]  # 08:55 sorts before the 09:00 declaration
    assert (entry.entry_type, entry.text) == ("decision", "Roll back release 42")
    assert entry.occurred_at.astimezone(LONDON).strftime("%H:%M") == "08:55"
    page = browser.get(url).get_data(as_text=True)
    assert "Decision" in page
    response = browser.submit(url, f"{url}/notes", {"note-text": "x", "note-when": "23:59"})
    assert "That time is in the future" in response.get_data(as_text=True)
    response = browser.submit(url, f"{url}/notes", {"note-text": "x", "note-when": "soon"})
    assert "Enter the time like 14:05" in response.get_data(as_text=True)
    response = browser.submit(url, f"{url}/notes", {"note-text": "x",
                                                    "note-entry_type": "gossip"})
    assert "Choose what kind of entry this is." in response.get_data(as_text=True)


def test_a_corrected_entry_keeps_what_it_said(app, browser, session, frozen_clock):
    browser.sign_in(name="Ada Lovelace")
    ref = browser.declare()
    url = f"/incidents/{ref}"
    browser.submit(url, f"{url}/notes", {"note-entry_type": "action",
                                         "note-text": "Bob to restart db-2"})
    entry = session.scalar(select(TimelineEntry).where(TimelineEntry.kind == "note"))
    edit = f"{url}/timeline/{entry.id}/edit"
    frozen_clock.advance(minutes=5)
    response = browser.submit(edit, data={"note-entry_type": "result",
                                          "note-text": "db-2 restarted <ok>",
                                          "note-when": "2026-11-22 09:00"})
    assert response.status_code == 302, response.get_data(as_text=True)
    session.expire_all()
    entry = session.get(TimelineEntry, entry.id)
    assert (entry.entry_type, entry.text) == ("result", "db-2 restarted <ok>")
    [old] = entry.edits
    assert (old.entry_type, old.text) == ("action", "Bob to restart db-2")
    page = browser.get(url).get_data(as_text=True)
    assert "show earlier versions" in page and "Bob to restart db-2" in page
    assert "db-2 restarted &lt;ok&gt;" in page
    response = browser.submit(edit, data={"note-entry_type": "result",
                                          "note-text": "db-2 restarted <ok>",
                                          "note-when": "2026-11-22 09:00"})
    assert "Nothing was changed." in browser.get(response.location).get_data(as_text=True)
    declared = session.scalar(select(TimelineEntry).where(TimelineEntry.kind == "declared"))
    assert browser.get(f"{url}/timeline/{declared.id}/edit").status_code == 404


def test_parse_when_reads_local_time_across_midnight_and_dst():
    from datetime import UTC, datetime

    now = datetime(2026, 10, 25, 0, 30, tzinfo=UTC)  # 01:30 BST, before the clocks go back
    assert parse_when("01:10", LONDON, now) == datetime(2026, 10, 25, 0, 10, tzinfo=UTC)
    assert parse_when("2026-10-24 23:40", LONDON, now) == datetime(2026, 10, 24, 22, 40,
                                                                   tzinfo=UTC)
    assert parse_when("", LONDON, now) is None
    with pytest.raises(RuleError, match="more than 30 days ago"):
        parse_when("2026-09-01 10:00", LONDON, now)
    assert parse_when("00:30", LONDON, now + timedelta(hours=1)).tzinfo is not None


def participant_ids(session, reference: str) -> set[int]:
    found = {p.user_id for p in session.scalars(select(Participant).where(
        Participant.incident_id == incident(session, reference).id))}
    session.commit()
    return found


def test_declining_an_offer_takes_back_the_access_it_gave(
        app, browser, other_browser, session, bob, fake_graph, monkeypatch):
    browser.sign_in(name="Ada Lovelace")
    ref = browser.declare(title="Card data exposed", is_security="y")
    drain(app)
    url = f"/incidents/{ref}"
    # Nothing is sent from here on: the membership work stays queued in the outbox.
    monkeypatch.setattr(app.extensions["jobs"], "enqueue", lambda *args, **kwargs: True)
    browser.submit(url, f"{url}/roles", {"role-role": "incident_lead",
                                         "role-user": str(bob.id)})
    assert bob.id in participant_ids(session, ref)
    member_work = select(Delivery).where(Delivery.key.in_(
        [f"{ref}/member/{bob.id}", f"{ref}/channel-member/{bob.id}"]))
    assert session.scalars(member_work).all()  # queued to join the team
    session.commit()
    assert other_browser.get(url).status_code == 200
    response = other_browser.submit(f"{url}/handovers/1", f"{url}/handovers/1/decline",
                                    {"decline-reason": "On leave"})
    assert response.status_code == 302
    assert bob.id not in participant_ids(session, ref)
    assert [(d.key, d.status) for d in session.scalars(member_work)] == []
    session.commit()
    assert other_browser.get(url).status_code == 404  # the offer was their only way in


def test_a_withdrawn_or_replaced_offer_keeps_those_with_another_reason(
        app, browser, other_browser, session, bob):
    browser.sign_in(name="Ada Lovelace")
    carol = User(entra_oid="dev-carol", name="Carol", email="carol@example.com")
    session.add(carol)
    session.commit()
    ref = browser.declare()
    url = f"/incidents/{ref}"
    browser.submit(url, f"{url}/people", {"people-user": str(bob.id)})  # brought in
    browser.submit(url, f"{url}/roles", {"role-role": "incident_lead",
                                         "role-user": str(carol.id)})
    browser.submit(url, f"{url}/roles", {"role-role": "incident_lead",
                                         "role-user": str(bob.id)})  # replaces Carol's
    assert carol.id not in participant_ids(session, ref)
    assert browser.submit(f"{url}/handovers/2", f"{url}/handovers/2/withdraw"
                          ).status_code == 302
    assert bob.id in participant_ids(session, ref)  # brought in before the offer
    browser.submit(url, f"{url}/roles", {"role-role": "comms_lead",
                                         "role-user": str(carol.id)})  # filled at once
    browser.submit(url, f"{url}/roles", {"role-role": "comms_lead",
                                         "role-user": str(bob.id)})
    other_browser.submit(f"{url}/handovers/3", f"{url}/handovers/3/decline", {})
    assert {bob.id, carol.id} <= participant_ids(session, ref)  # Carol holds a role


def test_declining_takes_them_out_of_the_private_channel_they_had_joined(
        sandbox_app, session, frozen_clock):
    """Through the real client and the sandbox: the offer's channel membership was
    delivered before they declined, so it is taken back (the team membership stays)."""
    from app.m365.sandbox_host import state_for
    from tests.conftest import Browser

    ada, bob = Browser(sandbox_app.test_client()), Browser(sandbox_app.test_client())
    ada.sign_in(name="Ada Lovelace", email="ada@example.com")
    bob.sign_in(name="Bob Ng", email="bob@example.com")
    ref = ada.declare(title="Card data exposed", is_security="y")
    drain(sandbox_app)
    url = f"/incidents/{ref}"
    bob_id = user(session, "bob@example.com").id
    session.commit()
    ada.submit(url, f"{url}/roles", {"role-role": "incident_lead", "role-user": str(bob_id)})
    drain(sandbox_app)
    state = state_for(sandbox_app.extensions["settings"].graph_sandbox_db)
    [channel] = [c for c in state.channels() if c["membershipType"] == "private"]

    def in_channel() -> set[str]:
        return {m["userId"] for m in state.channel_members(channel["id"])}

    assert "bob@example.com" in in_channel()  # the offer's membership was delivered
    response = bob.submit(f"{url}/handovers/1", f"{url}/handovers/1/decline",
                          {"decline-reason": "On leave"})
    assert response.status_code == 302
    drain(sandbox_app)
    assert "bob@example.com" not in in_channel()
    assert {"ada@example.com", "incident-desk@example.org"} <= in_channel()
    assert "bob@example.com" in {m["userId"] for m in state.members("incident-team")}
    session.expire_all()
    assert {d.status for d in session.scalars(select(Delivery).where(
        Delivery.kind == "teams.remove_channel_member"))} == {"delivered"}
    page = ada.get(url).get_data(as_text=True)
    assert "Bob Ng no longer in the private channel" in page
    ada.submit(url, f"{url}/people", {"people-user": str(bob_id)})  # brought back in
    drain(sandbox_app)
    assert "bob@example.com" in in_channel()


def test_brought_back_before_the_removal_is_sent_they_simply_stay(
        app, browser, other_browser, session, bob, fake_graph, monkeypatch):
    browser.sign_in(name="Ada Lovelace")
    ref = browser.declare(title="Card data exposed", is_security="y")
    drain(app)
    url = f"/incidents/{ref}"
    browser.submit(url, f"{url}/roles", {"role-role": "incident_lead",
                                         "role-user": str(bob.id)})
    drain(app)
    channel = session.scalar(select(Delivery).where(Delivery.key == f"{ref}/channel"))
    channel_id = channel.result["channel_id"]
    session.commit()
    assert bob.entra_oid in {m["userId"] for m in fake_graph.channel_members(channel_id)}
    monkeypatch.setattr(app.extensions["jobs"], "enqueue", lambda *args, **kwargs: True)
    other_browser.submit(f"{url}/handovers/1", f"{url}/handovers/1/decline", {})
    removal = select(Delivery.key, Delivery.status).where(
        Delivery.kind == "teams.remove_channel_member")
    assert session.execute(removal).all() == [
        (f"{ref}/channel-member/{bob.id}/removal/{added_id(session, ref, bob)}", "pending")]
    session.commit()
    browser.submit(url, f"{url}/people", {"people-user": str(bob.id)})
    assert session.execute(removal).all() == []  # withdrawn: the add is theirs again
    assert session.scalar(select(Delivery.status).where(
        Delivery.key == f"{ref}/channel-member/{bob.id}")) == "delivered"
    session.commit()
    monkeypatch.undo()
    drain(app)
    assert bob.entra_oid in {m["userId"] for m in fake_graph.channel_members(channel_id)}


def added_id(session, ref: str, person: User) -> int:
    return session.scalar(select(Delivery.id).where(
        Delivery.kind == "teams.add_channel_member",
        Delivery.key.startswith(f"{ref}/channel-member/{person.id}")))


def test_a_failed_removal_tried_again_after_they_were_brought_back_leaves_them_in(
        app, browser, other_browser, session, bob, fake_graph, monkeypatch):
    """The removal failed (Graph said no); Bob was brought in again and added afresh;
    then someone presses Try again on the old removal: he is working on it now, so it
    has nothing to do."""
    from graph.port import GraphError

    browser.sign_in(name="Ada Lovelace")
    ref = browser.declare(title="Card data exposed", is_security="y")
    drain(app)
    url = f"/incidents/{ref}"
    browser.submit(url, f"{url}/roles", {"role-role": "incident_lead",
                                         "role-user": str(bob.id)})
    drain(app)
    channel_id = session.scalar(select(Delivery).where(
        Delivery.key == f"{ref}/channel")).result["channel_id"]
    session.commit()

    def refused(*args, **kwargs):
        raise GraphError("Forbidden", status=403, code="Forbidden")

    monkeypatch.setattr(fake_graph, "remove_channel_member", refused)
    other_browser.submit(f"{url}/handovers/1", f"{url}/handovers/1/decline", {})
    drain(app)
    removal = session.scalar(select(Delivery).where(
        Delivery.kind == "teams.remove_channel_member"))
    assert removal.status == "failed"
    removal_id = removal.id
    session.commit()
    monkeypatch.undo()
    browser.submit(url, f"{url}/people", {"people-user": str(bob.id)})  # brought back in
    drain(app)
    assert bob.entra_oid in {m["userId"] for m in fake_graph.channel_members(channel_id)}
    response = browser.submit(url, f"{url}/deliveries/{removal_id}/retry", {})
    assert response.status_code == 302
    drain(app)
    assert bob.entra_oid in {m["userId"] for m in fake_graph.channel_members(channel_id)}
    session.expire_all()
    assert session.get(Delivery, removal_id).status == "cancelled"
