"""One path per use case: each API action and its web twin, done by the same person to two
fresh incidents, cause the same things (timeline, roles, participants, hand-overs and
Microsoft 365 deliveries), so an automation sees the incident a person on the page would."""

from __future__ import annotations

import re
from dataclasses import dataclass

import pytest
from markupsafe import escape
from sqlalchemy import or_, select

from app.alerts.service import SYSTEM_OID
from app.auth.models import User
from app.auth.service import create_api_token
from app.incidents.models import Incident, Participant, RoleAssignment
from app.outbox.models import Delivery
from app.people.models import RoleHandover
from tests.conftest import Browser, drain


@dataclass
class World:
    app: object
    session: object
    browser: Browser
    token: str
    bob: User
    system: User

    def api(self, method: str, url: str, body: dict):
        return self.app.test_client().open(
            url, method=method, json=body, headers={"Authorization": f"Bearer {self.token}"})


@pytest.fixture
def world(app, browser, other_browser, session, fake_graph, frozen_clock):
    """Ada on the web and Ada's API token, Bob signed in, and alert intake's account."""
    browser.sign_in(name="Ada Lovelace", email="ada@example.com")
    other_browser.sign_in(name="Bob Ng", email="bob@example.com")
    ada = session.scalar(select(User).where(User.email == "ada@example.com"))
    bob = session.scalar(select(User).where(User.email == "bob@example.com"))
    system = User(entra_oid=SYSTEM_OID, name="Alert intake",
                  email="alert-intake@incident-desk.invalid")
    session.add(system)
    session.commit()
    _row, token = create_api_token(session, ada, "parity")
    return World(app, session, browser, token, bob, system)


# ---- what an incident's story is, without ids, references or times ------------------


def _shape(text: str | None, reference: str) -> str | None:
    """A key or text with the incident's reference and any ids taken out."""
    if text is None:
        return None
    return re.sub(r"\d+", "<n>", text.replace(reference, "<ref>"))


def _text(text: str, incident: Incident) -> str:
    """A timeline text with the incident's reference (and its channel's short form, as in
    "inc-0007-…" or "sec-0002-…") taken out."""
    series = incident.reference.split("-", 1)[0].lower()
    return re.sub(rf"{series}-{incident.number:04d}\b", f"{series}-<n>",
                  text.replace(incident.reference, "<ref>"), flags=re.IGNORECASE)


def _email(person: User | None) -> str | None:
    return person.email if person else None


def effects(world: World, reference: str) -> dict:
    """Everything an action can have caused, comparable between two incidents."""
    drain(world.app)
    session = world.session
    session.expire_all()
    incident = session.scalar(select(Incident).where(Incident.reference == reference))
    found = {
        "incident": (incident.title, incident.description, incident.severity,
                     incident.status, incident.is_security, incident.resolution,
                     sorted(s.name for s in incident.services), incident.version),
        # As a set with each entry's time: what Teams jobs record lands in either order.
        "timeline": sorted((
            ((e.occurred_at - incident.declared_at).total_seconds(), e.kind, e.entry_type,
             _text(e.text, incident), sorted(e.data), e.data.get("note"), _email(e.author))
            for e in incident.timeline), key=repr),
        "roles": sorted(
            (a.role, _email(a.user), _email(a.assigned_by), a.released_at is None)
            for a in session.scalars(select(RoleAssignment)
                                     .where(RoleAssignment.incident_id == incident.id))),
        "participants": sorted(
            (_email(p.user), _email(p.added_by))
            for p in session.scalars(select(Participant)
                                     .where(Participant.incident_id == incident.id))),
        "handovers": [
            (h.role, _email(h.from_user), _email(h.to_user), _email(h.requested_by),
             h.status, h.note)
            for h in session.scalars(select(RoleHandover)
                                     .where(RoleHandover.incident_id == incident.id)
                                     .order_by(RoleHandover.id))],
        "deliveries": sorted(
            (d.kind, _shape(d.key, reference), _email(d.actor), d.status)
            for d in session.scalars(select(Delivery).where(or_(
                Delivery.incident_id == incident.id,
                Delivery.key.startswith(f"{reference}/"))))),
    }
    session.commit()  # end the read: on SQLite it holds the write lock jobs need
    return found


def two_fresh_incidents(world: World) -> tuple[str, str]:
    """Declared the same way, with their Teams work done: any difference later is the
    action's."""
    first, second = world.browser.declare(), world.browser.declare()
    drain(world.app)
    return first, second


def web_version(world: World, reference: str) -> str:
    form = world.browser.get(f"/incidents/{reference}/edit").get_data(as_text=True)
    return re.search(r'name="version" type="hidden" value="(\d+)"', form).group(1)


def web_submit(world: World, reference: str, path: str, data: dict):
    url = f"/incidents/{reference}"
    return world.browser.submit(url, f"{url}/{path}", data)


# ---- declare ---------------------------------------------------------------------------


@pytest.mark.parametrize("security", [False, True])
def test_declaring(world, security):
    web = world.browser.declare(title="Search returning nothing", severity="P1",
                                description="Since 09:00", new_services="Search",
                                **({"is_security": "y"} if security else {}))
    response = world.api("POST", "/api/v1/incidents", {
        "title": "Search returning nothing", "severity": "P1", "description": "Since 09:00",
        "services": ["Search"], "is_security": security})
    assert response.status_code == 201, response.get_json()
    api = response.get_json()["reference"]
    assert effects(world, web) == effects(world, api)
    assert any(kind == "teams.create_channel" for kind, *_ in effects(world, api)["deliveries"])


# ---- edit (PATCH) ----------------------------------------------------------------------


