"""Teams tab SSO, server side, against the Graph sandbox's Entra over real HTTPS: the token
Teams hands the tab is checked as Microsoft documents (signature from the tenant's keys,
issuer, audience, tenant, expiry, access_as_user), then exchanged on-behalf-of through
MSAL; consent not given comes back as Entra's invalid_grant / consent_required."""

from __future__ import annotations

import json
import time

import jwt
import pytest
import requests
from cryptography.hazmat.primitives.asymmetric import rsa

from graph import tab_sso
from graph.sandbox import SandboxServer, SandboxState, seed_defaults
from graph.sandbox.seed import BOT_APP_ID, CLIENT_ID, CLIENT_SECRET
from graph.sandbox.teams_sso import _rsa, sso_token
from graph.sandbox.wire import TENANT_ID

HOST = "incident-desk.test"
RESOURCE = f"api://{HOST}/{CLIENT_ID}"
UPN = "ada@example.org"


@pytest.fixture
def sandbox():
    state = SandboxState()
    seed_defaults(state)
    server = SandboxServer(state=state).start()
    yield server
    server.stop()


def tab_app(server) -> tab_sso.TabApp:
    return tab_sso.TabApp(TENANT_ID, CLIENT_ID, CLIENT_SECRET, RESOURCE,
                          server.authority_host, server.ca_file)


def teams_token(server, upn=UPN, resource=RESOURCE, **kwargs) -> str:
    """What getAuthToken() gives the tab: asked of the sandbox as its Teams host page does."""
    answer = requests.post(f"{server.url}/_sandbox/teams-host/token",
                           json={"upn": upn, "resource": resource, **kwargs}, timeout=10)
    assert answer.status_code == 200, answer.text
    return answer.json()["token"]


def signed(server, **claims) -> str:
    """A token signed with the tenant's real key but claims of the test's choosing."""
    with server.state.tx() as tx:
        kid, key = _rsa(tx)
    good = jwt.decode(teams_token(server), options={"verify_signature": False})
    return jwt.encode({**good, **claims}, key, algorithm="RS256", headers={"kid": kid})


def test_teams_token_is_checked_against_the_tenants_published_keys(sandbox):
    token = teams_token(sandbox)
    header, claims = jwt.get_unverified_header(token), jwt.decode(
        token, options={"verify_signature": False})
    assert header["alg"] == "RS256" and header["kid"]
    assert claims["aud"] == RESOURCE and claims["scp"] == "access_as_user"
    assert claims["iss"] == f"https://sts.windows.net/{TENANT_ID}/"
    user = tab_sso.validate(tab_app(sandbox), token)
    assert (user.tenant_id, user.username) == (TENANT_ID, UPN)
    assert user.object_id == claims["oid"]


@pytest.mark.parametrize(("make", "says"), [
    (lambda s: teams_token(s, resource=f"api://{HOST}/{BOT_APP_ID}"), "issued for another app"),
    (lambda s: signed(s, tid="72f988bf-86f1-41af-91ab-2d7cd011db47",
                      iss="https://sts.windows.net/72f988bf-86f1-41af-91ab-2d7cd011db47/"),
     "another organisation"),
    (lambda s: signed(s, tid="72f988bf-86f1-41af-91ab-2d7cd011db47"), "another organisation"),
    (lambda s: signed(s, exp=int(time.time()) - 600), "expired"),
    (lambda s: signed(s, scp="User.Read"), "not valid"),
    (lambda s: jwt.encode(
        jwt.decode(teams_token(s), options={"verify_signature": False}),
        rsa.generate_private_key(public_exponent=65537, key_size=2048), algorithm="RS256",
        headers={"kid": jwt.get_unverified_header(teams_token(s))["kid"]}), "not valid"),
    (lambda s: jwt.encode(jwt.decode(teams_token(s), options={"verify_signature": False}),
                          "a-guessed-secret-of-thirty-two-bytes!", algorithm="HS256"), "not valid"),
    (lambda s: "not-a-token", "not valid"),
], ids=["wrong-audience", "other-tenant", "other-tenant-our-issuer", "expired",
        "no-access-as-user", "forged-signature", "hs256", "garbage"])
def test_a_bad_token_is_refused_with_a_clear_message(sandbox, make, says):
    with pytest.raises(tab_sso.TabTokenRefused) as refused:
        tab_sso.validate(tab_app(sandbox), make(sandbox))
    assert says in refused.value.message


def test_on_behalf_of_gives_the_persons_graph_tokens_through_msal(sandbox):
    exchanged = tab_sso.exchange(tab_app(sandbox), teams_token(sandbox))
    assert exchanged.user.username == UPN
    cache = json.loads(exchanged.token_cache)
    assert cache["RefreshToken"] and cache["AccessToken"]
    account = next(iter(cache["Account"].values()))
    assert account["local_account_id"] == exchanged.user.object_id
    grant = "urn:ietf:params:oauth:grant-type:jwt-bearer"
    assert sandbox.state.token_redemptions(grant) == 1


def test_on_behalf_of_refuses_a_token_for_another_app(sandbox):
    """Entra's own check, behind ours: the assertion's audience must be the caller's."""
    import msal

    client = msal.ConfidentialClientApplication(
        CLIENT_ID, client_credential=CLIENT_SECRET,
        authority=f"{sandbox.authority_host}/{TENANT_ID}", instance_discovery=False,
        http_client=_session(sandbox.ca_file))
    other = teams_token(sandbox, resource=f"api://{HOST}/{BOT_APP_ID}")
    result = client.acquire_token_on_behalf_of(other, ["ChannelMessage.Send"])
    assert result["error"] == "invalid_grant"
    assert result["error_description"].startswith("AADSTS500131")


def test_consent_not_given_asks_for_consent(sandbox):
    with sandbox.state.tx() as tx:
        app = tx.get("app", CLIENT_ID)
        tx.put("app", CLIENT_ID, {**app, "delegated": ["User.Read"]})
    with pytest.raises(tab_sso.ConsentRequired) as needed:
        tab_sso.exchange(tab_app(sandbox), teams_token(sandbox))
    assert needed.value.error == "invalid_grant"
    assert needed.value.description.startswith("AADSTS65001")
    raw = requests.post(f"{sandbox.authority_host}/{TENANT_ID}/oauth2/v2.0/token", data={
        "grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer", "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET, "assertion": teams_token(sandbox),
        "requested_token_use": "on_behalf_of", "scope": "Mail.Send offline_access"},
        verify=sandbox.ca_file, timeout=10).json()
    assert (raw["error"], raw["suberror"], raw["error_codes"]) == (
        "invalid_grant", "consent_required", [65001])


def test_the_sandbox_refuses_an_sso_token_for_an_unknown_app(sandbox):
    answer = requests.post(f"{sandbox.url}/_sandbox/teams-host/token", json={
        "upn": UPN, "resource": f"api://{HOST}/00000000-0000-0000-0000-000000000000"},
        timeout=10)
    assert answer.status_code == 400
    assert answer.json()["error"] == "resourceDisabled"
    with sandbox.state.tx() as tx:
        assert sso_token(tx, UPN, RESOURCE)


def _session(ca_file):
    session = requests.Session()
    session.trust_env = False
    session.verify = ca_file
    return session
