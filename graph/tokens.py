"""Access tokens for Graph calls, as callables that return a bearer token string.

Jobs act as a person (their MSAL cache, kept encrypted by the app), as a service account,
or as the app itself; the sandbox takes any non-empty token and records it as the actor.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import msal

from graph.port import TokenUnavailable

GRAPH_DEFAULT = ("https://graph.microsoft.com/.default",)


def sandbox_token(actor: str) -> Callable[[], str]:
    """The sandbox's stand-in for a token: it names who is acting."""
    return lambda: actor


def app_only_token(tenant: str, client_id: str, secret: str, authority_host: str
                   ) -> Callable[[], str]:
    app = msal.ConfidentialClientApplication(
        client_id, client_credential=secret,
        authority=f"{authority_host.rstrip('/')}/{tenant}", instance_discovery=False)

    def fetch() -> str:
        result = app.acquire_token_for_client(scopes=list(GRAPH_DEFAULT))
        if "access_token" not in result:
            raise TokenUnavailable(
                f"Incident Desk could not get its own Microsoft 365 token: "
                f"{result.get('error_description') or result.get('error')}")
        return result["access_token"]

    return fetch


def user_token(tenant: str, client_id: str, secret: str, authority_host: str,
               serialized_cache: str, account_oid: str, scopes: Sequence[str],
               on_cache_changed: Callable[[str], None]) -> Callable[[], str]:
    """A person's token from their stored cache, refreshed silently when needed."""
    cache = msal.SerializableTokenCache()
    cache.deserialize(serialized_cache)
    app = msal.ConfidentialClientApplication(
        client_id, client_credential=secret, token_cache=cache,
        authority=f"{authority_host.rstrip('/')}/{tenant}", instance_discovery=False)

    def fetch() -> str:
        account = next((a for a in app.get_accounts()
                        if a.get("local_account_id") == account_oid
                        or a.get("home_account_id", "").startswith(account_oid)), None)
        result = app.acquire_token_silent(list(scopes), account=account) if account else None
        if not result or "access_token" not in result:
            raise TokenUnavailable("The person this work acts for needs to sign in to "
                                   "Incident Desk again.")
        if cache.has_state_changed:
            on_cache_changed(cache.serialize())
            cache.has_state_changed = False
        return result["access_token"]

    return fetch
