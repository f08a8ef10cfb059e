"""Token providers against a mocked Entra (`responses` stands in for its discovery
document and token endpoint; everything else is the real MSAL)."""

from __future__ import annotations

import base64
import json
import time
import uuid
from urllib.parse import parse_qs

import msal
import pytest
import responses

from graph.port import GraphError
from graph.tokens import TokenUnavailable, app_only_token, sandbox_token, user_token

HOST = "https://login.entra.test"
OID = "99999999-8888-7777-6666-555555555555"


def b64(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


class Entra:
    """A tenant of our own per test (MSAL apps are shared per process by design)."""

    def __init__(self, mock: responses.RequestsMock):
        self.mock = mock
        self.tenant, self.client = str(uuid.uuid4()), str(uuid.uuid4())
        self.authority = f"{HOST}/{self.tenant}"
        self.token_url = f"{self.authority}/oauth2/v2.0/token"
        self.discovery = mock.get(
            f"{self.authority}/v2.0/.well-known/openid-configuration",
            json={"authorization_endpoint": f"{self.authority}/oauth2/v2.0/authorize",
                  "token_endpoint": self.token_url, "issuer": f"{HOST}/{self.tenant}/v2.0"})

    def id_token(self) -> str:
        now = int(time.time())
        claims = {"iss": f"{HOST}/{self.tenant}/v2.0", "aud": self.client, "iat": now,
                  "nbf": now, "exp": now + 3600, "oid": OID, "tid": self.tenant,
                  "sub": "subject", "preferred_username": "ada@example.com"}
        return f"{b64({'alg': 'RS256'})}.{b64(claims)}.c2ln"

    def tokens(self, access: str, refresh: str, expires_in: int = 3600) -> dict:
        return {"token_type": "Bearer", "access_token": access, "refresh_token": refresh,
                "expires_in": expires_in, "scope": "https://graph.microsoft.com/.default",
                "id_token": self.id_token(),
                "client_info": b64({"uid": OID, "utid": self.tenant})}

    def signed_in_cache(self, expires_in: int) -> str:
        """A cache as sign-in leaves it: Ada's access and refresh tokens."""
        answer = self.mock.post(self.token_url, json=self.tokens("AT-1", "RT-1", expires_in))
        cache = msal.SerializableTokenCache()
        app = msal.ConfidentialClientApplication(
            self.client, client_credential="secret", authority=self.authority,
            token_cache=cache, instance_discovery=False)
        result = app.acquire_token_by_refresh_token(
            "RT-0", ["https://graph.microsoft.com/.default"])
        assert result.get("access_token") == "AT-1", result
        self.mock.remove(answer)
        self.mock.calls.reset()
        self.discovery.calls.reset()
        return cache.serialize()

    def user_token(self, cache: str, saved: list, oid: str = OID):
        return user_token(self.tenant, self.client, "secret", HOST, cache, oid,
                          ["https://graph.microsoft.com/.default"], saved.append)

    def app_token(self, secret: str = "secret"):  # noqa: S107 - a mocked Entra
        return app_only_token(self.tenant, self.client, secret, HOST)


@pytest.fixture
def entra():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield Entra(mock)


def form(call) -> dict:
    return {k: v[0] for k, v in parse_qs(call.request.body).items()}


def test_the_sandbox_token_is_the_sandbox_entras_for_the_actor():
    """Issued by the sandbox's own Entra: its Graph then knows who is calling, with the
    scopes consented to the app, and refuses a token it did not issue."""
    import requests

    from graph.sandbox import SandboxServer
    from tests.conftest import sandbox_tenant

    with SandboxServer() as server:
        sandbox_tenant(server.state, "ada@example.com")
        token = sandbox_token(server.graph_base_url, "ada@example.com")
        first = token()
        assert token() == first  # kept until shortly before it expires
        me = requests.get(f"{server.graph_base_url}/me", timeout=5,
                          headers={"Authorization": f"Bearer {first}"}).json()
        assert me["userPrincipalName"] == "ada@example.com"
        made_up = requests.get(f"{server.graph_base_url}/me", timeout=5,
                               headers={"Authorization": "Bearer ada@example.com"})
        assert made_up.status_code == 401
        assert made_up.json()["error"]["code"] == "InvalidAuthenticationToken"
        with pytest.raises(TokenUnavailable):
            sandbox_token(server.graph_base_url, "ada@example.com", "no-such-app")()
    with pytest.raises(ValueError):
        sandbox_token("http://127.0.0.1:9/v1.0", "")


def test_shared_sandbox_tokens_are_fetched_once_per_person_for_the_process(monkeypatch):
    """Deliveries make a provider each; shared, they sign each person in once per token
    lifetime (as MSAL's cache does with a tenant) instead of once per delivery. The
    set-up check's providers are not shared: they see the grants as they are now."""
    import requests

    from graph import tokens
    from graph.sandbox import SandboxServer
    from tests.conftest import sandbox_tenant

    asked: list[dict] = []
    real_post = requests.post

    def counting_post(url, **kwargs):
        asked.append(kwargs["json"])
        return real_post(url, **kwargs)

    monkeypatch.setattr(tokens.requests, "post", counting_post)
    with SandboxServer() as server:
        sandbox_tenant(server.state, "ada@example.com")
        sandbox_tenant(server.state, "bob@example.com")
        base = server.graph_base_url
        first = sandbox_token(base, "ada@example.com", shared=True)()
        assert sandbox_token(base, "ada@example.com", shared=True)() == first
        sandbox_token(base, "bob@example.com", shared=True)()
        assert [a["upn"] for a in asked] == ["ada@example.com", "bob@example.com"]
        sandbox_token(base, "ada@example.com")()  # not shared: asks again
        assert len(asked) == 3
        kept = sandbox_token(base, "ada@example.com", shared=True)
        kept.forget("another-token")
        assert kept() == first and len(asked) == 3  # only a refused token is dropped
        kept.forget(first)  # Graph answered 401 to it (GraphClient calls this)
        kept()
        assert len(asked) == 4
    with pytest.raises(GraphError):  # stopped: nothing it issued is kept for its port
        sandbox_token(base, "ada@example.com", shared=True)()


def test_the_app_token_is_fetched_once_and_cached_across_providers(entra):
    token = entra.mock.post(entra.token_url, json={
        "token_type": "Bearer", "access_token": "APP-1", "expires_in": 3600})
    assert entra.app_token()() == "APP-1"
    assert entra.app_token()() == "APP-1"  # a new provider per delivery: same MSAL app
    assert token.call_count == 1 and entra.discovery.call_count == 1
    sent = form(token.calls[0])
    assert sent["grant_type"] == "client_credentials"
    assert sent["scope"] == "https://graph.microsoft.com/.default"
    assert sent["client_id"] == entra.client


def test_a_refused_app_secret_is_token_unavailable(entra):
    entra.mock.post(entra.token_url, status=401, json={
        "error": "invalid_client", "error_description": "AADSTS7000215: Invalid client secret"})
    with pytest.raises(TokenUnavailable, match="AADSTS7000215"):
        entra.app_token("wrong")()


def test_a_busy_or_unreachable_entra_is_a_retryable_graph_error(entra):
    entra.mock.post(entra.token_url, status=503, json={
        "error": "temporarily_unavailable", "error_description": "try later"})
    with pytest.raises(GraphError) as caught:
        entra.app_token("busy")()
    assert caught.value.retryable
    other = Entra(entra.mock)  # nothing answers its token endpoint: a connection error
    with pytest.raises(GraphError) as caught:
        other.app_token()()
    assert caught.value.status == 0 and caught.value.retryable


def test_a_stored_sign_in_is_refreshed_silently_and_the_new_cache_saved(entra):
    cache = entra.signed_in_cache(expires_in=60)  # MSAL refreshes what expires in 5 min
    refresh = entra.mock.post(entra.token_url, json=entra.tokens("AT-2", "RT-2"))
    saved: list[str] = []
    fetch = entra.user_token(cache, saved)
    assert fetch() == "AT-2"
    assert form(refresh.calls[0])["grant_type"] == "refresh_token"
    assert form(refresh.calls[0])["refresh_token"] == "RT-1"
    assert len(saved) == 1 and "RT-2" in saved[0] and "RT-1" not in saved[0]
    assert fetch() == "AT-2" and len(saved) == 1 and refresh.call_count == 1  # cached


def test_a_valid_stored_token_needs_no_call_and_no_save(entra):
    cache = entra.signed_in_cache(expires_in=3600)
    saved: list[str] = []
    assert entra.user_token(cache, saved)() == "AT-1"
    assert saved == []
    assert not [c for c in entra.mock.calls if c.request.url == entra.token_url]


def test_discovery_is_fetched_once_for_every_person_in_the_process(entra):
    cache = entra.signed_in_cache(expires_in=3600)
    for _ in range(3):  # a provider per delivery
        assert entra.user_token(cache, [])() == "AT-1"
    assert entra.discovery.call_count == 1


def test_a_revoked_refresh_token_means_signing_in_again(entra):
    cache = entra.signed_in_cache(expires_in=60)
    entra.mock.post(entra.token_url, status=400, json={
        "error": "invalid_grant", "error_description": "AADSTS700082: expired",
        "suberror": "bad_token"})
    saved: list[str] = []
    with pytest.raises(TokenUnavailable, match="sign in"):
        entra.user_token(cache, saved)()
    assert saved == []


def test_nobody_in_the_cache_means_signing_in_again(entra):
    with pytest.raises(TokenUnavailable, match="sign in"):
        entra.user_token("", [])()
    cache = entra.signed_in_cache(expires_in=3600)
    with pytest.raises(TokenUnavailable):
        entra.user_token(cache, [], oid="someone-else")()


def test_a_kept_token_graph_refuses_is_replaced_and_the_call_sent_once_more():
    """A sandbox reset (or a revoked grant) makes a kept token worthless: the 401 drops
    it, and the request goes once more with a fresh one (nothing was applied)."""
    from graph.client import GraphClient
    from graph.sandbox import SandboxServer
    from tests.conftest import sandbox_tenant

    with SandboxServer() as server:
        sandbox_tenant(server.state, "ada@example.com")
        real = sandbox_token(server.graph_base_url, "ada@example.com")
        handed: list[str] = []

        def token() -> str:
            handed.append("stale-token" if not handed else real())
            return handed[-1]

        token.forget = lambda refused: handed.append(f"forgot {refused}")
        graph = GraphClient(server.graph_base_url, token)
        assert graph.list_channels("incident-team") is not None
        assert handed[:2] == ["stale-token", "forgot stale-token"] and len(handed) == 3
        with pytest.raises(GraphError) as refused:  # no way to forget: the 401 stands
            GraphClient(server.graph_base_url, lambda: "stale-token").list_channels(
                "incident-team")
        assert refused.value.status == 401
