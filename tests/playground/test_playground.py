"""The bot tried in Microsoft 365 Agents Playground, a Teams-like client that renders cards
with Microsoft's Adaptive Cards renderer, driven in headless Chromium as a person would:
commands typed in the personal chat and (mentioning the app) in the incident's channel,
the declare card's button pressed and the card seen replaced by the bot's answer."""

from __future__ import annotations

import re
import tempfile
from pathlib import Path

import pytest
import requests
from sqlalchemy import select

from app import db
from app.incidents import delivery_keys
from app.incidents.models import Incident, StatusUpdate, TimelineEntry
from app.m365.models import TeamsChannel
from app.outbox.models import Delivery
from graph.sandbox import routes_connector as connector
from tests.conftest import drain
from tests.playground.conftest import ME, incident_desk_user, start_playground

pytestmark = pytest.mark.slow
TIMEOUT = 20_000  # ms: the bot answers within a second or two
CARD = ".ac-adaptiveCard"  # the renderer's root element of each card
COMPOSE = '[data-lexical-editor="true"]'  # the compose box (the first: a new post)


def shot(page, name: str) -> None:
    """A screenshot to look at: what the Playground drew (the temp folder, by name)."""
    page.screenshot(path=Path(tempfile.gettempdir()) / f"playground-{name}.png",
                    full_page=True)


def cards_shown(page) -> int:
    """How many cards the page shows, each marked as seen (a channel lists the newest
    post first, so a new card is told by the missing mark, not by its place)."""
    return page.evaluate("""css => { const all = document.querySelectorAll(css);
        all.forEach(c => c.dataset.seen = c.dataset.seen || '1'); return all.length; }""",
                         CARD)


def new_card(page, before: int):
    """The card the bot answers with: the one not seen before, named for later."""
    page.locator(f"{CARD}:not([data-seen])").first.wait_for(timeout=TIMEOUT)
    name = f"answer-{before}"
    page.evaluate("""([css, name]) => { const card = document.querySelector(
        css + ':not([data-seen])'); card.dataset.seen = name; }""", [CARD, name])
    assert cards_shown(page) == before + 1, "one answer, one card"
    return page.locator(f'{CARD}[data-seen="{name}"]')


def say(page, text: str):
    """Type a message in a chat and send it; returns the bot's card."""
    before = cards_shown(page)
    page.locator(COMPOSE).first.click()
    page.keyboard.type(text)
    page.keyboard.press("Enter")
    return new_card(page, before)


def post(page, text: str):
    """Start a channel post mentioning the app (picked from the @ menu, so the message
    carries Teams' mention entity) and post it; returns the bot's card."""
    before = cards_shown(page)
    page.locator(COMPOSE).first.click()
    page.keyboard.type("@")
    page.get_by_role("menuitem", name="Incident Desk").click()
    page.keyboard.type(" " + text)
    page.get_by_role("button", name="Post").click()
    return new_card(page, before)


def open_playground(chromium, playground):
    page = chromium.new_page(viewport={"width": 1400, "height": 1100})
    page.set_default_timeout(TIMEOUT)
    page.goto(playground.url)
    return page


def test_help_and_status_in_the_personal_chat(bot_app, relay, chromium):
    application, _bot_url, _sandbox = bot_app
    incident_desk_user(application, ME)
    playground = start_playground(relay)
    try:
        page = open_playground(chromium, playground)
        page.get_by_label("Personal Chat").click()
        card = say(page, "help")
        for command in ("declare", "status", "update", "lead me", "note", "help"):
            assert command in card.inner_text()
        card = say(page, "status")
        shot(page, "help-status")
        assert "You have no open incidents" in card.inner_text()
    finally:
        playground.stop()


def test_someone_unknown_is_asked_to_sign_in(bot_app, relay, chromium):
    """The Playground's person has no Incident Desk account: the bot says how to get one
    (so the relay's token is accepted, and the person is matched by object id)."""
    playground = start_playground(relay)
    try:
        page = open_playground(chromium, playground)
        page.get_by_label("Personal Chat").click()
        card = say(page, "status")
        assert "sign in to Incident Desk once" in card.inner_text()
    finally:
        playground.stop()


def declare_in_the_personal_chat(chromium, relay, application, title: str):
    """`declare <title>`, the card filled in and pressed: the card becomes the declared
    incident. Returns (reference, channel id, channel name) once the channel is made."""
    playground = start_playground(relay)
    try:
        page = open_playground(chromium, playground)
        page.get_by_label("Personal Chat").click()
        card = say(page, f"declare {title}")
        assert card.get_by_label("Title").input_value() == title
        shot(page, "declare-card")
        card.get_by_label(re.compile(r"^P3")).check()
        card.get_by_label("What is happening?").fill("Card payments time out at checkout")
        card.get_by_role("button", name="Declare incident").click()
        # The pressed card is replaced in place by the bot's answer (Action.Execute).
        card.get_by_text(re.compile(r"INC-\d{4}-\d{4} declared")).wait_for()
        shot(page, "declared")
        assert title in card.inner_text()
        assert "Ada Lovelace" in card.inner_text()  # the incident lead
        assert cards_shown(page) == 1  # no new card: the declare card became the answer
    finally:
        playground.stop()
    drain(application)  # the incident's channel and kickoff are background jobs
    with application.app_context():
        incident = db.Session.scalar(select(Incident))
        channel = db.Session.scalar(select(TeamsChannel))
        found = incident.reference, channel.channel_id, channel.name
        db.Session.remove()
    return found


