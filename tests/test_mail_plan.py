"""The one mail planner (app/m365/mail_plan.py): To or Bcc, batches within Exchange
Online's per-message recipient limit, stable delivery keys; and the notices and the
status updates addressed by the same rule."""

from __future__ import annotations

import random
from dataclasses import replace

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from app.auth.models import User
from app.contacts.models import Contact
from app.core import clock
from app.m365 import mail_plan
from app.outbox.models import Delivery
from graph.port import MAX_MAIL_RECIPIENTS
from tests.conftest import drain

SENDER = "desk@example.com"
KEY = "INC-2026-0001/update/7"


def people(count: int) -> list[str]:
    return [f"person{n:04d}@example.com" for n in range(count)]


def test_one_recipient_is_addressed_to_directly():
    (only,) = mail_plan.batches(["bob@example.com"], sender=SENDER, key=KEY)
    assert (only.to, only.bcc, only.key) == (("bob@example.com",), (), f"{KEY}/mail/1")
    assert only.size == 1 and only.part == ""


def test_two_or_more_recipients_are_bcc_with_the_sender_in_to():
    (batch,) = mail_plan.batches(["bob@example.com", "cy@example.org"], sender=SENDER,
                                 key=KEY)
    assert batch.to == (SENDER,)
    assert batch.bcc == ("bob@example.com", "cy@example.org")
    assert batch.size == 2


def test_without_a_sender_address_many_recipients_still_do_not_see_each_other():
    (batch,) = mail_plan.batches(["bob@example.com", "cy@example.org"], sender=None, key=KEY)
    assert batch.to == () and batch.bcc == ("bob@example.com", "cy@example.org")


def test_no_recipients_plan_no_mail():
    assert mail_plan.batches([], sender=SENDER, key=KEY) == []
    assert mail_plan.batches(["", "  "], sender=SENDER, key=KEY) == []


@pytest.mark.parametrize(("count", "sender", "sizes"), [
    # The sender in To takes one of the message's places.
    (MAX_MAIL_RECIPIENTS - 1, SENDER, [MAX_MAIL_RECIPIENTS - 1]),
    (MAX_MAIL_RECIPIENTS, SENDER, [MAX_MAIL_RECIPIENTS - 1, 1]),
    (MAX_MAIL_RECIPIENTS + 1, SENDER, [MAX_MAIL_RECIPIENTS - 1, 2]),
    # Bcc only: every place is a recipient's.
    (MAX_MAIL_RECIPIENTS - 1, None, [MAX_MAIL_RECIPIENTS - 1]),
    (MAX_MAIL_RECIPIENTS, None, [MAX_MAIL_RECIPIENTS]),
    (MAX_MAIL_RECIPIENTS + 1, None, [MAX_MAIL_RECIPIENTS, 1]),
])
def test_batches_stay_within_the_limit_and_reach_everyone_once(count, sender, sizes):
    everyone = people(count)
    planned = mail_plan.batches(everyone, sender=sender, key=KEY)
    assert [len(b.bcc) for b in planned] == sizes
    assert all(len(b.to) + len(b.bcc) <= MAX_MAIL_RECIPIENTS for b in planned)
    assert sorted(a for b in planned for a in b.bcc) == sorted(everyone)
    assert [b.key for b in planned] == [f"{KEY}/mail/{n}" for n in range(1, len(sizes) + 1)]
    assert [b.part for b in planned] == (
        [""] if len(sizes) == 1 else [f" ({n} of {len(sizes)})" for n in range(1, 3)])


def test_the_same_people_in_any_order_or_case_get_the_same_batches_and_keys():
    everyone = people(1200)
    shuffled = everyone[:]
    random.Random(14).shuffle(shuffled)
    shuffled = [a.upper() if n % 3 == 0 else a for n, a in enumerate(shuffled)]
    again = shuffled + everyone[:50]  # repeated addresses are one recipient
    first = mail_plan.batches(everyone, sender=SENDER, key=KEY)
    second = mail_plan.batches(again, sender=SENDER, key=KEY)
    assert [b.key for b in first] == [b.key for b in second]
    assert [[a.lower() for a in b.bcc] for b in first] == [
        [a.lower() for a in b.bcc] for b in second]
    assert len({b.key for b in first}) == len(first) == 3


def test_planning_the_same_mail_again_cannot_store_a_second_send(app, session):
    installation = replace(app.extensions["installation"], mail_from=SENDER)

    def plan():
        return mail_plan.queue(session, installation, None, None, key=KEY,
                               recipients=people(600), subject="Update", html="<p>x</p>",
                               label=lambda b: f"Update email{b.part}")

    assert [d.key for d in plan()] == [f"{KEY}/mail/1", f"{KEY}/mail/2"]
    session.commit()
    plan()
    with pytest.raises(IntegrityError):
        session.commit()
    session.rollback()
    stored = session.scalars(select(Delivery).where(Delivery.key.like(f"{KEY}/mail/%"))).all()
    assert sorted(d.key for d in stored) == [f"{KEY}/mail/1", f"{KEY}/mail/2"]
    assert [d.payload["to"] for d in stored] == [[SENDER], [SENDER]]
    assert [d.payload["label"] for d in stored] == ["Update email (1 of 2)",
                                                    "Update email (2 of 2)"]


def addressing(mail: dict) -> tuple[list[str], list[str]]:
    return sorted(mail["to"]), sorted(mail["bcc"])


def test_notices_and_updates_are_addressed_by_the_same_rule(
        app, browser, other_browser, session, fake_graph):
    """A hand-over request (one person) and the security contacts' notice (two) go out
    through app/m365/notices.py; status updates to the same people are addressed alike."""
    app.extensions["installation"] = replace(app.extensions["installation"],
                                        security_emails=frozenset({"ciso@example.com"}))
    session.add(Contact(item_id="1", name="Dana DPO", email="dpo@example.org", service="",
                        role="DPO", severities=[], synced_at=clock.now()))
    session.commit()
    other_browser.sign_in(name="Bob Ng", email="bob@example.com")
    browser.sign_in(name="Ada Lovelace", email="ada@example.com")
    ref = browser.declare(title="Laptop stolen", is_security="y")
    drain(app)
    url = f"/incidents/{ref}"
    bob = session.scalar(select(User).where(User.email == "bob@example.com"))
    browser.submit(url, f"{url}/roles", {"role-role": "incident_lead", "role-user": str(bob.id)})
    for recipients in ("bob@example.com", "ciso@example.com\ndpo@example.org"):
        response = browser.submit(f"{url}/updates/new", data={
            "phase": "investigating", "message": "Still looking.",
            "extra_recipients": recipients})
        assert response.status_code == 302, response.get_data(as_text=True)
    drain(app)
    mails = fake_graph.mails()
    [handover] = [m for m in mails if "please take over" in m["subject"]]
    [security] = [m for m in mails if "Security incident" in m["subject"]]
    # (delivered in either order: the one to one person has nobody in Bcc)
    [to_bob, to_two] = sorted((m for m in mails if "Investigating" in m["subject"]),
                              key=lambda m: len(m["bcc"]))
    assert addressing(handover) == addressing(to_bob) == (["bob@example.com"], [])
    assert addressing(security) == addressing(to_two) == (
        ["ada@example.com"], ["ciso@example.com", "dpo@example.org"])
