"""Alerts open incidents, deduplicated by fingerprint, authenticated per source."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from sqlalchemy import func, select

from app.alerts import service
from app.alerts.models import AlertRecord, AlertSource
from app.auth.models import User
from app.incidents.models import Incident, Service, TimelineEntry

SAMPLES = Path(__file__).parent / "alerts" / "samples"


def sample(name: str) -> dict:
    return json.loads((SAMPLES / f"{name}.json").read_text())


@pytest.fixture
def admin(session):
    user = User(entra_oid="dev-admin", name="Admin", email="admin@example.com", is_admin=True)
    session.add(user)
    session.commit()
    return user


def make_source(session, admin, kind: str, severity: str | None = None):
    source, secret = service.create_source(session, admin, name=f"{kind} prod", kind=kind,
                                           severity=severity)
    return source.id, secret


def post(client, source_id: int, secret: str | None, payload, **kwargs):
    headers = {"Authorization": f"Bearer {secret}"} if secret else {}
    return client.post(f"/alerts/{source_id}", json=payload, headers=headers, **kwargs)


def incidents(session) -> list[Incident]:
    session.expire_all()
    found = list(session.scalars(select(Incident).order_by(Incident.id)))
    session.commit()
    return found


def test_an_alert_opens_an_incident_and_repeats_update_it(app, session, admin):
    client = app.test_client()
    session.add(Service(name="shop-frontend"))  # alerts match the catalogue, never add to it
    session.commit()
    source_id, secret = make_source(session, admin, "alertmanager")
    response = post(client, source_id, secret, sample("alertmanager-firing"))
    assert response.status_code == 202, response.get_json()
    body = response.get_json()
    assert body["received"] == 2 and [i["action"] for i in body["incidents"]] == [
        "opened", "opened"]
    opened = incidents(session)
    assert [i.title for i in opened] == ["Probe failing: https://shop.example.org",
                                         "ProbeFailure on https://api.example.org/health"]
    first = opened[0]
    assert first.severity == "P1"  # critical: the most severe level
    assert [s.name for s in first.services] == ["shop-frontend"]
    assert first.declared_by.name == "Alert intake"
    assert "Opened automatically from alertmanager prod" in first.description

    # The same alerts again: no new incidents.
    body = post(client, source_id, secret, sample("alertmanager-firing")).get_json()
    assert [i["action"] for i in body["incidents"]] == ["repeat", "repeat"]
    assert len(incidents(session)) == 2
    # Recovered: recorded on the incident, which stays open for a person to resolve.
    body = post(client, source_id, secret, sample("alertmanager-resolved")).get_json()
    assert body["incidents"] == [{"reference": first.reference, "action": "resolved"}]
    session.expire_all()
    first = session.get(Incident, first.id)
    assert first.status == "investigating"
    assert "Alert recovered at source" in first.timeline[-1].text
    # Firing again after recovering: back on the same incident.
    body = post(client, source_id, secret, sample("alertmanager-firing")).get_json()
    assert body["incidents"][0] == {"reference": first.reference, "action": "fired_again"}
    record = session.scalar(select(AlertRecord).where(AlertRecord.incident_id == first.id))
    assert record.times_fired == 3 and record.status == "firing"


def test_a_closed_incident_does_not_swallow_a_new_alert(app, session, admin, org):
    from app.incidents import service as incident_service

    client = app.test_client()
    source_id, secret = make_source(session, admin, "azure-monitor")
    post(client, source_id, secret, sample("azure-monitor-fired"))
    [first] = incidents(session)
    assert first.severity == "P2"  # Sev1 → high → the second level
    for status in ("resolved", "closed"):
        incident_service.change_status(session, org, app.extensions["effects"], admin, first,
                                       status, "Fixed")
    body = post(client, source_id, secret, sample("azure-monitor-fired")).get_json()
    assert body["incidents"][0]["action"] == "opened"
    assert len(incidents(session)) == 2
    # A recovery for a closed incident's alert opens nothing.
    assert post(client, source_id, secret, sample("azure-monitor-resolved")).status_code == 202


def test_a_source_may_fix_the_severity(app, session, admin):
    source_id, secret = make_source(session, admin, "generic", severity="P3")
    post(app.test_client(), source_id, secret, {"title": "Disk 91% full", "severity": "critical"})
    assert incidents(session)[0].severity == "P3"


def test_each_source_needs_its_own_secret(app, session, admin):
    client = app.test_client()
    _am_id, am_secret = make_source(session, admin, "alertmanager")
    gen_id, gen_secret = make_source(session, admin, "generic")
    payload = {"title": "x"}
    assert post(client, gen_id, None, payload).status_code == 401
    assert post(client, gen_id, am_secret, payload).status_code == 401  # another's secret
    assert post(client, 999, gen_secret, payload).status_code == 401
    assert client.post(f"/alerts/{gen_id}?token={gen_secret}", json=payload).status_code == 401
    assert post(client, gen_id, gen_secret, payload).status_code == 202
    service.revoke(session, session.get(AlertSource, gen_id))
    assert post(client, gen_id, gen_secret, payload).status_code == 401
    assert len(incidents(session)) == 1


def test_bad_payloads_get_a_clear_400_and_open_nothing(app, session, admin):
    client = app.test_client()
    source_id, secret = make_source(session, admin, "azure-monitor")
    response = post(client, source_id, secret, sample("azure-monitor-metric-alert-legacy"))
    assert response.status_code == 400
    assert "common alert schema" in response.get_json()["error"]
    response = client.post(f"/alerts/{source_id}", data="not json",
                           headers={"Authorization": f"Bearer {secret}"})
    assert response.status_code == 400 and "JSON" in response.get_json()["error"]
    gen_id, gen_secret = make_source(session, admin, "generic")
    response = post(client, gen_id, gen_secret, {"title": ["a", "list"]})
    assert response.status_code == 400 and "title" in response.get_json()["error"]
    assert incidents(session) == []


def test_the_same_alert_twice_at_once_opens_one_incident(app, session, admin):
    source_id, secret = make_source(session, admin, "generic")
    payload = {"title": "Checkout 500s", "fingerprint": "checkout-500"}

    def send(_):
        return post(app.test_client(), source_id, secret, payload).get_json()

    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(send, range(4)))
    actions = sorted(r["incidents"][0]["action"] for r in results)
    assert actions == ["opened", "repeat", "repeat", "repeat"], results
    assert len(incidents(session)) == 1


def test_administrators_manage_sources_and_see_the_secret_once(app, browser, session):
    browser.sign_in(admin=True)
    response = browser.submit("/alerts/sources", data={"name": "Grafana prod",
                                                       "kind": "grafana", "severity": ""})
    assert response.status_code == 201
    page = response.get_data(as_text=True)
    source = session.scalar(select(AlertSource))
    assert f"/alerts/{source.id}" in page and "ida_" in page
    assert "ida_" not in browser.get("/alerts/sources").get_data(as_text=True).replace(
        source.prefix, "")  # only the prefix is shown again
    response = browser.submit("/alerts/sources", data={"name": "grafana PROD",
                                                       "kind": "grafana"})
    assert "There is already a source with that name." in response.get_data(as_text=True)
    response = browser.submit("/alerts/sources", f"/alerts/sources/{source.id}/revoke")
    assert response.status_code == 302
    assert session.scalar(select(func.count()).select_from(AlertSource).where(
        AlertSource.revoked_at.is_not(None))) == 1


def test_only_administrators_see_alert_sources(app, browser):
    browser.sign_in()
    assert browser.get("/alerts/sources").status_code == 403


def test_alert_text_is_escaped_on_the_incident_page(app, session, admin, browser):
    source_id, secret = make_source(session, admin, "generic")
    post(app.test_client(), source_id, secret,
         {"title": "<script>alert(1)</script>", "description": "<img src=x onerror=alert(1)>"})
    browser.sign_in()
    reference = incidents(session)[0].reference
    page = browser.get(f"/incidents/{reference}").get_data(as_text=True)
    assert "<script>alert(1)</script>" not in page and "<img src=x" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert session.scalar(select(func.count()).select_from(TimelineEntry)) >= 1
