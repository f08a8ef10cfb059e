"""Microsoft Entra sign-in end to end: the real app and the real MSAL, with `responses`
standing in for Entra (its OpenID discovery document and its token endpoint).

The browser side is played by a Flask test client over HTTPS (the flow cookie is Secure):
"Sign in with Microsoft" is pressed, the authorize URL is read instead of followed, and
Entra's form_post answer is posted to /auth/callback as Entra would post it.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import time
from dataclasses import dataclass, replace
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
import responses
from itsdangerous import URLSafeTimedSerializer
from sqlalchemy import func, select, text

from app import create_app, db
from app.auth import service
from app.auth.models import TokenCache, User
from tests.conftest import TABLES, Browser, csrf_from, finish_jobs, make_settings

HOST = "https://login.entra.test"
TENANT = "11111111-2222-3333-4444-555555555555"
CLIENT = "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"
CLIENT_SECRET = "client-secret-for-tests"
OID = "99999999-8888-7777-6666-555555555555"
AUTHORITY = f"{HOST}/{TENANT}"
DISCOVERY_URL = f"{AUTHORITY}/v2.0/.well-known/openid-configuration"
AUTHORIZE_URL = f"{AUTHORITY}/oauth2/v2.0/authorize"
TOKEN_URL = f"{AUTHORITY}/oauth2/v2.0/token"
ACCESS_TOKEN = "eyJ0eXAi.ACCESS-TOKEN-MUST-STAY-SERVER-SIDE"
REFRESH_TOKEN = "0.AAAA.REFRESH-TOKEN-MUST-STAY-SERVER-SIDE"

FLOW_COOKIE = "incident_desk_sign_in"
SESSION_COOKIE = "incident_desk_session"
DOMAIN = "incident-desk.test"

COOKIE_TROUBLE = "took too long or was started in another browser"
LINK_EXPIRED = "That sign-in link has expired or was already used"
UNREACHABLE = "Microsoft sign-in is not reachable right now"


# ---- fixtures ------------------------------------------------------------------------


@pytest.fixture
def app(migrated):
    """Incident Desk with an Entra tenant configured (so there is no dev sign-in)."""
    settings = make_settings(
        migrated, entra_tenant_id=TENANT, entra_client_id=CLIENT,
        entra_client_secret=CLIENT_SECRET, entra_authority_host=HOST,
        admin_emails=frozenset({"boss@example.com"}))
    # Entra needs an HTTPS redirect URI and the flow cookie is Secure, so the test client
    # speaks HTTPS (Flask's test client takes its default scheme from this setting).
    application = create_app(settings, TESTING=True, SERVER_NAME=DOMAIN,
                             PREFERRED_URL_SCHEME="https")
    yield application
    # As the conftest `app` fixture cleans up.
    finish_jobs(application)
    db.Session.remove()
    with application.extensions["db_engine"].begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text(f"TRUNCATE {', '.join(TABLES)} RESTART IDENTITY CASCADE"))
        else:
            for table in TABLES:
                conn.execute(text(f"DELETE FROM {table}"))
    application.extensions["db_engine"].dispose()


@pytest.fixture
def entra():
    """Entra's OpenID discovery document; tests add the token endpoint's answer."""
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.get(DISCOVERY_URL, json={
            "issuer": f"{AUTHORITY}/v2.0",
            "authorization_endpoint": AUTHORIZE_URL,
            "token_endpoint": TOKEN_URL,
            "jwks_uri": f"{AUTHORITY}/discovery/v2.0/keys",
            "response_modes_supported": ["query", "fragment", "form_post"],
        })
        yield mock


def https_browser(app) -> Browser:
    """A browser on https://incident-desk.test. Over HTTPS Flask-WTF also wants a
    same-origin Referer on form posts, which browsers send (Referrer-Policy: same-origin)."""
    client = app.test_client()
    client.environ_base["HTTP_REFERER"] = f"https://{DOMAIN}/sign-in"
    browser = Browser(client)
    assert browser.get("/healthz").request.scheme == "https"
    return browser


@pytest.fixture
def browser(app):
    return https_browser(app)


# ---- helpers -------------------------------------------------------------------------


def b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def jwt(claims: dict) -> str:
    """JWT-shaped (header.payload.signature); MSAL reads the claims, not the signature."""
    header = {"alg": "RS256", "typ": "JWT", "kid": "test-key"}
    return ".".join([b64url(json.dumps(header).encode()), b64url(json.dumps(claims).encode()),
                     b64url(b"not-a-real-signature")])


def id_token(nonce: str | None, **claims) -> str:
    """An id token as Entra issues it; `nonce` is echoed from the authorize request."""
    now = int(time.time())
    body = {"iss": f"{AUTHORITY}/v2.0", "aud": CLIENT, "iat": now, "nbf": now,
            "exp": now + 3600, "sub": "pairwise-subject", "oid": OID, "tid": TENANT,
            "name": "Grace Hopper", "preferred_username": "Grace.Hopper@Example.com",
            "nonce": nonce, "ver": "2.0"}
    body.update(claims)
    return jwt({k: v for k, v in body.items() if v is not None})


@dataclass
class Started:
    """What pressing "Sign in with Microsoft" produced."""

    response: object
    query: dict[str, str]  # the authorize URL's query
    flow: dict  # the flow as the app keeps it in its signed cookie

    @property
    def state(self) -> str:
        return self.query["state"]

    @property
    def nonce(self) -> str:
        """The nonce Entra will echo in the id token (MSAL sends a hash of its own)."""
        return self.query["nonce"]


def flow_cookie(browser):
    return browser.client.get_cookie(FLOW_COOKIE, domain=DOMAIN, path="/auth/callback")


def read_flow(app, value: str) -> dict:
    return URLSafeTimedSerializer(app.secret_key, salt="entra-sign-in-flow").loads(value)


def start(browser, next_url: str = "") -> Started:
    page = browser.get("/sign-in" + (f"?next={next_url}" if next_url else ""))
    assert page.status_code == 200
    response = browser.client.post("/sign-in/microsoft", data={
        "csrf_token": csrf_from(page.get_data(as_text=True)), "next": next_url})
    assert response.status_code == 302, response.get_data(as_text=True)
    query = {k: v[0] for k, v in parse_qs(urlsplit(response.location).query).items()}
    cookie = flow_cookie(browser)
    assert cookie is not None, "no flow cookie was set"
    return Started(response, query, read_flow(browser.client.application, cookie.value))


def token_reply(entra, nonce: str | None, **claims) -> None:
    """Entra's token endpoint redeems the code for these tokens."""
    entra.post(TOKEN_URL, json={
        "token_type": "Bearer", "scope": "User.Read Mail.Send openid profile",
        "expires_in": 3600, "ext_expires_in": 3600,
        "access_token": ACCESS_TOKEN, "refresh_token": REFRESH_TOKEN,
        "id_token": id_token(nonce, **claims),
        "client_info": b64url(json.dumps({"uid": claims.get("oid", OID),
                                          "utid": TENANT}).encode()),
    })


