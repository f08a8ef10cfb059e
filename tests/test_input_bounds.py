"""Issue 15: what one request may ask for is bounded before the work starts, odd query
parameters and bodies are a clear 4xx (never a 500), the notes API answers with the note,
and a form shows its limits before anyone posts.

Work is bounded by counting SQL statements and rows, not by timing (bench/ times).
"""

from __future__ import annotations

import importlib
import json
import pkgutil

import pytest
from flask_wtf import FlaskForm
from sqlalchemy import func, insert, select

from app import web
from app.auth.models import User
from app.auth.service import create_api_token
from app.catalogue.service import NEW_SERVICES_PER_REQUEST, SERVICES_PER_INCIDENT
from app.incidents.models import Incident, Service, TimelineEntry
from app.web.forms import LimitedForm
from tests.statements import Statements


@pytest.fixture
def token(app, browser, session):
    browser.sign_in(name="Bot Owner", email="owner@example.com")
    user = session.scalar(select(User).where(User.email == "owner@example.com"))
    _row, secret = create_api_token(session, user, "automation")
    return secret


def api(app, method, url, token, body=None, raw=None):
    kwargs = {"headers": {"Authorization": f"Bearer {token}"}}
    if raw is not None:
        kwargs.update(data=raw, content_type="application/json")
    elif body is not None:
        kwargs["json"] = body
    return app.test_client().open(url, method=method, **kwargs)


def a_catalogue(session, size: int) -> None:
    session.execute(insert(Service), [{"name": f"Service {n:04d}", "description": "",
                                       "owner": "", "public": False} for n in range(size)])
    session.commit()


def count(session, model) -> int:
    session.expire_all()
    return session.scalar(select(func.count()).select_from(model))


# ---- finding 1: services named through the API -------------------------------------------


def test_named_services_are_looked_up_in_one_query(app, token, session, frozen_clock):
    a_catalogue(session, 1000)
    names = [f"service {n:04d}" for n in range(0, SERVICES_PER_INCIDENT * 10, 10)]
    with Statements(app.extensions["db_engine"]) as statements:
        response = api(app, "POST", "/api/v1/incidents", token,
                       {"title": "Many services", "severity": "P2", "services": names})
    assert response.status_code == 201, response.get_json()
    assert len(response.get_json()["services"]) == SERVICES_PER_INCIDENT
    lookups = [s for s in statements.seen if "FROM services" in s]
    assert len(lookups) <= 2, lookups  # the names, then the chosen ids: not one per name


def test_too_many_services_are_refused_before_any_work(app, token, session, frozen_clock):
    a_catalogue(session, 1000)
    names = [f"New service {n}" for n in range(1000)]
    with Statements(app.extensions["db_engine"]) as statements:
        response = api(app, "POST", "/api/v1/incidents", token,
                       {"title": "Many services", "severity": "P2", "services": names})
    assert response.status_code == 422
    assert f"at most {SERVICES_PER_INCIDENT}" in response.get_json()["fields"]["services"][0]
    assert "longer than allowed" in response.get_json()["error"]  # not "the wrong type"
    assert not [s for s in statements.seen if "FROM services" in s or "INTO services" in s]
    assert count(session, Service) == 1000 and count(session, Incident) == 0


def test_too_many_new_services_are_refused(app, token, session, frozen_clock):
    names = [f"New service {n}" for n in range(NEW_SERVICES_PER_REQUEST + 1)]
    response = api(app, "POST", "/api/v1/incidents", token,
                   {"title": "Many services", "severity": "P2", "services": names})
    assert response.status_code == 422
    assert f"at most {NEW_SERVICES_PER_REQUEST} new" in \
        response.get_json()["fields"]["services"][0]
    assert count(session, Service) == 0 and count(session, Incident) == 0
    reference = api(app, "POST", "/api/v1/incidents", token,
                    {"title": "Few", "severity": "P2"}).get_json()["reference"]
    response = api(app, "PATCH", f"/api/v1/incidents/{reference}", token,
                   {"services": names, "version": 1})
    assert response.status_code == 422 and "services" in response.get_json()["fields"]
    assert count(session, Service) == 0