def test_declare_with_a_command_then_run_it_in_its_channel(bot_app, relay, chromium):
    application, _bot_url, _sandbox = bot_app
    incident_desk_user(application, ME)
    reference, channel_id, channel_name = declare_in_the_personal_chat(
        chromium, relay, application, "Payments are failing")

    # The Playground knows only the channels its config names: open it again with the
    # incident's channel in the team, as a person who has the channel in Teams would.
    playground = start_playground(relay, channel=(channel_id, channel_name))
    try:
        page = open_playground(chromium, playground)
        page.get_by_label(f"Incidents - {channel_name}").click()
        card = post(page, "status")
        assert reference in card.inner_text() and "Investigating" in card.inner_text()
        card = post(page, "lead me")
        assert f"You are already incident lead for {reference}." in card.inner_text()
        card = post(page, "comms lead me")
        assert f"You are now comms lead for {reference}." in card.inner_text()
        card = post(page, "note decision: roll back the payments release")
        shot(page, "channel-commands")
        assert f"Added to the {reference} log as decision" in card.inner_text()
        # Its button shows the update form in the card (test_an_update_sent_from_the_card).
        card = post(page, "update")
        shot(page, "update-launcher")
        assert f"Send an update about {reference}" in card.inner_text()
        card.get_by_role("button", name="Send an update").click()
        card.get_by_text("What stage is the incident at?").wait_for()
        shot(page, "update-launcher-form")
    finally:
        playground.stop()

    with application.app_context():  # the web's story is the same
        incident = db.Session.scalar(select(Incident))
        roles = {key: held.user.name for key, held in incident.current_roles().items()}
        notes = db.Session.scalars(select(TimelineEntry.text).where(
            TimelineEntry.incident_id == incident.id,
            TimelineEntry.entry_type == "decision")).all()
        db.Session.remove()
    assert "Ada Lovelace" in roles.values() and len(roles) >= 2
    assert notes == ["roll back the payments release"]


class Straight:
    """In the relay's place: the Playground posting to the bot itself, token-less."""

    def __init__(self, bot_url: str):
        self.url, self.service_url = bot_url, None


def test_the_playground_alone_is_refused(bot_app, chromium, caplog):
    """Without the relay the Playground sends no token, and the bot answers 401."""
    application, bot_url, _sandbox = bot_app
    incident_desk_user(application, ME)
    playground = start_playground(Straight(bot_url))
    try:
        page = open_playground(chromium, playground)
        page.get_by_label("Personal Chat").click()
        with caplog.at_level("WARNING"):
            page.locator(COMPOSE).first.click()
            page.keyboard.type("help")
            page.keyboard.press("Enter")
            page.get_by_text(re.compile(r"message 401")).first.wait_for()
        assert cards_shown(page) == 0
    finally:
        playground.stop()
    assert "bot: refused an activity" in caplog.text and "no bearer token" in caplog.text


def show_the_bots_channel_posts(sandbox, playground, channel_id: str) -> int:
    """Show in the Playground what the bot posted to the incident's channel. With the
    built-in sandbox the bot posts to the sandbox's connector (app/bot/outbound.py), not
    to the Playground's, so its request (`POST /v3/conversations`: isGroup, the channel,
    the activity as the bot sent it) is repeated to the Playground's connector, less the
    summary text: the Playground shows only the text of a post that has text and a card.
    The card, and all that is done with it afterwards, is the bot's own."""
    posts = [row for row in connector.sent_activities(sandbox.state)
             if row.get("new_conversation") and row.get("channel_id") == channel_id]
    http = requests.Session()
    http.trust_env = False
    try:
        for row in posts:
            activity = {k: v for k, v in row["activity"].items()
                        if k not in ("text", "textFormat")}
            http.post(f"{playground.url}_connector/v3/conversations", timeout=10, json={
                "isGroup": True, "channelData": {"channel": {"id": channel_id}},
                "activity": activity}).raise_for_status()
    finally:
        http.close()
    return len(posts)