def token_error(entra, error: str, description: str, status: int = 400) -> None:
    entra.post(TOKEN_URL, status=status, json={
        "error": error, "error_description": description, "error_codes": [54005],
        "trace_id": "trace", "correlation_id": "correlation"})


def callback(browser, **form):
    """Entra's form_post back to the app: cross-site, so only the flow cookie comes along
    (the session cookie is SameSite=Lax) and there is no CSRF token."""
    return browser.client.post("/auth/callback", data=form, headers={"Referer": HOST + "/"})


def sign_in(browser, entra, next_url: str = "", **claims):
    started = start(browser, next_url)
    token_reply(entra, started.nonce, **claims)
    response = callback(browser, code="the-auth-code", state=started.state)
    assert response.status_code == 302, response.get_data(as_text=True)
    return response


def token_calls(entra) -> list:
    return [c for c in entra.calls if c.request.url == TOKEN_URL]


def users(session) -> list[User]:
    session.expire_all()
    return list(session.scalars(select(User).order_by(User.id)))


def signed_in(browser) -> bool:
    return browser.get("/incidents").status_code == 200


def assert_refused(response, message: str) -> str:
    """A friendly 4xx page saying `message`; no stack trace, no protocol detail."""
    page = response.get_data(as_text=True)
    assert response.status_code == 400, page
    assert "You are not signed in" in page
    assert message in page
    for leak in ("Traceback", "state mismatch", "our nonce", "ValueError", "RuntimeError",
                 "AADSTS", REFRESH_TOKEN, ACCESS_TOKEN):
        assert leak not in page
    assert "/sign-in" in page  # a way to try again
    return page


def set_cookies(response, name: str) -> list[str]:
    return [c for c in response.headers.getlist("Set-Cookie") if c.startswith(name + "=")]


