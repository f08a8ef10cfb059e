"""Who is calling the sandbox, and whether Microsoft would let them.

Every `/v1.0` request carries a bearer token the sandbox's own Entra issued
(graph/sandbox/entra.py): a JWT signed with a key kept in the sandbox state, so every
process sharing the state file accepts the same tokens. A token carries either delegated
scopes (`scp`, a person signed in through an app) or application roles (`roles`, the app
on its own), as Entra's access tokens do
(https://learn.microsoft.com/entra/identity-platform/access-token-claims-reference).

Routes declare what Microsoft's API reference lists for them with `@requires`, delegated
and application separately; the app checks the token before the route runs and answers
as Graph does:
- no token: 401 InvalidAuthenticationToken "Access token is empty."
- a token the sandbox did not issue, or one for another audience: 401
  InvalidAuthenticationToken "Access token validation failure. Invalid audience."
- an expired token: 401 InvalidAuthenticationToken "Lifetime validation failed, the token
  is expired."
- a valid token without any of the listed permissions: 403, worded the way Graph's
  microservices word it ("Missing scope permissions on the request. API requires one of
  'X, Y'. Scopes on the request 'Z'"); Outlook's mail routes answer 403
  ErrorAccessDenied "Access is denied. Check credentials and try again."
"""

from __future__ import annotations

import secrets
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import jwt

from graph.sandbox.wire import TENANT_ID, ApiError

GRAPH_RESOURCE = "https://graph.microsoft.com"
GRAPH_APP_ID = "00000003-0000-0000-c000-000000000000"  # Microsoft Graph's own app id
AUDIENCES = (GRAPH_RESOURCE, f"{GRAPH_RESOURCE}/", GRAPH_APP_ID)
ALGORITHM = "HS256"


@dataclass(frozen=True)
class Principal:
    """The caller a valid token names."""

    kind: str  # "delegated" (a person through an app) or "application" (the app alone)
    app_id: str
    permissions: frozenset[str]
    user_id: str | None = None  # the person's object id (delegated only)
    upn: str | None = None
    name: str = ""

    @property
    def delegated(self) -> bool:
        return self.kind == "delegated"

    @property
    def actor(self) -> str:
        """How the sandbox's records name the caller (a person's UPN, else the app's
        name): what the "what was sent" page shows as the sender."""
        return (self.upn or self.name or self.app_id) if self.delegated else (
            self.name or self.app_id)

    def holds(self, wanted: Iterable[str]) -> str | None:
        """The first of `wanted` this caller holds (case-insensitive, as Entra compares)."""
        mine = {p.lower() for p in self.permissions}
        return next((p for p in wanted if p.lower() in mine), None)


@dataclass(frozen=True)
class Requirement:
    """What Microsoft's reference page lists for an API: any one permission of each kind
    suffices (least privileged first). An empty tuple: that kind is not supported."""

    delegated: tuple[str, ...]
    application: tuple[str, ...]
    doc: str
    mail: bool = False  # Outlook words its refusals differently
    resource_specific: tuple[str, ...] = field(default=())  # e.g. Sites.Selected

    def check(self, principal: Principal) -> str:
        """The permission that lets `principal` call this API; raises a 403 otherwise."""
        wanted = self.delegated if principal.delegated else self.application
        held = principal.holds(wanted)
        if held is not None:
            return held
        if not wanted:
            raise ApiError(403, "Forbidden", "This API is not supported with "
                           f"{'delegated' if principal.delegated else 'application'} "
                           "permissions.")
        if self.mail:
            raise ApiError(403, "ErrorAccessDenied",
                           "Access is denied. Check credentials and try again.")
        kind = "scope" if principal.delegated else "role"
        if not principal.delegated:
            wanted = (*wanted, *self.resource_specific)
        raise ApiError(403, "Forbidden",
                       f"Missing {kind} permissions on the request. API requires one of "
                       f"'{', '.join(wanted)}'. {kind.capitalize()}s on the request "
                       f"'{', '.join(sorted(principal.permissions))}'")


