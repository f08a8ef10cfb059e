"""The sandbox tenant's directory: people, the app registration and what was granted.

What an administrator sets up in Entra and Exchange, kept as documents in the sandbox
state so every process sharing the file agrees:
- "user": a person (object id, UPN, display name), keyed by UPN in lower case;
- "app": an app registration (client id and secret) with the delegated scopes and the
  application roles an administrator consented to;
- "site_grant": a Sites.Selected grant of one app on one site ("read" or "write"),
  https://learn.microsoft.com/graph/api/site-post-permissions;
- "mailbox_grant": Exchange RBAC for Applications, an application permission (Mail.Send,
  Mail.ReadWrite) scoped to one mailbox,
  https://learn.microsoft.com/exchange/permissions-exo/application-rbac;
- "tenant": the tenant's limits and delays (graph/sandbox/limits.py).
"""

from __future__ import annotations

import json
import uuid

from graph.sandbox.wire import ApiError


def user_key(upn: str) -> str:
    return upn.strip().lower()


def object_id(upn: str) -> str:
    """A stable object id for a person (the same in every process and run)."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"graph-sandbox:user:{user_key(upn)}"))


def add_user(tx, upn: str, display_name: str = "", user_id: str | None = None) -> dict:
    """A person in the tenant (an existing one is returned as it is); `user_id` gives
    them a chosen object id, as a test mirroring someone's Entra account needs."""
    key = user_key(upn)
    found = tx.get("user", key)
    if found is None:
        found = tx.put("user", key, {
            "id": user_id or object_id(key), "userPrincipalName": key, "mail": key,
            "displayName": display_name or key.split("@")[0], "accountEnabled": True})
    return found


def find_user(tx, ref: str) -> dict | None:
    """A person by UPN or object id."""
    found = tx.get("user", user_key(ref))
    if found is not None:
        return found
    row = tx.conn.execute("SELECT body FROM docs WHERE kind = 'user' AND "
                          "json_extract(body, '$.id') = ?", (ref,)).fetchone()
    return json.loads(row[0]) if row else None


def user_or_404(tx, ref: str) -> dict:
    found = find_user(tx, ref)
    if found is None:
        raise ApiError(404, "Request_ResourceNotFound",
                       f"Resource '{ref}' does not exist or one of its queried reference-"
                       "property objects are not present.")
    return found


def add_app(tx, client_id: str, secret: str, display_name: str, *,
            delegated: tuple[str, ...] = (), application: tuple[str, ...] = ()) -> dict:
    """An app registration with admin consent for these permissions (replacing any)."""
    return tx.put("app", client_id, {
        "client_id": client_id, "secret": secret, "display_name": display_name,
        "object_id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"graph-sandbox:app:{client_id}")),
        "delegated": sorted(set(delegated)), "application": sorted(set(application))})


def grant_site(tx, client_id: str, site_id: str, role: str) -> dict:
    """Sites.Selected: the app may read ("read") or write ("write") this one site."""
    if role not in ("read", "write"):
        raise ValueError("a Sites.Selected grant is 'read' or 'write'")
    return tx.put("site_grant", f"{client_id}/{site_id}", {"roles": [role]})


def site_role(tx, client_id: str, site_id: str) -> str | None:
    found = tx.get("site_grant", f"{client_id}/{site_id}")
    return found["roles"][0] if found else None


def grant_mailbox(tx, client_id: str, mailbox: str, permissions: tuple[str, ...]) -> dict:
    """RBAC for Applications: these application permissions, on this mailbox only."""
    return tx.put("mailbox_grant", f"{client_id}/{user_key(mailbox)}",
                  {"permissions": sorted(set(permissions))})


def mailbox_permissions(tx, client_id: str, mailbox: str) -> set[str]:
    found = tx.get("mailbox_grant", f"{client_id}/{user_key(mailbox)}")
    return set(found["permissions"]) if found else set()


def user_or_entra_error(tx, upn: str) -> dict:
    """The person a code or refresh token names; gone from the directory: Entra's
    AADSTS50034 ("the user account does not exist")."""
    found = tx.get("user", user_key(upn))
    if found is None:
        from graph.sandbox.entra import EntraError

        raise EntraError("invalid_grant", 50034, f"The user account {upn} does not exist in "
                         "the directory.")
    return found
