"""The incident as a Teams tab (issue 17): the manifest's tab, framing only by Teams' hosts
on the tab's routes, and Teams SSO signing the person in with the web's server-side
sign-in, in the tab's own SameSite=None cookie, through the built-in Graph sandbox."""

from __future__ import annotations

import re

import pytest
import requests
from sqlalchemy import select

from app.auth.models import SignIn, User
from app.db import Session
from app.teams_app.manifest import build
from app.web.tab.cookies import TAB_COOKIE
from tests.test_teams_app import IDENTITY, SCHEMA, schema_errors


def test_the_manifest_offers_a_channel_tab_that_matches_the_schema():
    manifest = build(IDENTITY)
    assert schema_errors(manifest, SCHEMA) == []
    (tab,) = manifest["configurableTabs"]
    assert tab["configurationUrl"] == (
        "https://incidents.example.org/tab/config?channel={channelId}&team={teamId}")
    assert tab["scopes"] == ["team"] and tab["context"] == ["channelTab"]
    assert manifest["webApplicationInfo"] == {
        "id": IDENTITY.entra_app_id,
        "resource": f"api://incidents.example.org/{IDENTITY.entra_app_id}"}
    assert manifest["validDomains"] == ["incidents.example.org"]


def test_only_the_tabs_routes_may_be_framed_and_only_by_teams(app):
    client = app.test_client()
    tab = client.get("/tab/config")
    policy = tab.headers["Content-Security-Policy"]
    ancestors = re.search(r"frame-ancestors ([^;]+);", policy).group(1).split()
    assert ancestors[:3] == ["https://teams.microsoft.com", "https://*.teams.microsoft.com",
                             "https://*.cloud.microsoft"]
    assert "'none'" not in ancestors and "*" not in ancestors
    assert all(a.startswith("https://") for a in ancestors)
    assert "X-Frame-Options" not in tab.headers
    for path in ("/sign-in", "/incidents", "/status", "/teams-app/privacy",
                 "/tabs/config", "/tab"):
        page = client.get(path)
        assert "frame-ancestors 'none';" in page.headers["Content-Security-Policy"], path
        assert page.headers["X-Frame-Options"] == "DENY", path


def test_the_tab_page_signs_in_with_teams_outside_a_session(app):
    page = app.test_client().get("/tab/incident?reference=INC-2026-0001")
    assert page.status_code == 200
    assert b"Signing you in with your Teams account" in page.data
    assert b"build/teams-js.min.js" in page.data


@pytest.fixture
def tab_client(sandbox_app):
    """Over https, as Teams frames the tab: the tab's cookie is Secure."""
    client = sandbox_app.test_client()
    client.environ_base["wsgi.url_scheme"] = "https"
    return client


def sso_token(application, upn="grace@example.org") -> str:
    from app.m365.sandbox_host import sandbox_for
    from app.web.tab.hosts import tab_app

    with application.test_request_context():
        resource = tab_app().resource
    server = sandbox_for(application)
    answer = requests.post(f"{server.url}/_sandbox/teams-host/token",
                           json={"upn": upn, "resource": resource, "name": "Grace Hopper"},
                           timeout=10)
    return answer.json()["token"]


def _sign_in(client, token):
    page = client.get("/tab/config")
    return client.post("/tab/sign-in", json={"token": token},  # as fetch() sends it
                       headers={"Referer": "https://incident-desk.test/tab/config",
                                "X-CSRFToken": re.search(r'data-csrf="([^"]+)"',
                                                         page.get_data(as_text=True))[1]})


def test_teams_sso_signs_in_with_the_webs_server_side_sign_in(sandbox_app, tab_client):
    answer = _sign_in(tab_client, sso_token(sandbox_app))
    assert answer.status_code == 200, answer.get_json()
    cookie = next(h for h in answer.headers.getlist("Set-Cookie") if h.startswith(TAB_COOKIE))
    for part in ("Secure", "HttpOnly", "SameSite=None", "Partitioned", "Path=/tab"):
        assert part in cookie
    with sandbox_app.app_context():
        user = Session.scalar(select(User).where(User.email == "grace@example.org"))
        assert user.tenant_id and user.entra_oid
        assert Session.scalar(select(SignIn).where(SignIn.user_id == user.id)) is not None
    page = tab_client.get("/tab/config")
    assert b"Pin an incident to this channel" in page.data
    # The tab's sign-in is the tab's alone: the website is still signed out.
    assert tab_client.get("/incidents").status_code == 302


