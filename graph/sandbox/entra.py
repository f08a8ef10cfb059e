"""Microsoft Entra, far enough for MSAL's real flows: OpenID discovery, the authorization
endpoint (auth code with PKCE, `form_post` or `query`), and the token endpoint for the
authorization_code, refresh_token, client_credentials and on-behalf-of grants, and the
tenant's RS256 signing keys (`jwks_uri`) for the Teams tab's SSO token (teams_sso.py).
https://learn.microsoft.com/entra/identity-platform/v2-oauth2-auth-code-flow
https://learn.microsoft.com/entra/identity-platform/v2-oauth2-client-creds-grant-flow
https://learn.microsoft.com/entra/identity-platform/v2-oauth2-on-behalf-of-flow

MSAL only talks to an https:// authority, so the sandbox serves these routes on a TLS
listener of its own (graph/sandbox/server.py); the routes are the same WSGI app's.

The sandbox tenant signs in whoever `login_hint` names (there is no password page: it is
a sandbox), adding them to its directory on first sign-in. Everything else is checked as
Entra checks it: the client secret, the redirect URI the code was issued for, the PKCE
verifier, a code redeemed once, consent for every delegated scope asked for, and
`/.default` for client credentials. Errors have Entra's shape: `error`,
`error_description` starting with the AADSTS code, `error_codes`.

An access token carries every Graph permission the app was consented (`scp` for a person,
`roles` for the app alone), as Entra's tokens do; the response's `scope` lists the
delegated ones by name, never `.default`. Each redemption is counted
(`SandboxState.token_redemptions()`).
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import time
import uuid
from urllib.parse import urlencode

import jwt
from werkzeug.routing import Rule
from werkzeug.wrappers import Request, Response

from graph.sandbox import directory
from graph.sandbox.auth import ALGORITHM, GRAPH_RESOURCE, access_token, signing_key
from graph.sandbox.limits import TenantLimits
from graph.sandbox.routes_connector import CONNECTOR_SCOPE, bot_access_token
from graph.sandbox.teams_sso import OBO_GRANT, on_behalf_of_user, public_keys
from graph.sandbox.wire import TENANT_ID

CODE_LIFETIME = 600  # seconds: "authorization codes are short lived, typically 10 minutes"
REFRESH_LIFETIME = 90 * 24 * 3600
OIDC_SCOPES = {"openid", "profile", "email", "offline_access"}


class EntraError(Exception):
    def __init__(self, error: str, code: int, description: str, status: int = 400,
                 suberror: str = ""):
        super().__init__(description)
        self.error, self.code, self.description, self.status = error, code, description, status
        self.suberror = suberror  # e.g. "consent_required", as Entra adds to some errors


def _issuer(request: Request, tenant: str) -> str:
    return f"{request.host_url.rstrip('/')}/{tenant}/v2.0"


def _error_response(error: EntraError) -> Response:
    now = time.strftime("%Y-%m-%d %H:%M:%SZ", time.gmtime())
    trace = str(uuid.uuid4())
    return Response(json.dumps({
        "error": error.error, "error_description": f"AADSTS{error.code}: "
        f"{error.description} Trace ID: {trace} Timestamp: {now}",
        "error_codes": [error.code], "timestamp": now, "trace_id": trace,
        "correlation_id": str(uuid.uuid4()),
        **({"suberror": error.suberror} if error.suberror else {})}), status=error.status,
        content_type="application/json; charset=utf-8")


def _tenant(tenant: str) -> None:
    if tenant not in (TENANT_ID, "organizations", "common"):
        raise EntraError("invalid_tenant", 90002, f"Tenant '{tenant}' not found. Check to "
                         "make sure you have the correct tenant ID and are signing into the "
                         "correct cloud.")


def _graph_scopes(raw: str) -> tuple[list[str], set[str]]:
    """(Graph permission names, OpenID scopes) from a space-separated `scope`."""
    graph, oidc = [], set()
    for scope in raw.split():
        if scope.lower() in OIDC_SCOPES:
            oidc.add(scope.lower())
            continue
        name = scope.removeprefix(f"{GRAPH_RESOURCE}/").removeprefix("https://graph.microsoft"
                                                                    ".com/")
        if "/" in name or ":" in name:
            raise EntraError("invalid_scope", 70011, f"The provided value for the input "
                             f"parameter 'scope' is not valid. The scope {scope} is not "
                             "valid.")
        graph.append(name)
    return graph, oidc


def _app(tx, client_id: str) -> dict:
    found = tx.get("app", client_id)
    if found is None:
        raise EntraError("unauthorized_client", 700016, f"Application with identifier "
                         f"'{client_id}' was not found in the directory '{TENANT_ID}'.")
    return found


def _consented(app: dict, wanted: list[str]) -> list[str]:
    """Every consented delegated scope, once each wanted one is consented."""
    granted = {s.lower() for s in app["delegated"]}
    missing = [s for s in wanted if s != ".default" and s.lower() not in granted]
    if missing:
        raise EntraError("invalid_grant", 65001, "The user or administrator has not "
                         f"consented to use the application with ID '{app['client_id']}' "
                         f"named '{app['display_name']}'. Send an interactive authorization "
                         f"request for this user and resource. (missing: {' '.join(missing)})")
    return list(app["delegated"])


def _record_consent(tx, app: dict, wanted: list[str]) -> dict:
    """`prompt=consent`: the sandbox tenant lets people consent to delegated permissions,
    and its people always accept. Recorded for the app (the sandbox keeps consent per app,
    not per person), as an administrator's consent would be."""
    granted = sorted({*app["delegated"], *(s for s in wanted if s != ".default")})
    return tx.put("app", app["client_id"], {**app, "delegated": granted})


