"""The JSON API: token auth, the same rules as the forms, nothing half-saved, never a 500."""

from __future__ import annotations

import json
import random

import pytest
from sqlalchemy import func, select

from app.auth.models import User
from app.auth.service import create_api_token, revoke_api_token
from app.incidents.models import Incident, TimelineEntry


@pytest.fixture
def token(app, browser, session):
    browser.sign_in(name="Bot Owner", email="owner@example.com")
    user = session.scalar(select(User).where(User.email == "owner@example.com"))
    _row, secret = create_api_token(session, user, "automation")
    return secret


def call(app, method, url, token=None, body=None, raw=None, **headers):
    if token:
        headers["Authorization"] = f"Bearer {token}"
    client = app.test_client()
    kwargs = {"headers": headers}
    if raw is not None:
        kwargs["data"] = raw
        kwargs["content_type"] = "application/json"
    elif body is not None:
        kwargs["json"] = body
    return client.open(url, method=method, **kwargs)


def count(session, model):
    session.expire_all()
    return session.scalar(select(func.count()).select_from(model))


def declare(app, token, **fields):
    body = {"title": "API outage", "severity": "P2", "description": "from the API"}
    body.update(fields)
    response = call(app, "POST", "/api/v1/incidents", token, body)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


@pytest.mark.parametrize("header", [None, "Bearer", "Bearer idk_not-a-real-token",
                                    "Basic b3duZXI6cGFzcw==", "bearer  "])
def test_requests_without_a_valid_token_are_refused(app, token, header):
    headers = {"Authorization": header} if header else {}
    response = call(app, "GET", "/api/v1/incidents", **headers)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert "API token" in response.get_json()["error"]


def test_a_revoked_token_stops_working(app, token, session):
    assert call(app, "GET", "/api/v1/incidents", token).status_code == 200
    user = session.scalar(select(User).where(User.email == "owner@example.com"))
    token_id = user.api_tokens[0].id
    assert revoke_api_token(session, user, token_id)
    assert call(app, "GET", "/api/v1/incidents", token).status_code == 401


def test_declaring_through_the_api(app, token, session, frozen_clock):
    response = call(app, "POST", "/api/v1/incidents", token, {
        "title": "  Search   returning nothing ", "severity": "P1",
        "services": ["Search", "search "], "is_security": False})
    assert response.status_code == 201
    data = response.get_json()
    assert data["reference"] == "INC-2026-0001"
    assert response.headers["Location"].endswith("/api/v1/incidents/INC-2026-0001")
    assert data["title"] == "Search returning nothing"
    assert data["services"] == ["Search"]
    assert data["roles"]["incident_lead"]["email"] == "owner@example.com"
    detail = call(app, "GET", "/api/v1/incidents/inc-2026-0001", token).get_json()
    assert [e["kind"] for e in detail["timeline"]] == ["declared", "role_assigned"]


@pytest.mark.parametrize("body, field", [
    ({"severity": "P1"}, "title"),
    ({"title": "x", "severity": "P9"}, "severity"),
    ({"title": "x" * 201, "severity": "P1"}, "title"),
    ({"title": ["a", "b"], "severity": "P1"}, None),
    ({"title": "x", "severity": "P1", "services": [{"nested": 1}]}, None),
])
def test_bad_declarations_are_explained_and_save_nothing(app, token, session, body, field):
    before = (count(session, Incident), count(session, TimelineEntry))
    response = call(app, "POST", "/api/v1/incidents", token, body)
    assert response.status_code in (400, 422)
    payload = response.get_json()
    assert payload["error"]
    if field:
        assert field in payload["fields"]
    assert (count(session, Incident), count(session, TimelineEntry)) == before


@pytest.mark.parametrize("raw", ["not json", "[1, 2]", '"a string"', "null", ""])
def test_bodies_that_are_not_json_objects_are_400(app, token, session, raw):
    response = call(app, "POST", "/api/v1/incidents", token, raw=raw)
    assert response.status_code == 400
    assert "JSON object" in response.get_json()["error"]
    assert count(session, Incident) == 0