def test_the_web_form_has_the_same_caps(app, browser, session, frozen_clock):
    browser.sign_in()
    names = ", ".join(f"New service {n}" for n in range(NEW_SERVICES_PER_REQUEST + 1))
    page = browser.submit("/incidents/new", data={
        "title": "Many services", "severity": "P2", "new_services": names})
    assert page.status_code == 400
    html = page.get_data(as_text=True)
    assert f"at most {NEW_SERVICES_PER_REQUEST} new" in html
    assert "New service 10" in html  # what they typed is still in the form
    assert count(session, Service) == 0


def test_a_body_with_too_many_fields_or_bytes_is_refused(app, token, session, frozen_clock):
    many = {f"field{n}": "x" for n in range(500)} | {"title": "x", "severity": "P2"}
    response = api(app, "POST", "/api/v1/incidents", token, many)
    assert response.status_code == 422 and "at most 30" in response.get_json()["error"]
    huge = json.dumps({"title": "x", "severity": "P2", "description": "y" * 600_000})
    response = api(app, "POST", "/api/v1/incidents", token, raw=huge)
    assert response.status_code == 413
    assert "KB" in response.get_json()["error"]
    assert count(session, Incident) == 0


# ---- finding 2: query parameters and JSON bodies that used to be 500s ------------------------


BIG = "9223372036854775807"


def test_a_huge_page_number_shows_the_last_page(app, browser, frozen_clock):
    browser.sign_in()
    browser.declare(title="Only one")
    for page in (BIG, "-3", "0", "abc", "1e9", "99"):
        response = browser.get(f"/incidents?page={page}")
        assert response.status_code == 200, page
        assert "Only one" in response.get_data(as_text=True)


@pytest.mark.parametrize("page", [BIG, "0", "-1", "abc"])
def test_the_api_refuses_a_page_number_out_of_range(app, token, page):
    response = api(app, "GET", f"/api/v1/incidents?page={page}", token)
    assert response.status_code == 422
    assert "page" in response.get_json()["fields"]


def test_the_api_answers_a_page_past_the_end_with_no_incidents(app, token, frozen_clock):
    api(app, "POST", "/api/v1/incidents", token, {"title": "x", "severity": "P2"})
    data = api(app, "GET", "/api/v1/incidents?page=7", token).get_json()
    assert (data["incidents"], data["page"], data["pages"], data["total"]) == ([], 7, 1, 1)


@pytest.mark.parametrize("month", ["9999-12", "0001-01", "10000-01", "2026-13"])
@pytest.mark.parametrize("path", ["/reporting", "/reporting/monthly.docx"])
def test_a_month_out_of_range_is_a_clear_400(app, browser, frozen_clock, month, path):
    browser.sign_in()
    response = browser.get(f"{path}?month={month}")
    assert response.status_code == 400
    assert "Choose a month" in response.get_data(as_text=True)


def test_an_ordinary_month_still_reports(app, browser, frozen_clock):
    browser.sign_in()
    assert browser.get("/reporting?month=2026-11").status_code == 200
    assert browser.get("/reporting?month=nonsense").status_code == 200  # this month


@pytest.mark.parametrize("path", ["/api/v1/incidents"])
def test_deeply_nested_json_is_a_400_not_a_500(app, token, session, path):
    response = api(app, "POST", path, token, raw="[" * 100_000)
    assert response.status_code == 400
    assert "nested" in response.get_json()["error"]
    response = api(app, "POST", path, token,
                   raw=json.dumps({"title": "x", "severity": "P2", "services": [[[["a"]]]]}))
    assert response.status_code in (400, 422)
    assert count(session, Incident) == 0


def test_every_json_body_the_app_reads_is_depth_bounded(app):
    """Flask's request.get_json (alert intake too) reads through app.json: a body nested
    past the bound is a ValueError, which get_json answers with a 400."""
    with pytest.raises(ValueError, match="nested"):
        app.json.loads("[" * 100_000)
    with pytest.raises(ValueError, match="nested"):
        app.json.loads('{"a": ' * 200 + "1" + "}" * 200)
    assert app.json.loads('{"a": "[[[[[[", "b": [1, [2]]}') == {"a": "[[[[[[", "b": [1, [2]]}


