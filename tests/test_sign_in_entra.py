"""Microsoft Entra sign-in (MSAL auth-code flow, form_post) against mocked Entra endpoints.

`responses` stands in for login.microsoftonline.com: the OpenID discovery document and
the token endpoint. Everything else is the real MSAL and the real app.
"""

from __future__ import annotations

import base64
import hashlib
import json
import time
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
import responses
from sqlalchemy import select, text

from app import create_app, db
from app.auth.models import TokenCache, User
from tests.conftest import TABLES, Browser, csrf_from, make_settings

HOST = "https://login.entra.test"
TENANT = "11111111-2222-3333-4444-555555555555"
CLIENT = "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"
OID = "99999999-8888-7777-6666-555555555555"
AUTHORITY = f"{HOST}/{TENANT}"
TOKEN_URL = f"{AUTHORITY}/oauth2/v2.0/token"
DISCOVERY = f"{AUTHORITY}/v2.0/.well-known/openid-configuration"


def b64(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


def id_token(nonce: str, **claims) -> str:
    now = int(time.time())
    body = {"iss": f"{HOST}/{TENANT}/v2.0", "aud": CLIENT, "iat": now, "nbf": now,
            "exp": now + 3600, "oid": OID, "tid": TENANT, "sub": "subject",
            "name": "Grace Hopper", "preferred_username": "Grace@Example.com",
            "nonce": hashlib.sha256(nonce.encode()).hexdigest()}
    body.update(claims)
    return f"{b64({'alg': 'RS256', 'typ': 'JWT'})}.{b64(body)}.c2lnbmF0dXJl"


@pytest.fixture
def entra():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.get(DISCOVERY, json={
            "authorization_endpoint": f"{AUTHORITY}/oauth2/v2.0/authorize",
            "token_endpoint": TOKEN_URL,
            "issuer": f"{HOST}/{TENANT}/v2.0",
        })
        yield mock


@pytest.fixture
def app(migrated):
    settings = make_settings(migrated, entra_tenant_id=TENANT, entra_client_id=CLIENT,
                             entra_client_secret="client-secret", entra_authority_host=HOST,
                             admin_emails=frozenset({"admin@example.com"}))
    application = create_app(settings, TESTING=True, SERVER_NAME="incident-desk.test")
    yield application
    db.Session.remove()
    with application.extensions["db_engine"].begin() as conn:
        for table in TABLES:
            conn.execute(text(f"DELETE FROM {table}"))
    application.extensions["jobs"].shutdown()
    application.extensions["db_engine"].dispose()


def https_browser(app) -> Browser:
    """Entra needs HTTPS (the flow cookie is Secure), so these requests use it too."""
    client = app.test_client()
    client.environ_base["wsgi.url_scheme"] = "https"
    return Browser(client)


@pytest.fixture
def browser(app):
    return https_browser(app)


def start(browser, next_url: str = "") -> tuple[dict, str]:
    """Press "Sign in with Microsoft"; returns the authorize query and the flow nonce."""
    page = browser.get("/sign-in" + (f"?next={next_url}" if next_url else ""))
    response = browser.client.post("/sign-in/microsoft", data={
        "csrf_token": csrf_from(page.get_data(as_text=True)), "next": next_url})
    assert response.status_code == 302, response.get_data(as_text=True)
    query = {k: v[0] for k, v in parse_qs(urlsplit(response.location).query).items()}
    cookie = browser.client.get_cookie("incident_desk_sign_in", domain="incident-desk.test",
                                       path="/auth/callback")
    from itsdangerous import URLSafeTimedSerializer

    flow = URLSafeTimedSerializer(browser.client.application.secret_key,
                                  salt="entra-sign-in-flow").loads(cookie.value)
    return query, flow["nonce"]


def token_reply(entra, nonce: str, **claims):
    entra.post(TOKEN_URL, json={
        "token_type": "Bearer", "scope": "User.Read", "expires_in": 3600,
        "access_token": "ACCESS-TOKEN-SECRET", "refresh_token": "REFRESH-TOKEN-SECRET",
        "id_token": id_token(nonce, **claims),
        "client_info": b64({"uid": OID, "utid": TENANT})})


def callback(browser, **form):
    return browser.client.post("/auth/callback", data=form)


def test_signing_in_creates_the_person_and_keeps_the_tokens_server_side(app, browser,
                                                                         entra, session):
    query, nonce = start(browser, next_url="/incidents/new")
    assert query["response_mode"] == "form_post"
    assert query["client_id"] == CLIENT and query["code_challenge_method"] == "S256"
    assert query["state"] and query["nonce"] and query["code_challenge"]
    assert {"User.Read", "ChannelMessage.Send", "offline_access"} <= set(query["scope"].split())
    token_reply(entra, nonce)
    response = callback(browser, code="the-code", state=query["state"])
    assert response.status_code == 302 and response.location.endswith("/incidents/new")
    user = session.scalar(select(User).where(User.entra_oid == OID))
    assert (user.name, user.email, user.tenant_id, user.is_admin) == (
        "Grace Hopper", "grace@example.com", TENANT, False)
    stored = session.get(TokenCache, user.id)
    assert b"REFRESH-TOKEN-SECRET" not in stored.ciphertext  # encrypted at rest
    cookies = response.headers.getlist("Set-Cookie")
    assert not any("TOKEN-SECRET" in c for c in cookies)
    assert browser.get("/incidents").status_code == 200


def test_the_flow_cookie_is_only_for_the_cross_site_callback(app, browser, entra):
    page = browser.get("/sign-in")
    response = browser.client.post("/sign-in/microsoft", data={
        "csrf_token": csrf_from(page.get_data(as_text=True))})
    (cookie,) = [c for c in response.headers.getlist("Set-Cookie")
                 if c.startswith("incident_desk_sign_in=")]
    for attribute in ("HttpOnly", "Secure", "SameSite=None", "Path=/auth/callback"):
        assert attribute in cookie


def test_a_wrong_state_is_refused_and_nobody_is_signed_in(app, browser, entra, session):
    _query, nonce = start(browser)
    token_reply(entra, nonce)
    response = callback(browser, code="the-code", state="forged-state")
    assert response.status_code == 400
    assert "expired or was already used" in response.get_data(as_text=True)
    assert session.scalar(select(User)) is None
    assert browser.get("/incidents").status_code == 302


def test_entra_errors_are_explained_without_echoing_their_text(app, browser, entra, session):
    query, _nonce = start(browser)
    response = callback(browser, state=query["state"], error="access_denied",
                        error_description="<script>alert(1)</script>AADSTS65004")
    page = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "Sign-in was cancelled" in page
    assert "<script>alert(1)</script>" not in page and "AADSTS65004" not in page
    assert session.scalar(select(User)) is None


def test_a_token_endpoint_error_is_explained(app, browser, entra, session):
    query, _nonce = start(browser)
    entra.post(TOKEN_URL, status=400, json={
        "error": "invalid_grant", "error_description": "AADSTS54005: code already redeemed"})
    response = callback(browser, code="used-code", state=query["state"])
    assert response.status_code == 400
    assert "already used" in response.get_data(as_text=True)
    assert session.scalar(select(User)) is None


def test_an_id_token_for_another_sign_in_is_refused(app, browser, entra, session):
    query, _nonce = start(browser)
    token_reply(entra, "someone-elses-nonce")
    response = callback(browser, code="the-code", state=query["state"])
    assert response.status_code == 400
    assert session.scalar(select(User)) is None


def test_missing_tampered_or_expired_flow_cookies_are_refused(app, browser, entra, session,
                                                              monkeypatch):
    response = callback(browser, code="c", state="s")  # never started here
    assert response.status_code == 400
    assert "took too long or was started in another browser" in response.get_data(
        as_text=True)
    query, nonce = start(browser)
    token_reply(entra, nonce)
    real_time = time.time
    monkeypatch.setattr(time, "time", lambda: real_time() + 16 * 60)
    response = callback(browser, code="the-code", state=query["state"])
    assert response.status_code == 400
    assert session.scalar(select(User)) is None


def test_admins_come_from_admin_emails_or_the_app_role(app, browser, entra, session):
    query, nonce = start(browser)
    token_reply(entra, nonce, roles=["IncidentDesk.Admin"])
    callback(browser, code="c", state=query["state"])
    assert session.scalar(select(User)).is_admin
    other = https_browser(app)
    query, nonce = start(other)
    token_reply(entra, nonce, oid="another-oid", preferred_username="admin@example.com")
    callback(other, code="c", state=query["state"])
    session.expire_all()
    assert session.scalar(select(User).where(User.entra_oid == "another-oid")).is_admin


def test_signing_in_again_updates_the_same_person(app, browser, entra, session):
    query, nonce = start(browser)
    token_reply(entra, nonce)
    callback(browser, code="c", state=query["state"])
    again = https_browser(app)
    query, nonce = start(again)
    token_reply(entra, nonce, name="Rear Admiral Grace Hopper",
                preferred_username="grace.hopper@example.com")
    callback(again, code="c", state=query["state"])
    session.expire_all()
    (user,) = session.scalars(select(User)).all()
    assert (user.name, user.email) == ("Rear Admiral Grace Hopper", "grace.hopper@example.com")


def test_dev_sign_in_does_not_exist_once_a_tenant_is_configured(app, browser, entra):
    page = browser.get("/sign-in").get_data(as_text=True)
    assert "Sign in (development)" not in page and "Sign in with Microsoft" in page
    response = browser.client.post("/sign-in/dev", data={
        "csrf_token": csrf_from(page), "name": "Mallory", "email": "m@example.com"})
    assert response.status_code == 404
    assert browser.get("/incidents").status_code == 302


def test_entra_unreachable_is_a_friendly_502(app, browser):
    with responses.RequestsMock() as mock:
        mock.get(DISCOVERY, body=requests.ConnectionError("no route to host"))
        page = browser.get("/sign-in")
        response = browser.client.post("/sign-in/microsoft", data={
            "csrf_token": csrf_from(page.get_data(as_text=True))})
    assert response.status_code == 502
    body = response.get_data(as_text=True)
    assert "not reachable right now" in body and "Traceback" not in body


def test_starting_sign_in_needs_the_form_token(app, browser, entra):
    assert browser.client.post("/sign-in/microsoft").status_code == 400


def test_next_cannot_send_people_to_another_site(app, browser, entra):
    query, nonce = start(browser, next_url="//evil.example/steal")
    token_reply(entra, nonce)
    response = callback(browser, code="c", state=query["state"])
    assert response.status_code == 302
    assert urlsplit(response.location).netloc in ("", "incident-desk.test")
    assert response.location.endswith("/incidents")


def test_sign_out_ends_the_session(app, browser, entra):
    query, nonce = start(browser)
    token_reply(entra, nonce)
    callback(browser, code="c", state=query["state"])
    page = browser.get("/incidents").get_data(as_text=True)
    browser.client.post("/sign-out", data={"csrf_token": csrf_from(page)})
    assert browser.get("/incidents").status_code == 302
