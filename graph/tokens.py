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
from collections.abc import Callable, Iterator, Sequence

import msal
import requests
from msal.exceptions import MsalServiceError

from graph.port import GraphError, TokenUnavailable

__all__ = ["GRAPH_DEFAULT", "TokenUnavailable", "app_only_token", "sandbox_token",
           "user_token"]

GRAPH_DEFAULT = ("https://graph.microsoft.com/.default",)
# Entra errors that pass with time; anything else needs a person or an administrator.
TRANSIENT_ERRORS = {"temporarily_unavailable", "server_error", "service_unavailable"}

# Shared by every MSAL app in the process: OpenID discovery documents (no tokens, no PII),
# so a provider made per delivery does not fetch them again each time.
_http_cache: dict = {}
_apps: dict[tuple[str, str, str], msal.ConfidentialClientApplication] = {}
_apps_lock = threading.Lock()


def sandbox_token(actor: str) -> Callable[[], str]:
    """The sandbox's stand-in for a token: it names who is acting (the sandbox shows it
    as the sender)."""
    if not actor:
        raise ValueError("the sandbox needs an actor name")
    return lambda: actor


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


def _new_app(client_id: str, secret: str, authority: str,
             cache: msal.TokenCache | None = None) -> msal.ConfidentialClientApplication:
    """MSAL fetches the authority's OpenID document here (once per process: http_cache)."""
    try:
        with _talking_to_entra():
            return msal.ConfidentialClientApplication(
                client_id, client_credential=secret, authority=authority, token_cache=cache,
                http_cache=_http_cache, instance_discovery=False)
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


def app_only_token(tenant: str, client_id: str, secret: str, authority_host: str
                   ) -> Callable[[], str]:
    """Incident Desk's own token (client credentials). One MSAL app per tenant, client
    and secret in the process, so its token cache serves every job until expiry."""
    authority = _authority(authority_host, tenant)
    key = (authority, client_id, hashlib.sha256(secret.encode()).hexdigest())

    def fetch() -> str:
        with _apps_lock:
            app = _apps.get(key)
            if app is None:
                app = _apps[key] = _new_app(client_id, secret, authority)
        with _talking_to_entra():
            result = app.acquire_token_for_client(scopes=list(GRAPH_DEFAULT))
        return _check(result, "Microsoft Entra refused Incident Desk's own credentials; an "
                              "administrator must check the client id and secret")

    return fetch


def user_token(tenant: str, client_id: str, secret: str, authority_host: str,
               serialized_cache: str, account_oid: str, scopes: Sequence[str],
               on_cache_changed: Callable[[str], None]) -> Callable[[], str]:
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
                state["app"] = _new_app(client_id, secret, authority, cache)
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