# ---- finding 3: the notes API answers with the note ---------------------------------------


def test_adding_a_note_answers_with_the_note_not_the_timeline(app, token, session,
                                                               frozen_clock):
    reference = api(app, "POST", "/api/v1/incidents", token,
                    {"title": "x", "severity": "P2"}).get_json()["reference"]
    incident = session.scalar(select(Incident).where(Incident.reference == reference))
    session.execute(insert(TimelineEntry), [
        {"incident_id": incident.id, "kind": "note", "text": "z" * 2000, "data": {},
         "entry_type": "event", "occurred_at": frozen_clock.value,
         "created_at": frozen_clock.value} for _ in range(300)])
    session.commit()
    with Statements(app.extensions["db_engine"]) as statements:
        response = api(app, "POST", f"/api/v1/incidents/{reference}/notes", token,
                       {"text": "Paged the database team", "entry_type": "action"})
    assert response.status_code == 201
    data = response.get_json()
    assert "timeline" not in data
    assert (data["text"], data["entry_type"], data["kind"]) == (
        "Paged the database team", "action", "note")
    assert data["url"].endswith(f"/incidents/{reference}#entry-{data['id']}")
    assert response.headers["Location"].endswith(f"/api/v1/incidents/{reference}")
    assert len(response.get_data()) < 2000
    assert not [s for s in statements.seen if "FROM timeline_entries" in s
                and "LIMIT" not in s]  # the timeline is not read to answer


def test_an_incidents_timeline_comes_a_page_at_a_time(app, token, session, frozen_clock):
    reference = api(app, "POST", "/api/v1/incidents", token,
                    {"title": "x", "severity": "P2"}).get_json()["reference"]
    incident = session.scalar(select(Incident).where(Incident.reference == reference))
    session.execute(insert(TimelineEntry), [
        {"incident_id": incident.id, "kind": "note", "text": f"entry {n}", "data": {},
         "entry_type": "event", "occurred_at": frozen_clock.value,
         "created_at": frozen_clock.value} for n in range(250)])
    session.commit()
    first = api(app, "GET", f"/api/v1/incidents/{reference}", token).get_json()
    assert len(first["timeline"]) == 100
    assert (first["timeline_page"], first["timeline_pages"], first["timeline_total"]) == (
        1, 3, 252)
    assert [e["kind"] for e in first["timeline"][:2]] == ["declared", "role_assigned"]
    last = api(app, "GET", f"/api/v1/incidents/{reference}?timeline_page=3", token).get_json()
    assert [e["text"] for e in last["timeline"]][-1] == "entry 249"
    assert len(last["timeline"]) == 52
    for page in (BIG, "0", "x"):
        response = api(app, "GET", f"/api/v1/incidents/{reference}?timeline_page={page}",
                       token)
        assert response.status_code == 422 and "timeline_page" in response.get_json()["fields"]


# ---- finding 4: limits shown before posting -----------------------------------------------


def test_the_declare_form_shows_its_limits(app, browser):
    browser.sign_in()
    html = browser.get("/incidents/new").get_data(as_text=True)
    assert 'maxlength="200"' in html
    assert "200 characters or fewer" in html.split('id="title"')[0]  # the hint, before it
    assert 'data-maxlength="20000"' in html  # the description's character count


def test_every_form_declares_its_limits_the_same_way():
    """Every form in app/web is a LimitedForm, whose rendering turns Length(max) into the
    maxlength attribute and a hint: nothing to remember field by field."""
    forms = []
    for module_info in pkgutil.walk_packages(web.__path__, "app.web."):
        if module_info.name.endswith(".forms"):
            module = importlib.import_module(module_info.name)
            forms += [value for value in vars(module).values() if isinstance(value, type)
                      and issubclass(value, FlaskForm) and value.__module__ == module.__name__]
    assert len(forms) > 20
    assert [f.__name__ for f in forms if not issubclass(f, LimitedForm)] == []
