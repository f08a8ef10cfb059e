"""One way to record a timeline entry (app/incidents/timeline.py): stamped the same
way everywhere, on a new incident or a stored one, without loading the whole timeline."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from app.auth.models import User
from app.incidents import service, timeline
from app.incidents.models import Incident, TimelineEntry


@pytest.fixture
def stored(app, session, org):
    ada = User(entra_oid="dev-ada", name="Ada", email="ada@example.com")
    session.add(ada)
    session.commit()
    with app.app_context():
        incident = service.declare(session, org, ada, title="Checkout down", description="",
                                   severity="P3", effects=app.extensions["effects"])
    session.expunge_all()
    return session.scalar(select(Incident).where(Incident.id == incident.id)), ada


def test_an_entry_on_a_stored_incident_does_not_load_its_timeline(session, stored,
                                                                 frozen_clock):
    incident, ada = stored
    entry = timeline.record(incident, "note", "Rolled back", author=ada, note=" why ")
    assert "timeline" not in incident.__dict__  # not loaded to take one more entry
    session.commit()
    assert entry.incident_id == incident.id and entry.author_id == ada.id
    assert entry.data == {"note": "why"} and entry.occurred_at == entry.created_at
    assert entry in incident.timeline


def test_an_entry_by_id_needs_the_session(session, stored):
    incident, _ada = stored
    with pytest.raises(ValueError):
        timeline.record(incident.id, "note", "Nowhere to go")
    timeline.record(incident.id, "teams_channel", "Made", session=session)
    session.commit()
    kinds = session.scalars(select(TimelineEntry.kind).where(
        TimelineEntry.incident_id == incident.id)).all()
    assert "teams_channel" in kinds
