"""As a new user would: no tenant, so the app talks to its built-in Graph sandbox with the
real msgraph-sdk over HTTP. Declare a P1, send an update, and see it all on the sandbox
page."""

from __future__ import annotations

from sqlalchemy import select

from app.documents.service import WRITE_KIND
from app.outbox.models import Delivery
from tests.conftest import Browser, drain


def test_a_p1_reaches_teams_and_email_in_the_sandbox(sandbox_app, session, frozen_clock):
    browser = Browser(sandbox_app.test_client())
    browser.sign_in(name="Ada Lovelace", email="ada@example.com")
    assert browser.submit("/contacts", "/contacts/sync").status_code == 302
    drain(sandbox_app)
    assert "ama.mensah@example.org" in browser.get("/contacts").get_data(as_text=True)
    reference = browser.declare(title="Payments down <everywhere>", severity="P1",
                                new_services="Payments")
    drain(sandbox_app)
    response = browser.submit(f"/incidents/{reference}/updates/new", data={
        "phase": "investigating", "message": "We are on it & will update by 10:00.",
        "to_channel": "y", "contacts": [], "extra_recipients": "board@example.org"})
    assert response.status_code == 302, response.get_data(as_text=True)
    drain(sandbox_app)
    session.expire_all()
    statuses = {d.key.split("/", 1)[1]: d.status for d in session.scalars(
        select(Delivery).where(Delivery.kind != WRITE_KIND))}  # reports wait to settle
    assert set(statuses.values()) == {"delivered"}, statuses

    page = browser.get("/sandbox").get_data(as_text=True)
    assert "inc-0001-2026-11-22-payments-down-everywhere" in page  # the channel
    assert "Payments down &lt;everywhere&gt;" in page  # kickoff and broadcast, escaped
    assert "Major incident declared" in page  # the broadcast
    assert f"[P1] {reference} Investigating: Payments down &lt;everywhere&gt;" in page
    assert "command room" in page
    incident_page = browser.get(f"/incidents/{reference}").get_data(as_text=True)
    assert "Join the command room" in incident_page
    # P1 policy: the deputy director and programme delivery manager on the sandbox's
    # contacts list, and the Payments service owner, always get the email.
    from app.incidents.models import StatusUpdate

    update = session.scalar(select(StatusUpdate))
    assert {"priya.shah@example.org", "tom.baker@example.org", "ama.mensah@example.org",
            "board@example.org"} <= set(update.recipients)


def test_the_sandbox_page_exists_only_in_sandbox_mode(app, browser):
    browser.sign_in()
    assert browser.get("/sandbox").status_code == 404


def test_a_p1_leaves_its_reports_in_the_sandbox_sharepoint_folder(
        sandbox_app, session, frozen_clock):
    """Declaring, updating and closing a P1 leaves the running report and the major-incident
    report in the reports folder, named by day and reference, through the real client."""
    from io import BytesIO

    from docx import Document

    from app.jobs import sweep_outbox
    from app.m365.sandbox_host import state_for

    browser = Browser(sandbox_app.test_client())
    browser.sign_in(name="Ada Lovelace", email="ada@example.com")
    reference = browser.declare(title="Payments down", severity="P1")
    drain(sandbox_app)
    browser.submit(f"/incidents/{reference}/updates/new", data={
        "phase": "identified", "message": "A bad release; rolling back.", "to_channel": "y"})
    for status in ("resolved", "closed"):
        frozen_clock.advance(minutes=30)
        response = browser.submit(f"/incidents/{reference}", f"/incidents/{reference}/status",
                                  {"status-status": status, "status-note": "Rolled back"})
        assert response.status_code == 302
    drain(sandbox_app)
    frozen_clock.advance(minutes=5)  # past the debounce: the minute's sweep writes the rest
    with sandbox_app.app_context():
        sweep_outbox()
    drain(sandbox_app)

    state = state_for(sandbox_app.extensions["settings"].graph_sandbox_db)
    day = "2026-11-22"
    paths = {f["path"] for f in state.files()}
    running = f"Incident reports/{day} {reference} Running incident report.docx"
    major = f"Incident reports/{day} {reference} Major incident report.docx"
    assert {running, major, f"Incident reports/{day} {reference} Public version.docx"} <= paths
    drive = next(f["drive_id"] for f in state.files())
    text = "\n".join(c.text for t in Document(BytesIO(state.file_bytes(drive, running))).tables
                     for r in t.rows for c in r.cells)
    assert "A bad release; rolling back." in text  # the update, in the refreshed report
    page = browser.get(f"/incidents/{reference}").get_data(as_text=True)
    assert "Up to date" in page and "/sandbox/file?" in page
    download = browser.get(f"/sandbox/file?drive={drive}&path={major}")
    assert download.status_code == 200 and download.data[:2] == b"PK"