def test_a_refused_token_signs_no_one_in(sandbox_app, tab_client):
    answer = _sign_in(tab_client, sso_token(sandbox_app) + "x")
    assert answer.status_code == 401
    assert "not valid for Incident Desk" in answer.get_json()["message"]
    with sandbox_app.app_context():
        assert Session.scalar(select(User).where(User.email == "grace@example.org")) is None
    assert b"Signing you in" in tab_client.get("/tab/config").data


def test_the_token_post_needs_the_pages_csrf_token(sandbox_app, tab_client):
    tab_client.get("/tab/config")
    answer = tab_client.post("/tab/sign-in", json={"token": sso_token(sandbox_app)},
                             headers={"Referer": "https://incident-desk.test/tab/config"})
    assert answer.status_code == 400


def test_consent_not_given_says_so(sandbox_app, tab_client):
    from app.m365.sandbox_host import sandbox_for
    from graph.sandbox.seed import CLIENT_ID

    state = sandbox_for(sandbox_app).state
    with state.tx() as tx:
        tx.put("app", CLIENT_ID, {**tx.get("app", CLIENT_ID), "delegated": ["User.Read"]})
    answer = _sign_in(tab_client, sso_token(sandbox_app))
    assert answer.status_code == 403
    assert answer.get_json()["consent"] is True
    assert "permission" in answer.get_json()["message"]


def test_the_sandbox_opens_the_tab_in_its_teams_as_you(sandbox_app):
    from urllib.parse import parse_qs, urlsplit

    from tests.conftest import Browser, drain

    person = Browser(sandbox_app.test_client())
    person.sign_in(name="Ada Lovelace", email="ada@example.org", admin=True)
    reference = person.declare()
    drain(sandbox_app)
    assert b"open the tab in the sandbox" in person.get("/admin/teams-app").data
    answer = person.get(f"/teams-app/sandbox-tab?incident={reference}")
    assert answer.status_code == 302
    target = urlsplit(answer.location)
    query = {k: v[0] for k, v in parse_qs(target.query).items()}
    assert target.path == "/_sandbox/teams-host"
    assert query["upn"] == "ada@example.org" and query["config"] == "1"
    assert query["resource"].startswith("api://incident-desk.test/")
    assert query["channel"] and f"channel={query['channel']}" in query["tab"]
    host = requests.get(answer.location, timeout=10)
    assert host.status_code == 200 and 'id="tab"' in host.text
    assert "frame-ancestors 'none'" in answer.headers["Content-Security-Policy"]


def test_outside_the_sandbox_there_is_no_sandbox_tab(app, browser):
    browser.sign_in()
    assert browser.get("/teams-app/sandbox-tab").status_code == 404


def test_the_tab_shows_a_security_incident_only_to_those_who_may_see_it(sandbox_app,
                                                                        tab_client):
    from tests.conftest import Browser

    declarer = Browser(sandbox_app.test_client())
    declarer.sign_in(name="Ada Lovelace", email="ada@example.org")
    secret = declarer.declare(title="Laptop stolen", severity="P3", is_security="y")
    normal = declarer.declare(title="Search down")
    assert _sign_in(tab_client, sso_token(sandbox_app)).status_code == 200  # Grace
    assert tab_client.get(f"/tab/incident?reference={normal}").status_code == 200
    assert tab_client.get(f"/tab/incident?reference={secret}").status_code == 404
    assert tab_client.get("/tab/incident?reference=INC-2099-9999").status_code == 404
    config = tab_client.get("/tab/config").get_data(as_text=True)
    assert normal in config and secret not in config and "Laptop stolen" not in config
    page = tab_client.get(f"/tab/incident?reference={normal}").get_data(as_text=True)
    token = re.search(r'name="note-csrf_token" type="hidden" value="([^"]+)"', page)
    assert token, page
    note = {"note-csrf_token": token[1], "note-text": "Seen from the tab"}
    referer = {"Referer": "https://incident-desk.test/tab/incident"}
    assert tab_client.post(f"/tab/incident/notes?reference={secret}", data=note,
                           headers=referer).status_code == 404
    added = tab_client.post(f"/tab/incident/notes?reference={normal}", data=note,
                            headers=referer)
    assert added.status_code == 302
    assert "Seen from the tab" in declarer.get(f"/incidents/{normal}").get_data(as_text=True)
    with sandbox_app.app_context():
        assert "Seen from the tab" not in declarer.get(f"/incidents/{secret}").get_data(
            as_text=True)
