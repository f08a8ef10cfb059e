"""Sign-ins are server-side: signing out ends one for every copy of its cookie, sign out
everywhere ends them all, and none outlives 12 hours whatever the cookie says. The binding
of a session to its browser believes only the socket's address unless a proxy is trusted."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from app import create_app
from app.auth.models import SignIn, User
from tests.conftest import Browser, end_app, make_settings, start_app

COOKIE = "incident_desk_session"
DOMAIN = "incident-desk.test"


def copy_of(browser: Browser, app) -> Browser:
    """Another browser holding a copy of `browser`'s session cookie (as a thief would)."""
    cookie = browser.client.get_cookie(COOKIE, domain=DOMAIN)
    assert cookie is not None, "no session cookie to copy"
    thief = Browser(app.test_client())
    thief.client.set_cookie(COOKIE, cookie.value, domain=DOMAIN)
    return thief


def signed_in(browser: Browser) -> bool:
    response = browser.get("/incidents")
    if response.status_code == 200:
        return True
    assert response.status_code == 302 and response.location.startswith("/sign-in"), (
        response.status_code, response.location)
    return False


def sign_ins_of(session, email: str) -> list[SignIn]:
    session.expire_all()
    user = session.scalar(select(User).where(User.email == email))
    rows = list(session.scalars(select(SignIn).where(SignIn.user_id == user.id)
                                .order_by(SignIn.created_at)))
    session.commit()
    return rows


# ---- finding 1: sign-out ends the session on the server ----------------------------------


def test_a_copied_cookie_stops_working_when_its_owner_signs_out(app, browser):
    browser.sign_in()
    thief = copy_of(browser, app)
    assert signed_in(thief)  # a copy works while the sign-in is open...
    browser.submit("/incidents", "/sign-out")
    assert not signed_in(browser)
    assert not signed_in(thief)  # ...and not once its owner has signed out
    response = thief.get("/incidents/new")
    assert response.status_code == 302 and response.location.startswith("/sign-in?next=")


def test_each_sign_in_is_a_row_with_its_times(app, browser, session, frozen_clock):
    browser.sign_in()
    [row] = sign_ins_of(session, "ada@example.com")
    assert row.created_at == row.last_seen_at == frozen_clock.value
    assert row.ended_at is None
    assert browser.client.get_cookie(COOKIE, domain=DOMAIN).value  # the id rides in it
    frozen_clock.advance(minutes=10)
    assert signed_in(browser)
    [row] = sign_ins_of(session, "ada@example.com")
    assert row.last_seen_at == frozen_clock.value
    frozen_clock.advance(minutes=1)
    browser.submit("/incidents", "/sign-out")
    [row] = sign_ins_of(session, "ada@example.com")
    assert row.ended_at == frozen_clock.value


def test_the_id_in_the_cookie_is_not_what_the_table_stores(app, browser, session):
    """A copy of the table (a backup, say) names no live sign-in."""
    browser.sign_in()
    [row] = sign_ins_of(session, "ada@example.com")
    with app.test_request_context():
        serializer = app.session_interface.get_signing_serializer(app)
        data = serializer.loads(browser.client.get_cookie(COOKIE, domain=DOMAIN).value)
    assert data["sign_in"] and data["sign_in"] != row.id


def test_last_seen_is_written_at_most_every_few_minutes(app, browser, session, frozen_clock):
    browser.sign_in()
    frozen_clock.advance(minutes=1)
    assert signed_in(browser)
    [row] = sign_ins_of(session, "ada@example.com")
    assert row.last_seen_at == row.created_at  # a page a minute later writes nothing


def test_a_persons_sign_ins_from_over_a_month_ago_are_deleted(app, browser, session,
                                                             frozen_clock):
    browser.sign_in()
    browser.submit("/incidents", "/sign-out")
    frozen_clock.advance(days=20)
    browser.sign_in()
    browser.submit("/incidents", "/sign-out")
    frozen_clock.advance(days=11)
    browser.sign_in()
    assert len(sign_ins_of(session, "ada@example.com")) == 2  # the first is 31 days old


def test_signing_in_again_ends_the_sign_in_the_browser_had(app, browser, session):
    browser.sign_in()
    old = copy_of(browser, app)
    # A sign-in form left open in another tab (signed-in people are sent on from /sign-in).
    response = browser.submit("/incidents", "/sign-in/dev",
                              {"name": "Grace Hopper", "email": "grace@example.com"})
    assert response.status_code == 302
    assert signed_in(browser)
    assert not signed_in(old)
    assert sign_ins_of(session, "ada@example.com")[0].ended_at is not None


def test_sign_out_everywhere_ends_every_sign_in_of_that_person(app, browser, other_browser):
    browser.sign_in()
    other_browser.sign_in()  # the same person on another device
    someone_else = Browser(app.test_client())
    someone_else.sign_in(name="Grace Hopper", email="grace@example.com")
    page = browser.get("/incidents").get_data(as_text=True)
    assert 'name="everywhere" value="1"' in page and "Sign out everywhere" in page
    response = browser.submit("/incidents", "/sign-out", {"everywhere": "1"})
    assert response.status_code == 302 and response.location == "/sign-in"
    follow = browser.get("/sign-in").get_data(as_text=True)
    assert "signed out everywhere" in follow
    assert not signed_in(browser)
    assert not signed_in(other_browser)
    assert signed_in(someone_else)