# ---- starting the flow ---------------------------------------------------------------


def test_start_sends_the_browser_to_entra_with_form_post_state_nonce_and_pkce(browser, entra):
    started = start(browser)
    location = urlsplit(started.response.location)
    assert f"{location.scheme}://{location.netloc}{location.path}" == AUTHORIZE_URL
    q, flow = started.query, started.flow
    assert q["response_mode"] == "form_post"
    assert q["response_type"] == "code"
    assert q["client_id"] == CLIENT
    assert q["redirect_uri"] == f"https://{DOMAIN}/auth/callback"
    assert len(q["state"]) >= 16 and q["state"] == flow["state"]
    # MSAL sends a hash of the nonce it keeps; Entra echoes that hash in the id token.
    assert q["nonce"] == hashlib.sha256(flow["nonce"].encode()).hexdigest()
    assert q["code_challenge_method"] == "S256"
    assert q["code_challenge"] == b64url(hashlib.sha256(flow["code_verifier"].encode()).digest())
    scopes = set(q["scope"].split())
    assert {"openid", "profile", "offline_access", "User.Read", "ChannelMessage.Send",
            "Mail.Send"} <= scopes
    assert "client_secret" not in q and CLIENT_SECRET not in started.response.location


def test_each_start_gets_its_own_state_and_nonce(app, browser, entra):
    first, second = start(browser), start(https_browser(app))
    assert first.state != second.state
    assert first.nonce != second.nonce
    assert first.query["code_challenge"] != second.query["code_challenge"]


def test_the_flow_cookie_is_only_for_the_cross_site_callback(browser, entra):
    started = start(browser)
    (cookie,) = set_cookies(started.response, FLOW_COOKIE)
    attributes = {part.strip().split("=")[0].lower(): part.strip()
                  for part in cookie.split(";")[1:]}
    assert "httponly" in attributes
    assert "secure" in attributes
    assert attributes["samesite"] == "SameSite=None"  # Entra posts back from its own site
    assert attributes["path"] == "Path=/auth/callback"
    assert attributes["max-age"] == "Max-Age=900"
    # Signed, and holds what the callback needs, not the URL to Entra.
    assert set(started.flow) >= {"state", "nonce", "code_verifier", "redirect_uri", "next"}
    assert "auth_uri" not in started.flow
    assert CLIENT_SECRET not in cookie


def test_starting_sign_in_needs_the_form_token(browser, entra):
    response = browser.client.post("/sign-in/microsoft", data={"next": "/incidents"})
    assert response.status_code == 400
    assert "Your form could not be sent" in response.get_data(as_text=True)
    assert not set_cookies(response, FLOW_COOKIE)
    assert flow_cookie(browser) is None
    assert len(entra.calls) == 0  # Entra was not even asked


def test_starting_sign_in_from_another_site_is_refused(browser, entra):
    page = browser.get("/sign-in").get_data(as_text=True)
    response = browser.client.post("/sign-in/microsoft", data={"csrf_token": csrf_from(page)},
                                   headers={"Referer": "https://evil.example/login"})
    assert response.status_code == 400
    assert flow_cookie(browser) is None
    assert len(entra.calls) == 0


def test_entra_unreachable_is_a_friendly_502(browser):
    with responses.RequestsMock() as mock:
        mock.get(DISCOVERY_URL, body=requests.ConnectionError("no route to host"))
        page = browser.get("/sign-in").get_data(as_text=True)
        response = browser.client.post("/sign-in/microsoft",
                                       data={"csrf_token": csrf_from(page)})
        assert len(mock.calls) == 1
    body = response.get_data(as_text=True)
    assert response.status_code == 502
    assert UNREACHABLE in body and "You are not signed in" in body
    assert "Traceback" not in body and "no route to host" not in body
    assert not set_cookies(response, FLOW_COOKIE)


def test_a_tenant_entra_does_not_know_is_a_friendly_502(browser):
    with responses.RequestsMock() as mock:
        mock.get(DISCOVERY_URL, status=400, json={"error": "invalid_tenant",
                                                  "error_description": "AADSTS90002"})
        page = browser.get("/sign-in").get_data(as_text=True)
        response = browser.client.post("/sign-in/microsoft",
                                       data={"csrf_token": csrf_from(page)})
    body = response.get_data(as_text=True)
    assert response.status_code == 502
    assert UNREACHABLE in body and "AADSTS90002" not in body and "Traceback" not in body


