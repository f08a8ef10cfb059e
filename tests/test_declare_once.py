"""An incident is declared once per form or card (incidents.service.declare's
`declare_key`): a double click, a browser's resend or two presses at the same moment."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from app.auth.models import User
from app.incidents import service
from app.incidents.models import Incident
from app.incidents.rules import AlreadyDeclared
from tests.conftest import csrf_from

KEY = "0123456789abcdef0123456789abcdef"


@pytest.fixture
def user(session):
    ada = User(entra_oid="dev-ada", name="Ada", email="ada@example.com")
    session.add(ada)
    session.commit()
    return ada


def _count(session) -> int:
    return session.scalar(select(func.count()).select_from(Incident))


def test_the_declare_page_sent_twice_shows_the_incident_it_declared(app, browser, session):
    browser.sign_in()
    page = browser.get("/incidents/new").get_data(as_text=True)
    key = re.search(r'name="declare_key" type="hidden" value="([0-9a-f]{32})"', page).group(1)
    form = {"csrf_token": csrf_from(page), "declare_key": key, "severity": "P2",
            "title": "example.com returning errors"}
    first = browser.client.post("/incidents/new", data=form)
    again = browser.client.post("/incidents/new", data=form)
    assert first.status_code == again.status_code == 302
    assert first.location == again.location
    assert _count(session) == 1
    shown = browser.get(again.location).get_data(as_text=True)
    assert "This form declared INC-" in shown and "already: here it is." in shown
    another = browser.get("/incidents/new").get_data(as_text=True)
    assert key not in another  # a new page, a new key


def test_a_malformed_key_is_a_clear_error_and_nothing_is_lost(app, browser, session):
    browser.sign_in()
    answer = browser.submit("/incidents/new", data={
        "declare_key": "not-a-key", "severity": "P2", "title": "Disk full"})
    assert answer.status_code == 400
    body = answer.get_data(as_text=True)
    assert "Reload the page and declare again." in body and 'value="Disk full"' in body
    assert _count(session) == 0


def test_the_same_key_twice_is_refused_with_the_incident(app, session, org, user):
    made = service.declare(session, org, user, title="Disk full", description="",
                           severity="P3", declare_key=KEY)
    with pytest.raises(AlreadyDeclared) as refused:
        service.declare(session, org, user, title="Disk full", description="",
                        severity="P3", declare_key=KEY)
    assert refused.value.incident.id == made.id
    assert made.reference in refused.value.message
    assert _count(session) == 1


def test_two_presses_at_the_same_moment_declare_once(app, session, org, user, monkeypatch):
    """Both presses find no incident with the key; the database's unique key lets one
    commit, and the other is told which incident it made."""
    made = service.declare(session, org, user, title="Disk full", description="",
                           severity="P3", declare_key=KEY)
    checks = []
    real = service._refuse_if_declared

    def not_yet_visible(session_, key):
        checks.append(key)
        if len(checks) > 1:  # the look after the refused commit sees the other's incident
            real(session_, key)

    monkeypatch.setattr(service, "_refuse_if_declared", not_yet_visible)
    with pytest.raises(AlreadyDeclared) as refused:
        service.declare(session, org, user, title="Disk full", description="",
                        severity="P3", declare_key=KEY)
    assert refused.value.incident.id == made.id and len(checks) == 2
    assert _count(session) == 1