def test_the_whole_lifecycle_through_the_api(app, token, frozen_clock):
    ref = declare(app, token)["reference"]
    base = f"/api/v1/incidents/{ref}"
    for status in ("identified", "monitoring"):
        response = call(app, "POST", f"{base}/status", token, {"status": status})
        assert response.status_code == 200 and response.get_json()["status"] == status
    response = call(app, "POST", f"{base}/status", token, {"status": "resolved"})
    assert response.status_code == 422  # resolving needs a note
    assert call(app, "POST", f"{base}/status", token, {"status": "closed"}).status_code == 422
    response = call(app, "POST", f"{base}/status", token,
                    {"status": "resolved", "note": "Rolled back"})
    assert response.get_json()["resolution"] == "Rolled back"
    response = call(app, "POST", f"{base}/status", token, {"status": "closed"})
    assert response.status_code == 200 and response.get_json()["next_statuses"] == []
    assert call(app, "POST", f"{base}/notes", token, {"text": "late"}).status_code == 422
    assert call(app, "POST", f"{base}/status", token,
                {"status": "investigating", "note": "again"}).status_code == 422


def test_edits_check_the_version_and_go_on_the_timeline(app, token, frozen_clock):
    data = declare(app, token)
    base = f"/api/v1/incidents/{data['reference']}"
    response = call(app, "PATCH", base, token, {"severity": "P1", "version": data["version"],
                                                "reason": "more users affected"})
    assert response.status_code == 200 and response.get_json()["severity"] == "P1"
    stale = call(app, "PATCH", base, token, {"title": "Stale", "version": data["version"]})
    assert stale.status_code == 409
    detail = call(app, "GET", base, token).get_json()
    assert detail["title"] == "API outage"
    (change,) = [e for e in detail["timeline"] if e["kind"] == "severity_change"]
    assert change["text"] == "Severity raised: P2 → P1" and change["note"] == "more users affected"


def test_roles_are_assigned_by_email(app, token, browser, other_browser, frozen_clock):
    other_browser.sign_in(name="Cam Comms", email="cam@example.com")
    base = f"/api/v1/incidents/{declare(app, token)['reference']}"
    response = call(app, "POST", f"{base}/roles", token,
                    {"role": "comms_lead", "email": "CAM@example.com"})
    assert response.status_code == 200
    assert response.get_json()["roles"]["comms_lead"]["name"] == "Cam Comms"
    response = call(app, "POST", f"{base}/roles", token,
                    {"role": "comms_lead", "email": "nobody@example.com"})
    assert response.status_code == 422 and "email" in response.get_json()["fields"]
    response = call(app, "POST", f"{base}/roles", token,
                    {"role": "astronaut", "email": "cam@example.com"})
    assert response.status_code == 422


def test_a_held_role_is_offered_and_the_answer_says_so(app, token, other_browser,
                                                       frozen_clock):
    other_browser.sign_in(name="Cam Comms", email="cam@example.com")
    base = f"/api/v1/incidents/{declare(app, token)['reference']}"
    response = call(app, "POST", f"{base}/roles", token,
                    {"role": "incident_lead", "email": "cam@example.com"})
    assert response.status_code == 200
    data = response.get_json()
    assert data["roles"]["incident_lead"]["email"] == "owner@example.com"
    assert {k: data["handover"][k] for k in ("role", "status", "from", "to")} == {
        "role": "incident_lead", "status": "pending", "from": "owner@example.com",
        "to": "cam@example.com"}


def test_notes_are_scribe_log_entries_with_the_logs_rules(app, token, frozen_clock):
    base = f"/api/v1/incidents/{declare(app, token)['reference']}"
    response = call(app, "POST", f"{base}/notes", token,
                    {"text": "Roll back", "entry_type": "decision", "when": "08:30"})
    assert response.status_code == 201
    note = response.get_json()
    assert (note["kind"], note["entry_type"]) == ("note", "decision")
    assert (note["text"], note["at"]) == ("Roll back", "2026-11-22T08:30:00+00:00")
    for body, field in (({"text": "x", "when": "soon"}, "when"),
                        ({"text": "x", "when": "23:59"}, "when"),
                        ({"text": "x", "entry_type": "gossip"}, "entry_type")):
        response = call(app, "POST", f"{base}/notes", token, body)
        assert response.status_code == 422 and field in response.get_json()["fields"]


def test_security_incidents_are_invisible_to_other_tokens(app, token, session, frozen_clock):
    secret_ref = declare(app, token, is_security=True)["reference"]
    declare(app, token, title="Public one")
    other = User(entra_oid="dev-other", name="Other", email="other@example.com")
    session.add(other)
    session.commit()
    _row, other_token = create_api_token(session, other, "theirs")
    assert call(app, "GET", f"/api/v1/incidents/{secret_ref}", other_token).status_code == 404
    assert call(app, "POST", f"/api/v1/incidents/{secret_ref}/notes", other_token,
                {"text": "peek"}).status_code == 404
    listed = call(app, "GET", "/api/v1/incidents", other_token).get_json()
    assert [i["title"] for i in listed["incidents"]] == ["Public one"]