def test_sign_out_everywhere_needs_a_csrf_token(browser):
    browser.sign_in()
    assert browser.client.post("/sign-out", data={"everywhere": "1"}).status_code == 400
    assert signed_in(browser)


def test_no_sign_in_outlives_twelve_hours_whatever_the_cookie_says(app, browser,
                                                                   frozen_clock):
    browser.sign_in()
    frozen_clock.advance(hours=11, minutes=59)
    assert signed_in(browser)
    frozen_clock.advance(minutes=2)  # the cookie's own signature is still fresh
    assert not signed_in(browser)


def test_a_cookie_from_before_sign_ins_were_recorded_is_refused(app, browser):
    browser.sign_in()
    with browser.client.session_transaction() as cookie_session:
        del cookie_session["sign_in"]  # as issued before this release: user id only
    assert not signed_in(browser)


# ---- finding 2: the session binding believes X-Forwarded-For only from trusted proxies --


UA = {"User-Agent": "Mozilla/5.0 (same browser)"}
VICTIM = "203.0.113.9"


def sign_in_from(app, remote: str, forwarded: str | None = None) -> Browser:
    browser = Browser(app.test_client())
    browser.client.environ_base["REMOTE_ADDR"] = remote
    headers = dict(UA, **({"X-Forwarded-For": forwarded} if forwarded else {}))
    browser.client.environ_base.update(
        {"HTTP_" + k.upper().replace("-", "_"): v for k, v in headers.items()})
    browser.sign_in()
    return browser


def visit_from(browser: Browser, remote: str, forwarded: str | None = None) -> bool:
    browser.client.environ_base["REMOTE_ADDR"] = remote
    if forwarded:
        browser.client.environ_base["HTTP_X_FORWARDED_FOR"] = forwarded
    else:
        browser.client.environ_base.pop("HTTP_X_FORWARDED_FOR", None)
    return signed_in(browser)


def test_with_no_trusted_proxy_a_forged_forwarded_for_does_not_pass_the_binding(app):
    victim = sign_in_from(app, VICTIM)
    thief = copy_of(victim, app)
    thief.client.environ_base.update({"HTTP_USER_AGENT": UA["User-Agent"]})
    assert not visit_from(thief, "192.0.2.66", forwarded=VICTIM)


def test_with_no_trusted_proxy_forwarded_for_is_ignored(app):
    person = sign_in_from(app, VICTIM)
    assert visit_from(person, VICTIM, forwarded="198.51.100.7")  # same socket: same browser


@pytest.fixture
def proxied(migrated):
    application = start_app(make_settings(migrated, trusted_proxies=1))
    yield application
    end_app(application)


def test_behind_a_trusted_proxy_the_forwarded_address_is_the_one_bound(proxied):
    person = sign_in_from(proxied, "10.0.0.1", forwarded=VICTIM)
    assert visit_from(person, "10.0.0.1", forwarded=VICTIM)
    thief = copy_of(person, proxied)
    thief.client.environ_base.update({"HTTP_USER_AGENT": UA["User-Agent"]})
    assert not visit_from(thief, "10.0.0.1", forwarded="192.0.2.66")


# ---- finding 3: Secure cookies with Entra or an https address, and HSTS over https ------


HSTS = "max-age=31536000; includeSubDomains"


def session_cookie_of(response) -> str:
    return next(v for v in response.headers.getlist("Set-Cookie")
                if v.startswith(COOKIE + "="))


def test_with_entra_configured_the_session_cookie_is_secure(migrated):
    settings = make_settings(migrated, entra_tenant_id="t", entra_client_id="c",
                             entra_client_secret="s", secure_cookies=False)
    app = create_app(settings, TESTING=True)
    try:
        response = app.test_client().get("/sign-in", base_url="https://localhost")
        assert "Secure" in session_cookie_of(response)
    finally:
        app.extensions["db_engine"].dispose()


def test_with_an_https_base_url_the_session_cookie_is_secure(migrated):
    app = create_app(make_settings(migrated, app_base_url="https://desk.example.org",
                                   secure_cookies=False), TESTING=True)
    try:
        page = app.test_client().get("/sign-in", base_url="https://localhost")
        assert "Secure" in session_cookie_of(page)
    finally:
        app.extensions["db_engine"].dispose()


def test_in_development_over_http_the_cookie_is_not_secure_and_there_is_no_hsts(browser):
    page = browser.get("/sign-in")
    assert "Secure" not in session_cookie_of(page)
    assert "Strict-Transport-Security" not in page.headers


