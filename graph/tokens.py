"""Access tokens for Graph calls, as callables that return a bearer token string.

Jobs act as a person (their MSAL cache, kept encrypted by the app), as a service account,
or as the app itself; the sandbox takes any non-empty token and records it as the actor.
`GraphClient` calls the callable in the caller's thread before each request, so a
refresh (network) and `on_cache_changed` (a database write) happen in the job's thread.

Failures: a person who must sign in again, or an app whose secret Entra refuses, raise
`TokenUnavailable` (not worth retrying); Entra being unreachable or busy raises a
retryable `GraphError` (status 0 or 503), like Graph itself being unreachable.
"""

from __future__ import annotations

import contextlib
import hashlib
import threading
import time
from collections.abc import Callable, Iterator, Sequence

import msal
import requests
from msal.exceptions import MsalServiceError

from graph.permissions import delegated_scopes
from graph.port import GraphError, TokenUnavailable

__all__ = ["GRAPH_DEFAULT", "TokenUnavailable", "app_only_token", "forget_sandbox_tokens",
           "sandbox_app_token", "sandbox_token", "user_token"]

GRAPH_DEFAULT = ("https://graph.microsoft.com/.default",)
# Entra errors that pass with time; anything else needs a person or an administrator.
# Seconds for each request to Entra when a job fetches a token: a hung sign-in service
# must hand the worker back (status 0, retried by the outbox) like a hung Graph call.
ENTRA_TIMEOUT = 10.0
TRANSIENT_ERRORS = {"temporarily_unavailable", "server_error", "service_unavailable"}

# Shared by every MSAL app in the process: OpenID discovery documents (no tokens, no PII),
# so a provider made per delivery does not fetch them again each time.
_http_cache: dict = {}
_apps: dict[tuple, msal.ConfidentialClientApplication] = {}
# What jobs acquire a person's token for: the concrete scopes sign-in consented. Asking
# for `.default` never matches the cached token's concrete scopes, so MSAL would redeem
# the refresh token on every call.
DELEGATED_SCOPES = delegated_scopes()
_apps_lock = threading.Lock()


def sandbox_app_token(graph_base_url: str, client_id: str | None = None, *,
                      shared: bool = False) -> Callable[[], str]:
    """The app's own token in the Graph sandbox (client credentials, as from Entra)."""
    return _sandbox_fetch(graph_base_url, {"app": True, "client_id": client_id}, "the app",
                          shared)


def sandbox_token(graph_base_url: str, actor: str, client_id: str | None = None, *,
                  shared: bool = False) -> Callable[[], str]:
    """A token from the Graph sandbox's dev sign-in (POST /_sandbox/token): what its Entra
    would issue once `actor` signed in, so the sandbox checks its permissions and
    memberships as a tenant would. Kept until a minute before it expires: by this
    provider, or with `shared` by every provider of the process (deliveries: one sign-in
    per person per token lifetime, as MSAL's cache gives a tenant's; the set-up check
    asks afresh, to see the grants as they are now)."""
    if not actor:
        raise ValueError("the sandbox needs an actor name")
    return _sandbox_fetch(graph_base_url, {"upn": actor, "client_id": client_id}, actor,
                          shared)


# Sandbox tokens every shared provider of the process reuses, by sandbox and request.
_sandbox_tokens: dict[tuple, dict] = {}
_sandbox_tokens_lock = threading.Lock()


def _sandbox_fetch(graph_base_url: str, request: dict, who: str,
                   shared: bool) -> Callable[[], str]:
    root = graph_base_url.rstrip("/").removesuffix("/v1.0")
    if shared:
        with _sandbox_tokens_lock:
            held = _sandbox_tokens.setdefault((root, *sorted(request.items())), {})
    else:
        held = {}
    lock = _sandbox_tokens_lock if shared else threading.Lock()

    def fetch() -> str:
        with lock:
            if held.get("until", 0) > time.monotonic():
                return held["token"]
            try:
                answer = requests.post(f"{root}/_sandbox/token", timeout=10, json=request)
            except requests.RequestException as exc:
                raise GraphError(f"The Graph sandbox is not reachable: {exc!r}",
                                 status=0) from exc
            if answer.status_code != 200:
                raise TokenUnavailable(f"The Graph sandbox would not sign {who} in "
                                       f"({answer.status_code}: {answer.text[:200]})")
            body = answer.json()
            held.update(token=body["access_token"],
                        until=time.monotonic() + max(0, body["expires_in"] - 60))
            return held["token"]

    def forget(token: str) -> None:
        """Graph refused `token` (401): a sandbox restarted without its state has a new
        signing key, so the next call signs in afresh."""
        with lock:
            if held.get("token") == token:
                held.clear()

    fetch.forget = forget  # type: ignore[attr-defined]
    return fetch


def forget_sandbox_tokens(graph_base_url: str) -> None:
    """A sandbox stops: the shared tokens it issued are of no use to another on its port."""
    root = graph_base_url.rstrip("/").removesuffix("/v1.0")
    with _sandbox_tokens_lock:
        for key in [key for key in _sandbox_tokens if key[0] == root]:
            _sandbox_tokens[key].clear()


