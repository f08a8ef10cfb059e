"""A hand-over and a resolution done from the bot's cards in Microsoft 365 Agents
Playground, as the people involved would, and the same story on the web page and in the
Word report: Ada (the incident lead) asks Grace to take over on the web; the bot posts the
hand-over card in the incident's channel; Alan, who was not asked, is refused while the
offer is open (so the refusal is about who, not that it was settled); Grace accepts from
the card and resolves the incident from it (refused first without saying how it was
resolved). Each person has their own Playground (its user is fixed by its config), started
one after the other, each shown the bot's card as the bot posted it."""

from __future__ import annotations

import html
import re
import tempfile
from datetime import UTC, datetime, timedelta
from io import BytesIO
from pathlib import Path

import pytest
import requests
from docx import Document
from sqlalchemy import select

from app import db
from app.auth.models import User
from app.core import clock
from app.incidents.models import Incident
from app.jobs import sweep_outbox
from app.people.models import RoleHandover
from graph.sandbox import routes_connector as connector
from scripts.playground import Person
from tests.conftest import Browser, drain
from tests.playground.conftest import ME, start_playground
from tests.playground.test_playground import (
    cards_shown,
    declare_in_the_personal_chat,
    new_card,
    open_playground,
    shot,
)

pytestmark = pytest.mark.slow
GRACE = Person("grace.hopper@example.org", "Grace Hopper")  # offered the role
ALAN = Person("alan.turing@example.org", "Alan Turing")  # signed in, but not asked
INVOKE = "/_conversation/v1/invoke"  # where the Playground's page sends a button's press
RESOLUTION = "Rolled back the payments release; card payments work again"
NOT_ALAN = "Only Grace Hopper can accept this hand-over."


def signed_in(application, person: Person) -> Browser:
    """Someone new to Incident Desk signing in with development sign-in (in sandbox mode
    it signs them in to the sandbox's Entra, so their object id is the one the Playground
    is given for them)."""
    browser = Browser(application.test_client())
    browser.sign_in(name=person.name, email=person.email)
    return browser


def the_bots_card_posts(sandbox, channel_id: str, kind: str) -> list[dict]:
    """The activities the bot posted to the channel (to the sandbox's connector) whose live
    card is of `kind` (its refresh data say which card it is, app/bot/live_cards.py)."""
    found = []
    for row in connector.sent_activities(sandbox.state):
        if not (row.get("new_conversation") and row.get("channel_id") == channel_id):
            continue
        cards = [a.get("content") or {} for a in row["activity"].get("attachments") or []]
        if any((c.get("refresh") or {}).get("action", {}).get("data", {}).get("kind") == kind
               for c in cards):
            found.append(row["activity"])
    return found


def show_in_the_playground(playground, channel_id: str, activity: dict) -> None:
    """The bot's post repeated to the Playground's connector (`POST /v3/conversations`, as
    the bot sent it to the sandbox's), less its summary text: the Playground shows only
    the text of a post with text and a card (docs/teams-playground.md)."""
    http = requests.Session()
    http.trust_env = False
    try:
        http.post(f"{playground.url}_connector/v3/conversations", timeout=10, json={
            "isGroup": True, "channelData": {"channel": {"id": channel_id}},
            "activity": {k: v for k, v in activity.items() if k not in ("text", "textFormat")},
        }).raise_for_status()
    finally:
        http.close()


def the_handover_card(chromium, relay, person: Person, channel: tuple[str, str],
                      handover: dict):
    """A Playground whose user is `person`, in the incident's channel, showing the bot's
    hand-over card. Returns (playground, page, card)."""
    playground = start_playground(relay, me=person, others=(ME,), channel=channel)
    page = open_playground(chromium, playground)
    page.get_by_label(f"Incidents - {channel[1]}").click()
    before = cards_shown(page)
    show_in_the_playground(playground, channel[0], handover)
    return playground, page, new_card(page, before)


def change_status(page, card, status: str, note: str = "") -> None:
    """Open the card's Change status, choose `status`, say `note`, and press it."""
    card.get_by_role("button", name="Change status").first.click()
    card.get_by_role("combobox", name="New status").click()  # Fluent UI's combobox
    page.get_by_role("option", name=status).click()
    if note:
        card.get_by_label("Note").fill(note)
    card.get_by_role("button", name="Change status").last.click()


