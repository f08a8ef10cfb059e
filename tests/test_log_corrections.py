"""Correcting a scribe-log entry (app/incidents/scribe.py): only its author, the incident
lead, the scribe or an administrator may, and the page and the Word reports say who
corrected it and when, so nobody's words are credited to someone else."""

from __future__ import annotations

from dataclasses import replace

import pytest
from sqlalchemy import select

from app.auth.models import User
from app.incidents.models import TimelineEntry
from reports import build_review, build_running
from tests.conftest import Browser, csrf_from
from tests.reports import sample
from tests.reports.docs import open_report, table_after, text_of
from tests.test_report_files import text_of as report_text

FIX = {"note-entry_type": "result", "note-text": "db-2 restarted by the on-call DBA"}


@pytest.fixture
def people(app, browser, other_browser):
    """Ada declares (so leads); Bob writes the entry; Carol and Dan only look on."""
    carol, dan = Browser(app.test_client()), Browser(app.test_client())
    other_browser.sign_in(name="Bob Writer", email="bob@example.com")
    carol.sign_in(name="Carol Looker", email="carol@example.com")
    dan.sign_in(name="Dan Scribe", email="dan@example.com")
    browser.sign_in(name="Ada Lovelace", email="ada@example.com")
    reference = browser.declare()
    url = f"/incidents/{reference}"
    response = other_browser.submit(url, f"{url}/notes", {"note-entry_type": "action",
                                                          "note-text": "Bob restarts db-2"})
    assert response.status_code == 302
    return {"ada": browser, "bob": other_browser, "carol": carol, "dan": dan, "url": url}


def the_entry(session) -> TimelineEntry:
    session.expire_all()
    return session.scalar(select(TimelineEntry).where(TimelineEntry.kind == "note"))


def user(session, email: str) -> User:
    return session.scalar(select(User).where(User.email == email))


def test_someone_else_cannot_rewrite_an_entry(people, session):
    carol, url = people["carol"], people["url"]
    entry = the_entry(session)
    edit = f"{url}/timeline/{entry.id}/edit"
    page = carol.get(url).get_data(as_text=True)
    assert "Bob restarts db-2" in page and edit not in page  # no link to a refusal
    response = carol.get(edit)
    assert response.status_code == 403
    said = response.get_data(as_text=True)
    assert "Only the person who wrote an entry, the incident lead, the scribe or an " \
           "administrator can correct it" in said and "Bob Writer" in said
    token = csrf_from(carol.get(url).get_data(as_text=True))
    response = carol.client.post(edit, data={"csrf_token": token, **FIX})
    assert response.status_code == 403
    entry = the_entry(session)
    assert entry.text == "Bob restarts db-2" and entry.edited_at is None and not entry.edits


def test_the_author_the_lead_the_scribe_and_an_admin_may_correct(app, people, session):
    ada, bob, dan, url = people["ada"], people["bob"], people["dan"], people["url"]
    entry = the_entry(session)
    edit = f"{url}/timeline/{entry.id}/edit"
    assert edit in bob.get(url).get_data(as_text=True)
    assert bob.submit(edit, data={**FIX, "note-text": "Bob restarted db-2"}).status_code == 302
    assert ada.submit(edit, data=FIX).status_code == 302  # the incident lead
    assert dan.get(edit).status_code == 403
    dan_id = user(session, "dan@example.com").id
    assert ada.submit(url, f"{url}/roles", {"role-role": "scribe",
                                            "role-user": str(dan_id)}).status_code == 302
    assert edit in dan.get(url).get_data(as_text=True)
    response = dan.submit(edit, data={**FIX, "note-text": "db-2 restarted (scribe)"})
    assert response.status_code == 302
    admin = Browser(app.test_client())
    admin.sign_in(name="Ed Admin", email="ed@example.com", admin=True)
    response = admin.submit(edit, data={**FIX, "note-text": "db-2 restarted (admin)"})
    assert response.status_code == 302
    entry = the_entry(session)
    assert entry.edits[0].text == "Bob restarts db-2"  # the original, kept
    assert entry.edited_by.email == "ed@example.com"


def test_a_correction_is_shown_with_who_and_when_on_the_page_and_in_the_report(
        people, session, frozen_clock):
    ada, bob, url = people["ada"], people["bob"], people["url"]
    entry = the_entry(session)
    frozen_clock.advance(minutes=7)
    assert ada.submit(f"{url}/timeline/{entry.id}/edit", data=FIX).status_code == 302
    entry = the_entry(session)
    assert entry.edited_by == user(session, "ada@example.com")
    assert entry.author == user(session, "bob@example.com")
    page = bob.get(url).get_data(as_text=True)
    assert "Corrected by Ada Lovelace" in page and "show earlier versions" in page
    reference = url.rsplit("/", 1)[-1]
    text = report_text(bob.get(f"/incidents/{reference}/reports/running.docx").data)
    assert "db-2 restarted by the on-call DBA" in text
    assert "Corrected by Ada Lovelace at" in text


def test_the_report_names_the_corrector_or_their_role():
    item = replace(sample.TIMELINE[3], corrected_by=sample.GRACE,
                   corrected_at=sample.at(50))
    snap = sample.snapshot(timeline=(*sample.TIMELINE[:3], item, *sample.TIMELINE[4:]))
    named = text_of(open_report(build_running(snap)).element)
    assert "Corrected by Grace Hopper at 3 Mar 2026 10:02 GMT" in named
    draft = open_report(build_review(snap))  # names roles, not people
    timeline = text_of(table_after(draft, "Timeline")._tbl)
    assert "Corrected by Comms lead at 3 Mar 2026 10:02 GMT" in timeline
    assert "Grace Hopper" not in timeline
