"""Microsoft Entra sign-in with the MSAL auth-code flow (PKCE, form_post, state + nonce).

The app keeps the flow between redirect and callback, and the token cache server-side;
this module only turns them into MSAL calls and plain results.
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping
from dataclasses import dataclass

import msal
import requests

from graph.permissions import delegated_scopes
from graph.tokens import entra_http

# Sign-in asks for what Incident Desk later does as the person (MSAL adds openid, profile
# and offline_access): the refresh token in their server-side cache lets jobs post to
# Teams, send mail and book meetings in their name.
DEFAULT_SCOPES = delegated_scopes()


class SignInError(Exception):
    """Sign-in did not complete; `message` is safe to show to the person signing in."""

    def __init__(self, message: str, detail: str = ""):
        super().__init__(detail or message)
        self.message = message
        self.detail = detail


@dataclass(frozen=True)
class SignedIn:
    object_id: str
    tenant_id: str
    name: str
    email: str
    token_cache: str  # serialised MSAL cache; the caller stores it encrypted
    app_roles: tuple[str, ...] = ()


class EntraSignIn:
    def __init__(
        self,
        tenant_id: str,
        client_id: str,
        client_secret: str,
        authority_host: str = "https://login.microsoftonline.com",
        scopes: tuple[str, ...] = DEFAULT_SCOPES,
        verify: bool | str = True,
    ):
        self.authority = f"{authority_host.rstrip('/')}/{tenant_id}"
        self.client_id = client_id
        self.client_secret = client_secret
        self.scopes = list(scopes)
        self.verify = verify  # the sandbox's certificate file, for its Entra

    def _app(self, cache: msal.SerializableTokenCache | None = None):
        return msal.ConfidentialClientApplication(
            self.client_id,
            client_credential=self.client_secret,
            authority=self.authority,
            token_cache=cache,
            instance_discovery=False,
            http_client=entra_http(self.verify),
        )

    def start(self, redirect_uri: str) -> dict:
        """Begin a flow; keep the returned dict and send the browser to its auth_uri."""
        try:
            return self._app().initiate_auth_code_flow(
                self.scopes, redirect_uri=redirect_uri, response_mode="form_post"
            )
        except Exception as exc:  # network or configuration: tell the person, log the detail
            raise SignInError(
                "Microsoft sign-in is not reachable right now. Try again in a minute.",
                repr(exc),
            ) from exc

    def finish(self, flow: Mapping, auth_response: Mapping[str, str]) -> SignedIn:
        """Redeem the code Entra posted back; raises SignInError on any failure."""
        if auth_response.get("error"):
            description = auth_response.get("error_description", "")
            raise SignInError(_explain(auth_response["error"], description),
                              f"{auth_response['error']}: {description}")
        cache = msal.SerializableTokenCache()
        try:
            result = self._app(cache).acquire_token_by_auth_code_flow(
                dict(flow), dict(auth_response)
            )
        # MSAL raises ValueError for a state mismatch or a bad id token, and RuntimeError
        # when the id token's nonce is not this flow's (a replayed or foreign sign-in).
        except (ValueError, RuntimeError) as exc:
            raise SignInError(
                "That sign-in link has expired or was already used. Sign in again.", str(exc)
            ) from exc
        except Exception as exc:
            raise SignInError(
                "Microsoft sign-in is not reachable right now. Try again in a minute.",
                repr(exc),
            ) from exc
        if "error" in result:
            raise SignInError(
                _explain(result["error"], result.get("error_description", "")),
                f"{result['error']}: {result.get('error_description', '')}",
            )
        claims = result.get("id_token_claims") or {}
        oid = claims.get("oid")
        if not oid:
            raise SignInError("Microsoft did not say who you are. Sign in again.",
                              "id token without oid")
        return SignedIn(
            object_id=oid,
            tenant_id=claims.get("tid", ""),
            name=claims.get("name") or claims.get("preferred_username") or "Unknown",
            email=(claims.get("preferred_username") or claims.get("email") or "").lower(),
            token_cache=cache.serialize(),
            app_roles=tuple(claims.get("roles") or ()),
        )


def sign_in_by_hint(entra: EntraSignIn, redirect_uri: str, login_hint: str,
                    name: str = "") -> SignedIn:
    """Sign `login_hint` in through the Graph sandbox's Entra, doing the browser's part
    here: the sandbox tenant has no password page, it answers the authorize request with
    the form it would post back. The same MSAL flow as a real sign-in, so the cache it
    gives is what a person's sign-in would store. Never for a real tenant."""
    flow = entra.start(redirect_uri)
    http = entra_http(entra.verify) or requests.Session()
    try:
        page = http.get(flow["auth_uri"], params={"login_hint": login_hint,
                                                  "sandbox_name": name}, timeout=10)
    except Exception as exc:  # the sandbox not reachable: as start() says it
        raise SignInError("The Graph sandbox's sign-in is not reachable.", repr(exc)) from exc
    fields = dict(re.findall(r'name="([^"]+)" value="([^"]*)"', page.text))
    return entra.finish(flow, {k: html.unescape(v) for k, v in fields.items()})


def _explain(error: str, description: str) -> str:
    if error == "access_denied":
        return "Sign-in was cancelled, or you have not been given access to Incident Desk."
    if "AADSTS50105" in description:
        return "Your account has not been given access to Incident Desk. Ask an administrator."
    if error in ("invalid_grant", "invalid_request") and "AADSTS54005" in description:
        return "That sign-in link was already used. Sign in again."
    return "Microsoft could not sign you in. Try again, or ask an administrator."