def test_the_list_filters_and_pages(app, token, frozen_clock):
    for number in range(30):
        frozen_clock.advance(minutes=1)
        declare(app, token, title=f"Incident {number}",
                severity="P1" if number % 3 == 0 else "P3",
                services=["Payments"] if number % 2 else [])
    first = call(app, "GET", "/api/v1/incidents", token).get_json()
    assert (first["total"], first["pages"], len(first["incidents"])) == (30, 2, 25)
    assert first["incidents"][0]["title"] == "Incident 29"
    second = call(app, "GET", "/api/v1/incidents?page=2", token).get_json()
    assert [i["title"] for i in second["incidents"]] == [f"Incident {n}" for n in (4, 3, 2, 1, 0)]
    p1 = call(app, "GET", "/api/v1/incidents?severity=P1", token).get_json()
    assert p1["total"] == 10
    assert call(app, "GET", "/api/v1/incidents?severity=P7", token).status_code == 422


def random_value(rng: random.Random, depth: int = 0):
    choice = rng.randrange(9 if depth < 2 else 6)
    if choice == 0:
        return None
    if choice == 1:
        return rng.choice([True, False])
    if choice == 2:
        return rng.randint(-10**12, 10**12)
    if choice == 3:
        return rng.random() * 1e6
    if choice == 4:
        return "".join(chr(rng.randrange(1, 0x2FFF)) for _ in range(rng.randrange(0, 40)))
    if choice == 5:
        return rng.choice(["P1", "P2", "identified", "resolved", "closed", "comms_lead",
                           "owner@example.com", "x" * 30_000, "", " ", "\x00", "<script>"])
    if choice == 6:
        return [random_value(rng, depth + 1) for _ in range(rng.randrange(0, 4))]
    return {rng.choice(["title", "severity", "status", "note", "text", "email", "role",
                        "services", "version", "description"]): random_value(rng, depth + 1)
            for _ in range(rng.randrange(0, 6))}


def test_fuzzed_bodies_never_cause_a_server_error(app, token, frozen_clock):
    ref = declare(app, token)["reference"]
    rng = random.Random(20261124)
    installation = [("POST", "/api/v1/incidents"), ("PATCH", f"/api/v1/incidents/{ref}"),
               ("POST", f"/api/v1/incidents/{ref}/status"),
               ("POST", f"/api/v1/incidents/{ref}/roles"),
               ("POST", f"/api/v1/incidents/{ref}/notes")]
    for _ in range(300):
        method, url = rng.choice(installation)
        body = random_value(rng)
        if not isinstance(body, dict) and rng.random() < 0.7:
            body = {"title": body, "severity": random_value(rng), "status": random_value(rng)}
        response = call(app, method, url, token, raw=json.dumps(body))
        assert response.status_code < 500, (method, url, body, response.get_data())
        assert response.is_json


@pytest.mark.parametrize("method, path, body", [
    ("POST", "/status", {"status": "identified"}),
    ("PATCH", "", {"title": "Renamed at the same moment"}),
])
def test_a_write_racing_another_on_the_same_incident_is_a_409_not_a_500(
        app, token, session, method, path, body):
    """Another request saves the incident between this one's read and its write: the
    version check refuses it (StaleDataError), and the API says so as the web does."""
    from sqlalchemy import event
    from sqlalchemy.orm import Session as OrmSession
    from sqlalchemy.orm.attributes import set_committed_value

    reference = declare(app, token)["reference"]
    raced: list[bool] = []

    def another_save_first(flushing, _context, _instances):
        """As if this request had read the row before another's save: its version is one
        behind the database's (SQLite's write lock serialises real requests here)."""
        for row in flushing.dirty:
            if isinstance(row, Incident) and not raced:
                raced.append(True)
                set_committed_value(row, "version", row.version - 1)

    event.listen(OrmSession, "before_flush", another_save_first)
    try:
        response = call(app, method, f"/api/v1/incidents/{reference}{path}", token, body)
    finally:
        event.remove(OrmSession, "before_flush", another_save_first)
    assert raced and response.status_code == 409, response.get_json()
    assert "at the same moment" in response.get_json()["error"]
    session.expire_all()
    after = session.scalar(select(Incident).where(Incident.reference == reference))
    assert after.status == "investigating" and after.title == "API outage"  # nothing saved
