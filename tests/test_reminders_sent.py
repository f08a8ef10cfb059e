"""Reminders sent by the minute's job: exactly when due, once, held out of hours for
minor incidents, snoozable, and never after the incident is resolved."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select

from app.auth.models import User
from app.incidents import service
from app.jobs import send_reminders
from app.reminders.models import SentReminder
from tests.conftest import drain


def sent(session) -> list[tuple[str, str]]:
    session.expire_all()
    rows = [(r.kind, r.to) for r in session.scalars(select(SentReminder).order_by(
        SentReminder.id))]
    session.commit()
    return rows


def run(app) -> int:
    with app.app_context():
        return send_reminders()


def declare(app, session, org, severity: str, when: datetime, frozen_clock):
    frozen_clock.value = when
    ada = session.scalar(select(User).where(User.email == "ada@example.com"))
    if ada is None:
        ada = User(entra_oid="dev-ada", name="Ada Lovelace", email="ada@example.com")
        session.add(ada)
        session.commit()
    with app.app_context():
        incident = service.declare(session, org, ada, title="Checkout down", description="",
                                   severity=severity, effects=app.extensions["effects"])
    reference = incident.reference
    session.commit()
    return reference


def test_a_p1_at_night_reminds_when_due_and_only_once(
        app, session, org, fake_graph, frozen_clock):
    # Sunday 03:00 in London: out of hours, but a P1 pages people.
    declare(app, session, org, "P1", datetime(2026, 11, 22, 3, 0, tzinfo=UTC), frozen_clock)
    drain(app)
    frozen_clock.advance(minutes=9, seconds=59)
    assert run(app) == 0
    frozen_clock.advance(seconds=1)  # 10 minutes: the comms lead role is still empty
    assert run(app) == 1
    assert run(app) == 0  # the same due time is never sent twice
    assert sent(session) == [("role_unfilled", "Ada Lovelace")]
    drain(app)
    [mail] = [m for m in fake_graph.mails() if "required role" in m["subject"]]
    assert mail["to"] == ["ada@example.com"] and "Comms lead" in mail["html"]
    assert any("A required role is not filled" in str(m["attachments"])
               for m in fake_graph.messages())  # and in the incident's channel
    frozen_clock.advance(minutes=20)  # 30 minutes: summary and escalation, and the empty
    assert run(app) == 3  # role's repeat due at 40 rides along in the same notice
    assert sorted(kind for kind, _ in sent(session)) == ["escalate", "role_unfilled",
                                                         "role_unfilled", "summary"]
    frozen_clock.advance(minutes=10)  # 40 minutes: that repeat went already, not again
    assert run(app) == 0


def test_a_minor_incident_waits_for_working_hours(app, session, org, frozen_clock):
    # Friday 17:55 in London (GMT): the P3's reminders wait for Monday 10:00.
    declare(app, session, org, "P3", datetime(2026, 11, 27, 17, 55, tzinfo=UTC), frozen_clock)
    for hour in (18, 23):
        frozen_clock.value = datetime(2026, 11, 27, hour, 30, tzinfo=UTC)
        assert run(app) == 0
    frozen_clock.value = datetime(2026, 11, 29, 3, 0, tzinfo=UTC)  # Sunday night
    assert run(app) == 0
    frozen_clock.value = datetime(2026, 11, 30, 9, 59, tzinfo=UTC)
    assert run(app) == 0
    frozen_clock.value = datetime(2026, 11, 30, 10, 0, tzinfo=UTC)
    first = run(app)
    kinds = [kind for kind, _ in sent(session)]
    assert first >= 1 and len(kinds) == len(set(kinds))  # one of each, not a backlog
    assert run(app) == 0


def test_nothing_after_resolving(app, session, org, frozen_clock):
    reference = declare(app, session, org, "P1", datetime(2026, 11, 23, 11, 0, tzinfo=UTC),
                        frozen_clock)
    incident = service.get_for(session, session.scalar(select(User)), reference)
    ada = session.scalar(select(User))
    service.change_status(session, org, app.extensions["effects"], ada, incident, "resolved",
                          "Fixed")
    frozen_clock.advance(hours=3)
    assert run(app) == 0 and sent(session) == []


def test_snoozing_from_the_page_puts_a_reminder_off(app, browser, session, org, frozen_clock):
    frozen_clock.value = datetime(2026, 11, 23, 11, 0, tzinfo=UTC)  # Monday, in hours
    browser.sign_in(name="Ada Lovelace", email="ada@example.com")
    reference = browser.declare(severity="P1")
    frozen_clock.advance(minutes=10)
    run(app)
    url = f"/incidents/{reference}"
    page = browser.get(url).get_data(as_text=True)
    assert "A required role is not filled" in page
    response = browser.submit(url, f"{url}/reminders/role_unfilled/snooze",
                              {"snooze-role_unfilled-minutes": "60"})
    assert response.status_code == 302
    assert "snoozed until 12:10" in browser.get(response.location).get_data(as_text=True)
    frozen_clock.advance(minutes=30)  # the repeat would be due now, but it is snoozed
    run(app)
    assert [k for k, _ in sent(session)].count("role_unfilled") == 1
    frozen_clock.advance(minutes=30)
    run(app)
    assert [k for k, _ in sent(session)].count("role_unfilled") == 2
    assert browser.client.post(f"{url}/reminders/role_unfilled/snooze",
                               data={"snooze-role_unfilled-minutes": "60"}).status_code == 400
    assert browser.submit(url, f"{url}/reminders/nonsense/snooze").status_code == 404