def test_a_security_incident_gets_a_private_channel_in_the_sandbox(sandbox_app, session,
                                                                   frozen_clock):
    """Through the real client: the declarer joins the team, then owns a private channel;
    nothing is announced."""
    from app.m365.sandbox_host import state_for

    browser = Browser(sandbox_app.test_client())
    browser.sign_in(name="Ada Lovelace", email="ada@example.com")
    reference = browser.declare(title="Customer data exposed", severity="P1",
                                is_security="y")
    drain(sandbox_app)
    session.expire_all()
    statuses = {d.key.split("/", 1)[1]: d.status for d in session.scalars(
        select(Delivery).where(Delivery.kind != WRITE_KIND))}  # reports wait to settle
    assert set(statuses.values()) == {"delivered"}, statuses
    assert "broadcast" not in statuses
    state = state_for(sandbox_app.extensions["settings"].graph_sandbox_db)
    [channel] = [c for c in state.channels() if c["displayName"].startswith("sec-0001-")]
    assert channel["membershipType"] == "private"
    owners = {m["userId"] for m in state.channel_members(channel["id"]) if "owner" in m["roles"]}
    # The declarer, and the service account that adds everyone brought in later.
    assert owners == {"ada@example.com", "incident-desk@example.org"}
    page = browser.get(f"/incidents/{reference}").get_data(as_text=True)
    assert "Private Teams channel created" in page


def test_resolving_books_the_review_in_the_sandbox_calendar(sandbox_app, session,
                                                             frozen_clock):
    """Through the real client: the event, its attendees and its Teams link."""
    from app.m365.sandbox_host import state_for

    browser = Browser(sandbox_app.test_client())
    browser.sign_in(name="Ada Lovelace", email="ada@example.com")
    reference = browser.declare(title="Search down", severity="P2")
    drain(sandbox_app)
    browser.submit(f"/incidents/{reference}", f"/incidents/{reference}/status",
                   {"status-status": "resolved", "status-note": "Reindexed"})
    drain(sandbox_app)
    state = state_for(sandbox_app.extensions["settings"].graph_sandbox_db)
    [event] = [e for e in state.events() if e["subject"].startswith("Post-incident review")]
    assert event["subject"] == f"Post-incident review: {reference} Search down"
    assert "ada@example.com" in {a["emailAddress"]["address"] for a in event["attendees"]}
    assert event["isOnlineMeeting"] is True
    page = browser.get(f"/incidents/{reference}/review").get_data(as_text=True)
    assert "join in Teams" in page

    # An action agreed at the review, then overdue: chased by email through the sandbox.
    from app.jobs import send_reminders

    response = browser.submit(f"/incidents/{reference}/actions/new", data={
        "description": "Alert on index lag", "owner": "0", "due": ["23", "11", "2026"],
        "link": "", "status": "open"})
    assert response.status_code == 302
    frozen_clock.advance(days=2)
    with sandbox_app.app_context():
        send_reminders()
    drain(sandbox_app)
    chased = [m for m in state.mails() if "overdue" in m["subject"]]
    assert len(chased) == 1 and "Alert on index lag" in chased[0]["html"]


