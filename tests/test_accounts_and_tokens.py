"""Accounts, rights and API tokens last only as long as what granted them (issue 15).

- Dev sign-in exists only when asked for (DEV_SIGN_IN=1) and never with a tenant; a
  partial Entra configuration stops start-up.
- Accounts and API tokens made by dev sign-in stop working once a tenant is configured.
- Administrator and security rights follow today's ADMIN_EMAILS / SECURITY_EMAILS on
  every request (app roles are those of the last sign-in).
- API tokens expire (chosen at creation) and stop while their owner has not signed in
  for API_TOKEN_SIGN_IN_DAYS.
"""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import pytest
from sqlalchemy import func, select

from app import create_app
from app.auth.models import ApiToken, SignIn, User
from app.auth.service import create_api_token
from app.config import Settings
from tests.conftest import Browser, end_app, make_settings

ROOT = Path(__file__).resolve().parent.parent
TENANT = "11111111-2222-3333-4444-555555555555"
SESSION_COOKIE = "incident_desk_session"
DOMAIN = "incident-desk.test"


def with_tenant(settings: Settings) -> Settings:
    """The same installation after an administrator configured Entra."""
    return replace(settings, entra_tenant_id=TENANT, entra_client_id="client",
                   entra_client_secret="secret")


def reconfigure(app, **changes) -> None:
    """As a restart with new environment variables would: same database, new settings."""
    app.extensions["settings"] = replace(app.extensions["settings"], **changes)


def call_api(app, token: str):
    return app.test_client().get("/api/v1/incidents",
                                 headers={"Authorization": f"Bearer {token}"})


def user_named(session, email: str) -> User:
    session.expire_all()
    return session.scalar(select(User).where(User.email == email))


def tokens_page(browser) -> str:
    return browser.get("/account/tokens").get_data(as_text=True)


def new_token(browser, name="Grafana", days=None) -> str:
    data = {"name": name}
    if days is not None:
        data["days"] = str(days)
    response = browser.submit("/account/tokens", data=data)
    assert response.status_code == 200, response.get_data(as_text=True)
    return re.search(r'id="new-token">([^<]+)<', response.get_data(as_text=True))[1]


# ---- finding 2: dev sign-in only when asked, never with a tenant, no partial Entra -----


@pytest.mark.parametrize(("present", "missing"), [
    ({"ENTRA_TENANT_ID": TENANT, "ENTRA_CLIENT_ID": "client"}, "ENTRA_CLIENT_SECRET"),
    ({"ENTRA_CLIENT_ID": "client", "ENTRA_CLIENT_SECRET": "s"}, "ENTRA_TENANT_ID"),
    ({"ENTRA_TENANT_ID": TENANT}, "ENTRA_CLIENT_ID, ENTRA_CLIENT_SECRET"),
])
def test_a_partial_entra_configuration_stops_start_up(monkeypatch, present, missing):
    for name in ("ENTRA_TENANT_ID", "ENTRA_CLIENT_ID", "ENTRA_CLIENT_SECRET"):
        monkeypatch.delenv(name, raising=False)
    for name, value in present.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("DEV_SIGN_IN", "1")
    with pytest.raises(ValueError, match=f"missing {missing}") as refused:
        Settings()
    assert "dev sign-in" in str(refused.value).lower()


def test_dev_sign_in_is_off_unless_asked_for(monkeypatch):
    for name in ("ENTRA_TENANT_ID", "ENTRA_CLIENT_ID", "ENTRA_CLIENT_SECRET", "DEV_SIGN_IN"):
        monkeypatch.delenv(name, raising=False)
    assert not Settings().dev_sign_in_allowed
    monkeypatch.setenv("DEV_SIGN_IN", "1")
    assert Settings().dev_sign_in_allowed


def test_dev_sign_in_never_comes_with_a_tenant(monkeypatch):
    monkeypatch.setenv("DEV_SIGN_IN", "1")
    monkeypatch.setenv("ENTRA_TENANT_ID", TENANT)
    monkeypatch.setenv("ENTRA_CLIENT_ID", "client")
    monkeypatch.setenv("ENTRA_CLIENT_SECRET", "secret")
    assert not Settings().dev_sign_in_allowed


def test_without_dev_sign_in_nobody_can_make_themselves_an_administrator(migrated, session):
    application = create_app(make_settings(migrated, dev_sign_in=False), TESTING=True,
                             SERVER_NAME=DOMAIN, WTF_CSRF_ENABLED=False)  # no form to read
    try:
        client = application.test_client()
        page = client.get("/sign-in").get_data(as_text=True)
        assert "/sign-in/dev" not in page and 'name="email"' not in page
        assert "DEV_SIGN_IN=1" in page  # what to set on a laptop
        response = client.post("/sign-in/dev", data={"name": "M", "email": "m@example.com",
                                                      "admin": "y"})
        assert response.status_code == 404
        assert session.scalar(select(User.id)) is None
    finally:
        end_app(application)


