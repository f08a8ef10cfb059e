"""Resolving books the review meeting in Outlook with the right people; the review page
records the facilitator (warned if involved), the note-taker and who came."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

from sqlalchemy import select

from app.auth.models import User
from app.contacts.models import Contact
from app.core import clock
from app.incidents.models import TimelineEntry
from app.reminders.schedule import WorkingHours
from app.review_meetings.models import ReviewMeeting
from app.review_meetings.service import meeting_time
from tests.conftest import drain


def test_the_meeting_is_two_working_days_later_at_two():
    hours = WorkingHours()
    friday = datetime(2026, 11, 27, 16, 0, tzinfo=UTC)
    assert meeting_time(friday, hours) == datetime(2026, 12, 1, 14, 0, tzinfo=UTC)  # Tuesday
    summer = datetime(2026, 7, 1, 9, 0, tzinfo=UTC)  # Wednesday, BST
    assert meeting_time(summer, hours) == datetime(2026, 7, 3, 13, 0, tzinfo=UTC)


def test_resolving_books_the_meeting_once_with_the_right_people(
        app, browser, other_browser, session, fake_graph, frozen_clock):
    frozen_clock.value = datetime(2026, 11, 23, 11, 0, tzinfo=UTC)  # Monday
    session.add_all([
        Contact(item_id="1", name="Dev Manager", email="dm@example.org", service="",
                role="Delivery manager", severities=[], synced_at=clock.now()),
        Contact(item_id="2", name="Pat Product", email="pm@example.org", service="Payments",
                role="Product manager", severities=[], synced_at=clock.now()),
        Contact(item_id="3", name="Sam Search", email="pm2@example.org", service="Search",
                role="Product manager", severities=[], synced_at=clock.now())])
    session.commit()
    other_browser.sign_in(name="Bob Ng", email="bob@example.com")
    browser.sign_in(name="Ada Lovelace", email="ada@example.com")
    reference = browser.declare(title="Card payments <down>", new_services="Payments")
    bob = session.scalar(select(User).where(User.email == "bob@example.com"))
    session.commit()
    url = f"/incidents/{reference}"
    browser.submit(url, f"{url}/roles", {"role-role": "comms_lead", "role-user": str(bob.id)})
    for status in ("resolved", "identified", "resolved"):  # reopened and resolved again
        browser.submit(url, f"{url}/status", {"status-status": status, "status-note": "x"})
    drain(app)
    [event] = fake_graph.events()
    assert event["subject"] == f"Post-incident review: {reference} Card payments <down>"
    assert event["start"]["dateTime"].startswith("2026-11-25T14:00")  # Wednesday, GMT
    assert {a["emailAddress"]["address"] for a in event["attendees"]} == {
        "ada@example.com", "bob@example.com", "dm@example.org", "pm@example.org"}
    assert event["onlineMeeting"]["joinUrl"]
    page = browser.get(f"{url}/review").get_data(as_text=True)
    assert "join in Teams" in page and "Dev Manager (delivery manager)" in page


def test_the_facilitator_should_not_have_been_involved(app, browser, session, fake_graph):
    browser.sign_in(name="Ada Lovelace", email="ada@example.com")
    reference = browser.declare()
    url = f"/incidents/{reference}"
    browser.submit(url, f"{url}/status", {"status-status": "resolved", "status-note": "x"})
    fay = User(entra_oid="dev-fay", name="Fay Neutral", email="fay@example.com")
    session.add(fay)
    session.commit()
    ada = session.scalar(select(User).where(User.email == "ada@example.com"))
    session.commit()
    response = browser.submit(f"{url}/review", f"{url}/review/meeting", {
        "meeting-facilitator": str(ada.id), "meeting-note_taker": "0",
        "meeting-attended": ["ada@example.com"]})
    page = browser.get(response.location).get_data(as_text=True)
    assert "Ada Lovelace worked on this incident" in page
    response = browser.submit(f"{url}/review", f"{url}/review/meeting", {
        "meeting-facilitator": str(fay.id), "meeting-note_taker": "0",
        "meeting-attended": ["someone@else.org"]})  # not invited: refused, nothing saved
    assert "Choose people from the lists." in browser.get(response.location).get_data(
        as_text=True)
    browser.submit(f"{url}/review", f"{url}/review/meeting", {
        "meeting-facilitator": str(fay.id), "meeting-note_taker": str(ada.id),
        "meeting-attended": ["ada@example.com"]})
    meeting = session.scalar(select(ReviewMeeting))
    assert (meeting.facilitator.name, meeting.note_taker.name) == ("Fay Neutral",
                                                                   "Ada Lovelace")
    assert meeting.attended == ["ada@example.com"]
    drain(app)
    asked = [m for m in fake_graph.mails() if "facilitate" in m["subject"]]
    assert len(asked) == 1 and asked[0]["to"] == ["fay@example.com"]


def test_a_meeting_that_comes_back_without_a_teams_link_says_so(app, browser, session,
                                                               fake_graph):
    booked = fake_graph.create_event

    def no_teams(sender, request):  # a calendar that does not offer Teams meetings
        return replace(booked(sender, request), join_url="")

    fake_graph.create_event = no_teams
    browser.sign_in()
    reference = browser.declare()
    url = f"/incidents/{reference}"
    browser.submit(url, f"{url}/status", {"status-status": "resolved", "status-note": "x"})
    drain(app)
    entry = session.scalar(select(TimelineEntry).where(TimelineEntry.kind == "review_meeting"))
    assert "without a Teams link" in entry.text and "turn on Teams meeting" in entry.text
    session.commit()
    assert "without a Teams link" in browser.get(url).get_data(as_text=True)
    review = browser.get(f"{url}/review").get_data(as_text=True)
    assert "join in Teams" not in review and "The meeting has no Teams link" in review
    assert "open in Outlook" in review