def test_sandbox_sign_in_is_a_real_msal_sign_in_and_keeps_an_earlier_account(
        sandbox_app, session):
    """Dev sign-in with no tenant signs the person in to the sandbox tenant through MSAL
    (a code redeemed, a token cache stored); someone known from before keeps their row."""
    from app.auth.models import User
    from app.auth.service import dev_object_id, load_token_cache
    from app.m365.sandbox_host import state_for

    earlier = User(entra_oid=dev_object_id("ada@example.com"), name="Ada",
                   email="ada@example.com")
    session.add(earlier)
    session.commit()
    state = state_for(sandbox_app.extensions["settings"].graph_sandbox_db)
    codes = state.token_redemptions("authorization_code")
    Browser(sandbox_app.test_client()).sign_in(name="Ada Lovelace", email="ada@example.com")
    session.expire_all()
    (ada,) = session.scalars(select(User).where(User.email == "ada@example.com"))
    assert ada.id == earlier.id and ada.entra_oid != dev_object_id("ada@example.com")
    assert state.token_redemptions("authorization_code") == codes + 1
    secret = sandbox_app.extensions["settings"].secret_key
    assert "RefreshToken" in load_token_cache(session, ada, secret)


def test_the_sandbox_shows_a_security_incident_only_to_those_who_may_see_it(
        sandbox_app, session, frozen_clock):
    """Its channel, cards, mail, requests and restricted-folder reports are there for the
    declarer and an admin, and for nobody who gets 404 on the incident itself."""
    from dataclasses import replace

    from app.jobs import sweep_outbox
    from app.m365.sandbox_host import state_for

    sandbox_app.extensions["installation"] = replace(
        sandbox_app.extensions["installation"], security_reports_folder="Restricted reports")
    ada = Browser(sandbox_app.test_client())
    ada.sign_in(name="Ada Lovelace", email="ada@example.com")
    secret = ada.declare(title="Customer data exposed", severity="P1", is_security="y")
    open_one = ada.declare(title="Payments slow", severity="P2")
    drain(sandbox_app)
    frozen_clock.advance(minutes=5)  # past the debounce: the reports are written
    with sandbox_app.app_context():
        sweep_outbox()
    drain(sandbox_app)
    state = state_for(sandbox_app.extensions["settings"].graph_sandbox_db)
    [restricted] = [f for f in state.files()
                    if f["path"].startswith("Restricted reports/") and secret in f["path"]]
    download = f"/sandbox/file?drive={restricted['drive_id']}&path={restricted['path']}"

    bob = Browser(sandbox_app.test_client())
    bob.sign_in(name="Bob Ng", email="bob@example.com")
    assert bob.get(f"/incidents/{secret}").status_code == 404
    page = bob.get("/sandbox").get_data(as_text=True)
    for trace in (secret, "sec-0001-", "Customer data exposed", "Restricted reports",
                  "Restricted%20reports", "Security incident or data breach declared"):
        assert trace not in page, trace
    assert open_one in page and "Payments slow" in page  # everything else is still there
    assert bob.get(download).status_code == 404

    for allowed in (ada, Browser(sandbox_app.test_client())):
        if allowed is not ada:
            allowed.sign_in(name="Root", email="root@example.com", admin=True)
        page = allowed.get("/sandbox").get_data(as_text=True)
        assert "sec-0001-" in page and "Restricted reports/" in page
        response = allowed.get(download)
        assert response.status_code == 200 and response.data[:2] == b"PK"


def test_a_person_adds_the_teams_app_for_themselves_from_the_sandbox_page(
        sandbox_app, session, frozen_clock):
    """The sandbox page's button adds the app for the signed-in person, as they would in
    Teams (what their notices then do: tests/test_activity_feed.py)."""
    from app.m365.sandbox_host import state_for
    from graph.sandbox import teams_apps

    browser = Browser(sandbox_app.test_client())
    browser.sign_in(name="Bo Peep", email="bo@example.com")
    assert "Add the Incident Desk app for me in Teams" in browser.get("/sandbox").get_data(
        as_text=True)
    answer = browser.submit("/sandbox", "/sandbox/teams-app-for-me")
    assert answer.status_code == 302 and answer.location.endswith("/sandbox#activity-feed")
    page = browser.get("/sandbox").get_data(as_text=True)
    assert "The Incident Desk app is in your Teams now" in page
    state = state_for(sandbox_app.extensions["settings"].graph_sandbox_db)
    with state.read() as tx:
        bo = tx.get("user", "bo@example.com")
        assert teams_apps.personal_installations(tx, bo["id"])
    forged = browser.client.post("/sandbox/teams-app-for-me", data={})
    assert forged.status_code == 400  # no CSRF token, nothing done