def test_over_https_responses_carry_hsts(app):
    response = app.test_client().get("/sign-in", base_url=f"https://{DOMAIN}")
    assert response.headers["Strict-Transport-Security"] == HSTS
    assert app.test_client().get("/healthz", base_url=f"https://{DOMAIN}").headers[
        "Strict-Transport-Security"] == HSTS


def test_behind_a_trusted_proxy_hsts_follows_the_forwarded_scheme(proxied):
    client = proxied.test_client()
    assert client.get("/healthz", headers={"X-Forwarded-Proto": "https"}).headers[
        "Strict-Transport-Security"] == HSTS
    assert "Strict-Transport-Security" not in client.get("/healthz").headers


def test_a_forged_forwarded_proto_gives_no_hsts_without_a_trusted_proxy(app):
    response = app.test_client().get("/healthz", headers={"X-Forwarded-Proto": "https"})
    assert "Strict-Transport-Security" not in response.headers


# ---- finding 4: nothing personal is cached publicly --------------------------------------


def test_the_anonymous_status_page_may_be_cached_publicly(app):
    response = app.test_client().get("/status")
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "public, max-age=5, stale-while-revalidate=10"
    assert "Set-Cookie" not in response.headers


def test_a_signed_in_status_page_is_private(browser):
    browser.sign_in()
    response = browser.get("/status")
    assert response.status_code == 200
    assert "Ada Lovelace" in response.get_data(as_text=True)
    assert response.headers["Cache-Control"] == "private, no-store"


def test_a_signed_in_feed_is_private(browser):
    browser.sign_in()
    assert browser.get("/status/feed.atom").headers["Cache-Control"] == "private, no-store"


@pytest.mark.parametrize("url", ["/healthz", "/api/v1/"])
def test_any_response_for_a_signed_in_person_is_private(browser, url):
    browser.sign_in()
    assert browser.get(url).headers["Cache-Control"] == "private, no-store"


def test_a_signed_in_persons_stylesheet_is_kept_by_their_browser(browser):
    """The same file for everyone: their browser keeps it and asks again with its ETag
    (a 304), rather than downloading the CSS and scripts on every page; no shared cache
    keeps an answer that may carry their session cookie."""
    browser.sign_in()
    response = browser.get("/static/build/app.css")
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "private, no-cache"
    again = browser.client.get("/static/build/app.css",
                               headers={"If-None-Match": response.headers["ETag"]})
    assert again.status_code == 304


def test_a_response_setting_a_cookie_is_private(app):
    @app.get("/sets-a-cookie")
    def sets_a_cookie():
        response = app.make_response({"ok": True})
        response.headers["Cache-Control"] = "public, max-age=600"
        response.set_cookie("something", "personal")
        return response

    response = app.test_client().get("/sets-a-cookie")
    assert response.headers["Cache-Control"] == "private, no-store"


def test_a_response_carrying_a_csrf_token_is_private(app):
    @app.get("/with-a-token")
    def with_a_token():
        from flask_wtf.csrf import generate_csrf

        return {"token": generate_csrf()}, 200, {"Cache-Control": "public, max-age=600"}

    response = app.test_client().get("/with-a-token")
    assert response.headers["Cache-Control"] == "private, no-store"


# ---- finding 5: CR/LF in a redirect target ----------------------------------------------


BAD_TARGETS = ["/incidents\r\nSet-Cookie: evil=1", "/incidents\nX: y", "/incidents\r",
               "/incidents\t/x", "/incidents\x00", "/incidents\x7f"]


@pytest.mark.parametrize("target", BAD_TARGETS)
def test_dev_sign_in_drops_a_next_with_control_characters(browser, target):
    response = browser.submit("/sign-in", "/sign-in/dev",
                              {"name": "A", "email": "a@example.com", "next": target})
    assert response.status_code == 302
    assert response.location == "/incidents"
    assert signed_in(browser)


@pytest.mark.parametrize("target", BAD_TARGETS)
def test_the_sign_in_page_drops_a_next_with_control_characters(browser, target):
    page = browser.get("/sign-in", query_string={"next": target})
    assert page.status_code == 200
    browser.sign_in()
    response = browser.get("/sign-in", query_string={"next": target})
    assert response.status_code == 302 and response.location == "/incidents"


def test_entra_sign_in_start_drops_a_next_with_control_characters(migrated):
    """The target is checked before it is put in the flow cookie (the callback's redirect)."""
    from app.web.auth.routes import _safe_next

    app = create_app(make_settings(migrated), TESTING=True, SERVER_NAME=DOMAIN)
    try:
        with app.test_request_context():
            for target in BAD_TARGETS:
                assert _safe_next(target) == "/incidents"
            assert _safe_next("/incidents/INC-2026-0001?tab=timeline") == (
                "/incidents/INC-2026-0001?tab=timeline")
    finally:
        app.extensions["db_engine"].dispose()


def test_a_readable_next_with_unicode_still_works(browser):
    response = browser.submit("/sign-in", "/sign-in/dev", {
        "name": "A", "email": "a@example.com", "next": "/incidents?q=caf%C3%A9"})
    assert response.location == "/incidents?q=caf%C3%A9"
