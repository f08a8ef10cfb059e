"""Pages run a fixed number of SQL statements however much data they show (no N+1).

Counts statements, not time: it holds on any machine. bench/ measures the speed.
"""

from __future__ import annotations

import pytest
from sqlalchemy import event

from app.auth.models import User
from app.incidents import scribe, service
from app.people import service as people
from app.updates.service import post_update


class QueryCounter:
    def __init__(self, engine):
        self.engine = engine
        self.statements: list[str] = []

    def __enter__(self):
        event.listen(self.engine, "before_cursor_execute", self._seen)
        return self

    def __exit__(self, *exc):
        event.remove(self.engine, "before_cursor_execute", self._seen)

    def _seen(self, _conn, _cursor, statement, *_args):
        if not statement.lstrip().upper().startswith(("BEGIN", "SAVEPOINT", "RELEASE")):
            self.statements.append(statement)


def queries_for(app, browser, url: str) -> int:
    with QueryCounter(app.extensions["db_engine"]) as counter:
        response = browser.get(url)
    assert response.status_code == 200
    return len(counter.statements)


def make_incidents(session, org, user, count: int, effects=None):
    incidents = []
    for number in range(count):
        incidents.append(service.declare(
            session, org, user, title=f"Incident {number}", description="d", severity="P2",
            new_services=[f"Service {number % 4}", "Shared"], effects=effects))
    return incidents


@pytest.fixture
def ada(browser, session):
    browser.sign_in()
    from sqlalchemy import select

    return session.scalar(select(User).where(User.email == "ada@example.com"))


def test_the_incident_list_does_not_query_per_incident(app, browser, session, org, ada,
                                                       frozen_clock):
    make_incidents(session, org, ada, 3)
    few = queries_for(app, browser, "/incidents")
    make_incidents(session, org, ada, 22)
    many = queries_for(app, browser, "/incidents")
    assert many == few, f"{few} statements for 3 incidents, {many} for 25"


def test_the_incident_page_does_not_query_per_timeline_entry(app, browser, session, org, ada,
                                                              fake_graph, frozen_clock):
    effects = app.extensions["effects"]
    (incident,) = make_incidents(session, org, ada, 1, effects=effects)
    url = f"/incidents/{incident.reference}"
    few = queries_for(app, browser, url)
    others = []
    for number in range(6):
        person = User(entra_oid=f"dev-{number}", name=f"Person {number}",
                      email=f"p{number}@example.com")
        session.add(person)
        others.append(person)
    session.commit()
    for number in range(40):
        author = others[number % len(others)]
        scribe.add_entry(session, author, incident, text=f"Note {number}", entry_type="event",
                         effects=effects)
        if number % 10 == 0:
            people.assign_or_offer(session, org, effects, author, incident, "comms_lead",
                                   author)  # takes it over
            post_update(session, org, effects, author, incident, phase="investigating",
                        message=f"Update {number}", to_channel=True,
                        recipients=["a@example.com"])
    many = queries_for(app, browser, url)
    assert many == few, f"{few} statements before, {many} with 40 more entries"