def test_make_run_asks_for_dev_sign_in_explicitly():
    makefile = (ROOT / "Makefile").read_text()
    recipe = makefile.split("\nrun:", 1)[1].split("\n\n", 1)[0]
    flask_run = next(line for line in recipe.splitlines() if "flask run" in line)
    assert "DEV_SIGN_IN=" in flask_run


# ---- finding 1: dev accounts end when a tenant is configured ---------------------------


def test_a_dev_session_is_refused_once_a_tenant_is_configured(app, browser):
    browser.sign_in(email="ada@example.com", admin=True)
    assert browser.get("/incidents").status_code == 200
    app.extensions["settings"] = with_tenant(app.extensions["settings"])
    response = browser.get("/incidents")
    assert response.status_code == 302
    assert response.location.startswith("/sign-in")


def test_a_dev_accounts_api_token_is_refused_once_a_tenant_is_configured(app, browser,
                                                                         session):
    browser.sign_in(email="ada@example.com", admin=True)
    token = new_token(browser)
    assert call_api(app, token).status_code == 200
    app.extensions["settings"] = with_tenant(app.extensions["settings"])
    response = call_api(app, token)
    assert response.status_code == 401
    assert "development sign-in" in response.get_json()["error"]
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_an_account_from_the_sandbox_tenant_is_refused_in_the_real_one(app, session):
    """Dev sign-in through the built-in sandbox gives accounts of the sandbox's tenant."""
    user = User(entra_oid="3f2a0c9e-0000-4000-8000-0000000000aa", tenant_id="sandbox-tenant",
                name="Sam", email="sam@example.com", is_admin=True)
    session.add(user)
    session.commit()
    _row, token = create_api_token(session, user, "ci")
    app.extensions["settings"] = with_tenant(app.extensions["settings"])
    assert call_api(app, token).status_code == 401


# ---- finding 1: rights follow today's configuration -------------------------------------


def test_someone_removed_from_admin_emails_is_no_longer_an_administrator(app, browser,
                                                                         session):
    reconfigure(app, admin_emails=frozenset({"ada@example.com"}))
    browser.sign_in(email="ada@example.com")
    assert browser.get("/microsoft-365/check").status_code == 200
    reconfigure(app, admin_emails=frozenset())
    assert browser.get("/microsoft-365/check").status_code == 403
    assert "(administrator)" not in browser.get("/incidents").get_data(as_text=True)


def test_someone_added_to_admin_emails_is_an_administrator_at_once(app, browser):
    browser.sign_in(email="ada@example.com")
    assert browser.get("/microsoft-365/check").status_code == 403
    reconfigure(app, admin_emails=frozenset({"ada@example.com"}))
    assert browser.get("/microsoft-365/check").status_code == 200


def test_someone_removed_from_security_emails_no_longer_sees_security_incidents(
        app, browser, other_browser):
    reconfigure(app, security_emails=frozenset({"sec@example.com"}))
    browser.sign_in(email="dee@example.com")
    reference = browser.declare(title="Payroll data exposed", is_security="y")
    other_browser.sign_in(name="Sec", email="sec@example.com")
    assert other_browser.get(f"/incidents/{reference}").status_code == 200
    reconfigure(app, security_emails=frozenset())
    assert other_browser.get(f"/incidents/{reference}").status_code == 404


def test_an_api_token_follows_todays_rights(app, browser, other_browser):
    reconfigure(app, admin_emails=frozenset({"boss@example.com"}))
    browser.sign_in(email="dee@example.com")
    reference = browser.declare(title="Payroll data exposed", is_security="y")
    other_browser.sign_in(name="Boss", email="boss@example.com")
    token = new_token(other_browser)
    url = f"/api/v1/incidents/{reference}"
    headers = {"Authorization": f"Bearer {token}"}
    assert app.test_client().get(url, headers=headers).status_code == 200
    reconfigure(app, admin_emails=frozenset())
    assert app.test_client().get(url, headers=headers).status_code == 404


def test_a_dev_administrator_keeps_the_role_chosen_at_sign_in(app, browser):
    """The dev form's tick is that sign-in's app role: it lasts until the next sign-in."""
    browser.sign_in(email="ada@example.com", admin=True)
    assert browser.get("/microsoft-365/check").status_code == 200
    Browser(app.test_client()).sign_in(email="ada@example.com")  # elsewhere, no tick
    assert browser.get("/microsoft-365/check").status_code == 403


# ---- finding 1: tokens expire, and need their owner to keep signing in -----------------


