"""An alert flood cannot open incidents, services and Teams work without bound (issue 15):
a request carries at most MAX_ALERTS alerts, a source opens at most its limit of
incidents an hour (the rest are grouped into one incident), alert labels never add
catalogue services, and the work is committed in batches."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import event, func, select
from sqlalchemy.orm import Session as OrmSession

from app.alerts import service
from app.alerts.models import AlertRecord, AlertSource
from app.alerts.parse import MAX_ALERTS
from app.auth.models import User
from app.incidents.models import Incident, Service, TimelineEntry
from app.outbox.models import Delivery

GROUPED = re.compile(r"^(\d+) more alerts? grouped here because generic prod opened its "
                     r"limit of (\d+) incidents in the last hour")


@pytest.fixture
def admin(session):
    user = User(entra_oid="dev-admin", name="Admin", email="admin@example.com", is_admin=True)
    session.add(user)
    session.commit()
    return user


@pytest.fixture
def source(session, admin):
    made, secret = service.create_source(session, admin, name="generic prod", kind="generic",
                                         severity=None)
    return made.id, secret


def flood(count: int, start: int = 0) -> list[dict]:
    return [{"title": f"Disk full on node-{i}", "fingerprint": f"disk-{i}",
             "service": f"node-{i}", "labels": {"team": "storage"}}
            for i in range(start, start + count)]


def post(app, source, payload):
    source_id, secret = source
    return app.test_client().post(f"/alerts/{source_id}", json=payload,
                                  headers={"Authorization": f"Bearer {secret}"})


def count(session, model) -> int:
    session.expire_all()
    total = session.scalar(select(func.count()).select_from(model))
    session.commit()
    return total


def grouped_notes(session) -> list[tuple[int, int]]:
    session.expire_all()
    texts = session.scalars(select(TimelineEntry.text).where(
        TimelineEntry.kind == "alerts_grouped").order_by(TimelineEntry.id)).all()
    session.commit()
    return [(int(m[1]), int(m[2])) for m in map(GROUPED.match, texts) if m]


def test_a_request_with_more_alerts_than_the_cap_is_refused_and_opens_nothing(
        app, session, source, fake_graph):
    response = post(app, source, flood(1_500))
    assert response.status_code == 413
    error = response.get_json()["error"]
    assert f"at most {MAX_ALERTS}" in error and "1500" in error
    assert [count(session, m) for m in (Incident, Service, Delivery, AlertRecord)] == [
        0, 0, 0, 0]


def test_a_source_opens_its_limit_then_groups_the_rest_into_one_incident(
        app, session, source, fake_graph, frozen_clock):
    response = post(app, source, flood(MAX_ALERTS))
    assert response.status_code == 202, response.get_json()
    body = response.get_json()
    actions = [i["action"] for i in body["incidents"]]
    assert body["received"] == MAX_ALERTS
    assert actions == ["opened"] * 5 + ["grouped"] * (MAX_ALERTS - 5)
    grouping = {i["reference"] for i in body["incidents"][5:]}
    assert len(grouping) == 1
    assert count(session, Incident) == 6  # five of their own, one for the rest
    assert count(session, Service) == 0  # labels never add catalogue services
    # Each incident's Teams work (channel, cards, meeting, broadcasts), six times over,
    # not a hundred times over.
    deliveries_after_flood = count(session, Delivery)
    assert 0 < deliveries_after_flood <= 6 * 4
    assert len(set(session.scalars(select(Delivery.incident_id)))) == 6
    session.commit()
    notes = grouped_notes(session)
    assert sum(n for n, _ in notes) == MAX_ALERTS - 5 and {lim for _, lim in notes} == {5}
    [incident] = session.scalars(select(Incident).where(
        Incident.reference == grouping.pop())).all()
    assert "opened its limit of 5 incidents in the last hour" in incident.description
    session.commit()

    # Within the hour, new conditions join the same grouping incident; repeats stay repeats.
    body = post(app, source, flood(10, start=MAX_ALERTS)).get_json()
    assert {i["action"] for i in body["incidents"]} == {"grouped"}
    assert {i["reference"] for i in body["incidents"]} == {incident.reference}
    body = post(app, source, flood(3)).get_json()
    assert [i["action"] for i in body["incidents"]] == ["repeat"] * 3
    assert count(session, Incident) == 6
    assert count(session, Delivery) <= deliveries_after_flood + 2 * 4  # notes, no new work

    # An hour on, the source may open incidents again.
    frozen_clock.advance(minutes=61)
    body = post(app, source, flood(1, start=500)).get_json()
    assert body["incidents"][0]["action"] == "opened"
    assert count(session, Incident) == 7


def test_a_source_may_have_its_own_limit(app, browser, session):
    browser.sign_in(admin=True)
    response = browser.submit("/alerts/sources", data={
        "name": "generic prod", "kind": "generic", "severity": "", "incidents_per_hour": "2"})
    assert response.status_code == 201, response.get_data(as_text=True)
    secret = re.search(r"ida_[\w-]+", response.get_data(as_text=True))[0]
    made = session.scalar(select(AlertSource))
    assert made.incidents_per_hour == 2
    body = post(app, (made.id, secret), flood(5)).get_json()
    assert [i["action"] for i in body["incidents"]] == ["opened"] * 2 + ["grouped"] * 3
    assert count(session, Incident) == 3
    assert grouped_notes(session) == [(3, 2)]


def test_an_out_of_range_limit_is_a_form_error_that_keeps_what_was_typed(app, browser,
                                                                         session):
    browser.sign_in(admin=True)
    response = browser.submit("/alerts/sources", data={
        "name": "Grafana staging", "kind": "grafana", "incidents_per_hour": "5000"})
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert "between 0 and 100" in page and 'value="Grafana staging"' in page
    assert count(session, AlertSource) == 0


def test_alert_services_match_the_catalogue_and_never_add_to_it(app, session, source):
    session.add(Service(name="Shop Frontend"))
    session.commit()
    body = post(app, source, [
        {"title": "Checkout 500s", "service": "shop frontend"},
        {"title": "Queue backlog", "service": "made-up-queue"}]).get_json()
    assert [i["action"] for i in body["incidents"]] == ["opened", "opened"]
    session.expire_all()
    known, unknown = session.scalars(select(Incident).order_by(Incident.id)).all()
    assert [s.name for s in known.services] == ["Shop Frontend"]
    assert unknown.services == []
    assert "made-up-queue" in unknown.description  # kept as text, not as a service
    assert session.scalars(select(Service.name)).all() == ["Shop Frontend"]


def test_intake_commits_in_batches_so_other_writers_get_turns(app, session, source):
    commits = []

    def counted(_session):
        commits.append(1)

    event.listen(OrmSession, "after_commit", counted)
    try:
        response = post(app, source, flood(MAX_ALERTS))
    finally:
        event.remove(OrmSession, "after_commit", counted)
    assert response.status_code == 202
    assert len(commits) >= MAX_ALERTS // service.BATCH_SIZE
    assert count(session, AlertRecord) == MAX_ALERTS
