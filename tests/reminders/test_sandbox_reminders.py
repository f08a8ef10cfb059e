"""Reminders due together, through the real msgraph-sdk over HTTP to the Graph sandbox:
one email and one Teams post, each listing every reminder, user text escaped."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from app.jobs import send_reminders
from app.outbox.models import Delivery
from tests.conftest import Browser, drain


@pytest.mark.slow
def test_reminders_due_together_reach_the_sandbox_as_one_email_and_one_post(
        sandbox_app, session, frozen_clock):
    from app.m365.sandbox_host import state_for

    frozen_clock.value = datetime(2026, 11, 24, 17, 0, tzinfo=UTC)  # Tuesday, 17:00
    browser = Browser(sandbox_app.test_client())
    browser.sign_in(name="Ada Lovelace", email="ada@example.com")
    reference = browser.declare(title="Pay <b>down</b> & out", severity="P1")
    drain(sandbox_app)
    frozen_clock.advance(minutes=10)
    with sandbox_app.app_context():
        assert send_reminders() == 1  # the empty comms lead role
    frozen_clock.advance(minutes=20)
    with sandbox_app.app_context():
        assert send_reminders() == 3  # summary, escalation, the role's 17:40 repeat
    drain(sandbox_app)
    session.expire_all()
    statuses = {d.key: d.status for d in session.scalars(
        select(Delivery).where(Delivery.key.contains("/reminders/")))}
    assert len(statuses) == 4 and set(statuses.values()) == {"delivered"}, statuses

    state = state_for(sandbox_app.extensions["settings"].graph_sandbox_db)
    [mail] = [m for m in state.mails() if "3 reminders" in m["subject"]]
    assert mail["subject"] == (f"{reference} 3 reminders: Consider escalating; "
                               "Time for a summary; A required role is not filled")
    for text in ("has been open for over 30 minutes", "add a short summary",
                 "still has no Comms lead"):
        assert text in mail["html"]
    assert "Pay &lt;b&gt;down&lt;/b&gt; &amp; out" in mail["html"]
    [post] = [m for m in state.messages() if "3 reminders about" in m["body"]["content"]]
    [card] = [json.loads(a["content"]) for a in post["attachments"]]
    texts = json.dumps(card)
    for text in ("Consider escalating", "Time for a summary", "A required role is not filled",
                 "Assign the role", "Add a summary to the timeline", "Bring someone in"):
        assert text in texts