# ---- the happy path ------------------------------------------------------------------


def test_signing_in_creates_the_person_and_keeps_the_tokens_server_side(
        app, browser, entra, session):
    started = start(browser, next_url="/incidents/new")
    token_reply(entra, started.nonce)
    response = callback(browser, code="the-auth-code", state=started.state)

    assert response.status_code == 302
    assert urlsplit(response.location).path == "/incidents/new"
    (user,) = users(session)
    assert (user.entra_oid, user.tenant_id, user.name, user.email, is_admin(app, user)) == (
        OID, TENANT, "Grace Hopper", "grace.hopper@example.com", False)
    assert user.last_sign_in_at is not None

    # The code was redeemed with the PKCE verifier, the client secret and the same redirect.
    (call,) = token_calls(entra)
    sent = {k: v[0] for k, v in parse_qs(call.request.body).items()}
    assert sent["grant_type"] == "authorization_code"
    assert sent["code"] == "the-auth-code"
    assert sent["code_verifier"] == started.flow["code_verifier"]
    assert sent["redirect_uri"] == f"https://{DOMAIN}/auth/callback"
    assert sent["client_id"] == CLIENT and sent["client_secret"] == CLIENT_SECRET

    # The token cache is in the database, encrypted...
    row = session.get(TokenCache, user.id)
    assert row is not None
    for secret in (REFRESH_TOKEN.encode(), ACCESS_TOKEN.encode(), b"refresh_token"):
        assert secret not in row.ciphertext
    cache = json.loads(service.load_token_cache(session, user, app.secret_key))
    assert [t["secret"] for t in cache["RefreshToken"].values()] == [REFRESH_TOKEN]
    assert [t["secret"] for t in cache["AccessToken"].values()] == [ACCESS_TOKEN]

    # ...and in no cookie: not in any Set-Cookie, not inside the signed session.
    headers = response.headers.getlist("Set-Cookie")
    assert not any(REFRESH_TOKEN in h or ACCESS_TOKEN in h for h in headers)
    (session_header,) = set_cookies(response, SESSION_COOKIE)
    assert len(session_header) < 500  # a user id, not a token cache
    value = browser.client.get_cookie(SESSION_COOKIE, domain=DOMAIN).value
    stored = app.session_interface.get_signing_serializer(app).loads(value)
    assert stored["_user_id"] == OID
    assert not any(t in json.dumps(stored) for t in (REFRESH_TOKEN, ACCESS_TOKEN, "id_token"))

    # The flow cookie has done its job and is gone.
    assert any("Max-Age=0" in c and "Path=/auth/callback" in c
               for c in set_cookies(response, FLOW_COOKIE))
    assert flow_cookie(browser) is None

    page = browser.get("/incidents")
    assert page.status_code == 200
    assert "Signed in as Grace Hopper" in page.get_data(as_text=True)


def test_a_used_callback_cannot_be_replayed(browser, entra, session):
    started = start(browser)
    token_reply(entra, started.nonce)
    assert callback(browser, code="the-auth-code", state=started.state).status_code == 302
    again = callback(browser, code="the-auth-code", state=started.state)
    assert_refused(again, COOKIE_TROUBLE)
    assert len(token_calls(entra)) == 1


def test_signing_in_again_updates_the_same_person(app, browser, entra, session):
    sign_in(browser, entra)
    (first,) = users(session)
    sign_in(https_browser(app), entra, name="Rear Admiral Grace Hopper",
            preferred_username="G.Hopper@Example.com")
    (user,) = users(session)
    assert user.id == first.id
    assert (user.entra_oid, user.name, user.email) == (
        OID, "Rear Admiral Grace Hopper", "g.hopper@example.com")
    assert session.scalar(select(func.count()).select_from(TokenCache)) == 1


def test_people_are_told_apart_by_object_id_not_email(app, browser, entra, session):
    sign_in(browser, entra)
    sign_in(https_browser(app), entra, oid="another-object-id", name="Someone Else")
    assert [(u.entra_oid, u.name) for u in users(session)] == [
        (OID, "Grace Hopper"), ("another-object-id", "Someone Else")]


# ---- administrators ------------------------------------------------------------------


def is_admin(app, user: User) -> bool:
    """The user's right as the running app works it out (on each request)."""
    with app.app_context():
        return user.is_admin


