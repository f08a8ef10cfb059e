"""Declaring and running an incident through the pages, as a person would."""

import re

from sqlalchemy import func, select

from app.auth.models import User
from app.incidents.models import Incident, Service, TimelineEntry

XSS = '<script>alert("x")</script>'


def count(session, model):
    return session.scalar(select(func.count()).select_from(model))


def incident(session, reference):
    session.expire_all()
    return session.scalar(select(Incident).where(Incident.reference == reference))


def test_declare_form_shows_the_guidance(browser):
    browser.sign_in()
    page = browser.get("/incidents/new").get_data(as_text=True)
    assert "If you are unsure, it is an incident" in page
    assert "choose the higher one" in page
    assert "Is this an incident?" in page
    assert "unresolved after an hour" in page
    for label in ("P1", "P2", "P3"):
        assert f'value="{label}"' in page
    assert "This is a security incident or a data breach" in page


def test_declare_creates_incident_with_reference_lead_and_timeline(browser, session,
                                                                   frozen_clock):
    browser.sign_in(name="Grace Hopper", email="grace@example.com")
    first = browser.declare(title="  Payments   failing ", severity="P1",
                            new_services="Payments, payments , API")
    second = browser.declare()
    assert (first, second) == ("INC-2026-0001", "INC-2026-0002")
    inc = incident(session, first)
    assert inc.title == "Payments failing"
    assert inc.status == "investigating"
    assert sorted(s.name for s in inc.services) == ["API", "Payments"]
    assert count(session, Service) == 2
    lead = inc.current_roles()["incident_lead"]
    assert lead.user.email == "grace@example.com"
    assert [e.kind for e in inc.timeline] == ["declared", "role_assigned"]
    assert inc.declared_at == frozen_clock.value


def test_declare_picks_existing_services_by_checkbox(browser, session):
    browser.sign_in()
    browser.declare(new_services="Search")
    search_id = session.scalar(select(Service.id).where(Service.name == "Search"))
    reference = browser.declare(services=str(search_id))
    assert [s.name for s in incident(session, reference).services] == ["Search"]
    assert count(session, Service) == 1


def test_bad_declare_input_is_explained_kept_and_saves_nothing(browser, session):
    browser.sign_in()
    response = browser.submit("/incidents/new", data={
        "title": "", "severity": "P9", "description": "Kept <b>text</b>",
        "new_services": "Billing"})
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert "There is a problem" in page
    assert "Enter a title." in page
    assert 'href="#title"' in page
    assert "Not a valid choice" in page or "Choose a severity" in page
    assert "Kept &lt;b&gt;text&lt;/b&gt;" in page  # what they typed is still in the form
    assert 'value="Billing"' in page
    assert count(session, Incident) == 0
    assert count(session, Service) == 0


def test_overlong_title_and_unknown_service_id_refused(browser, session):
    browser.sign_in()
    response = browser.submit("/incidents/new", data={"title": "x" * 201, "severity": "P2"})
    assert response.status_code == 400
    assert "200 characters or fewer" in response.get_data(as_text=True)
    response = browser.submit("/incidents/new", data={"title": "t", "severity": "P2",
                                                      "services": "999"})
    assert response.status_code == 400
    assert count(session, Incident) == 0


def test_lifecycle_to_closed(browser, session):
    browser.sign_in()
    ref = browser.declare()
    url = f"/incidents/{ref}"

    def move(status, note=""):
        return browser.submit(url, f"{url}/status",
                              {"status-status": status, "status-note": note})

    assert move("identified", "Bad deploy at 09:02").status_code == 302
    assert move("monitoring").status_code == 302
    refused = move("resolved")
    assert refused.status_code == 400
    assert "Say how the incident was resolved" in refused.get_data(as_text=True)
    assert incident(session, ref).status == "monitoring"
    assert move("resolved", "Rolled back to v41").status_code == 302
    inc = incident(session, ref)
    assert inc.resolution == "Rolled back to v41" and inc.resolved_at is not None
    assert move("closed").status_code == 302
    inc = incident(session, ref)
    assert inc.status == "closed" and inc.closed_at is not None
    changes = [(e.data["from"], e.data["to"]) for e in inc.timeline if e.kind == "status_change"]
    assert changes == [("investigating", "identified"), ("identified", "monitoring"),
                       ("monitoring", "resolved"), ("resolved", "closed")]
    assert inc.timeline[-1].text == "Status changed: Resolved → Closed"
    notes = [e.data.get("note") for e in inc.timeline if e.kind == "status_change"]
    assert notes[0] == "Bad deploy at 09:02"
    page = browser.get(url).get_data(as_text=True)
    assert "Change status" not in page  # a closed incident offers no more changes
    assert browser.get(f"{url}/edit").status_code == 302


def test_status_not_offered_cannot_be_forced(browser, session):
    browser.sign_in()
    ref = browser.declare()
    url = f"/incidents/{ref}"
    response = browser.submit(url, f"{url}/status", {"status-status": "closed"})
    assert response.status_code == 400
    assert incident(session, ref).status == "investigating"