# ---- discovery -------------------------------------------------------------------------


def discovery(request: Request, state, tenant: str) -> Response:
    try:
        _tenant(tenant)
    except EntraError as error:
        return _error_response(error)
    base = f"{request.host_url.rstrip('/')}/{tenant}"
    return Response(json.dumps({
        "issuer": _issuer(request, tenant),
        "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
        "token_endpoint": f"{base}/oauth2/v2.0/token",
        "device_authorization_endpoint": f"{base}/oauth2/v2.0/devicecode",
        "end_session_endpoint": f"{base}/oauth2/v2.0/logout",
        "jwks_uri": f"{base}/discovery/v2.0/keys",
        "response_modes_supported": ["query", "fragment", "form_post"],
        "response_types_supported": ["code", "id_token", "code id_token"],
        "scopes_supported": ["openid", "profile", "email", "offline_access"],
        "token_endpoint_auth_methods_supported": ["client_secret_post", "client_secret_basic"],
        "subject_types_supported": ["pairwise"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "tenant_region_scope": "EU", "cloud_instance_name": "microsoftonline.com"}),
        content_type="application/json; charset=utf-8")


# ---- the authorization endpoint ----------------------------------------------------------


def authorize(request: Request, state, tenant: str) -> Response:
    args = request.values
    redirect_uri = args.get("redirect_uri", "")
    mode = args.get("response_mode", "query")
    if not redirect_uri.startswith(("https://", "http://")):
        return Response("AADSTS50011: The redirect URI specified in the request does not "
                        "match the redirect URIs configured for the application.",
                        status=400, content_type="text/plain; charset=utf-8")
    try:
        _tenant(tenant)
        answer = _sign_in(state, args)
    except EntraError as error:
        answer = {"error": error.error, "error_description": f"AADSTS{error.code}: "
                                                             f"{error.description}"}
    answer["state"] = args.get("state", "")
    if mode == "form_post":
        inputs = "".join(f'<input type="hidden" name="{html.escape(k)}" '
                         f'value="{html.escape(v)}">' for k, v in answer.items())
        page = (f'<!doctype html><html><body onload="document.forms[0].submit()">'
                f'<form method="post" action="{html.escape(redirect_uri)}">{inputs}'
                "<noscript><button>Continue</button></noscript></form></body></html>")
        return Response(page, content_type="text/html; charset=utf-8")
    return Response(status=302, headers={
        "Location": f"{redirect_uri}{'&' if '?' in redirect_uri else '?'}{urlencode(answer)}"})


def _sign_in(state, args) -> dict:
    if args.get("response_type") != "code":
        raise EntraError("unsupported_response_type", 700054,
                         "response_type 'code' is the only one the sandbox supports.")
    hint = (args.get("login_hint") or "").strip()
    if "@" not in hint:
        raise EntraError("interaction_required", 50058, "The sandbox tenant signs in the "
                         "person login_hint names; none was given.")
    wanted, oidc = _graph_scopes(args.get("scope", ""))
    with state.tx() as tx:
        app = _app(tx, args.get("client_id", ""))
        if args.get("prompt") == "consent":  # the person accepts Entra's consent prompt
            app = _record_consent(tx, app, wanted)
        _consented(app, wanted)
        user = directory.add_user(tx, hint, args.get("sandbox_name", ""))
        if not user.get("accountEnabled", True):
            raise EntraError("access_denied", 50057, "The user account is disabled.")
        key = signing_key(tx)
    now = int(time.time())
    code = jwt.encode({
        "typ": "code", "client_id": app["client_id"], "upn": user["userPrincipalName"],
        "scope": " ".join(wanted), "oidc": sorted(oidc), "nonce": args.get("nonce", ""),
        "redirect_uri": args.get("redirect_uri", ""),
        "code_challenge": args.get("code_challenge", ""),
        "code_challenge_method": args.get("code_challenge_method", "plain"),
        "iat": now, "exp": now + CODE_LIFETIME, "jti": uuid.uuid4().hex}, key,
        algorithm=ALGORITHM)
    client_info = base64.urlsafe_b64encode(json.dumps(
        {"uid": user["id"], "utid": TENANT_ID}).encode()).decode().rstrip("=")
    return {"code": code, "client_info": client_info,
            "session_state": str(uuid.uuid5(uuid.NAMESPACE_URL, user["id"]))}


# ---- the token endpoint ------------------------------------------------------------------


def token(request: Request, state, tenant: str) -> Response:
    form = request.form
    try:
        _tenant(tenant)
        client_id, secret = _client_credentials(request)
        grant = form.get("grant_type", "")
        with state.tx() as tx:
            app = _app(tx, client_id)
            if secret != app["secret"]:
                raise EntraError("invalid_client", 7000215, "Invalid client secret provided. "
                                 "Ensure the secret being sent in the request is the client "
                                 "secret value, not the client secret ID.", status=401)
            key = signing_key(tx)
            limits = TenantLimits.from_doc(tx.get("tenant", "limits"))
            if grant == "authorization_code":
                body = _redeem_code(request, tx, key, app, limits)
            elif grant == "refresh_token":
                body = _redeem_refresh(request, tx, key, app, limits)
            elif grant == "client_credentials":
                body = _client_token(request, key, app, limits)
            elif grant == OBO_GRANT:
                body = _on_behalf_of(request, tx, key, app, limits)
            else:
                raise EntraError("unsupported_grant_type", 70003, f"The app requested an "
                                 f"unsupported grant type '{grant}'.")
            tx.next_number(f"entra:{grant}")
            subject = body.pop("_subject")
            tx.next_number(f"entra:{grant}:{subject}")
    except EntraError as error:
        return _error_response(error)
    return Response(json.dumps(body), content_type="application/json; charset=utf-8",
                    headers={"Cache-Control": "no-store", "Pragma": "no-cache"})


def _client_credentials(request: Request) -> tuple[str, str]:
    if request.authorization and request.authorization.type == "basic":
        return request.authorization.username or "", request.authorization.password or ""
    return request.form.get("client_id", ""), request.form.get("client_secret", "")


def _decode(key: str, value: str, typ: str, expired_code: int, what: str) -> dict:
    try:
        claims = jwt.decode(value, key, algorithms=[ALGORITHM], options={"verify_exp": False})
    except jwt.PyJWTError as exc:
        raise EntraError("invalid_grant", 9002313, f"Invalid request. The {what} is "
                         "malformed or not valid.") from exc
    if claims.get("typ") != typ:
        raise EntraError("invalid_grant", 9002313, f"Invalid request. The {what} is "
                         "malformed or not valid.")
    if claims["exp"] <= time.time():
        raise EntraError("invalid_grant", expired_code, f"The provided {what} has expired.")
    return claims


def _redeem_code(request: Request, tx, key: str, app: dict, limits: TenantLimits) -> dict:
    form = request.form
    claims = _decode(key, form.get("code", ""), "code", 70008, "authorization code")
    if claims["client_id"] != app["client_id"]:
        raise EntraError("invalid_grant", 70002, "The authorization code was issued to "
                         "another client.")
    if tx.get("used_code", claims["jti"]) is not None:
        raise EntraError("invalid_grant", 54005, "OAuth2 Authorization code was already "
                         "redeemed, please retry with a new valid code or use an existing "
                         "refresh token.")
    if form.get("redirect_uri", "") != claims["redirect_uri"]:
        raise EntraError("invalid_grant", 50148, "The redirect_uri does not match the one "
                         "the authorization code was issued for.")
    if claims["code_challenge"]:
        verifier = form.get("code_verifier", "")
        if claims["code_challenge_method"] == "S256":
            verifier = base64.urlsafe_b64encode(
                hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")
        if verifier != claims["code_challenge"]:
            raise EntraError("invalid_grant", 501481, "The Code_Verifier does not match the "
                             "code_challenge supplied in the authorization request.")
    tx.put("used_code", claims["jti"], {"at": time.time()})
    user = directory.user_or_entra_error(tx, claims["upn"])
    body = _user_tokens(request, key, app, user, claims["scope"].split(), limits,
                        oidc=set(claims["oidc"]), nonce=claims["nonce"])
    return body


def _redeem_refresh(request: Request, tx, key: str, app: dict, limits: TenantLimits) -> dict:
    claims = _decode(key, request.form.get("refresh_token", ""), "refresh", 700082,
                     "refresh token")
    if claims["client_id"] != app["client_id"]:
        raise EntraError("invalid_grant", 70000, "The refresh token was issued to another "
                         "client.")
    user = directory.user_or_entra_error(tx, claims["upn"])
    revoked = user.get("tokens_revoked_at") or 0
    if claims["iat"] < revoked:
        raise EntraError("invalid_grant", 50173, "The provided grant has expired due to it "
                         "being revoked, a fresh auth token is needed. The user might have "
                         "changed or reset their password.")
    wanted, oidc = _graph_scopes(request.form.get("scope", ""))
    return _user_tokens(request, key, app, user, wanted, limits, oidc=oidc)


def _user_tokens(request: Request, key: str, app: dict, user: dict, wanted: list[str],
                 limits: TenantLimits, *, oidc: set[str], nonce: str = "") -> dict:
    if not user.get("accountEnabled", True):
        raise EntraError("invalid_grant", 50057, "The user account is disabled.")
    scopes = _consented(app, wanted)
    access, expires = access_token(key, app=app, user=user, permissions=scopes,
                                   lifetime=limits.token_lifetime)
    now = int(time.time())
    refresh = jwt.encode({"typ": "refresh", "client_id": app["client_id"],
                          "upn": user["userPrincipalName"], "iat": now,
                          "exp": now + REFRESH_LIFETIME, "jti": uuid.uuid4().hex}, key,
                         algorithm=ALGORITHM)
    tenant = request.path.strip("/").split("/")[0]
    id_token = jwt.encode({
        "aud": app["client_id"], "iss": _issuer(request, tenant), "iat": now, "nbf": now,
        "exp": now + 3600, "name": user["displayName"],
        "preferred_username": user["userPrincipalName"], "oid": user["id"],
        "sub": user["id"], "tid": TENANT_ID, "ver": "2.0",
        **({"nonce": nonce} if nonce else {})}, key, algorithm=ALGORITHM)
    client_info = base64.urlsafe_b64encode(json.dumps(
        {"uid": user["id"], "utid": TENANT_ID}).encode()).decode().rstrip("=")
    return {"token_type": "Bearer", "scope": " ".join([*scopes, *sorted(oidc)]),
            "expires_in": expires - now, "ext_expires_in": expires - now,
            "access_token": access, "refresh_token": refresh, "id_token": id_token,
            "client_info": client_info, "_subject": user["userPrincipalName"]}


def _on_behalf_of(request: Request, tx, key: str, app: dict, limits: TenantLimits) -> dict:
    """The on-behalf-of grant: a Teams tab's SSO token for this app in, the person's Graph
    tokens out, once they (or an administrator) consented to what is asked
    (https://learn.microsoft.com/entra/identity-platform/v2-oauth2-on-behalf-of-flow)."""
    form = request.form
    if form.get("requested_token_use") != "on_behalf_of":
        raise EntraError("invalid_request", 900144, "The request body must contain the "
                         "following parameter: 'requested_token_use'.")
    try:
        user = on_behalf_of_user(tx, form.get("assertion", ""), app["client_id"])
    except ValueError as problem:
        code, description = problem.args
        raise EntraError("invalid_grant", code, description) from problem
    wanted, oidc = _graph_scopes(form.get("scope", ""))
    try:
        return _user_tokens(request, key, app, user, wanted, limits, oidc=oidc)
    except EntraError as error:
        if error.code == 65001:
            error.suberror = "consent_required"
        raise


def keys(request: Request, state, tenant: str) -> Response:
    """The tenant's token signing keys (JWKS), as `jwks_uri` names them."""
    try:
        _tenant(tenant)
    except EntraError as error:
        return _error_response(error)
    with state.tx() as tx:
        body = public_keys(tx)
    return Response(json.dumps(body), content_type="application/json; charset=utf-8")


def _client_token(request: Request, key: str, app: dict, limits: TenantLimits) -> dict:
    scope = request.form.get("scope", "")
    if scope.split() == [CONNECTOR_SCOPE] and app.get("bot"):  # a bot calling the connector
        access, expires = bot_access_token(key, app, limits.token_lifetime)
        return {"token_type": "Bearer", "expires_in": int(expires - time.time()),
                "ext_expires_in": int(expires - time.time()), "access_token": access,
                "_subject": app["client_id"]}
    if scope.split() != [f"{GRAPH_RESOURCE}/.default"]:
        raise EntraError("invalid_scope", 1002012, f"The provided value for scope {scope} is "
                         "not valid. Client credential flows must have a scope value with "
                         "/.default suffixed to the resource identifier (application ID "
                         "URI).")
    access, expires = access_token(key, app=app, user=None, permissions=app["application"],
                                   lifetime=limits.token_lifetime)
    return {"token_type": "Bearer", "expires_in": int(expires - time.time()),
            "ext_expires_in": int(expires - time.time()), "access_token": access,
            "_subject": app["client_id"]}


def rules() -> list[Rule]:
    from graph.sandbox import teams_host

    return [*teams_host.rules(),
        Rule("/<tenant>/discovery/v2.0/keys", endpoint=keys, methods=["GET"]),
        Rule("/<tenant>/v2.0/.well-known/openid-configuration", endpoint=discovery,
             methods=["GET"]),
        Rule("/<tenant>/oauth2/v2.0/authorize", endpoint=authorize, methods=["GET", "POST"]),
        Rule("/<tenant>/oauth2/v2.0/token", endpoint=token, methods=["POST"]),
    ]