def admin_page(browser) -> int:
    return browser.get("/microsoft-365/check").status_code


def test_admin_emails_make_an_administrator(app, browser, entra, session):
    sign_in(browser, entra, preferred_username="Boss@Example.com", name="The Boss")
    (user,) = users(session)
    assert user.email == "boss@example.com" and is_admin(app, user)
    assert user.sign_in_name == "boss@example.com"
    assert "Signed in as The Boss (administrator)" in browser.get("/incidents").get_data(
        as_text=True)


def test_the_email_claim_never_makes_an_administrator(app, browser, entra, session):
    """`email` is optional and need not be verified (anyone may set theirs to the boss's):
    only the user principal name (preferred_username) is matched with ADMIN_EMAILS."""
    sign_in(browser, entra, preferred_username=None, email="boss@example.com",
            name="Mallory")
    (user,) = users(session)
    assert user.email == "boss@example.com"  # shown, but grants nothing
    assert not is_admin(app, user)
    assert admin_page(browser) == 403


def test_admin_emails_may_name_the_object_id(app, browser, entra, session):
    app.extensions["settings"] = replace(app.extensions["settings"],
                                         admin_emails=frozenset({OID}))
    sign_in(browser, entra)
    assert admin_page(browser) == 200


def test_someone_taken_off_admin_emails_loses_it_without_signing_in_again(app, browser,
                                                                           entra):
    sign_in(browser, entra, preferred_username="boss@example.com")
    assert admin_page(browser) == 200
    app.extensions["settings"] = replace(app.extensions["settings"], admin_emails=frozenset())
    assert admin_page(browser) == 403


def test_the_app_role_of_the_last_sign_in_stays_whatever_the_configuration(app, browser,
                                                                            entra):
    sign_in(browser, entra, roles=["IncidentDesk.Admin"])
    app.extensions["settings"] = replace(app.extensions["settings"], admin_emails=frozenset())
    assert admin_page(browser) == 200


def test_an_id_token_from_another_tenant_is_refused(browser, entra, session):
    started = start(browser)
    token_reply(entra, started.nonce, tid="99999999-0000-0000-0000-000000000000",
                preferred_username="boss@example.com")
    response = callback(browser, code="the-auth-code", state=started.state)
    assert_refused(response, "belongs to another organisation")
    assert users(session) == []
    assert session.scalar(select(func.count()).select_from(TokenCache)) == 0
    assert not signed_in(browser)


def test_an_object_id_known_from_another_tenant_is_not_taken_over(browser, entra, session):
    session.add(User(entra_oid=OID, tenant_id="sandbox-tenant", name="Sandbox Sam",
                     email="sam@example.com", admin_role=True))
    session.commit()
    started = start(browser)
    token_reply(entra, started.nonce)
    response = callback(browser, code="the-auth-code", state=started.state)
    assert_refused(response, "belongs to another organisation")
    assert [(u.tenant_id, u.name) for u in users(session)] == [("sandbox-tenant",
                                                               "Sandbox Sam")]
    assert not signed_in(browser)


def test_the_app_role_makes_an_administrator_and_losing_it_does_not(app, browser, entra,
                                                                      session):
    sign_in(browser, entra, roles=["IncidentDesk.Reader", "IncidentDesk.Admin"])
    (user,) = users(session)
    assert is_admin(app, user)
    sign_in(https_browser(app), entra, roles=["IncidentDesk.Reader"])
    (user,) = users(session)
    assert not is_admin(app, user)  # the role was taken away in Entra


def test_other_roles_do_not_make_an_administrator(app, browser, entra, session):
    sign_in(browser, entra, roles=["incidentdesk.admin", "Admin"])
    (user,) = users(session)
    assert not is_admin(app, user)


# ---- refused sign-ins ----------------------------------------------------------------


@pytest.mark.parametrize("state", ["forged-state", ""])
def test_a_wrong_state_is_refused_before_the_code_is_redeemed(browser, entra, session,
                                                              state):
    started = start(browser)
    token_reply(entra, started.nonce)
    response = callback(browser, code="the-auth-code", state=state)
    assert_refused(response, LINK_EXPIRED)
    assert token_calls(entra) == []
    assert users(session) == []
    assert not signed_in(browser)
    assert flow_cookie(browser) is None  # cleared: start again from the beginning


def test_a_callback_without_code_or_error_is_refused(browser, entra, session):
    started = start(browser)
    assert_refused(callback(browser, state=started.state), LINK_EXPIRED)
    assert users(session) == []