def test_a_token_expires_after_the_days_chosen(app, browser, frozen_clock):
    browser.sign_in(email="ada@example.com")
    token = new_token(browser, days=30)
    page = tokens_page(browser)
    assert "Expires" in page and "22 December 2026" in page
    frozen_clock.advance(days=29)
    later = Browser(app.test_client())
    later.sign_in(email="ada@example.com")  # still signing in: only the expiry counts
    assert call_api(app, token).status_code == 200
    frozen_clock.advance(days=1, seconds=1)
    response = call_api(app, token)
    assert response.status_code == 401
    assert "expired" in response.get_json()["error"]
    now = Browser(app.test_client())
    now.sign_in(email="ada@example.com")
    assert "Expired" in tokens_page(now)


def test_a_token_lasts_90_days_unless_told_otherwise(app, browser, session, frozen_clock):
    browser.sign_in(email="ada@example.com")
    new_token(browser)
    (row,) = session.scalars(select(ApiToken))
    assert (row.expires_at - row.created_at).days == 90
    made, _secret = create_api_token(session, user_named(session, "ada@example.com"), "x")
    assert (made.expires_at - made.created_at).days == 90


@pytest.mark.parametrize("days", ["0", "10000", "soon", "-5"])
def test_a_lifetime_not_offered_is_a_form_error_and_the_name_is_kept(app, browser,
                                                                     session, days):
    browser.sign_in(email="ada@example.com")
    response = browser.submit("/account/tokens", data={"name": "Grafana alerts",
                                                       "days": days})
    page = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "Choose how long the token lasts" in page
    assert 'value="Grafana alerts"' in page
    assert session.scalar(select(ApiToken.id)) is None


def test_a_token_stops_while_its_owner_has_not_signed_in(app, browser, frozen_clock):
    browser.sign_in(email="ada@example.com")
    token = new_token(browser, days=90)
    assert "signed in within the last 30 days" in tokens_page(browser)
    frozen_clock.advance(days=30, seconds=1)
    response = call_api(app, token)
    assert response.status_code == 401
    error = response.get_json()["error"]
    assert "has not signed in" in error and "30 days" in error
    Browser(app.test_client()).sign_in(email="ada@example.com")
    assert call_api(app, token).status_code == 200


def test_the_sign_in_requirement_comes_from_configuration(app, browser, frozen_clock):
    browser.sign_in(email="ada@example.com")
    token = new_token(browser, days=90)
    reconfigure(app, api_token_sign_in_days=7)
    frozen_clock.advance(days=7, seconds=1)
    assert "7 days" in call_api(app, token).get_json()["error"]


def test_a_revoked_or_unknown_token_still_gets_the_plain_answer(app, browser):
    browser.sign_in(email="ada@example.com")
    response = call_api(app, "idk_not-a-token")
    assert response.status_code == 401
    assert response.get_json()["error"] == (
        "Send a valid API token: Authorization: Bearer <token>.")


def test_a_session_cookie_copied_to_a_tenant_app_is_refused(migrated, redis_url, session):
    """A dev session made before Entra was configured, presented to the restarted app."""
    dev = create_app(make_settings(migrated, redis_url=redis_url), TESTING=True,
                     SERVER_NAME=DOMAIN)
    try:
        browser = Browser(dev.test_client())
        browser.sign_in(email="ada@example.com", admin=True)
        cookie = browser.client.get_cookie(SESSION_COOKIE, domain=DOMAIN).value
    finally:
        end_app_keep_rows(dev)
    tenant = create_app(with_tenant(make_settings(migrated, redis_url=redis_url)),
                        TESTING=True, SERVER_NAME=DOMAIN)
    try:
        client = tenant.test_client()
        client.set_cookie(SESSION_COOKIE, cookie, domain=DOMAIN)
        response = client.get("/incidents")
        assert response.status_code == 302 and "/sign-in" in response.location
    finally:
        end_app_keep_rows(tenant)
    # The sign-in ended: the same cookie does not count again once dev sign-in does.
    session.expire_all()
    assert session.scalar(select(func.count()).select_from(SignIn)
                          .where(SignIn.ended_at.is_(None))) == 0
    again = create_app(make_settings(migrated, redis_url=redis_url), TESTING=True,
                       SERVER_NAME=DOMAIN)
    try:
        client = again.test_client()
        client.set_cookie(SESSION_COOKIE, cookie, domain=DOMAIN)
        response = client.get("/incidents")
        assert response.status_code == 302 and "/sign-in" in response.location
    finally:
        end_app(again)


def end_app_keep_rows(application) -> None:
    from tests.conftest import finish_jobs

    finish_jobs(application)
    application.extensions["db_engine"].dispose()
