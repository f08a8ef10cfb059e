"""The contract for finding and deleting drafts, held by the FakeGraph and by the real
client against the sandbox: what SendMail relies on to leave no orphan draft."""

from __future__ import annotations

import pytest

from graph.port import ME, Mail, NotFound, Sender
from tests.graph.conftest import ACTOR

SHARED = Sender("incidents@example.com")
# A key as deliveries spell them, with what an OData literal must escape.
KEY = "INC-2026-0001/mail/o'brien/1"


def mail(key: str = KEY, **overrides) -> Mail:
    values = dict(subject="Update", html_body="<p>Update</p>", to=["a@example.com"],
                  bcc=["secret@example.com"], delivery_key=key)
    values.update(overrides)
    return Mail(**values)


def test_a_draft_is_found_by_its_delivery_key_and_no_longer_once_sent(world):
    assert world.graph.find_drafts(ME, KEY) == []
    first = world.graph.create_draft(ME, mail())
    world.graph.create_draft(ME, mail("INC-2026-0001/mail/2"))
    world.graph.create_draft(ME, mail(""))
    assert world.graph.find_drafts(ME, KEY) == [first]
    assert world.graph.find_drafts(ME, KEY.upper()) == [first]  # Graph: case-insensitive
    assert world.graph.find_drafts(ME, "INC-2026-0001/mail") == []  # the whole key
    second = world.graph.create_draft(ME, mail())
    assert world.graph.find_drafts(ME, KEY) == [first, second]  # oldest first
    world.graph.send_draft(ME, first)
    assert world.graph.find_drafts(ME, KEY) == [second]
    (sent,) = world.state.mails()
    assert sent["headers"] == {"x-incident-desk-delivery": KEY} and sent["sender"] == ACTOR


def test_a_deleted_draft_is_gone_and_cannot_be_sent(world):
    draft = world.graph.create_draft(ME, mail())
    world.graph.delete_draft(ME, draft)
    assert world.state.drafts() == [] and world.graph.find_drafts(ME, KEY) == []
    with pytest.raises(NotFound):
        world.graph.delete_draft(ME, draft)
    with pytest.raises(NotFound):
        world.graph.send_draft(ME, draft)
    assert world.state.mails() == []


def test_a_sent_draft_cannot_be_deleted(world):
    draft = world.graph.create_draft(ME, mail())
    world.graph.send_draft(ME, draft)
    with pytest.raises(NotFound):
        world.graph.delete_draft(ME, draft)
    assert len(world.state.mails()) == 1


def test_drafts_are_per_mailbox(world):
    theirs = world.graph.create_draft(SHARED, mail())
    assert world.graph.find_drafts(ME, KEY) == []
    assert world.graph.find_drafts(SHARED, KEY) == [theirs]
    with pytest.raises(NotFound):
        world.graph.delete_draft(ME, theirs)
    world.graph.delete_draft(SHARED, theirs)
    assert world.state.drafts() == []
