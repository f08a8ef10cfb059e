"""Teams tab single sign-on as the sandbox tenant's Entra plays it.

Teams asks Entra for a token for the tab's app (the manifest's webApplicationInfo
resource, `api://host/{app id}`) with the `access_as_user` scope the app exposes; the
sandbox issues the same v1.0 access token Entra does: `aud` the Application ID URI,
`iss` https://sts.windows.net/{tid}/, `scp` access_as_user, the person's `oid` / `tid` /
`upn`, `appid` Teams' own client, signed RS256 with a key published at the tenant's
`jwks_uri` (so the app checks it exactly as it checks Entra's). The app then presents it
to the token endpoint's on-behalf-of grant (graph/sandbox/entra.py), which checks it as
Entra does: signature, lifetime, and an audience that is the calling app's.
https://learn.microsoft.com/microsoftteams/platform/tabs/how-to/authentication/tab-sso-overview
"""

from __future__ import annotations

import base64
import hashlib
import time
import uuid

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from graph.sandbox import directory
from graph.sandbox.wire import TENANT_ID

OBO_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
ACCESS_AS_USER = "access_as_user"
TEAMS_WEB_CLIENT = "5e3ce6c0-2b1f-4285-8d4b-75ee78787346"  # Teams web's client id
SSO_LIFETIME = 3600
ISSUER = f"https://sts.windows.net/{TENANT_ID}/"


def _rsa(tx) -> tuple[str, rsa.RSAPrivateKey]:
    """(kid, private key) of the tenant's signing key, made on first use and kept in the
    state, so every process sharing it signs and checks with the same key."""
    found = tx.get("signing_key", "rsa")
    if found is None:
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
        found = tx.put("signing_key", "rsa", {"pem": pem, "kid": uuid.uuid4().hex[:20]})
    return found["kid"], serialization.load_pem_private_key(found["pem"].encode(), None)


def _b64(number: int) -> str:
    raw = number.to_bytes((number.bit_length() + 7) // 8, "big")
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def public_keys(tx) -> dict:
    kid, key = _rsa(tx)
    numbers = key.public_key().public_numbers()
    x5t = base64.urlsafe_b64encode(hashlib.sha1(kid.encode()).digest()).decode().rstrip("=")  # noqa: S324 - a key's label, as Entra's x5t
    return {"keys": [{"kty": "RSA", "use": "sig", "kid": kid, "x5t": x5t, "alg": "RS256",
                      "n": _b64(numbers.n), "e": _b64(numbers.e), "issuer": ISSUER}]}


class SsoRefused(Exception):
    """What Teams' getAuthToken would fail with (`reason`), and Entra's detail."""

    def __init__(self, reason: str, detail: str):
        super().__init__(detail)
        self.reason, self.detail = reason, detail


def _app_for_resource(tx, resource: str) -> dict:
    prefix, _, rest = resource.partition("://")
    client_id = rest.rstrip("/").rsplit("/", 1)[-1] if prefix == "api" else ""
    app = tx.get("app", client_id) if client_id else None
    if app is None:
        raise SsoRefused("resourceDisabled", f"AADSTS500011: The resource principal named "
                         f"{resource} was not found in the tenant named {TENANT_ID}.")
    return app


def sso_token(tx, upn: str, resource: str, *, lifetime: int = SSO_LIFETIME,
              name: str = "") -> str:
    """The token Teams' getAuthToken() hands the tab for `upn` (who is signed in to
    Teams, so joins the directory as at sign-in) and the tab's `resource`."""
    _app_for_resource(tx, resource)
    user = directory.add_user(tx, upn, name)
    if not user.get("accountEnabled", True):
        raise SsoRefused("resourceDisabled", "AADSTS50057: The user account is disabled.")
    kid, key = _rsa(tx)
    now = int(time.time())
    claims = {"aud": resource, "iss": ISSUER, "iat": now, "nbf": now, "exp": now + lifetime,
              "appid": TEAMS_WEB_CLIENT, "appidacr": "0", "idtyp": "user", "ver": "1.0",
              "name": user["displayName"], "oid": user["id"], "sub": user["id"],
              "tid": TENANT_ID, "upn": user["userPrincipalName"],
              "unique_name": user["userPrincipalName"], "scp": ACCESS_AS_USER,
              "uti": uuid.uuid4().hex}
    return jwt.encode(claims, key, algorithm="RS256", headers={"kid": kid})


def on_behalf_of_user(tx, assertion: str, client_id: str) -> dict:
    """The person an OBO `assertion` presented by `client_id` names; raises
    ValueError(AADSTS code, description) as Entra refuses it."""
    _kid, key = _rsa(tx)
    try:
        claims = jwt.decode(assertion, key.public_key(), algorithms=["RS256"],
                            options={"verify_aud": False, "verify_exp": False})
    except jwt.PyJWTError as exc:
        raise ValueError(50013, "Assertion failed signature validation. [Reason - The key "
                         "was not found.]") from exc
    audience = str(claims.get("aud", ""))
    if audience != client_id and audience.rstrip("/").rsplit("/", 1)[-1] != client_id:
        raise ValueError(500131, "Assertion audience does not match the Client app "
                         f"presenting the assertion. The audience in the assertion was "
                         f"'{audience}' and the expected audience is '{client_id}' or one of "
                         "the Application Ids of the client.")
    if claims.get("exp", 0) <= time.time():
        raise ValueError(500133, "Assertion is not within its valid time range. Ensure that "
                         "the access token is not expired before using it for user "
                         "assertion, or request a new token.")
    return directory.user_or_entra_error(tx, str(claims.get("upn", "")))
