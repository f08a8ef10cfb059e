"""The message actions tried in Microsoft 365 Agents Playground, driven in headless
Chromium as a person would: a post in the incident's channel, then on it *Show more
information* → *Action Command* with the command id typed (the Playground reads no
manifest), the bot's dialog (composeExtension/fetchTask) drawn by Microsoft's renderer,
filled in and submitted (composeExtension/submitAction); the entry found on the incident
page and in the Word report with the message's author and time, and an incident declared
from the same message. What the Playground sends is not all Teams sends: its
messagePayload has an empty linkToMessage and the person's Teams id as `from.user.id`
(docs/teams-message-actions.md), so the link is tested through the sandbox's emulation
(tests/bot/test_message_actions.py)."""

from __future__ import annotations

import html
import re
from datetime import datetime
from io import BytesIO

import pytest
from docx import Document
from sqlalchemy import select

from app import db
from app.bot import message_actions
from app.incidents.models import Incident, TimelineEntry
from app.m365.models import TeamsChannel
from tests.conftest import Browser, drain
from tests.playground.conftest import ME, start_playground
from tests.playground.test_playground import COMPOSE, open_playground, shot

pytestmark = pytest.mark.slow
POSTED = "db-2 CPU at 100% since 08:50, failing over to db-3"
DIALOG = '[role="dialog"]'


def post_plainly(page, text: str):
    """A channel post that does not mention the app (the bot is told of it and says
    nothing); returns the post as the page shows it."""
    page.locator(COMPOSE).first.click()
    page.keyboard.type(text)
    page.get_by_role("button", name="Post").click()
    post = page.get_by_text(text, exact=True).first
    post.wait_for()
    return post


def choose_action(page, post, command_id: str):
    """On the post: Show more information → Action Command, the command id typed, the
    dialog fetched from the bot (Adaptive Cards). Returns the dialog."""
    post.hover()
    page.get_by_role("button", name="Show more information").first.click()
    page.get_by_role("menuitem", name="Action Command").click()
    dialog = page.locator(DIALOG).last
    dialog.get_by_placeholder("Input command id or leave blanks").fill(command_id)
    dialog.get_by_role("button", name="Create").click()
    return page.locator(DIALOG).last


def test_a_channel_message_added_to_the_timeline_and_an_incident_declared_from_it(
        bot_app, relay, chromium):
    application, _bot_url, _sandbox = bot_app
    ada = Browser(application.test_client())
    ada.sign_in(name=ME.name, email=ME.email)  # the sandbox's object id for the email
    reference = ada.declare(title="Search is slow", severity="P2")
    drain(application)  # the incident's channel
    with application.app_context():
        channel = db.Session.scalar(select(TeamsChannel))
        channel_id, channel_name = channel.channel_id, channel.name
        db.Session.remove()
    ada.declare(title="Checkout is slow", severity="P3")  # newer: listed first elsewhere

    playground = start_playground(relay, channel=(channel_id, channel_name))
    try:
        page = open_playground(chromium, playground)
        page.get_by_label(f"Incidents - {channel_name}").click()
        post = post_plainly(page, POSTED)
        shot(page, "message-posted")

        dialog = choose_action(page, post, message_actions.ADD_TO_TIMELINE)
        dialog.get_by_label("Add to the log").wait_for()
        shot(page, "message-timeline-dialog")
        assert dialog.get_by_label("Add to the log").input_value() == POSTED
        assert dialog.get_by_role("combobox", name="Incident").input_value().startswith(
            reference)  # the channel's own incident
        assert f"From {ME.name}'s message in Teams" in dialog.inner_text()
        dialog.get_by_role("radio", name="Decision").check()
        dialog.get_by_label("Add to the log").fill("Fail over to db-3: " + POSTED)
        dialog.get_by_role("button", name="Add to the timeline").click()
        dialog.get_by_text(f"Added to the {reference} timeline as decision.").wait_for()
        shot(page, "message-timeline-added")

        dialog.get_by_role("button", name="Close").first.click()
        dialog = choose_action(page, post, message_actions.DECLARE)
        dialog.get_by_label("Title").wait_for()
        shot(page, "message-declare-dialog")
        assert dialog.get_by_label("Title").input_value() == POSTED
        assert dialog.get_by_label("What is happening?").input_value() == POSTED
        dialog.get_by_label(re.compile(r"^P3")).check()
        dialog.get_by_role("button", name="Declare incident").click()
        dialog.get_by_text(re.compile(r"INC-\d{4}-\d{4} declared")).wait_for()
        shot(page, "message-declared")
    finally:
        shot(page, "message-last")
        playground.stop()

    with application.app_context():
        entry = db.Session.scalar(select(TimelineEntry).where(
            TimelineEntry.entry_type == "decision"))
        source, occurred_at = entry.data["teams_message"], entry.occurred_at
        declared = db.Session.scalar(select(Incident).where(Incident.title == POSTED))
        declared_by = declared.declared_by.email
        db.Session.remove()
    assert source["sender"] == ME.name and source["web_url"] == ""
    assert occurred_at == datetime.fromisoformat(source["sent_at"])
    assert declared_by == ME.email

    with application.app_context():
        local = application.jinja_env.filters["local"](occurred_at)
    page_text = re.sub(r"<[^>]+>", "", html.unescape(
        ada.get(f"/incidents/{reference}").get_data(as_text=True)))
    assert "Fail over to db-3: " + POSTED in page_text
    assert f"From a Teams message by {ME.name}, posted {local}" in page_text
    document = Document(BytesIO(ada.get(f"/incidents/{reference}/reports/running.docx").data))
    words = "\n".join(cell.text for table in document.tables for row in table.rows
                      for cell in row.cells)
    assert "Fail over to db-3: " + POSTED in words
    assert f"From a Teams message by {ME.name}, posted {local}" in words