def _authority(authority_host: str, tenant: str) -> str:
    return f"{authority_host.rstrip('/')}/{tenant}"


@contextlib.contextmanager
def _talking_to_entra() -> Iterator[None]:
    """Entra unreachable (no answer) or failing (5xx, which MSAL raises): retryable."""
    try:
        yield
    except requests.RequestException as exc:
        raise GraphError(f"Microsoft Entra is not reachable: {exc!r}", status=0) from exc
    except MsalServiceError as exc:
        raise GraphError(f"Microsoft Entra is failing: {exc}", status=503) from exc


def entra_http(verify: bool | str = True) -> requests.Session | None:
    """MSAL's HTTP client when Entra's certificate is not the system's to trust (the
    sandbox's: `verify` names its file). requests lets REQUESTS_CA_BUNDLE override a
    session's own `verify`, so this session ignores the environment (it only ever
    reaches a loopback sandbox)."""
    if verify is True:
        return None
    session = requests.Session()
    session.trust_env = False
    session.verify = verify
    return session


def _new_app(client_id: str, secret: str, authority: str,
             cache: msal.TokenCache | None = None, verify: bool | str = True,
             timeout: float | None = None) -> msal.ConfidentialClientApplication:
    """MSAL fetches the authority's OpenID document here (once per process: http_cache).
    `timeout` bounds each request to Entra (None: MSAL's default, no limit)."""
    try:
        with _talking_to_entra():
            return msal.ConfidentialClientApplication(
                client_id, client_credential=secret, authority=authority, token_cache=cache,
                http_cache=_http_cache, instance_discovery=False,
                http_client=entra_http(verify), timeout=timeout)
    except ValueError as exc:  # discovery answered 4xx, or not with a usable document
        raise TokenUnavailable(f"Microsoft Entra refused the tenant {authority}: {exc}"
                               ) from exc


def _check(result: dict | None, unavailable: str) -> str:
    """The access token from an MSAL result, or the right error."""
    if result and "access_token" in result:
        return result["access_token"]
    error = (result or {}).get("error", "")
    detail = (result or {}).get("error_description") or error or "no cached sign-in"
    if error in TRANSIENT_ERRORS:
        raise GraphError(f"Microsoft Entra is busy: {detail}", status=503, code=error)
    raise TokenUnavailable(f"{unavailable} ({detail.splitlines()[0]})")


def app_only_token(tenant: str, client_id: str, secret: str, authority_host: str,
                   verify: bool | str = True, *, timeout: float | None = ENTRA_TIMEOUT
                   ) -> Callable[[], str]:
    """Incident Desk's own token (client credentials). One MSAL app per tenant, client
    and secret in the process, so its token cache serves every job until expiry."""
    authority = _authority(authority_host, tenant)
    key = (authority, client_id, hashlib.sha256(secret.encode()).hexdigest(), timeout)

    def fetch() -> str:
        with _apps_lock:
            app = _apps.get(key)
            if app is None:
                app = _apps[key] = _new_app(client_id, secret, authority, verify=verify,
                                            timeout=timeout)
        with _talking_to_entra():
            result = app.acquire_token_for_client(scopes=list(GRAPH_DEFAULT))
        return _check(result, "Microsoft Entra refused Incident Desk's own credentials; an "
                              "administrator must check the client id and secret")

    return fetch


def user_token(tenant: str, client_id: str, secret: str, authority_host: str,
               serialized_cache: str, account_oid: str, scopes: Sequence[str],
               on_cache_changed: Callable[[str], None], verify: bool | str = True, *,
               timeout: float | None = ENTRA_TIMEOUT) -> Callable[[], str]:
    """A person's token from their stored MSAL cache, refreshed silently when needed;
    `on_cache_changed(serialized)` is called whenever MSAL changed the cache (a refresh
    rotated the refresh token), so the caller can store it again."""
    cache = msal.SerializableTokenCache()
    if serialized_cache:
        cache.deserialize(serialized_cache)
    authority = _authority(authority_host, tenant)
    state: dict = {}
    lock = threading.Lock()
    must_sign_in = ("The person this work acts for needs to sign in to Incident Desk "
                    "again so it can act in Microsoft 365 for them")

    def fetch() -> str:
        with lock:
            if "app" not in state:
                state["app"] = _new_app(client_id, secret, authority, cache, verify, timeout)
            app = state["app"]
            account = next((a for a in app.get_accounts()
                            if a.get("local_account_id") == account_oid
                            or a.get("home_account_id", "").split(".")[0] == account_oid),
                           None)
            if account is None:
                raise TokenUnavailable(f"{must_sign_in} (no sign-in stored for them)")
            with _talking_to_entra():
                result = app.acquire_token_silent_with_error(list(scopes), account=account)
            token = _check(result, must_sign_in)
            if cache.has_state_changed:
                on_cache_changed(cache.serialize())
                cache.has_state_changed = False
            return token

    return fetch