XSS = '<script>alert("pwned")</script><img src=x onerror=alert(1)>'


@pytest.mark.parametrize(("error", "description", "message"), [
    ("access_denied", "AADSTS65004: User declined to consent." + XSS,
     "Sign-in was cancelled, or you have not been given access"),
    ("invalid_request", "AADSTS50105: The signed in user is not assigned to a role." + XSS,
     "Your account has not been given access to Incident Desk"),
    ("server_error" + XSS, XSS, "Microsoft could not sign you in"),
])
def test_errors_from_entra_are_explained_without_echoing_them(browser, entra, session,
                                                              error, description, message):
    started = start(browser)
    response = callback(browser, state=started.state, error=error,
                        error_description=description)
    page = assert_refused(response, message)
    assert "<script>" not in page and "onerror" not in page
    assert "&lt;script&gt;" not in page  # not even escaped: Entra's text is not shown
    assert "pwned" not in page
    assert token_calls(entra) == []
    assert users(session) == []
    assert not signed_in(browser)


@pytest.mark.parametrize(("description", "message"), [
    ("AADSTS54005: OAuth2 Authorization code was already redeemed.",
     "That sign-in link was already used"),
    ("AADSTS70008: The provided authorization code or refresh token has expired.",
     "Microsoft could not sign you in"),
])
def test_a_token_endpoint_error_is_explained(browser, entra, session, description, message):
    started = start(browser)
    token_error(entra, "invalid_grant", description)
    response = callback(browser, code="old-code", state=started.state)
    assert_refused(response, message)
    assert len(token_calls(entra)) == 1
    assert users(session) == []
    assert session.scalar(select(func.count()).select_from(TokenCache)) == 0


def test_token_endpoint_unreachable_is_explained(browser, entra, session):
    started = start(browser)
    entra.post(TOKEN_URL, body=requests.ConnectionError("connection reset"))
    response = callback(browser, code="the-auth-code", state=started.state)
    page = assert_refused(response, UNREACHABLE)
    assert "connection reset" not in page
    assert users(session) == []


def test_an_id_token_from_another_sign_in_is_refused(browser, entra, session):
    started = start(browser)
    other_nonce = hashlib.sha256(b"someone-elses-nonce").hexdigest()
    token_reply(entra, other_nonce)
    response = callback(browser, code="the-auth-code", state=started.state)
    assert_refused(response, LINK_EXPIRED)
    assert users(session) == []
    assert session.scalar(select(func.count()).select_from(TokenCache)) == 0
    assert not signed_in(browser)


def test_an_id_token_with_no_nonce_is_refused(browser, entra, session):
    started = start(browser)
    token_reply(entra, None)
    assert_refused(callback(browser, code="c", state=started.state), LINK_EXPIRED)
    assert users(session) == []


@pytest.mark.parametrize("garbled", ["no-dots-at-all", "a.!!!not-base64!!!.c",
                                     f"a.{b64url(b'not json')}.c"])
def test_a_garbled_id_token_is_refused(browser, entra, session, garbled):
    started = start(browser)
    entra.post(TOKEN_URL, json={"token_type": "Bearer", "expires_in": 3600,
                                "access_token": ACCESS_TOKEN, "id_token": garbled})
    response = callback(browser, code="the-auth-code", state=started.state)
    assert response.status_code == 400
    assert "You are not signed in" in response.get_data(as_text=True)
    assert users(session) == []


def test_an_id_token_that_does_not_say_who_is_refused(browser, entra, session):
    started = start(browser)
    token_reply(entra, started.nonce, oid=None)
    response = callback(browser, code="the-auth-code", state=started.state)
    assert_refused(response, "Microsoft did not say who you are")
    assert users(session) == []


def test_a_callback_without_the_flow_cookie_is_refused(app, browser, entra, session):
    started = start(browser)  # started in one browser...
    token_reply(entra, started.nonce)
    elsewhere = https_browser(app)  # ...answered in another (or the cookie was lost)
    response = callback(elsewhere, code="the-auth-code", state=started.state)
    assert_refused(response, COOKIE_TROUBLE)
    assert token_calls(entra) == []
    assert users(session) == []
    assert not signed_in(elsewhere)


def _forged(app, flow: dict, key: str | None = None) -> str:
    return URLSafeTimedSerializer(key or app.secret_key, salt="entra-sign-in-flow").dumps(flow)


