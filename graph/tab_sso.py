"""Teams tab single sign-on, the server's half: check the token teams-js `getAuthToken()`
gave the tab, then exchange it on-behalf-of the person for a Graph token through MSAL.

Checked as Microsoft documents for an API's access tokens
(https://learn.microsoft.com/entra/identity-platform/access-tokens#validate-tokens and
https://learn.microsoft.com/microsoftteams/platform/tabs/how-to/authentication/tab-sso-code):
RS256 signature by one of the tenant's OpenID signing keys (`jwks_uri` of its discovery
document), issuer of this tenant (v1 `https://sts.windows.net/{tid}/` or the v2 issuer the
discovery document names), audience the app's Application ID URI (`api://host/{app id}`)
or its app id, `tid` this tenant, `scp` holding `access_as_user`, not expired, and an
`oid`. Any failure raises `TabTokenRefused` with a message safe to show.

The exchange (OBO, `urn:ietf:params:oauth:grant-type:jwt-bearer`) asks for the same
delegated Graph scopes web sign-in does, so the token cache it leaves is what a web
sign-in stores and jobs act for the person the same way. Entra's `invalid_grant` /
`interaction_required` (consent not given, MFA wanted) raise `ConsentRequired`: the tab
then offers Teams' consent pop-up.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import jwt
import msal
import requests

from graph.permissions import delegated_scopes
from graph.tokens import entra_http

ACCESS_AS_USER = "access_as_user"
# How long a tenant's discovery document and keys are kept before being fetched again;
# a token signed by a key not yet seen fetches them at once (Entra rolls keys).
KEYS_KEPT_FOR = 3600.0
ENTRA_TIMEOUT = 10.0
MAX_TOKEN_LENGTH = 16_000  # Entra's tokens are a few KB; anything longer is refused unread
LEEWAY = 60  # seconds of clock skew allowed on exp / nbf, as Microsoft's libraries allow


class TabTokenRefused(Exception):
    """The tab's token is not one to sign anyone in with; `message` says why."""

    def __init__(self, message: str, detail: str = ""):
        super().__init__(detail or message)
        self.message, self.detail = message, detail


class ConsentRequired(Exception):
    """Entra wants the person (or an administrator) to consent, or to sign in again."""

    def __init__(self, error: str, description: str):
        super().__init__(f"{error}: {description}")
        self.error, self.description = error, description


class ExchangeFailed(Exception):
    """The on-behalf-of exchange failed for another reason (Entra unreachable, a wrong
    secret); `message` is safe to show."""

    def __init__(self, message: str, detail: str = ""):
        super().__init__(detail or message)
        self.message, self.detail = message, detail


@dataclass(frozen=True)
class TabApp:
    """The Entra app the tab's token is issued for (the manifest's webApplicationInfo)."""

    tenant_id: str
    client_id: str
    client_secret: str
    resource: str  # api://host/{client_id}
    authority_host: str = "https://login.microsoftonline.com"
    verify: bool | str = True  # the sandbox's certificate file, for its Entra

    @property
    def authority(self) -> str:
        return f"{self.authority_host.rstrip('/')}/{self.tenant_id}"


@dataclass(frozen=True)
class TabUser:
    object_id: str
    tenant_id: str
    name: str
    username: str
    roles: tuple[str, ...] = ()


@dataclass(frozen=True)
class Exchanged:
    user: TabUser
    token_cache: str  # serialised MSAL cache; the caller stores it encrypted


_keys_lock = threading.Lock()
_keys: dict[str, tuple[float, dict, jwt.PyJWKSet]] = {}


def _http(verify: bool | str) -> requests.Session:
    return entra_http(verify) or requests.Session()


def _tenant_keys(app: TabApp, refresh: bool = False) -> tuple[dict, jwt.PyJWKSet]:
    """(discovery document, signing keys) of the app's tenant, kept KEYS_KEPT_FOR."""
    with _keys_lock:
        found = _keys.get(app.authority)
        if found and not refresh and time.monotonic() - found[0] < KEYS_KEPT_FOR:
            return found[1], found[2]
    http = _http(app.verify)
    try:
        discovery = http.get(f"{app.authority}/v2.0/.well-known/openid-configuration",
                             timeout=ENTRA_TIMEOUT)
        discovery.raise_for_status()
        document = discovery.json()
        keys = http.get(document["jwks_uri"], timeout=ENTRA_TIMEOUT)
        keys.raise_for_status()
        key_set = jwt.PyJWKSet.from_dict(keys.json())
    except (requests.RequestException, ValueError, KeyError, jwt.PyJWTError) as exc:
        raise TabTokenRefused("Microsoft sign-in is not reachable right now, so Teams' "
                              "sign-in could not be checked. Try again in a minute.",
                              repr(exc)) from exc
    with _keys_lock:
        _keys[app.authority] = (time.monotonic(), document, key_set)
    return document, key_set