def test_reopen_records_reason(browser, session):
    browser.sign_in()
    ref = browser.declare()
    url = f"/incidents/{ref}"
    browser.submit(url, f"{url}/status", {"status-status": "resolved", "status-note": "Fixed"})
    response = browser.submit(url, f"{url}/status", {"status-status": "investigating",
                                                     "status-note": "Errors are back"})
    assert response.status_code == 302
    inc = incident(session, ref)
    assert inc.status == "investigating" and inc.resolved_at is None
    assert inc.timeline[-1].text.startswith("Reopened")


def test_edit_records_severity_and_description_changes(browser, session):
    browser.sign_in()
    ref = browser.declare(severity="P3")
    url = f"/incidents/{ref}/edit"
    form = browser.get(url).get_data(as_text=True)
    assert re.search(r'value="P3"\s+checked', form)
    version = re.search(r'id="version" name="version" type="hidden" value="(\d+)"', form)
    assert version, "the edit form carries the version it was loaded at"
    response = browser.submit(url, data={"title": "example.com returning errors",
                                         "severity": "P1", "description": "All pages down",
                                         "reason": "Checkout is down too",
                                         "version": version.group(1)})
    assert response.status_code == 302, response.get_data(as_text=True)
    inc = incident(session, ref)
    assert inc.severity == "P1"
    kinds = {e.kind: e for e in inc.timeline}
    assert kinds["severity_change"].data == {"from": "P3", "to": "P1",
                                             "note": "Checkout is down too"}
    assert kinds["severity_change"].text == "Severity raised: P3 → P1"
    assert kinds["description_change"].data["to"] == "All pages down"


def test_edit_conflict_keeps_my_text(browser, other_browser, session):
    browser.sign_in()
    ref = browser.declare()
    url = f"/incidents/{ref}/edit"
    stale_version = incident(session, ref).version
    other_browser.sign_in(name="Bob", email="bob@example.com")
    # A log entry is an append and conflicts with nothing (tests/test_concurrency.py);
    # Bob's edit of the same details does.
    other_browser.submit(f"/incidents/{ref}", f"/incidents/{ref}/notes",
                         {"note-text": "Looking at the load balancer"})
    assert incident(session, ref).version == stale_version
    other_browser.submit(url, data={"title": "Bob's title", "severity": "P2",
                                    "description": "", "version": str(stale_version)})
    response = browser.submit(url, data={
        "title": "Mine", "severity": "P2", "description": "My careful write-up",
        "version": str(stale_version)})
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert "Someone else changed this incident" in page
    assert "My careful write-up" in page
    assert incident(session, ref).title == "Bob's title"
    fresh_version = incident(session, ref).version
    assert f'value="{fresh_version}"' in page  # saving again now succeeds


def test_roles_assignment_and_history(browser, other_browser, session):
    other_browser.sign_in(name="Bob", email="bob@example.com")
    browser.sign_in()
    ref = browser.declare()
    url = f"/incidents/{ref}"
    page = browser.get(url).get_data(as_text=True)
    assert "Not filled" in page  # comms lead is required and empty
    bob = session.scalar(select(User).where(User.email == "bob@example.com"))
    response = browser.submit(url, f"{url}/roles", {"role-role": "comms_lead",
                                                    "role-user": str(bob.id)})
    assert response.status_code == 302
    response = browser.submit(url, f"{url}/roles", {"role-role": "comms_lead",
                                                    "role-user": str(bob.id)})
    assert response.status_code == 400
    assert "already holds this role" in response.get_data(as_text=True)
    response = browser.submit(url, f"{url}/roles", {"role-role": "incident_lead",
                                                    "role-user": str(bob.id)})
    assert response.status_code == 302
    inc = incident(session, ref)
    holders = {k: a.user.email for k, a in inc.current_roles().items()}
    # A hand-over: Ada keeps the lead until Bob accepts.
    assert holders == {"incident_lead": "ada@example.com", "comms_lead": "bob@example.com"}
    assert "waiting for them to accept" in browser.get(url).get_data(as_text=True)
    page = other_browser.get(url).get_data(as_text=True)
    assert "Accept incident lead" in page
    response = other_browser.submit(url, f"{url}/handovers/1/accept")
    assert response.status_code == 302, response.get_data(as_text=True)
    session.expire_all()
    inc = incident(session, ref)
    holders = {k: a.user.email for k, a in inc.current_roles().items()}
    assert holders == {"incident_lead": "bob@example.com", "comms_lead": "bob@example.com"}
    released = [a for a in inc.roles if a.released_at is not None]
    assert [(a.role, a.user.email) for a in released] == [("incident_lead", "ada@example.com")]
    assert "taking over from Ada Lovelace" in inc.timeline[-1].text
    page = browser.get(url).get_data(as_text=True)
    assert "Role history" in page


def test_notes_go_on_timeline_and_empty_note_refused(browser, session):
    browser.sign_in()
    ref = browser.declare()
    url = f"/incidents/{ref}"
    response = browser.submit(url, f"{url}/notes", {"note-text": "   "})
    assert response.status_code == 400
    assert "Enter what happened." in response.get_data(as_text=True)
    browser.submit(url, f"{url}/notes", {"note-text": "Disk full on db-2"})
    assert incident(session, ref).timeline[-1].text == "Disk full on db-2"
    assert count(session, TimelineEntry) == 3