@pytest.mark.parametrize("tamper", ["edit-payload", "other-key", "other-salt", "garbage"])
def test_a_tampered_flow_cookie_is_refused(app, browser, entra, session, tamper):
    started = start(browser)
    token_reply(entra, started.nonce)
    forged_state = "state-the-attacker-knows"
    value = flow_cookie(browser).value
    if tamper == "edit-payload":  # keep the timestamp and signature, change what they sign
        _payload, stamp, signature = value.rsplit(".", 2)
        flow = dict(started.flow, state=forged_state)
        value = ".".join([b64url(json.dumps(flow).encode()), stamp, signature])
    elif tamper == "other-key":
        value = _forged(app, dict(started.flow, state=forged_state), key="guessed-key")
    elif tamper == "other-salt":  # e.g. something else the app signs
        value = URLSafeTimedSerializer(app.secret_key).dumps(dict(started.flow,
                                                                  state=forged_state))
    else:
        value = "not-a-flow"
    browser.client.set_cookie(FLOW_COOKIE, value, domain=DOMAIN, path="/auth/callback")
    response = callback(browser, code="the-auth-code", state=forged_state)
    assert_refused(response, COOKIE_TROUBLE)
    assert token_calls(entra) == []
    assert users(session) == []


def test_the_flow_expires_after_15_minutes(browser, entra, session, monkeypatch):
    started = start(browser)
    token_reply(entra, started.nonce)
    started_at = time.time()
    monkeypatch.setattr(time, "time", lambda: started_at + 15 * 60 + 30)
    response = callback(browser, code="the-auth-code", state=started.state)
    assert_refused(response, COOKIE_TROUBLE)
    assert token_calls(entra) == []
    assert users(session) == []


def test_a_flow_finished_within_15_minutes_still_works(browser, entra, session, monkeypatch):
    started = start(browser)
    token_reply(entra, started.nonce)
    started_at = time.time()
    monkeypatch.setattr(time, "time", lambda: started_at + 14 * 60)
    response = callback(browser, code="the-auth-code", state=started.state)
    assert response.status_code == 302
    assert [u.entra_oid for u in users(session)] == [OID]


# ---- redirects, dev sign-in and sign-out ---------------------------------------------


@pytest.mark.parametrize("next_url", [
    "//evil.example", "//evil.example/incidents", "https://evil.example/",
    "/\\evil.example", "/\t/evil.example", "javascript:alert(1)",
])
def test_next_cannot_send_people_to_another_site(browser, entra, next_url):
    response = sign_in(browser, entra, next_url=next_url)
    target = urlsplit(response.location)
    assert target.netloc in ("", DOMAIN)
    assert target.path == "/incidents"
    assert "evil" not in response.location


def test_next_from_the_query_string_is_kept(browser, entra):
    page = browser.get("/sign-in").get_data(as_text=True)
    response = browser.client.post("/sign-in/microsoft?next=/incidents/new",
                                   data={"csrf_token": csrf_from(page)})
    assert response.status_code == 302
    assert read_flow(browser.client.application, flow_cookie(browser).value)["next"] == (
        "/incidents/new")


def test_dev_sign_in_does_not_exist_once_a_tenant_is_configured(browser, entra, session):
    page = browser.get("/sign-in").get_data(as_text=True)
    assert "Sign in with Microsoft" in page
    assert "Sign in (development)" not in page and "/sign-in/dev" not in page
    assert 'name="email"' not in page
    response = browser.client.post("/sign-in/dev", data={
        "csrf_token": csrf_from(page), "name": "Mallory", "email": "boss@example.com",
        "admin": "y"})
    assert response.status_code == 404
    assert users(session) == []
    assert not signed_in(browser)


def test_sign_out_ends_the_session(app, browser, entra):
    sign_in(browser, entra)
    page = browser.get("/incidents").get_data(as_text=True)
    response = browser.client.post("/sign-out", data={"csrf_token": csrf_from(page)})
    assert response.status_code == 302 and urlsplit(response.location).path == "/sign-in"
    assert not signed_in(browser)
    value = browser.client.get_cookie(SESSION_COOKIE, domain=DOMAIN).value
    stored = app.session_interface.get_signing_serializer(app).loads(value)
    assert "_user_id" not in stored