def _signing_key(app: TabApp, kid: str):
    document, key_set = _tenant_keys(app)
    for refresh in (False, True):
        for key in key_set.keys:
            if key.key_id == kid:
                return document, key
        if not refresh:
            document, key_set = _tenant_keys(app, refresh=True)
    raise TabTokenRefused(REFUSED, f"no signing key {kid!r} in the tenant's keys")


REFUSED = "Teams' sign-in token is not valid for Incident Desk. Close the tab and open it again."


def validate(app: TabApp, token: str) -> TabUser:
    """The person `token` signs in, or TabTokenRefused."""
    if not isinstance(token, str) or not token or len(token) > MAX_TOKEN_LENGTH:
        raise TabTokenRefused(REFUSED, "no token, or one too long")
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError as exc:
        raise TabTokenRefused(REFUSED, f"not a JWT: {exc}") from exc
    if header.get("alg") != "RS256" or not header.get("kid"):
        raise TabTokenRefused(REFUSED, f"alg {header.get('alg')!r}, kid {header.get('kid')!r}")
    document, key = _signing_key(app, str(header["kid"]))
    issuers = [f"https://sts.windows.net/{app.tenant_id}/",
               str(document.get("issuer", "")).replace("{tenantid}", app.tenant_id)]
    try:
        claims = jwt.decode(
            token, key.key, algorithms=["RS256"], audience=[app.resource, app.client_id],
            issuer=issuers, leeway=LEEWAY,
            options={"require": ["exp", "iat", "aud", "iss", "tid", "oid"]})
    except jwt.ExpiredSignatureError as exc:
        raise TabTokenRefused("Teams' sign-in token has expired. Close the tab and open it "
                              "again.", str(exc)) from exc
    except jwt.InvalidAudienceError as exc:
        raise TabTokenRefused("Teams' sign-in token was issued for another app, not "
                              "Incident Desk. Ask an administrator to check the Teams app's "
                              "Application ID URI.", str(exc)) from exc
    except jwt.InvalidIssuerError as exc:
        raise TabTokenRefused(OTHER_TENANT, str(exc)) from exc
    except jwt.PyJWTError as exc:
        raise TabTokenRefused(REFUSED, f"{type(exc).__name__}: {exc}") from exc
    if str(claims["tid"]).lower() != app.tenant_id.lower():
        raise TabTokenRefused(OTHER_TENANT, f"tid {claims['tid']!r}")
    if ACCESS_AS_USER not in str(claims.get("scp", "")).split():
        raise TabTokenRefused(REFUSED, f"scp {claims.get('scp')!r} without access_as_user")
    return TabUser(object_id=str(claims["oid"]), tenant_id=str(claims["tid"]),
                   name=str(claims.get("name") or claims.get("preferred_username")
                            or claims.get("upn") or "Unknown")[:200],
                   username=str(claims.get("preferred_username") or claims.get("upn")
                                or "").lower()[:320],
                   roles=tuple(str(r) for r in claims.get("roles") or ()))


OTHER_TENANT = ("You are signed in to Teams with an account of another organisation: "
                "Incident Desk only signs in people of this organisation's Microsoft Entra.")
CONSENT_ERRORS = {"invalid_grant", "interaction_required", "consent_required"}


def exchange(app: TabApp, token: str, scopes: tuple[str, ...] | None = None) -> Exchanged:
    """Validate `token`, then swap it on-behalf-of the person for a Graph token; the MSAL
    cache it leaves holds the person's account and refresh token."""
    user = validate(app, token)
    cache = msal.SerializableTokenCache()
    try:
        client = msal.ConfidentialClientApplication(
            app.client_id, client_credential=app.client_secret, authority=app.authority,
            token_cache=cache, instance_discovery=False, http_client=entra_http(app.verify),
            timeout=ENTRA_TIMEOUT)
        result = client.acquire_token_on_behalf_of(token, list(scopes or delegated_scopes()))
    except Exception as exc:  # network or configuration: tell the person, log the detail
        raise ExchangeFailed("Microsoft sign-in is not reachable right now. Try again in a "
                             "minute.", repr(exc)) from exc
    if "error" in result:
        error, description = result["error"], result.get("error_description", "")
        if error in CONSENT_ERRORS or result.get("suberror") == "consent_required":
            raise ConsentRequired(error, description)
        raise ExchangeFailed("Microsoft could not sign you in to Incident Desk. Ask an "
                             "administrator.", f"{error}: {description}")
    claims = result.get("id_token_claims") or {}
    if claims.get("oid") and claims["oid"] != user.object_id:
        raise ExchangeFailed(REFUSED, "on-behalf-of answered for another person")
    return Exchanged(user=user, token_cache=cache.serialize())
