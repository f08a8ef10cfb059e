"""Each change a person makes that adds to the timeline asks for the running report again,
through the event its service publishes (no session hook does it any more)."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from app.auth.models import User
from app.documents.service import key_of
from app.incidents.models import Incident
from app.outbox import service as outbox
from tests.conftest import drain
from tests.test_report_files import reports_graph, settle  # noqa: F401 (fixture)


def running_write(session, reference: str):
    session.expire_all()
    incident = session.scalar(select(Incident).where(Incident.reference == reference))
    return outbox.by_keys(session, [key_of(incident, "running")]).get(
        key_of(incident, "running"))


def version_of(browser, reference: str) -> str:
    form = browser.get(f"/incidents/{reference}/edit").get_data(as_text=True)
    return re.search(r'name="version" type="hidden" value="(\d+)"', form).group(1)


def bob(session) -> int:
    user = User(entra_oid="oid-bob", name="Bob Jones", email="bob@example.com")
    session.add(user)
    session.commit()
    return user.id


CHANGES = {
    "a note": lambda b, ref, _bob: b.submit(
        f"/incidents/{ref}", f"/incidents/{ref}/notes",
        {"note-text": "Restarted the pods", "note-entry_type": "action"}),
    "new details": lambda b, ref, _bob: b.submit(
        f"/incidents/{ref}/edit", data={"title": "Checkout slow, not down", "severity": "P2",
                                        "description": "", "reason": "Better view",
                                        "version": version_of(b, ref)}),
    "someone brought in": lambda b, ref, bob_id: b.submit(
        f"/incidents/{ref}", f"/incidents/{ref}/people", {"people-user": str(bob_id)}),
    "a role offered": lambda b, ref, bob_id: b.submit(
        f"/incidents/{ref}", f"/incidents/{ref}/roles",
        {"role-role": "incident_lead", "role-user": str(bob_id)}),
    "a status change": lambda b, ref, _bob: b.submit(
        f"/incidents/{ref}", f"/incidents/{ref}/status",
        {"status-status": "identified", "status-note": ""}),
}


@pytest.mark.parametrize("change", list(CHANGES))
def test_a_change_on_the_timeline_asks_for_the_running_report_again(
        change, app, browser, session, reports_graph, frozen_clock):  # noqa: F811
    bob_id = bob(session)
    browser.sign_in()
    reference = browser.declare(title="Checkout down", severity="P1")
    drain(app)
    settle(app, frozen_clock)
    written = running_write(session, reference)
    assert written is not None and written.status == "delivered"
    frozen_clock.advance(seconds=5)
    response = CHANGES[change](browser, reference, bob_id)
    assert response.status_code in (200, 302), response.get_data(as_text=True)[:500]
    again = running_write(session, reference)
    assert again.status == "pending", f"{change}: the running report was not asked for"
    settle(app, frozen_clock)
    assert running_write(session, reference).status == "delivered"