def test_the_kickoff_cards_buttons(bot_app, relay, chromium):
    """The kickoff card as the bot posted it: "Show what I can do" asks the bot for this
    person's view (Universal Actions), whose buttons take a role and change the status,
    each answer replacing the card with the incident as it is now."""
    application, _bot_url, sandbox = bot_app
    incident_desk_user(application, ME)
    reference, channel_id, channel_name = declare_in_the_personal_chat(
        chromium, relay, application, "Checkout is slow")
    playground = start_playground(relay, channel=(channel_id, channel_name))
    try:
        page = open_playground(chromium, playground)
        page.get_by_label(f"Incidents - {channel_name}").click()
        before = cards_shown(page)
        assert show_the_bots_channel_posts(sandbox, playground, channel_id) == 1
        kickoff = new_card(page, before)
        assert reference in kickoff.inner_text()
        assert "Comms lead" not in kickoff.inner_text()  # not yet filled
        shot(page, "kickoff")

        kickoff.get_by_role("button", name="Show what I can do").click()
        kickoff.get_by_role("button", name="Take a role").click()
        shot(page, "kickoff-my-view")
        assert kickoff.get_by_role("combobox", name="Role").input_value() == "Comms lead"
        kickoff.get_by_role("button", name="Take this role").click()
        kickoff.get_by_text("Comms lead", exact=True).wait_for()
        shot(page, "kickoff-took-role")

        kickoff.get_by_role("button", name="Change status").first.click()
        new_status = kickoff.get_by_role("combobox", name="New status").input_value()
        kickoff.get_by_role("button", name="Change status").last.click()
        kickoff.get_by_text(new_status).first.wait_for()
        shot(page, "kickoff-status")
        assert cards_shown(page) == before + 1  # every answer replaced the same card
    finally:
        shot(page, "kickoff-last")
        playground.stop()
    with application.app_context():
        incident = db.Session.scalar(select(Incident))
        status = incident.status
        roles = sorted((key, held.user.name) for key, held in
                       incident.current_roles().items())
        db.Session.remove()
    assert status != "investigating"
    assert [name for _key, name in roles] == ["Ada Lovelace", "Ada Lovelace"]


def test_an_update_sent_from_the_card(bot_app, relay, chromium):
    """"Send an update" on the kickoff card shows the web's update form in the card
    (Universal Actions; the Playground opens no dialogs), a starting wording replaces the
    text, a refusal keeps what was typed, and Send posts the update the web's way: the
    card refreshed, the update stored and its Teams post and email delivered."""
    from playwright.sync_api import expect

    application, _bot_url, sandbox = bot_app
    incident_desk_user(application, ME)
    reference, channel_id, channel_name = declare_in_the_personal_chat(
        chromium, relay, application, "Checkout is slow")
    playground = start_playground(relay, channel=(channel_id, channel_name))
    try:
        page = open_playground(chromium, playground)
        page.get_by_label(f"Incidents - {channel_name}").click()
        before = cards_shown(page)
        assert show_the_bots_channel_posts(sandbox, playground, channel_id) == 1
        card = new_card(page, before)
        card.get_by_role("button", name="Show what I can do").click()
        card.get_by_role("button", name="Send an update").click()
        message = card.get_by_label("Update", exact=True)
        message.wait_for()
        shot(page, "update-form")
        assert "We are investigating reports that" in message.input_value()
        assert card.get_by_role("radio", name="Investigating").is_checked()
        assert card.get_by_label("Post it in the incident's Teams channel").is_checked()

        card.get_by_role("button", name="Monitoring").click()  # a starting wording
        expect(message).to_have_value(re.compile("A fix has been put in place"))
        assert card.get_by_role("radio", name="Monitoring").is_checked()

        message.fill("Checkout is fast again after the rollback.")
        card.get_by_label("Post it in the incident's Teams channel").uncheck()
        card.get_by_role("button", name="Send update").click()  # nobody to tell
        card.get_by_text("Choose at least one person").wait_for()
        shot(page, "update-refused")
        assert message.input_value() == "Checkout is fast again after the rollback."

        card.get_by_label("Post it in the incident's Teams channel").check()
        card.get_by_label("Also email").fill("ops@example.org")
        card.get_by_role("button", name="Send update").click()
        card.get_by_text("Update sent.", exact=False).wait_for()
        shot(page, "update-sent")
        assert reference in card.inner_text()
        assert card.get_by_role("button", name="Send an update").is_visible()
        assert cards_shown(page) == before + 1  # every answer replaced the same card
    finally:
        shot(page, "update-last")
        playground.stop()
    drain(application)  # the update's Teams post and email are outbox deliveries
    with application.app_context():
        incident = db.Session.scalar(select(Incident))
        update = db.Session.scalar(select(StatusUpdate))
        sent = (update.phase, update.message, update.to_channel, update.recipients,
                update.author.email)
        key = delivery_keys.update(incident.reference, update.id)
        deliveries = sorted((d.kind, d.status) for d in db.Session.scalars(
            select(Delivery).where(Delivery.key.startswith(key))))
        db.Session.remove()
    assert sent == ("monitoring", "Checkout is fast again after the rollback.", True,
                    ["ops@example.org"], ME.email)
    assert {kind for kind, _status in deliveries} >= {"mail.send"}
    assert len({kind for kind, _status in deliveries}) >= 2, deliveries  # Teams and email
    assert {status for _kind, status in deliveries} == {"delivered"}, deliveries