def test_the_callback_is_404_without_a_tenant(migrated):
    application = create_app(make_settings(migrated), TESTING=True, SERVER_NAME=DOMAIN)
    try:
        client = application.test_client()
        client.environ_base["wsgi.url_scheme"] = "https"
        assert client.post("/auth/callback", data={"code": "c", "state": "s"}).status_code == (
            404)
    finally:
        finish_jobs(application)
        db.Session.remove()
        application.extensions["db_engine"].dispose()


# ---- behind a reverse proxy ------------------------------------------------------------


@pytest.fixture
def proxied_app(migrated):
    """As `app`, but reached as a TLS-terminating proxy would: plain HTTP to the app,
    the public scheme and host in X-Forwarded-* headers."""
    settings = make_settings(
        migrated, entra_tenant_id=TENANT, entra_client_id=CLIENT,
        entra_client_secret=CLIENT_SECRET, entra_authority_host=HOST, trusted_proxies=1)
    application = create_app(settings, TESTING=True)
    yield application
    finish_jobs(application)
    db.Session.remove()
    application.extensions["db_engine"].dispose()


PUBLIC = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "desk.example.org",
          "X-Forwarded-For": "203.0.113.9"}


def _redirect_uri_via(application, headers: dict) -> str:
    client = application.test_client()
    page = client.get("/sign-in", headers=headers)
    response = client.post("/sign-in/microsoft", headers={
        **headers, "Referer": "https://desk.example.org/sign-in"},
        data={"csrf_token": csrf_from(page.get_data(as_text=True)), "next": ""})
    assert response.status_code == 302, response.get_data(as_text=True)
    return parse_qs(urlsplit(response.location).query)["redirect_uri"][0]


def test_behind_a_trusted_proxy_entra_is_given_the_public_https_address(proxied_app,
                                                                        entra):
    assert _redirect_uri_via(proxied_app, PUBLIC) == "https://desk.example.org/auth/callback"


def test_forwarded_headers_are_ignored_unless_a_proxy_is_trusted(app, entra):
    # `app` trusts no proxy: a client cannot choose the address Entra sends codes to.
    client = https_browser(app).client
    page = client.get("/sign-in", headers=PUBLIC)
    response = client.post("/sign-in/microsoft", headers=PUBLIC, data={
        "csrf_token": csrf_from(page.get_data(as_text=True)), "next": ""})
    assert response.status_code == 302
    redirect_uri = parse_qs(urlsplit(response.location).query)["redirect_uri"][0]
    assert redirect_uri == f"https://{DOMAIN}/auth/callback"


def test_the_sign_in_form_may_lead_to_the_configured_authority_only(browser):
    csp = browser.get("/sign-in").headers["Content-Security-Policy"]
    assert f"form-action 'self' {HOST};" in csp
    assert "login.microsoftonline.com" not in csp


def test_a_proxy_count_that_is_not_a_number_stops_start_up(monkeypatch):
    from app.config import Settings

    monkeypatch.setenv("TRUSTED_PROXIES", "yes")
    with pytest.raises(ValueError, match="TRUSTED_PROXIES must be a whole number"):
        Settings()


@pytest.mark.parametrize("value", ["login.microsoftonline.us", "http://login.entra.test"])
def test_an_authority_that_is_not_an_https_address_stops_start_up(monkeypatch, value):
    from app.config import Settings

    monkeypatch.setenv("ENTRA_AUTHORITY_HOST", value)
    with pytest.raises(ValueError, match="ENTRA_AUTHORITY_HOST must be an https:// address"):
        Settings()


def test_an_empty_authority_means_the_public_cloud(monkeypatch):
    from app.config import Settings

    monkeypatch.setenv("ENTRA_AUTHORITY_HOST", "")
    assert Settings().entra_authority_host == "https://login.microsoftonline.com"


def test_a_forged_log_line_in_entras_answer_stays_on_one_line(browser, entra, caplog):
    """CR/LF in Entra's error_description (which anyone can post to /auth/callback) must
    not start a new line in the log: a log reader would take it for a real entry."""
    started = start(browser)
    forged = "AADSTS50105: nope\r\n2026-12-02 INFO admin ada@example.com signed in"
    with caplog.at_level(logging.WARNING):
        callback(browser, state=started.state, error="invalid_request",
                 error_description=forged)
    [line] = [r.getMessage() for r in caplog.records if "Entra sign-in failed" in r.getMessage()]
    assert "\n" not in line and "\r" not in line
    assert "nope\\r\\n2026-12-02 INFO admin" in line  # shown, but as the characters it held