def requires(requirement: Requirement | None = None, *, delegated: tuple[str, ...] = (),
             application: tuple[str, ...] = (), doc: str = "", mail: bool = False,
             methods: tuple[str, ...] | None = None) -> Callable:
    """Mark a route with the permissions its Microsoft reference page lists (`doc`): a
    `Requirement` (graph/sandbox/permissions.py) or its parts. With `methods`, only for
    those HTTP methods (a route serving reads and writes marks each)."""
    if requirement is None:
        requirement = Requirement(tuple(delegated), tuple(application), doc, mail)

    def mark(route: Callable) -> Callable:
        table = dict(getattr(route, "requirements", {}))
        for method in methods or ("*",):
            table[method.upper()] = requirement
        route.requirements = table
        return route

    return mark


def requirement_of(route: Callable, method: str = "*") -> Requirement | None:
    table = getattr(route, "requirements", {})
    return table.get(method.upper()) or table.get("*")


# ---- tokens -------------------------------------------------------------------------


def signing_key(tx) -> str:
    """The state's token signing key, made on first use (shared by every process)."""
    found = tx.get("signing_key", "current")
    if found is None:
        found = tx.put("signing_key", "current", {"key": secrets.token_hex(32)})
    return found["key"]


def access_token(key: str, *, app: dict, user: dict | None, permissions: Iterable[str],
                 lifetime: float, issued_at: float | None = None) -> tuple[str, int]:
    """A Graph access token for `app` (and `user`, for a delegated one): (token, expiry
    as epoch seconds)."""
    now = int(issued_at if issued_at is not None else time.time())
    expires = now + max(1, int(lifetime))
    claims = {"aud": GRAPH_RESOURCE, "iss": f"https://sts.windows.net/{TENANT_ID}/",
              "iat": now, "nbf": now, "exp": expires, "tid": TENANT_ID,
              "appid": app["client_id"], "app_displayname": app.get("display_name", ""),
              "uti": uuid.uuid4().hex, "ver": "1.0"}
    permissions = sorted(set(permissions))
    if user is None:
        claims.update(idtyp="app", oid=app["object_id"], sub=app["object_id"],
                      roles=permissions)
    else:
        claims.update(idtyp="user", oid=user["id"], sub=user["id"],
                      upn=user["userPrincipalName"], name=user["displayName"],
                      scp=" ".join(permissions))
    return jwt.encode(claims, key, algorithm=ALGORITHM), expires


def principal_of(header: str, key: str, now: float | None = None) -> Principal:
    """The caller an `Authorization` header names; raises Graph's 401s."""
    scheme, _, token = header.partition(" ")
    token = token.strip() if scheme.lower() == "bearer" else ""
    if not token:
        raise ApiError(401, "InvalidAuthenticationToken", "Access token is empty.")
    try:
        claims = jwt.decode(token, key, algorithms=[ALGORITHM], audience=list(AUDIENCES),
                            options={"verify_exp": False})
    except jwt.PyJWTError as exc:
        raise ApiError(401, "InvalidAuthenticationToken",
                       "Access token validation failure. Invalid audience.",
                       headers={"WWW-Authenticate": 'Bearer realm="", error="invalid_token"'}
                       ) from exc
    if claims.get("exp", 0) <= (now if now is not None else time.time()):
        raise ApiError(401, "InvalidAuthenticationToken",
                       "Lifetime validation failed, the token is expired.",
                       headers={"WWW-Authenticate": 'Bearer realm="", error="invalid_token"'})
    if claims.get("idtyp") == "app":
        return Principal("application", claims["appid"], frozenset(claims.get("roles") or ()),
                         name=claims.get("app_displayname") or claims["appid"])
    return Principal("delegated", claims["appid"],
                     frozenset((claims.get("scp") or "").split()), user_id=claims.get("oid"),
                     upn=claims.get("upn"), name=claims.get("name") or "")
