"""A restricted (security) incident cannot be detected by someone who may not see it:
not by a gap in reference numbers, not by how a 404 for it differs from a missing one."""

from __future__ import annotations

import re

from sqlalchemy import select

from app.auth.models import User
from app.incidents import service
from tests.statements import Statements


def page_text(response) -> str:
    """The page without its per-response nonce."""
    return re.sub(r'nonce="[^"]*"', 'nonce=""', response.get_data(as_text=True))


def user(session, email, **flags) -> User:
    person = User(entra_oid=f"dev-{email}", name=email.split("@")[0], email=email, **flags)
    session.add(person)
    session.commit()
    return person


def test_security_incidents_number_in_their_own_series(session, org, frozen_clock):
    ada = user(session, "ada@example.com")
    first = service.declare(session, org, ada, title="Site down", description="",
                            severity="P2")
    breach = service.declare(session, org, ada, title="Data exposed", description="",
                             severity="P2", is_security=True)
    second = service.declare(session, org, ada, title="Site slow", description="",
                             severity="P2")
    year = frozen_clock().year
    assert first.reference == f"INC-{year}-0001"
    assert second.reference == f"INC-{year}-0002"  # no gap where the breach was declared
    assert breach.reference == f"SEC-{year}-0001"
    assert service.get_for(session, ada, breach.reference.lower()).id == breach.id


def test_a_security_incident_opens_by_its_reference(browser, frozen_clock):
    browser.sign_in()
    reference = browser.declare(is_security="y")
    assert reference.startswith("SEC-")
    page = browser.get(f"/incidents/{reference}")
    assert page.status_code == 200 and reference in page.get_data(as_text=True)


def test_hidden_and_missing_incidents_answer_with_the_same_queries(
        app, session, org, browser, frozen_clock):
    ada = user(session, "ada@example.com")
    breach = service.declare(session, org, ada, title="Data exposed", description="",
                             severity="P2", is_security=True)
    browser.sign_in(name="Bob", email="bob@example.com")
    engine = app.extensions["db_engine"]
    missing = breach.reference[:-4] + "0999"

    with Statements(engine) as hidden_run:
        hidden = browser.get(f"/incidents/{breach.reference}")
    with Statements(engine) as missing_run:
        absent = browser.get(f"/incidents/{missing}")

    assert hidden.status_code == absent.status_code == 404
    assert page_text(hidden) == page_text(absent)
    assert hidden_run.seen == missing_run.seen
    bob = session.scalar(select(User).where(User.email == "bob@example.com"))
    assert service.get_for(session, bob, breach.reference) is None
