"""MSAL's real flows against the sandbox's Entra: sign-in by authorization code (PKCE,
form_post), silent refresh for jobs, and client credentials; each redemption counted."""

from __future__ import annotations

import re

import pytest
import requests

from graph.entra import EntraSignIn, SignInError
from graph.sandbox import SandboxServer
from graph.sandbox.seed import CLIENT_ID, CLIENT_SECRET, seed_defaults
from graph.sandbox.wire import TENANT_ID
from graph.tokens import DELEGATED_SCOPES, app_only_token, user_token

REDIRECT = "https://incident-desk.test/auth/callback"


@pytest.fixture(scope="module")
def entra():
    with SandboxServer() as server:
        seed_defaults(server.state)
        yield server


def sign_in(server, email: str, secret: str = CLIENT_SECRET):
    """The browser's part: follow auth_uri with a login hint, post the form back."""
    flow_app = EntraSignIn(TENANT_ID, CLIENT_ID, secret, server.authority_host,
                           verify=server.ca_file)
    flow = flow_app.start(REDIRECT)
    page = requests.get(flow["auth_uri"] + "&login_hint=" + email, timeout=5,
                        verify=server.ca_file)
    fields = dict(re.findall(r'name="([^"]+)" value="([^"]*)"', page.text))
    return flow_app, flow, fields


def test_a_person_signs_in_and_jobs_reuse_their_token(entra):
    before = entra.state.token_redemptions("authorization_code")
    app, flow, fields = sign_in(entra, "grace@example.org")
    who = app.finish(flow, fields)
    assert who.email == "grace@example.org" and who.tenant_id == TENANT_ID
    assert entra.state.token_redemptions("authorization_code") == before + 1
    saved: list[str] = []
    token = user_token(TENANT_ID, CLIENT_ID, CLIENT_SECRET, entra.authority_host,
                       who.token_cache, who.object_id, DELEGATED_SCOPES, saved.append,
                       verify=entra.ca_file)
    first = token()
    assert all(token() == first for _ in range(5))  # the cached access token, each time
    assert entra.state.token_redemptions("refresh_token", "grace@example.org") == 0
    me = requests.get(f"{entra.graph_base_url}/me", timeout=5,
                      headers={"Authorization": f"Bearer {first}"}).json()
    assert me["userPrincipalName"] == "grace@example.org"


def test_a_code_is_redeemed_once_and_only_with_the_right_secret(entra):
    app, flow, fields = sign_in(entra, "hal@example.org")
    app.finish(flow, fields)
    with pytest.raises(SignInError):  # replayed
        app.finish(flow, fields)
    bad, flow, fields = sign_in(entra, "hal@example.org", secret="wrong")
    with pytest.raises(SignInError):
        bad.finish(flow, fields)


def test_a_refresh_after_revocation_asks_the_person_to_sign_in(entra):
    from graph.port import TokenUnavailable

    app, flow, fields = sign_in(entra, "ivy@example.org")
    who = app.finish(flow, fields)
    entra.state.configure_tenant(token_lifetime=60)  # MSAL refreshes within 5 minutes
    try:
        app, flow, fields = sign_in(entra, "ivy@example.org")
        who = app.finish(flow, fields)
        entra.state.revoke_sign_ins("ivy@example.org")
        token = user_token(TENANT_ID, CLIENT_ID, CLIENT_SECRET, entra.authority_host,
                           who.token_cache, who.object_id, DELEGATED_SCOPES, lambda _: None,
                           verify=entra.ca_file)
        with pytest.raises(TokenUnavailable):
            token()
    finally:
        entra.state.configure_tenant(token_lifetime=3600)


def test_the_app_token_carries_its_consented_roles(entra):
    before = entra.state.token_redemptions("client_credentials")
    token = app_only_token(TENANT_ID, CLIENT_ID, CLIENT_SECRET, entra.authority_host,
                           verify=entra.ca_file)
    first = token()
    assert token() == first
    assert entra.state.token_redemptions("client_credentials") == before + 1
    items = requests.get(f"{entra.graph_base_url}/sites/contacts-site/lists/contacts/items",
                         timeout=5, headers={"Authorization": f"Bearer {first}"})
    assert items.status_code == 200 and len(items.json()["value"]) == 5


def test_an_expiring_token_is_refreshed_once_and_the_cache_saved(entra):
    """MSAL refreshes a token within 5 minutes of its expiry: one redemption, after which
    the new token serves every call and the rotated cache is handed back to be stored."""
    entra.state.configure_tenant(token_lifetime=120)
    try:
        app, flow, fields = sign_in(entra, "joe@example.org")
        who = app.finish(flow, fields)
        saved: list[str] = []
        entra.state.configure_tenant(token_lifetime=3600)
        token = user_token(TENANT_ID, CLIENT_ID, CLIENT_SECRET, entra.authority_host,
                           who.token_cache, who.object_id, DELEGATED_SCOPES, saved.append,
                           verify=entra.ca_file)
        fresh = token()
        assert all(token() == fresh for _ in range(3))
        assert entra.state.token_redemptions("refresh_token", "joe@example.org") == 1
        assert len(saved) == 1 and saved[0] != who.token_cache
    finally:
        entra.state.configure_tenant(token_lifetime=3600)
