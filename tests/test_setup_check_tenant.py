"""The set-up check's tokens when an Entra tenant is configured: the service account's
stored sign-in (a real MSAL cache, made by signing in through the app with `responses`
standing in for Entra, as tests/test_auth_entra.py does), and what it says when there is
none. Graph itself is unreachable here, so only the tokens are looked at."""

from __future__ import annotations

from dataclasses import replace

from app.auth.models import TokenCache
from app.db import Session
from app.m365.setup_check import run_check
from app.m365.setup_check.results import FAILED, PASSED
from tests import test_auth_entra as entra_tests
from tests.test_auth_entra import TENANT, sign_in

# Its fixtures: the app with an Entra tenant configured, its HTTPS browser, and Entra.
app, browser, entra = entra_tests.app, entra_tests.browser, entra_tests.entra

SERVICE = "boss@example.com"  # an administrator, in the Entra fixture app's ADMIN_EMAILS


def check(app, service_account: str = SERVICE):
    app.extensions["installation"] = replace(app.extensions["installation"],
                                        service_account=service_account)
    with app.app_context():
        return run_check(app, timeout=2.0, budget=30.0)


def test_the_service_accounts_stored_sign_in_gives_a_token(app, browser, entra):
    sign_in(browser, entra, preferred_username=SERVICE, name="Service Account")
    report = check(app)
    assert f"Entra tenant {TENANT}" in report.where
    token = report.finding("service-account-token")
    assert token.status == PASSED, token
    assert SERVICE in token.detail
    assert report.finding("your-token").status != FAILED  # nobody at a page


def test_a_service_account_that_never_signed_in_is_told_to(app, entra):
    token = check(app, "nobody@example.com").finding("service-account-token")
    assert token.status == FAILED
    assert "nobody@example.com has never signed in to Incident Desk" in token.detail
    assert token.fix.startswith("Sign in to Incident Desk as nobody@example.com")


def test_a_sign_in_no_longer_stored_is_told_to_sign_in_again(app, browser, entra):
    sign_in(browser, entra, preferred_username=SERVICE)
    Session.query(TokenCache).delete()
    Session.commit()
    token = check(app).finding("service-account-token")
    assert token.status == FAILED and "No sign-in is stored" in token.detail
    assert f"Sign in to Incident Desk as {SERVICE}" in token.fix
