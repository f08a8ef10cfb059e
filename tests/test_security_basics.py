"""Authorisation, CSRF, headers, cookies and error pages."""

import pytest

from tests.conftest import csrf_from

PAGES = ["/incidents", "/incidents/new", "/incidents/INC-2026-0001",
         "/incidents/INC-2026-0001/edit", "/account/tokens", "/api/v1/"]
FORM_POSTS = ["/incidents/new", "/incidents/{ref}/status", "/incidents/{ref}/roles",
              "/incidents/{ref}/notes", "/incidents/{ref}/edit", "/account/tokens",
              "/account/tokens/1/revoke", "/sign-out", "/sign-in/dev"]


@pytest.mark.parametrize("url", PAGES)
def test_signed_out_people_see_nothing(browser, url):
    response = browser.get(url)
    assert response.status_code == 302
    assert response.location.startswith("/sign-in?next=")


@pytest.mark.parametrize("url", FORM_POSTS[:6])
def test_signed_out_posts_change_nothing(app, browser, url):
    browser.sign_in()
    ref = browser.declare()
    anonymous = app.test_client()
    page = anonymous.get("/sign-in").get_data(as_text=True)
    response = anonymous.post(url.format(ref=ref), data={
        "csrf_token": csrf_from(page), "title": "hijack", "severity": "P1",
        "status-status": "identified", "note-text": "x", "name": "t"})
    assert response.status_code == 302 and "/sign-in" in response.location


@pytest.mark.parametrize("url", FORM_POSTS)
def test_every_form_needs_a_csrf_token(browser, url):
    browser.sign_in()
    ref = browser.declare()
    response = browser.client.post(url.format(ref=ref), data={
        "title": "Forged <i>title</i>", "severity": "P1", "note-text": "forged"})
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert "Your form could not be sent" in page
    assert "Forged &lt;i&gt;title&lt;/i&gt;" in page  # echoed back, escaped, so nothing is lost
    assert "Traceback" not in page


def test_security_headers(browser):
    response = browser.get("/sign-in")
    csp = response.headers["Content-Security-Policy"]
    assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert "'unsafe-inline'" not in csp
    nonce = csp.split("'nonce-")[1].split("'")[0]
    assert f'nonce="{nonce}"' in response.get_data(as_text=True)
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["Cache-Control"] == "private, no-store"  # it has a CSRF token


def test_session_cookie_flags(browser):
    response = browser.sign_in()
    cookie = next(v for v in response.headers.getlist("Set-Cookie")
                  if v.startswith("incident_desk_session="))
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_secure_cookie_flag_in_production(migrated):
    from app import create_app
    from tests.conftest import Browser, make_settings

    app = create_app(make_settings(migrated, secure_cookies=True), TESTING=True)
    browser = Browser(app.test_client())
    page = browser.client.get("/sign-in", base_url="https://localhost")
    response = browser.client.post("/sign-in/dev", base_url="https://localhost", data={
        "csrf_token": csrf_from(page.get_data(as_text=True)), "name": "A",
        "email": "a@example.com"})
    cookie = next(v for v in response.headers.getlist("Set-Cookie")
                  if v.startswith("incident_desk_session="))
    assert "Secure" in cookie
    app.extensions["db_engine"].dispose()


def test_friendly_404_and_500(app, browser):
    @app.get("/boom")
    def boom():
        raise RuntimeError("secret internals")

    missing = browser.get("/no-such-page")
    assert missing.status_code == 404 and "Page not found" in missing.get_data(as_text=True)
    failure = browser.get("/boom")
    body = failure.get_data(as_text=True)
    assert failure.status_code == 500
    assert "Sorry, something went wrong" in body
    assert "secret internals" not in body and "Traceback" not in body


def test_sign_out_needs_post_and_signs_out(browser):
    browser.sign_in()
    assert browser.get("/sign-out").status_code == 405
    response = browser.submit("/incidents", "/sign-out")
    assert response.status_code == 302
    assert browser.get("/incidents").status_code == 302


def test_dev_sign_in_validates(browser):
    response = browser.submit("/sign-in", "/sign-in/dev", {"name": "", "email": "not-an-email"})
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert "Enter your name." in page
    assert "correct format" in page
    assert 'value="not-an-email"' in page


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/x",
                                    "/\\evil.example", "javascript:alert(1)"])
def test_sign_in_never_redirects_off_site(browser, target):
    response = browser.submit("/sign-in", "/sign-in/dev",
                              {"name": "A", "email": "a@example.com", "next": target})
    assert response.location == "/incidents"


def test_sign_in_returns_to_the_page_asked_for(browser):
    response = browser.submit("/sign-in", "/sign-in/dev",
                              {"name": "A", "email": "a@example.com", "next": "/incidents/new"})
    assert response.location == "/incidents/new"