def test_a_handover_accepted_and_the_incident_resolved_from_the_cards(
        bot_app, relay, chromium):
    application, _bot_url, sandbox = bot_app
    ada = signed_in(application, ME)
    signed_in(application, GRACE)
    signed_in(application, ALAN)
    reference, channel_id, channel_name = declare_in_the_personal_chat(
        chromium, relay, application, "Payments are failing")
    channel = (channel_id, channel_name)

    # Ada, the incident lead, asks Grace to take over, on the web's roles form.
    with application.app_context():
        grace_id = db.Session.scalar(select(User.id).where(User.email == GRACE.email))
        db.Session.remove()
    response = ada.submit(f"/incidents/{reference}", f"/incidents/{reference}/roles",
                          {"role-role": "incident_lead", "role-user": str(grace_id)})
    assert response.status_code == 302, response.get_data(as_text=True)
    drain(application)  # the hand-over card is posted by the outbox, as the bot
    [handover] = the_bots_card_posts(sandbox, channel_id, "handover")

    # Alan, signed in to Incident Desk but not the person asked, opens the same card.
    playground, page, card = the_handover_card(chromium, relay, ALAN, channel, handover)
    try:
        text = card.inner_text()
        assert "Grace Hopper: please take over as incident lead" in text
        assert "Ada Lovelace keeps the role until Grace Hopper accepts." in text
        with page.expect_request(lambda r: INVOKE in r.url) as pressed:
            card.get_by_role("button", name="Show what I can do").click()
        card.get_by_role("button", name="Take a role").wait_for()
        shot(page, "handover-alans-view")
        # Alan's view has the incident's actions but no Accept or Decline: they are only
        # in the view of the person asked. A real Teams shows Alan the same: the shared
        # card (brought up to date for everyone after each change) and, when he presses
        # "Show what I can do" or Teams refreshes it for him, his own view, never Grace's.
        assert card.get_by_role("button", name="Accept").count() == 0
        assert card.get_by_role("button", name="Decline").count() == 0
        # So Alan has no Accept to press. What the bot does if a press of it comes from
        # him anyway (a stale or hand-made card) is told by sending Alan's press of the
        # Accept verb, with this card's data, as this Playground sends his presses: his
        # "Show what I can do" request with the verb changed.
        press = pressed.value.post_data_json
        action = press["value"]["action"]
        assert action["verb"] == "refresh" and action["data"]["kind"] == "handover"
        press["value"]["action"] = {**action, "verb": "accept_handover", "title": "Accept"}
        answer = page.evaluate("""async ([url, body]) => { const r = await fetch(url, {
            method: 'POST', headers: {'Content-Type': 'application/json'},
            body: JSON.stringify(body)}); return {status: r.status, body: await r.json()}; }""",
                               [INVOKE, press])
        assert answer == {"status": 200, "body": {
            "type": "application/vnd.microsoft.activity.message", "value": NOT_ALAN}}
    finally:
        playground.stop()
    with application.app_context():
        assert db.Session.scalar(select(RoleHandover.status)) == "pending"  # nothing moved
        db.Session.remove()

    # Grace, the person asked, opens the card, asks what she can do, and accepts.
    playground, page, card = the_handover_card(chromium, relay, GRACE, channel, handover)
    try:
        shot(page, "handover-posted")
        card.get_by_role("button", name="Show what I can do").click()
        card.get_by_role("button", name="Accept").wait_for()
        shot(page, "handover-graces-view")
        card.get_by_role("button", name="Accept").click()
        card.get_by_text("You are now incident lead.").wait_for()
        shot(page, "handover-accepted")
        text = card.inner_text()  # the card now says who holds the role
        assert "Grace Hopper took over as incident lead" in text
        assert "Grace Hopper is incident lead now." in text
        assert "please take over" not in text
        assert card.get_by_role("button", name="Accept").count() == 0

        # Then she resolves it from the same card: without saying how, she is told to.
        change_status(page, card, "Resolved")
        page.get_by_text("Say how the incident was resolved").first.wait_for()
        shot(page, "handover-resolve-refused")
        assert "Status is now" not in card.inner_text()  # the card stands as it was
        # The message leaves the card as it was drawn, its Change status closed and its
        # inputs reset (the Playground's renderer): she opens it again and says how.
        change_status(page, card, "Resolved", RESOLUTION)
        card.get_by_text("Status is now resolved.").wait_for()
        shot(page, "handover-resolved")
        text = card.inner_text()
        assert "Resolved" in text and "Grace Hopper is incident lead now." in text
        assert cards_shown(page) == 1  # each answer replaced the card
    finally:
        shot(page, "handover-last")
        playground.stop()

    with application.app_context():
        incident = db.Session.scalar(select(Incident))
        roles = {key: held.user.name for key, held in incident.current_roles().items()}
        offer = db.Session.scalar(select(RoleHandover))
        state = incident.status, incident.resolution, offer.status
        db.Session.remove()
    assert roles["incident_lead"] == "Grace Hopper"
    assert state == ("resolved", RESOLUTION, "accepted")

    # The web page tells the same story.
    page_text = html.unescape(ada.get(f"/incidents/{reference}").get_data(as_text=True))
    assert "Ada Lovelace asked Grace Hopper to take over as incident lead" in page_text
    assert "Grace Hopper is now incident lead, taking over from Ada Lovelace" in page_text
    assert "Status changed: Investigating → Resolved" in page_text
    assert RESOLUTION in page_text
    assert "Handing over to Grace Hopper" not in page_text  # no longer waiting
    with application.app_context():
        offer_id = db.Session.scalar(select(RoleHandover.id))
        db.Session.remove()
    offer_page = ada.get(f"/incidents/{reference}/handovers/{offer_id}")
    assert "This hand-over was accepted" in offer_page.get_data(as_text=True)

    # And so does the running report, once its write settles (the minute's sweep).
    later = datetime.now(UTC) + timedelta(minutes=5)
    clock.set_source(lambda: later)
    try:
        with application.app_context():
            sweep_outbox()
        drain(application)
    finally:
        clock.set_source(None)
    [report] = [f for f in sandbox.state.files()
                if f["path"].endswith(f" {reference} Running incident report.docx")]
    content = sandbox.state.file_bytes(report["drive_id"], report["path"])
    (Path(tempfile.gettempdir()) / "handover-report.docx").write_bytes(content)
    document = Document(BytesIO(content))
    words = "\n".join([p.text for p in document.paragraphs] + [
        cell.text for table in document.tables for row in table.rows for cell in row.cells])
    assert "Ada Lovelace asked Grace Hopper to take over as incident lead" in words
    assert "Grace Hopper is now incident lead, taking over from Ada Lovelace" in words
    assert re.search(r"Grace Hopper \(since .*\)", words)  # the roles table
    assert "Status changed: Investigating → Resolved" in words
    assert RESOLUTION in words
