"""Bot Connector authentication, as Microsoft documents it ("Authenticate requests from
the Bot Connector service to your bot"): a bearer JWT signed with a key from the OpenID
metadata's `jwks_uri` and endorsed for the activity's channelId, `iss`
https://api.botframework.com, `aud` the bot's app id, not expired, and a `serviceurl` claim
equal to the activity's serviceUrl; then the tenant the activity names must be ours. The
SDK's JwtTokenValidator checks signature, lifetime and audience; it hard-codes
login.botframework.com's keys URL and checks neither issuer, endorsements nor service URL,
so the keys come from the configured metadata and the rest is checked here.
"""
from __future__ import annotations

import threading

import requests
from jwt import PyJWTError, get_unverified_header
from microsoft_agents.hosting.core import AgentAuthConfiguration
from microsoft_agents.hosting.core.authorization import ClaimsIdentity
from microsoft_agents.hosting.core.authorization.jwt_token_validator import JwtTokenValidator

from app.bot.identity import BotIdentity

BOT_CONNECTOR_ISSUER = "https://api.botframework.com"
METADATA_TIMEOUT = 5.0
_jwks_uris: dict[str, str] = {}
_lock = threading.Lock()


class Rejected(Exception):
    """An activity the bot must refuse with 401; the message is the reason to log."""


def jwks_uri(metadata_url: str) -> str:
    """The metadata's `jwks_uri` (fetched once per process: keys rotate, the URL not)."""
    with _lock:
        if metadata_url not in _jwks_uris:
            http = requests.Session()
            http.trust_env = False
            try:
                answer = http.get(metadata_url, timeout=METADATA_TIMEOUT)
                answer.raise_for_status()
                _jwks_uris[metadata_url] = str(answer.json()["jwks_uri"])
            except (requests.RequestException, ValueError, KeyError) as exc:
                raise Rejected(f"the Bot Connector metadata is unavailable: {exc!r}") from exc
            finally:
                http.close()
        return _jwks_uris[metadata_url]


class BotConnectorValidator(JwtTokenValidator):
    """The SDK's validator with the keys of the configured metadata."""

    def __init__(self, identity: BotIdentity):
        super().__init__(AgentAuthConfiguration(client_id=identity.app_id,
                                                tenant_id=identity.tenant_id))
        self.identity = identity
        self.endorsements: list[str] = []  # of the key that signed the token

    async def _get_public_key_or_secret(self, token: str):
        uri = jwks_uri(self.identity.openid_metadata_url)
        key = await self._jwk_client_manager.get_signing_key(uri, get_unverified_header(token))
        # PyJWK keeps the key's JSON (its Bot Connector `endorsements`) only privately.
        self.endorsements = list(getattr(key, "_jwk_data", {}).get("endorsements") or [])
        return key


def _tenants_of(activity: dict) -> set[str]:
    conversation = activity.get("conversation") or {}
    channel_data = activity.get("channelData") or {}
    tenant = channel_data.get("tenant") if isinstance(channel_data, dict) else None
    found = {conversation.get("tenantId") if isinstance(conversation, dict) else None,
             tenant.get("id") if isinstance(tenant, dict) else None}
    return {str(t) for t in found if t}


async def authenticate(identity: BotIdentity, authorization: str, activity: dict
                       ) -> ClaimsIdentity:
    """The token's claims if the request is the Bot Connector's for our tenant; raises
    Rejected (with the reason, never the body) otherwise."""
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Rejected("no bearer token")
    validator = BotConnectorValidator(identity)
    try:
        claims = await validator.validate_token(token.strip())
    except (PyJWTError, ValueError, KeyError) as exc:
        raise Rejected(f"token refused: {type(exc).__name__}: {exc}") from exc
    if activity.get("channelId") not in validator.endorsements:
        raise Rejected("token refused: its signing key is not endorsed for the activity's "
                       "channel")
    if claims.claims.get("iss") != BOT_CONNECTOR_ISSUER:
        raise Rejected("token refused: the issuer is not the Bot Connector's")
    if claims.claims.get("serviceurl") != activity.get("serviceUrl"):
        raise Rejected("token refused: serviceurl does not match the activity's serviceUrl")
    tenants = _tenants_of(activity)
    if tenants != {identity.tenant_id}:
        raise Rejected(f"activity from another tenant ({', '.join(sorted(tenants)) or 'none'})")
    return claims