def test_editing(world):
    web, api = two_fresh_incidents(world)
    response = world.browser.submit(f"/incidents/{web}/edit", data={
        "title": "example.com returning errors", "description": "All pages down",
        "severity": "P1", "new_services": "Payments", "reason": "Checkout is down too",
        "version": web_version(world, web)})
    assert response.status_code == 302, response.get_data(as_text=True)
    version = world.api("GET", f"/api/v1/incidents/{api}", {}).get_json()["version"]
    response = world.api("PATCH", f"/api/v1/incidents/{api}", {
        "description": "All pages down", "severity": "P1", "services": ["Payments"],
        "reason": "Checkout is down too", "version": version})
    assert response.status_code == 200, response.get_json()
    found = effects(world, api)
    assert found == effects(world, web)
    assert {"severity_change", "description_change", "services_change"} <= {
        entry[1] for entry in found["timeline"]}


# ---- status ----------------------------------------------------------------------------


@pytest.mark.parametrize("steps", [
    [("identified", "Bad release found")],
    [("resolved", "Rolled back release 42"), ("closed", "")],
    [("resolved", "Rolled back"), ("investigating", "Errors are back")],
])
def test_changing_status(world, steps):
    web, api = two_fresh_incidents(world)
    for status, note in steps:
        response = web_submit(world, web, "status", {"status-status": status,
                                                     "status-note": note})
        assert response.status_code == 302, response.get_data(as_text=True)
        response = world.api("POST", f"/api/v1/incidents/{api}/status",
                             {"status": status, "note": note})
        assert response.status_code == 200, response.get_json()
    assert effects(world, web) == effects(world, api)


# ---- roles -----------------------------------------------------------------------------


def give_bob_on_both(world: World, role: str, email: str = "bob@example.com"):
    """Give Bob `role` on a fresh incident through the form and on another through the
    API; both must succeed and cause the same. Returns the API incident's reference, its
    effects and the API's answer."""
    web, api = two_fresh_incidents(world)
    response = web_submit(world, web, "roles", {"role-role": role,
                                                "role-user": str(world.bob.id)})
    assert response.status_code == 302
    response = world.api("POST", f"/api/v1/incidents/{api}/roles",
                         {"role": role, "email": email})
    assert response.status_code == 200, response.get_json()
    found = effects(world, api)
    assert found == effects(world, web)
    return api, found, response


def test_offering_a_held_role_waits_for_the_new_holder_on_both(world):
    api, found, response = give_bob_on_both(world, "incident_lead")
    assert [h[:5] for h in found["handovers"]] == [
        ("incident_lead", "ada@example.com", "bob@example.com", "ada@example.com", "pending")]
    assert ("bob@example.com", "ada@example.com") in found["participants"]
    answer = response.get_json()  # and the answer says the role was offered
    assert answer["roles"]["incident_lead"]["email"] == "ada@example.com"  # until accepted
    assert (answer["handover"]["status"], answer["handover"]["to"]) == \
        ("pending", "bob@example.com")
    assert answer["handover"]["url"].endswith(
        f"/incidents/{api}/handovers/{answer['handover']['id']}")


def test_filling_an_empty_role_is_immediate_on_both(world):
    _api, found, response = give_bob_on_both(world, "comms_lead", email="BOB@example.com")
    assert ("bob@example.com", "ada@example.com") in found["participants"]
    assert any(kind == "teams.add_member" for kind, *_ in found["deliveries"])
    assert response.get_json()["handover"] is None
    assert response.get_json()["roles"]["comms_lead"]["email"] == "bob@example.com"


def test_a_system_account_cannot_hold_a_role_on_either(world):
    web, api = two_fresh_incidents(world)
    before = effects(world, web)
    response = web_submit(world, web, "roles", {"role-role": "comms_lead",
                                                "role-user": str(world.system.id)})
    assert response.status_code == 400
    response = world.api("POST", f"/api/v1/incidents/{api}/roles",
                         {"role": "comms_lead", "email": world.system.email})
    assert effects(world, web) == effects(world, api) == before
    assert response.status_code == 422 and "user" in response.get_json()["fields"]


# ---- notes -----------------------------------------------------------------------------


@pytest.mark.parametrize("entry", [
    {"text": "Paged the database team"},
    {"text": "Roll back release <42>", "entry_type": "decision", "when": "08:30"},
])
def test_adding_to_the_log(world, entry):
    web, api = two_fresh_incidents(world)
    response = web_submit(world, web, "notes", {f"note-{k}": v for k, v in entry.items()})
    assert response.status_code == 302, response.get_data(as_text=True)
    response = world.api("POST", f"/api/v1/incidents/{api}/notes", entry)
    assert response.status_code == 201, response.get_json()
    found = effects(world, api)
    assert found == effects(world, web)
    [note] = [e for e in found["timeline"] if e[1] == "note"]
    assert (note[2], note[3]) == (entry.get("entry_type", "event"), entry["text"])


def test_a_closed_incident_takes_no_log_entry_from_either(world):
    web, api = two_fresh_incidents(world)
    for reference in (web, api):
        for status, note in (("resolved", "Fixed"), ("closed", "")):
            world.api("POST", f"/api/v1/incidents/{reference}/status",
                      {"status": status, "note": note})
    response = web_submit(world, web, "notes", {"note-text": "Too late"})
    assert response.status_code == 400
    refused = world.api("POST", f"/api/v1/incidents/{api}/notes", {"text": "Too late"})
    assert refused.status_code == 422
    assert str(escape(refused.get_json()["error"])) in response.get_data(as_text=True)
    assert effects(world, web) == effects(world, api)