def test_a_long_timeline_shows_the_newest_hundred_and_links_to_the_rest(app, browser, session):
    from app.incidents import scribe

    browser.sign_in()
    ref = browser.declare()
    inc = incident(session, ref)
    author = session.scalar(select(User).where(User.email == "ada@example.com"))
    for number in range(103):  # with "declared" and "role_assigned": 105 entries
        scribe.add_entry(session, author, inc, text=f"Entry number {number:03d}",
                         entry_type="event", effects=app.extensions["effects"])
    url = f"/incidents/{ref}"

    page = browser.get(url).get_data(as_text=True)
    assert page.count('class="app-timeline__entry') == 100
    assert "Showing the latest 100 of 105 entries." in page
    assert "Entry number 102" in page and "Entry number 003" in page
    declared = session.scalar(select(TimelineEntry.id).where(
        TimelineEntry.incident_id == inc.id, TimelineEntry.kind == "declared"))
    assert "Entry number 002" not in page and f'id="entry-{declared}"' not in page
    oldest_shown = session.scalar(select(TimelineEntry.id).where(
        TimelineEntry.text == "Entry number 003"))
    assert f"?timeline=all#entry-{oldest_shown}" in page
    assert "Show the 5 earlier entries" in page

    whole = browser.get(f"{url}?timeline=all").get_data(as_text=True)
    assert whole.count('class="app-timeline__entry') == 105
    assert "Entry number 000" in whole and f'id="entry-{declared}"' in whole
    assert "Showing the latest" not in whole
    assert whole.index("Entry number 102") < whole.index("Entry number 000")


def test_user_text_is_escaped_everywhere(browser):
    browser.sign_in(name=XSS, email="x@example.com")
    ref = browser.declare(title=XSS, description=XSS, new_services=XSS)
    url = f"/incidents/{ref}"
    browser.submit(url, f"{url}/notes", {"note-text": XSS})
    for page_url in (url, "/incidents", f"{url}/edit"):
        page = browser.get(page_url).get_data(as_text=True)
        assert XSS not in page
        assert "&lt;script&gt;" in page


def test_list_filters_and_pagination(browser, session):
    browser.sign_in()
    for n in range(27):
        browser.declare(title=f"Incident {n}", severity="P1" if n % 3 == 0 else "P3",
                        new_services="Search" if n % 2 == 0 else "")
    first = browser.get("/incidents").get_data(as_text=True)
    assert "27 incidents (open)" in first
    assert "Incident 26" in first and "Incident 1<" not in first
    second = browser.get("/incidents?page=2").get_data(as_text=True)
    assert "Incident 0" in second and "Incident 26" not in second
    p1 = browser.get("/incidents?severity=P1").get_data(as_text=True)
    assert "9 incidents" in p1
    search_id = session.scalar(select(Service.id).where(Service.name == "Search"))
    by_service = browser.get(f"/incidents?service={search_id}").get_data(as_text=True)
    assert "14 incidents" in by_service
    closed = browser.get("/incidents?state=closed").get_data(as_text=True)
    assert "0 incidents" in closed
    nonsense = browser.get("/incidents?state=bogus&severity=P7&page=-4")
    assert nonsense.status_code == 200


def test_security_incident_is_hidden_from_others(browser, other_browser, app):
    browser.sign_in()
    ref = browser.declare(title="Leaked credentials", is_security="y")
    assert browser.get(f"/incidents/{ref}").status_code == 200
    other_browser.sign_in(name="Eve", email="eve@example.com")
    assert other_browser.get(f"/incidents/{ref}").status_code == 404
    assert other_browser.get(f"/incidents/{ref}/edit").status_code == 404
    assert "Leaked credentials" not in other_browser.get("/incidents").get_data(as_text=True)
    admin = other_browser.__class__(app.test_client())
    admin.sign_in(name="Admin", email="admin@example.com", admin=True)
    assert admin.get(f"/incidents/{ref}").status_code == 200


def test_show_all_renders_a_bounded_number_and_says_where_the_rest_is(app, browser, session,
                                                                      monkeypatch):
    from app.incidents import scribe
    from app.web.incidents import routes

    monkeypatch.setattr(routes, "TIMELINE_MOST", 6)
    browser.sign_in()
    ref = browser.declare()
    inc = incident(session, ref)
    author = session.scalar(select(User).where(User.email == "ada@example.com"))
    for number in range(8):  # with "declared" and "role_assigned": 10 entries
        scribe.add_entry(session, author, inc, text=f"Entry number {number:03d}",
                         entry_type="event", effects=app.extensions["effects"])

    whole = browser.get(f"/incidents/{ref}?timeline=all").get_data(as_text=True)
    assert whole.count('class="app-timeline__entry') == 6
    assert "Showing the latest 6 of 10 entries: the page shows at most 6." in whole
    assert "?timeline_page=1" in whole and "Word report" in whole
    assert "Show all" not in whole and "earlier entries" not in whole
